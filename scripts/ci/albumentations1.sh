#!/usr/bin/env bash
# Run the augmentation tests under albumentations 1.3.1, the major DeepfakeBench's albu.py needs
# (the project's own environment has 2.x; dfshield/data/augment.py supports both).
#
# A throw-away venv under a temp dir, layered on the project's environment: albumentations 1.3.1
# and the few packages it imports that the project lacks are installed into the venv, which
# sees everything else (numpy, cv2, torch, pytest...) from the project's venv, so the tests run
# with the same numpy and OpenCV as the main suite. The layering is a .pth file calling
# site.addsitedir: `venv --system-site-packages` would expose the base interpreter's packages,
# not those of a venv it is created from. The project's venv is never written to.
#
# Usage: scripts/ci/albumentations1.sh   (VENV_PYTHON: the project's python, default .venv/bin/python)
# Exits non-zero when the install or a test fails.
set -euo pipefail

cd "$(dirname "$0")/../.."
repo=$PWD
venv_python=${VENV_PYTHON:-.venv/bin/python}
[[ $venv_python == /* ]] || venv_python=$repo/$venv_python # absolute, symlink kept (a venv's)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$venv_python" -m venv --without-pip "$tmp/venv"
site_dir=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# --no-deps: albumentations 1.3.1 declares opencv-python-headless and scikit-learn without upper
# bounds (pip would pull a second OpenCV); the project's venv already has numpy, scipy, PyYAML,
# OpenCV and scikit-learn. What albumentations 1.3.1 imports beyond those: qudida and
# scikit-image (>= 0.24 for numpy 2), which needs lazy_loader.
"$venv_python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --no-deps --target "$site_dir" \
    albumentations==1.3.1 qudida==0.0.4 "scikit-image>=0.24" "lazy_loader>=0.4"

"$venv_python" -c 'import site; print(*site.getsitepackages(), sep="\n")' |
    while read -r project_site; do
        echo "import site; site.addsitedir('$project_site')"
    done >"$site_dir/_project_venv.pth"

cd "$repo"
export PYTHONPATH=$repo OMP_NUM_THREADS=1
"$tmp/venv/bin/python" -c '
import albumentations, numpy, sys
print("albumentations", albumentations.__version__, "numpy", numpy.__version__)
sys.exit(albumentations.__version__.split(".")[0] != "1")
'
"$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider -k augment \
    tests/test_augment_compat.py tests/test_data_dataset.py
