#!/usr/bin/env bash
# One GPU lease, prepared and tried on the CPU first: the CUDA tests, a training run sized to the lease, the CUDA
# tests again with the new weights, and the CUDA benchmarks. Everything it reports lands in $OUT.
#   OUT=DIR bash scripts/gpu_session.sh TRAIN_SECONDS
# Needs .data/train and .data/val (copies of photos256). Runs from source: PYTHONPATH=., no install, no Qt.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=. PYTHONUNBUFFERED=1
budget=${1:?usage: OUT=DIR bash scripts/gpu_session.sh TRAIN_SECONDS}
out=${OUT:?set OUT}
log=$out/session.log
mkdir -p "$out"
# the GPU machine's torch may warn where ours does not: report warnings there instead of failing on them
pytest=(python3 -m pytest -q -p no:cacheprovider -o filterwarnings=default)

echo "== CUDA tests, before training" | tee -a "$log"
"${pytest[@]}" tests/test_cuda.py tests/test_partial_conv.py tests/test_unet.py 2>&1 | tail -n 15 | tee -a "$log"

echo "== training for ${budget}s" | tee -a "$log"
OUT="$out" bash scripts/gpu_train.sh "$budget" 2>&1 | tail -n 5 | tee -a "$log"

weights=$out/model.safetensors
[ -f "$weights" ] || weights=""
echo "== CUDA tests with the new weights (${weights:-none})" | tee -a "$log"
PCONV_TEST_WEIGHTS=$weights "${pytest[@]}" tests/test_cuda.py 2>&1 | tail -n 8 | tee -a "$log"

echo "== benchmarks" | tee -a "$log"
for graphs in auto off; do  # the engine's default, and the eager baseline it is measured against
  python3 bench/end_to_end.py --device cuda ${weights:+--weights "$weights"} --repeats 10 --cuda-graphs "$graphs" \
    2>&1 | tail -n 10 | tee -a "$log"
done
python3 bench/forward.py --device cuda --repeats 20 2>&1 | tail -n 8 | tee -a "$log"
python3 bench/forward.py --device cuda --repeats 20 --graphs 2>&1 | tail -n 8 | tee -a "$log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$log"
