#!/usr/bin/env bash
# One GPU lease, prepared and tried on the CPU first: the CUDA tests, the CUDA benchmarks of the engine as it
# ships (CUDA graphs on and off), then with whatever time is left a training run resumed from the shipped weights
# and the CUDA tests again with the new weights. Everything it reports lands in $OUT.
#   OUT=DIR bash scripts/gpu_session.sh TRAIN_SECONDS     (0: tests and benchmarks only)
# Needs .data/train and .data/val (copies of photos256) for training. Runs from source: PYTHONPATH=., no Qt.
# DEVICE=cpu runs the same steps on the CPU, to try the script before a lease (slowly; CUDA tests skip).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=. PYTHONUNBUFFERED=1
budget=${1:?usage: OUT=DIR bash scripts/gpu_session.sh TRAIN_SECONDS}
export DEVICE=${DEVICE:-cuda}
out=${OUT:?set OUT}
log=$out/session.log
mkdir -p "$out"
# the GPU machine's torch may warn where ours does not: report warnings there instead of failing on them
pytest=(python3 -m pytest -q -p no:cacheprovider -o filterwarnings=default)

echo "== CUDA tests" | tee -a "$log"
"${pytest[@]}" tests/test_cuda.py tests/test_runner.py tests/test_partial_conv.py tests/test_unet.py \
    2>&1 | tail -n 15 | tee -a "$log"

echo "== benchmarks" | tee -a "$log"
for graphs in auto off; do  # the engine's default, and the eager baseline it is measured against
  python3 bench/end_to_end.py --device "$DEVICE" --weights weights/pconv_compact.safetensors --repeats 10 \
    --cuda-graphs "$graphs" 2>&1 | tail -n 10 | tee -a "$log"
done
python3 bench/forward.py --device "$DEVICE" --repeats 20 2>&1 | tail -n 8 | tee -a "$log"
if [ "$DEVICE" = cuda ]; then
  python3 bench/forward.py --device cuda --repeats 20 --graphs 2>&1 | tail -n 8 | tee -a "$log"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$log"
fi

if [ "$budget" -gt 0 ]; then
  echo "== training for ${budget}s" | tee -a "$log"
  OUT="$out" bash scripts/gpu_train.sh "$budget" 2>&1 | tail -n 5 | tee -a "$log"
  if [ -f "$out/model.safetensors" ]; then
    echo "== CUDA tests with the new weights" | tee -a "$log"
    PCONV_TEST_WEIGHTS=$out/model.safetensors "${pytest[@]}" tests/test_cuda.py 2>&1 | tail -n 8 | tee -a "$log"
  fi
fi
