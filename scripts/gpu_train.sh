#!/usr/bin/env bash
# One GPU training run sized to a lease: trains `compact` on .data/train for a wall-clock budget, validates on
# .data/val, and leaves the weights, the CSV log, the validation table, the console log and a summary in $OUT.
#   OUT=/path/to/out bash scripts/gpu_train.sh SECONDS [extra `pconv-studio train` options]
# Run from anywhere (it cd's to the repo root). Starts from weights/pconv_compact.safetensors when that exists.
# The budget covers data loading and training; allow about 90 s more for Python start-up, the final save and the
# validation. If the run fails (say the fast path breaks mid-way), it is retried once in plain fp32 / NCHW for the
# time left, resuming from the last checkpoint. The checkpoint (with Adam state, too big for $OUT) stays in
# $CHECKPOINT_DIR. Environment overrides: BATCH (default 64), DEVICE (default cuda: fail rather than train on a
# CPU by mistake), PYTHON (default python3), CHECKPOINT_DIR (default /tmp/pconv_gpu_run).
set -uo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
export PYTHONPATH=.

budget=${1:?usage: OUT=DIR bash scripts/gpu_train.sh SECONDS [train options]}
shift
out=${OUT:?set OUT to the folder that receives the results}
python=${PYTHON:-python3}
batch=${BATCH:-64}
device=${DEVICE:-cuda}
checkpoint_dir=${CHECKPOINT_DIR:-/tmp/pconv_gpu_run}
checkpoint=$checkpoint_dir/checkpoint.pt
console=$out/train_console.log
mkdir -p "$out" "$checkpoint_dir"
started=$(date +%s)

for folder in .data/train .data/val; do
    if [ ! -d "$folder" ]; then
        echo "gpu_train.sh: $folder is missing (copy photos256/train and photos256/val into .data/)" | tee -a "$console" >&2
        exit 1
    fi
done

{
    echo "== $(date -u +%FT%TZ) budget ${budget}s, batch $batch, device $device"
    "$python" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
        "cuda", torch.version.cuda, "gpu", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")'
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
} 2>&1 | tee -a "$console"

init=()
if [ -f weights/pconv_compact.safetensors ]; then
    init=(--init weights/pconv_compact.safetensors)
fi
common=(--val .data/val --out "$out" --checkpoint "$checkpoint" --batch-size "$batch" --steps 1000000
        --finetune-fraction 0.15 --save-every 60 --log-every 25 --device "$device")

"$python" -m pconv_studio.cli.main -v train .data/train --preset compact --time-budget "$budget" \
    "${common[@]}" "${init[@]}" "$@" 2>&1 | tee -a "$console"
status=$?

if [ "$status" -ne 0 ]; then
    left=$((budget - ($(date +%s) - started)))
    echo "== first attempt failed (exit $status); ${left}s of the budget left" | tee -a "$console"
    if [ "$left" -gt 45 ]; then
        if [ -f "$checkpoint" ]; then
            start=(--resume "$checkpoint")
        else
            start=(.data/train --preset compact "${init[@]}")
        fi
        "$python" -m pconv_studio.cli.main -v train "${start[@]}" "${common[@]}" --time-budget "$left" \
            --precision fp32 --no-channels-last "$@" 2>&1 | tee -a "$console"
        status=$?
    fi
fi

{  # the throughput line comes last, so `tail` of this script's output shows it
    if [ -f "$out/train_log.csv" ]; then
        echo "last log rows (step, samples_seen, total, valid, hole, tv, perceptual, style, lr, samples_per_s, elapsed_s, finetuning):"
        tail -n 3 "$out/train_log.csv"
    fi
    echo "== finished in $(($(date +%s) - started))s, exit $status"
    grep -E "fast path:|^stopped \(" "$console" | tail -n 2
} > "$out/summary.txt"
cat "$out/summary.txt"

if [ -f "$out/model.safetensors" ]; then
    exit 0
fi
echo "gpu_train.sh: no weights were written" >&2
exit 1
