#!/usr/bin/env bash
# GPU-speed figures, each printed with its reference measured in the same run (see
# docs/benchmarks.md, "GPU speed"). On a GPU the sizes of the GPU-speed issue; on a CPU small sizes
# that check every path in a few minutes. PYTHON picks the interpreter (default: python).
#
# Rows here: the spcup head epoch against the plain PyTorch loop (--head-ratio), and the rdaa
# epoch captured as a CUDA graph against the plain step (--capture off, on a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

if "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  device=cuda head_features=250000 rdaa_features=100000
else
  device=cpu head_features=2000 rdaa_features=3000
fi

steps=(
  "benchmarks/feature_bank.py --skip-bank --head-ratio --device $device --n-features $head_features"
  "benchmarks/rdaa.py --device $device --n-features $rdaa_features"
)
if [ "$device" = cuda ]; then
  steps+=("benchmarks/rdaa.py --device cuda --n-features $rdaa_features --capture off")
fi

for step in "${steps[@]}"; do
  echo
  echo "######## python $step"
  # shellcheck disable=SC2086  # each step is a command line, split on spaces on purpose
  "$PYTHON" $step
done
