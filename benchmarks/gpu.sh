#!/usr/bin/env bash
# The rows of the "GPU speed" table, each printed with its reference measured in the same run and
# the ratios: device resolution, frozen extraction precision, loader images/s per worker count
# against the CPU's decoding ceiling, `dfshield extract` end to end against the backbone alone,
# the spcup head epoch against a plain PyTorch loop, the rdaa epoch (captured vs not), and an
# imbalance sweep of spcup heads batched against one run and the runs one by one.
# Paste the whole output into docs/benchmarks.md ("GPU figures") with the date and commit.
#
#   benchmarks/gpu.sh                  # full sizes on a GPU (estimated 3 minutes on an H200)
#   benchmarks/gpu.sh --small          # small sizes and tiny models: checks every path in minutes
#   benchmarks/gpu.sh --device cuda:1  # another GPU
#
# Without CUDA it runs --small on the CPU. PYTHON=... picks the interpreter (default: python).
# Each row is one `step TITLE SCRIPT ARGS...` line below; a failing step is reported and the
# others still run; the exit status is 1 when any failed.

set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

SMALL=auto
DEVICE=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --small) SMALL=1 ;;
        --device) DEVICE=$2; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "gpu.sh: unknown option $1 (use --small, --device DEV)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMALL" = auto ]; then
    if "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        SMALL=0
    else
        SMALL=1
    fi
fi

CORES=$(getconf _NPROCESSORS_ONLN)  # not nproc: it follows OMP_NUM_THREADS
LAST=$((CORES > 1 ? CORES - 1 : 1))  # workers: leave one core to the main process
workers() { printf '%s\n' "$@" | sort -nu | tr '\n' ' '; }  # distinct counts, in order
if [ "$SMALL" = 1 ]; then
    MODEL=dfshield-tiny-vit
    PRECISION_SIZES=(--images 64 --batch 16)
    FRAMES=256
    read -ra WORKERS <<< "$(workers 0 "$LAST")"
    LOADER_SIZES=(--max-images 256 --workers "${WORKERS[@]}" --repeats 1 --ceiling-frames 64)
    EXTRACT_SIZES=(--batch 16 --workers "$LAST")
else
    MODEL=ViT-L-14
    PRECISION_SIZES=(--images 2048 --batch 256)
    FRAMES=16384
    read -ra WORKERS <<< "$(workers 0 4 8 "$LAST")"
    LOADER_SIZES=(--max-images 8192 --workers "${WORKERS[@]}" --repeats 1)
    EXTRACT_SIZES=(--batch 256 --workers "$LAST")
fi
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/dfshield-gpu-sh-XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
DATA="$SCRATCH/frames"  # made by the loader row, read again by the extract row

FAILED=()
SUMMARY=()
step() {
    local title=$1 started=$SECONDS status
    shift
    printf '\n=== %s\n$ %s %s\n' "$title" "$PY" "$*"
    if "$PY" "$@"; then status=ok; else status="FAILED (exit $?)"; FAILED+=("$title"); fi
    SUMMARY+=("$(printf '%-64s %-16s %5d s' "$title" "$status" $((SECONDS - started)))")
}

echo "benchmarks/gpu.sh: $(date -Iseconds)  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(git diff --quiet 2>/dev/null || echo '(uncommitted changes)')"
echo "host $(hostname)  nproc $CORES  small=$SMALL  device=$DEVICE"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

step "device: train.device values, a Trainer on --device" \
    benchmarks/device.py --device "$DEVICE"
step "extraction: bf16 weights vs autocast vs raw bf16; TF32 vs fp32" \
    benchmarks/extract.py --parts precision --model "$MODEL" "${PRECISION_SIZES[@]}" --device "$DEVICE"
step "loader: img/s per workers vs decode ceiling (LMDB, 256->224)" \
    benchmarks/loader.py --data "$DATA" --frames "$FRAMES" --stores lmdb "${LOADER_SIZES[@]}" --device "$DEVICE"
step "dfshield extract end to end vs backbone alone" \
    benchmarks/extract.py --parts end-to-end --data "$DATA" --frames "$FRAMES" --model "$MODEL" "${EXTRACT_SIZES[@]}" --device "$DEVICE"
if [ "$SMALL" = 1 ]; then HEAD_FEATURES=2000 RDAA_FEATURES=3000; else HEAD_FEATURES=250000 RDAA_FEATURES=100000; fi
step "spcup head epoch vs the plain PyTorch loop (same features)" \
    benchmarks/feature_bank.py --skip-bank --head-ratio --device "$DEVICE" --n-features "$HEAD_FEATURES"
step "rdaa epoch (CUDA graph on a GPU)" \
    benchmarks/rdaa.py --device "$DEVICE" --n-features "$RDAA_FEATURES"
if [ "$SMALL" = 0 ]; then
    step "rdaa epoch, uncaptured reference" \
        benchmarks/rdaa.py --device "$DEVICE" --n-features "$RDAA_FEATURES" --capture off
fi
if [ "$SMALL" = 1 ]; then SWEEP=(--n-real 1500 --dim 64); else SWEEP=(--n-real 125000 --dim 768); fi
step "imbalance sweep 3 ratios x 3 seeds: batched vs one run vs 9 runs" \
    benchmarks/batched_runs.py --device "$DEVICE" "${SWEEP[@]}"

printf '\n=== summary (%s s in all)\n' "$SECONDS"
printf '%s\n' "${SUMMARY[@]}"
if [ ${#FAILED[@]} -gt 0 ]; then
    printf 'failed: %s\n' "${FAILED[@]}"
    exit 1
fi
