#!/usr/bin/env bash
# The GPU check: every GPU path of initlab, timed, in one table (docs/benchmarks.md: GPU). Under
# 8 minutes on one H100/H200:
#   1. trainer=gpu: one run of the default job;
#   2. hydra/launcher=gpus trainer=gpu: more jobs than GPUs (each job claims a free GPU);
#   3. hydra/launcher=population trainer=gpu: the whole init × activation grid (33 × 11 jobs, of
#      which the 297 that apply to the MLP run), 1 seed, 5 epochs, as 11 populations on the GPU;
#   4. a handful of the same grid's jobs one after another (basic launcher, trainer=gpu), for the
#      population's speed-up per job;
#   5. scripts/sync_check.py: no device synchronization in a training step between logging
#      points, for a run and a population (torch.cuda.set_sync_debug_mode).
#     bash scripts/gpu_check.sh
# The same script on a CPU, small, checks it end to end (tests/test_gpu_check.py):
#     ACCEL=cpu GPU_JOBS=2 DATASET=digits EPOCHS=1 ACTIVATIONS=relu,tanh INITS=he,xavier \
#       SEQUENTIAL=2 bash scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
ACCEL=${ACCEL:-gpu}              # gpu | cpu (the trainer config)
DATASET=${DATASET:-fashion_mnist}
EPOCHS=${EPOCHS:-5}
ACTIVATIONS=${ACTIVATIONS:-"glob(*)"}
# Every initializer: the sweep skips (and lists) the six made for other models.
INITS=${INITS:-"glob(*)"}
SEQUENTIAL=${SEQUENTIAL:-5}      # grid jobs run one after another, for comparison
GPU_JOBS=${GPU_JOBS:-}           # hydra/launcher=gpus: jobs at a time (default: the GPUs)
# More overrides for the grid and its sequential jobs, e.g. GRID_OVERRIDES=diagnostics.images=false
# (each member renders its figures on the CPU, as each job does: on a GPU they may dominate).
read -r -a GRID <<< "${GRID_OVERRIDES:-}"
OUT=${OUT:-$(mktemp -d)}
COMMON=(trainer="$ACCEL" dataset="$DATASET" trainer.progress_bar=none)

"$PYTHON" -c 'import torch; print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", "| torch", torch.__version__)'

timed() {  # name, then the command: its wall seconds to $OUT/<name>.seconds
  local name=$1; shift
  local start=$EPOCHREALTIME
  "$@" > "$OUT/$name.log" 2>&1 || { tail -30 "$OUT/$name.log"; echo "FAILED: $name"; exit 1; }
  echo "$start $EPOCHREALTIME" > "$OUT/$name.seconds"
}

timed single "$PYTHON" train.py "${COMMON[@]}" trainer.max_epochs=1 hydra.run.dir="$OUT/single"
timed gpus "$PYTHON" train.py -m "${COMMON[@]}" hydra/launcher=gpus trainer.max_epochs=1 \
  ${GPU_JOBS:+hydra.launcher.n_jobs=$GPU_JOBS} seed=0,1,2 hydra.sweep.dir="$OUT/gpus"
timed population "$PYTHON" train.py -m "${COMMON[@]}" hydra/launcher=population \
  trainer.max_epochs="$EPOCHS" "init=$INITS" "activation=$ACTIVATIONS" "${GRID[@]}" \
  hydra.sweep.dir="$OUT/population"
# The first SEQUENTIAL jobs of the same grid (same folders), one after another.
FIRST=$(ls -d "$OUT"/population/*/ | head -n "$SEQUENTIAL" | xargs -n1 basename)
SEQ_INITS=$(for f in $FIRST; do tr ',' '\n' <<< "$f" | sed -n 's/^init=//p'; done | sort -u | paste -sd,)
SEQ_ACTS=$(for f in $FIRST; do tr ',' '\n' <<< "$f" | sed -n 's/^activation=//p'; done | sort -u | paste -sd,)
timed sequential "$PYTHON" train.py -m "${COMMON[@]}" trainer.max_epochs="$EPOCHS" \
  "init=$SEQ_INITS" "activation=${SEQ_ACTS:-relu}" "${GRID[@]}" hydra.sweep.dir="$OUT/sequential"

"$PYTHON" scripts/gpu_check_table.py "$OUT" "$ACCEL"
"$PYTHON" scripts/sync_check.py || echo "FAILED: sync check"
