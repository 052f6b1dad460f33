# Sourced by the CI jobs that run part of the suite under other package versions
# (albumentations1.sh, deepfakebench_env.sh): a throw-away venv under a temp dir, layered on the
# project's environment. The given packages are installed into the layer (pip --no-deps --target,
# so pip pulls nothing the project's venv already has); everything else (torch, numpy where not
# pinned, pytest...) comes from the project's venv through a .pth file calling site.addsitedir
# (`venv --system-site-packages` would expose the base interpreter's packages, not those of a
# venv it is created from). The project's venv is never written to.
#
# Usage: source scripts/ci/layered_venv.sh; layered_venv [pip install arguments...]
# Afterwards $layer_python runs the layer, from the repository root, with PYTHONPATH set to it.
layered_venv() {
    cd "$(dirname "${BASH_SOURCE[0]}")/../.."
    local repo=$PWD
    local venv_python=${VENV_PYTHON:-.venv/bin/python}
    [[ $venv_python == /* ]] || venv_python=$repo/$venv_python # absolute, symlink kept (a venv's)
    layer_tmp=$(mktemp -d)
    trap 'rm -rf "$layer_tmp"' EXIT
    "$venv_python" -m venv --without-pip "$layer_tmp/venv"
    local site_dir
    site_dir=$("$layer_tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$venv_python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --no-deps --target "$site_dir" "$@"
    "$venv_python" -c 'import site; print(*site.getsitepackages(), sep="\n")' |
        while read -r project_site; do
            echo "import site; site.addsitedir('$project_site')"
        done >"$site_dir/_project_venv.pth"
    export PYTHONPATH=$repo OMP_NUM_THREADS=1
    layer_python=$layer_tmp/venv/bin/python
}
