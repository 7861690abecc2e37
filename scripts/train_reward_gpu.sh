#!/usr/bin/env bash
# Train the shipped reward models on one GPU machine (used on an H200 with 16 CPU cores).
#
#   OUT=<folder> bash scripts/train_reward_gpu.sh [minutes]
#
# Runs three trainings side by side on the one GPU, each with its own data-generation workers:
# the shipped small linear and SERGIO models (dim 32, 2 layers) and a larger linear model
# (dim 64, 4 layers) for the quality-vs-speed comparison. Where gymnasium is not installed (the
# GPU image has torch but not gymnasium/SB3), wheels in .whl/ are installed into /tmp/site first.
# The same commands without --device cuda reproduce the files on CPU (slower).
set -uo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import gymnasium" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
MIN=${1:-7}
OUT=${OUT:-runs/gpu}
WORK=${WORK:-/tmp/reward_gpu}
mkdir -p "$OUT" "$WORK"
nvidia-smi -L || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

train() {
  local name=$1; shift
  python3 -m caasl_gym.reward.train --device cuda --time-limit "$MIN" --no-progress --out "$WORK/$name" "$@" \
    > "$WORK/$name.log" 2>&1 &
}
train linear --domain linear --dim 32 --layers 2 --heads 2 --batch-size 512 --workers 4 --seed 1
train linear-large --domain linear --dim 64 --layers 4 --heads 4 --batch-size 512 --workers 3 --seed 2
train sergio --domain sergio --dim 32 --layers 2 --heads 2 --batch-size 512 --workers 7 --seed 3
wait
for name in linear linear-large sergio; do
  cp "$WORK/$name.pt" "$WORK/$name.json" "$OUT/" 2>/dev/null || echo "missing outputs of $name"
  echo "=== $name ===" >> "$OUT/train.log"; cat "$WORK/$name.log" >> "$OUT/train.log"
done
tail -n 30 "$OUT/train.log"
ls -la "$OUT"
