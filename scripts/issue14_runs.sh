#!/usr/bin/env bash
# Issue 14's fine-tunes, all from weights/pconv_compact.safetensors with the same seed and equal steps:
#   upscale     the upscaling model: holes 0.25, grids 0.5 (s = 2, 3, 4, random phase, area/bicubic), sparse 0.25
#   twin        the plain twin: grid samples only, bicubic-upscaled input, every pixel valid
#   none, mosaic, masked, scale
#               the mosaic arms: plain hole samples; mosaics (P) with unmasked seams; mosaics with a SEAM px hole
#               band along the cuts, left out of the losses; random-scale crops (the control)
#   OUT=DIR bash scripts/issue14_runs.sh [ARM ...]       (default: all six, in that order)
# Environment: DEVICE (default auto), CROP (128), BATCH (16), STEPS (3000: upscale and twin), ARM_STEPS (1500:
# the mosaic arms), MOSAIC (0.5), SEAM (8: wider than the 7x7 first layer), TRAIN_DIR (default photos256's
# train), PYTHON. Each arm writes OUT/ARM/{model.safetensors,checkpoint.pt,train_log.csv,console.log}; an arm
# whose checkpoint exists resumes from it. FROM=DIR starts each arm from DIR/ARM/model.safetensors instead of the
# shipped weights (a second stage with a fresh schedule, e.g. after a first CPU stage). On a shared CPU, two lanes of one thread each
# (OMP_NUM_THREADS=1 ... upscale none mosaic & OMP_NUM_THREADS=1 ... twin masked scale) keep going where one
# two-thread run stalls whenever another process takes a core.
set -uo pipefail
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
export PYTHONPATH=.
out=${OUT:?set OUT to the folder that receives the runs}
python=${PYTHON:-python3}
train_dir=${TRAIN_DIR:-../shared/data/photos256/train}
steps=${STEPS:-3000}
arm_steps=${ARM_STEPS:-1500}
mosaic=${MOSAIC:-0.5}
seam=${SEAM:-8}
arms=("$@")
[ ${#arms[@]} -eq 0 ] && arms=(upscale twin none mosaic masked scale)

for arm in "${arms[@]}"; do
    case $arm in
        upscale) extra=(--steps "$steps" --samples holes=0.25,grids=0.5,sparse=0.25) ;;
        twin) extra=(--steps "$steps" --samples grids=1 --grid-input bicubic) ;;
        none) extra=(--steps "$arm_steps") ;;
        mosaic) extra=(--steps "$arm_steps" --mosaic "$mosaic") ;;
        masked) extra=(--steps "$arm_steps" --mosaic "$mosaic" --seam "$seam") ;;
        scale) extra=(--steps "$arm_steps" --random-scale "$mosaic") ;;
        *) echo "issue14_runs.sh: unknown arm $arm" >&2; exit 2 ;;
    esac
    mkdir -p "$out/$arm"
    start=(--init "${FROM:+$FROM/$arm/model.safetensors}")
    [ -z "${FROM:-}" ] && start=(--init weights/pconv_compact.safetensors)
    if [ -f "$out/$arm/checkpoint.pt" ]; then  # an interrupted arm continues exactly where it stopped
        start=(--resume "$out/$arm/checkpoint.pt")
    fi
    echo "== $arm: ${start[*]} ${extra[*]}" | tee -a "$out/summary.txt"
    "$python" -m pconv_studio.cli.main train "$train_dir" --out "$out/$arm" "${start[@]}" \
        --device "${DEVICE:-auto}" --crop "${CROP:-128}" --batch-size "${BATCH:-16}" --seed 0 --log-every 50 \
        --checkpoint "$out/$arm/checkpoint.pt" "${extra[@]}" >> "$out/$arm/console.log" 2>&1
    echo "$arm exit $?: $(grep -m1 '^stopped' "$out/$arm/console.log")" | tee -a "$out/summary.txt"
done
