#!/usr/bin/env bash
# The adversarial fine-tune (issue 11) sized to one GPU lease: starts from weights/pconv_compact.safetensors,
# trains with the patch discriminator on 256x256 crops of .data/train for a wall-clock budget, and returns in $OUT
# the weight-averaged (EMA) snapshots it kept, the CSV log, the console log and a summary. Choose among the
# snapshots on the CPU afterwards (`pconv-studio evaluate --detail-weights SNAPSHOT --detail-values ...`).
#   OUT=DIR bash scripts/gpu_finetune.sh SECONDS [extra `pconv-studio train` options]
# $OUT takes at most 8 files of 16 MiB (64 MiB together): a snapshot is 12.9 MB, so SNAPSHOTS (default 4) are
# written at even intervals of the budget and only the last SNAPSHOTS come back. The checkpoint (discriminator,
# both optimisers, EMA: too big for $OUT) stays in $CHECKPOINT_DIR. If the run fails, it is resumed once from the
# last checkpoint in fp32 for the time left. Allow about 90 s beyond SECONDS for start-up and the final save.
# Environment: DEVICE (default cuda; cpu for a dry run here), BATCH (default 32), CROP (default 256),
# TRAIN_DIR / VAL_DIR (default .data/train, .data/val: copies of photos256), SNAPSHOTS, PYTHON, CHECKPOINT_DIR.
set -uo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
export PYTHONPATH=.

budget=${1:?usage: OUT=DIR bash scripts/gpu_finetune.sh SECONDS [train options]}
shift
out=${OUT:?set OUT to the folder that receives the results}
python=${PYTHON:-python3}
device=${DEVICE:-cuda}
batch=${BATCH:-32}
crop=${CROP:-256}
snapshots=${SNAPSHOTS:-4}
train_dir=${TRAIN_DIR:-.data/train}
checkpoint_dir=${CHECKPOINT_DIR:-/tmp/pconv_gan_run}
run_dir=$checkpoint_dir/run
console=$out/finetune_console.log
mkdir -p "$out" "$run_dir"
started=$(date +%s)

if [ ! -d "$train_dir" ]; then
    echo "gpu_finetune.sh: $train_dir is missing (copy photos256/train into .data/train, or set TRAIN_DIR)" | tee -a "$console" >&2
    exit 1
fi
if [ ! -f weights/pconv_compact.safetensors ]; then
    echo "gpu_finetune.sh: weights/pconv_compact.safetensors is missing: the fine-tune starts from it" | tee -a "$console" >&2
    exit 1
fi
{
    echo "== $(date -u +%FT%TZ) adversarial fine-tune: budget ${budget}s, batch $batch, crop $crop, device $device"
    "$python" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
        "cuda", torch.version.cuda, "gpu", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")'
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
} 2>&1 | tee -a "$console"

save_every=$(( budget / snapshots > 10 ? budget / snapshots : 10 ))
# the CPU run's recipe (docs/training.md), corrected by what it showed: lr 1e-4 with the encoder's batch norm
# frozen throughout, TV 0.01; the discriminator trains alone for 500 steps first (at chance level its calibrated
# gradient only drifted the fills' colour), then the adversarial gradient is half the hole L1's and feature
# matching's too; EMA 0.999 suits the ~10k steps of a lease
recipe=(--adversarial --crop "$crop" --short-side 256 --batch-size "$batch" --steps 1000000 --finetune-fraction 1
        --finetune-lr 1e-4 --tv-weight 0.01 --disc-warmup 500 --adv-ratio 0.5 --fm-ratio 0.5 --ema-decay 0.999
        --save-every "$save_every" --checkpoint-every 1000000
        --keep-snapshots --log-every 25 --device "$device" --out "$run_dir" --checkpoint "$checkpoint_dir/checkpoint.pt")

"$python" -m pconv_studio.cli.main -v train "$train_dir" --init weights/pconv_compact.safetensors \
    --time-budget "$budget" "${recipe[@]}" "$@" 2>&1 | tee -a "$console"
status=$?
if [ "$status" -ne 0 ]; then
    left=$((budget - ($(date +%s) - started)))
    echo "== first attempt failed (exit $status); ${left}s of the budget left" | tee -a "$console"
    if [ "$left" -gt 45 ] && [ -f "$checkpoint_dir/checkpoint.pt" ]; then
        "$python" -m pconv_studio.cli.main -v train --resume "$checkpoint_dir/checkpoint.pt" --time-budget "$left" \
            --precision fp32 --no-channels-last "$@" 2>&1 | tee -a "$console"
        status=$?
    fi
fi

mkdir -p "$out/snapshots"
kept=$(ls "$run_dir"/snapshots/step_*.safetensors 2>/dev/null | sort | tail -n "$snapshots")
for snapshot in $kept; do
    cp "$snapshot" "$out/snapshots/"
done
cp "$run_dir/train_log.csv" "$out/" 2>/dev/null
{
    echo "== finished in $(($(date +%s) - started))s, exit $status"
    echo "snapshots returned: $(ls "$out/snapshots" | tr '\n' ' ')"
    grep -E "fast path:|^stopped \(" "$console" | tail -n 2
    if [ -f "$out/train_log.csv" ]; then
        echo "last log rows:"
        head -n 1 "$out/train_log.csv"
        tail -n 2 "$out/train_log.csv"
    fi
} > "$out/summary.txt"
cat "$out/summary.txt"

if [ -n "$kept" ]; then
    exit 0
fi
echo "gpu_finetune.sh: no snapshot was written" >&2
exit 1
