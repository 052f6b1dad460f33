#!/usr/bin/env bash
# The rows of the "GPU speed" table, each printed with its reference measured in the same run and
# the ratios, then one JSON of every row's named figures: device resolution, frozen extraction
# precision, loader images/s at 8 and 16 workers against the CPU's decoding ceiling, `dfshield
# extract` end to end against the backbone alone, the spcup head epoch as Trainer.fit runs it
# against the plain PyTorch loops, the rdaa epoch (captured and not), and a 5 ratios x 3 seeds
# imbalance sweep batched against one run and the 15 runs one by one.
# Paste the whole output into docs/benchmarks.md ("GPU figures") with the date and commit.
#
#   benchmarks/gpu.sh                   # full sizes on a GPU (6 minutes at most)
#   benchmarks/gpu.sh --small           # small sizes and tiny models: checks every path
#   benchmarks/gpu.sh --device cuda:1   # another GPU
#   benchmarks/gpu.sh --json out.json   # the JSON into a file as well
#
# Each row runs in its own process under a time limit (benchmarks/gpu_rows.py): a row that fails
# or hangs loses only its own figures, the others still run, and the exit status is 1. Without
# CUDA on --device auto or cpu it runs the small sizes on the CPU; --device cuda without CUDA is an
# error (exit 2). PYTHON=... picks the interpreter (default: python, else python3).

set -u -o pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif command -v python >/dev/null 2>&1; then
    PY=python
elif command -v python3 >/dev/null 2>&1; then
    PY=python3
else
    echo "gpu.sh: neither python nor python3 is on PATH; set PYTHON=/path/to/python" >&2
    exit 2
fi
case "${1:-}" in -h|--help) sed -n '2,18p' "$0" ;; esac
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
echo "interpreter: $PY ($(command -v "$PY"))"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
exec "$PY" benchmarks/gpu_rows.py "$@"
