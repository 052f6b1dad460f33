#!/usr/bin/env bash
# CI job "deepfakebench-env": dfshield's data, augmentation and DeepfakeBench-integration tests in
# the environment of `pip install ".[deepfakebench]"` (numpy < 2, OpenCV < 4.12, albumentations
# 1.3.1, lmdb < 2, imgaug; docs/deepfakebench.md, "One environment for both").
#
# A throw-away venv layered on the project's environment (scripts/ci/layered_venv.sh). The layer
# holds the packages whose versions the extra pins differently from
# the project's venv, and what they import that the project lacks; everything else (torch,
# open_clip, scipy, scikit-learn, pytest...) comes from the project's venv. To keep CI short it
# installs the subset these tests import, not the whole extra: dlib-bin, efficientnet-pytorch,
# einops, loralib, transformers, kornia, fvcore and tensorboard are imported only by
# DeepfakeBench's own code, which CI does not have (docs/deepfakebench.md lists the full install).
#
# Usage: scripts/ci/deepfakebench_env.sh   (VENV_PYTHON: the project's python, default .venv/bin/python)
# Exits non-zero when the install, the version check or a test fails.
set -euo pipefail
source "$(dirname "$0")/layered_venv.sh"

# --no-deps: the pins of the extra (pyproject.toml) and what they import beyond the project's venv
# (qudida for albumentations 1.3.1; scikit-image, lazy_loader, tifffile, imageio, Shapely and six
# for imgaug). Wheels only.
layered_venv --only-binary=:all: \
    "numpy>=1.23,<2" "opencv-python-headless>=4.8,<4.12" albumentations==1.3.1 qudida==0.0.4 \
    "lmdb>=1.4,<2" imgaug==0.4.0 "scikit-image>=0.22" "lazy_loader>=0.4" tifffile "imageio>=2.9" \
    "shapely>=2" six
"$layer_python" - <<'PY'
import sys, tempfile
import albumentations, cv2, imgaug.augmenters as iaa, lmdb, numpy as np
print("numpy", np.__version__, "opencv", cv2.__version__, "albumentations",
      albumentations.__version__, "lmdb", lmdb.__version__)
assert np.__version__ < "2" and albumentations.__version__.startswith("1.3"), "wrong layer"
iaa.Affine(rotate=10)(image=np.zeros((8, 8, 3), np.uint8))  # np.sctypes: gone in numpy 2
with tempfile.TemporaryDirectory() as folder:  # their train.py opens one LMDB several times
    lmdb.open(folder).close()
    args = dict(create=False, subdir=True, readonly=True, lock=False)
    first, second = lmdb.open(folder, **args), lmdb.open(folder, **args)
print("imgaug and a second lmdb.open of one environment work")
PY
"$layer_python" -m pytest -q -p no:cacheprovider -m "not slow" \
    tests/data tests/integrations tests/test_yaml_files.py tests/detectors/test_deepfakebench_wrapper.py
