#!/usr/bin/env bash
# CI job "deepfakebench-env": dfshield's data, augmentation and DeepfakeBench-integration tests in
# the environment of `pip install ".[deepfakebench]"` (numpy < 2, OpenCV < 4.12, albumentations
# 1.3.1, lmdb < 2, imgaug; docs/deepfakebench.md, "One environment for both").
#
# A throw-away venv under a temp dir, layered on the project's environment as
# scripts/ci/albumentations1.sh does (a .pth file calling site.addsitedir; the project's venv is
# never written to). The layer holds the packages whose versions the extra pins differently from
# the project's venv, and what they import that the project lacks; everything else (torch,
# open_clip, scipy, scikit-learn, pytest...) comes from the project's venv. To keep CI short it
# installs the subset these tests import, not the whole extra: dlib-bin, efficientnet-pytorch,
# einops, loralib, transformers, kornia, fvcore and tensorboard are imported only by
# DeepfakeBench's own code, which CI does not have (docs/deepfakebench.md lists the full install).
#
# Usage: scripts/ci/deepfakebench_env.sh   (VENV_PYTHON: the project's python, default .venv/bin/python)
# Exits non-zero when the install, the version check or a test fails.
set -euo pipefail

cd "$(dirname "$0")/../.."
repo=$PWD
venv_python=${VENV_PYTHON:-.venv/bin/python}
[[ $venv_python == /* ]] || venv_python=$repo/$venv_python # absolute, symlink kept (a venv's)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$venv_python" -m venv --without-pip "$tmp/venv"
site_dir=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# --no-deps: the pins of the extra (pyproject.toml) and what they import beyond the project's venv
# (qudida for albumentations 1.3.1; scikit-image, lazy_loader, tifffile, imageio, Shapely and six
# for imgaug). Wheels only.
"$venv_python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --no-deps --only-binary=:all: --target "$site_dir" \
    "numpy>=1.23,<2" "opencv-python-headless>=4.8,<4.12" albumentations==1.3.1 qudida==0.0.4 \
    "lmdb>=1.4,<2" imgaug==0.4.0 "scikit-image>=0.22" "lazy_loader>=0.4" tifffile "imageio>=2.9" \
    "shapely>=2" six

"$venv_python" -c 'import site; print(*site.getsitepackages(), sep="\n")' |
    while read -r project_site; do
        echo "import site; site.addsitedir('$project_site')"
    done >"$site_dir/_project_venv.pth"

cd "$repo"
export PYTHONPATH=$repo OMP_NUM_THREADS=1
"$tmp/venv/bin/python" - <<'PY'
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
"$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" \
    tests/data tests/integrations tests/test_yaml_files.py tests/detectors/test_deepfakebench_wrapper.py
