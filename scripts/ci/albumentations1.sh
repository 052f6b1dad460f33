#!/usr/bin/env bash
# Run the augmentation tests under albumentations 1.3.1, the major DeepfakeBench's albu.py needs
# (the project's own environment has 2.x; dfshield/data/augment.py supports both).
#
# A throw-away venv layered on the project's environment (scripts/ci/layered_venv.sh): only
# albumentations 1.3.1 and the few packages it imports that the project lacks are installed into
# it, so the tests run with the same numpy and OpenCV as the main suite.
#
# Usage: scripts/ci/albumentations1.sh   (VENV_PYTHON: the project's python, default .venv/bin/python)
# Exits non-zero when the install or a test fails.
set -euo pipefail
source "$(dirname "$0")/layered_venv.sh"

# --no-deps: albumentations 1.3.1 declares opencv-python-headless and scikit-learn without upper
# bounds (pip would pull a second OpenCV); the project's venv already has numpy, scipy, PyYAML,
# OpenCV and scikit-learn. What albumentations 1.3.1 imports beyond those: qudida and
# scikit-image (>= 0.24 for numpy 2), which needs lazy_loader.
layered_venv albumentations==1.3.1 qudida==0.0.4 "scikit-image>=0.24" "lazy_loader>=0.4"
"$layer_python" -c '
import albumentations, numpy, sys
print("albumentations", albumentations.__version__, "numpy", numpy.__version__)
sys.exit(albumentations.__version__.split(".")[0] != "1")
'
"$layer_python" -m pytest -q -p no:cacheprovider -k augment \
    tests/data/test_augment.py tests/data/test_dataset.py
