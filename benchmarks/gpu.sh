#!/usr/bin/env bash
# nipkit's GPU benchmarks in one go, for a machine with an NVIDIA GPU and a copy of this
# repository: installs nipkit with its GPU extra into a fresh virtual environment, prints
# nvidia-smi, runs benchmarks/training.py at the paper's sizes (batch 20; 128² pre-training
# patches; F+N: 256² NIP patches, 5 classes, 128² FAN inputs) in float32 and with mixed
# precision, each without and with XLA, a short F+N run of the quick-start experiment, a
# 4-run sweep of it sharing the GPU (nipkit sweep --workers 4) and a 2-process
# multi-worker F+N run (training.distribute: multi_worker, TF_CONFIG on localhost).
# Everything (logs, JSON, the run folder) goes under $OUT.
#
# Usage:
#   bash benchmarks/gpu.sh            # the full benchmark (needs a GPU)
#   bash benchmarks/gpu.sh --quick    # small sizes; runs without a GPU (checks the script)
#
# Environment:
#   OUT      results folder (default benchmarks/results/gpu)
#   VENV     virtual environment to create and use (default ${TMPDIR:-/tmp}/nipkit-gpu-venv)
#   PYTHON   interpreter that creates it (default python3)
#   NIPKIT_NO_INSTALL=1   use VENV as it is (nipkit already installed there)
set -euo pipefail

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "usage: bash benchmarks/gpu.sh [--quick]" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-benchmarks/results/gpu}
VENV=${VENV:-${TMPDIR:-/tmp}/nipkit-gpu-venv}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1
echo "nipkit GPU benchmarks: $(date -u +%Y-%m-%dT%H:%M:%SZ), results in $OUT, quick=$quick"

fail() {
  echo "error: $*" >&2
  exit 1
}

if [ "${NIPKIT_NO_INSTALL:-0}" != 1 ]; then
  "$PYTHON" -m venv "$VENV" || fail "cannot create a virtual environment with $PYTHON at $VENV"
  # Ask the index for TensorFlow first, so an unreachable index fails here, clearly.
  if ! "$VENV/bin/python" -m pip index versions tensorflow --timeout 20 --retries 1 >"$OUT/pip-index.txt" 2>&1; then
    fail "pip cannot reach a package index that has tensorflow (PyPI, or the index PIP_INDEX_URL / pip.conf names; details in $OUT/pip-index.txt); nipkit's GPU extra is installed from it"
  fi
  "$VENV/bin/python" -m pip install --quiet -e ".[gpu]" || fail "pip install -e \".[gpu]\" failed (see above)"
fi
python=$VENV/bin/python
nipkit=$VENV/bin/nipkit
if [ ! -x "$python" ] || [ ! -x "$nipkit" ]; then
  fail "no nipkit in $VENV (unset NIPKIT_NO_INSTALL to install it)"
fi
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi | tee "$OUT/nvidia-smi.txt" || fail "nvidia-smi failed: is the NVIDIA driver loaded?"
elif [ "$quick" = 1 ]; then
  echo "nvidia-smi not found: running the quick check without a GPU"
else
  fail "nvidia-smi not found: this script is for a machine with an NVIDIA GPU and its driver"
fi

versions='import sys, tensorflow as tf, keras
print("python", sys.version.split()[0], "tensorflow", tf.__version__, "keras", keras.__version__)
print(len(tf.config.list_physical_devices("GPU")))'
found=$("$python" -c "$versions") || fail "TensorFlow cannot be imported in $VENV"
# Parameter expansion, not `| head`: under pipefail a reader that exits early kills echo (SIGPIPE).
echo "${found%%$'\n'*}"
gpus=${found##*$'\n'}
echo "GPUs visible to TensorFlow: $gpus"
if [ "$gpus" = 0 ] && [ "$quick" = 0 ]; then
  fail "TensorFlow sees no GPU (check the driver and CUDA libraries of tensorflow[and-cuda]); nothing measured"
fi

size_args=()
fplusn_steps=200
pretrain_steps=300
fplusn_args=()
if [ "$quick" = 1 ]; then  # checks every path of the script, at the smallest sizes
  size_args=(--quick --nip inet)
  fplusn_steps=10
  pretrain_steps=10
  fplusn_args=(--set pretrain.validate_every=10 --set pretrain.validation_size=64
    --set training.validate_every=10 --set training.validation_patches=4)
fi

failures=()
for variant in float32 mixed xla mixed-xla; do
  flags=()
  case "$variant" in
    mixed) flags=(--mixed-precision) ;;
    xla) flags=(--xla) ;;
    mixed-xla) flags=(--mixed-precision --xla) ;;
  esac
  echo "== training benchmark: $variant"
  if ! "$python" benchmarks/training.py ${size_args[@]+"${size_args[@]}"} ${flags[@]+"${flags[@]}"} \
    --out "$OUT/training-$variant.json"; then
    failures+=("training benchmark $variant")
  fi
done

echo "== F+N run: examples/quickstart.yaml, $fplusn_steps joint steps"
rm -rf "$OUT/fplusn"
started=$SECONDS
if "$nipkit" run examples/quickstart.yaml --set training.mode=joint --set "training.steps=$fplusn_steps" \
  --set "pretrain.steps=$pretrain_steps" ${fplusn_args[@]+"${fplusn_args[@]}"} --out "$OUT/fplusn"; then
  echo "F+N run took $((SECONDS - started)) s (pre-training $pretrain_steps steps, joint $fplusn_steps steps," \
    "evaluation)" | tee "$OUT/fplusn-time.txt"
else
  failures+=("F+N run")
fi

export TF_FORCE_GPU_ALLOW_GROWTH=true  # several processes share the GPU below
sweep_steps=$fplusn_steps
sweep_workers=4
sweep_weights=0.1,1.0
small_args=()
if [ "$quick" = 1 ]; then  # only checks that the sweep and the multi-worker run work (2 runs, not 4)
  sweep_steps=2
  sweep_workers=2
  sweep_weights=1.0
  small_args=(--set pretrain=null --set training.validate_every=2 --set training.validation_patches=2)
fi
echo "== sweep: F+N runs (training.seed x training.fidelity_weight $sweep_weights) of the quick-start experiment sharing one GPU, $sweep_steps steps each"
rm -rf "$OUT/sweep"
started=$SECONDS
if "$nipkit" sweep examples/quickstart.yaml --set training.mode=joint --set "training.steps=$sweep_steps" \
  --set "pretrain.steps=$pretrain_steps" ${small_args[@]+"${small_args[@]}"} --sweep training.seed=0,1 \
  --sweep "training.fidelity_weight=$sweep_weights" --executor local --workers "$sweep_workers" --out "$OUT/sweep"; then
  echo "sweep took $((SECONDS - started)) s ($sweep_workers processes on one GPU; per run: $OUT/sweep/sweep.json)" \
    | tee "$OUT/sweep-time.txt"
else
  failures+=("sweep")
fi

echo "== multi-worker F+N run: 2 processes (MultiWorkerMirroredStrategy over localhost), $sweep_steps steps"
rm -rf "$OUT/multi-worker"
ports=$("$python" -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("localhost", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r port0 port1 <<<"$ports"
started=$SECONDS
pids=()
for index in 0 1; do
  TF_CONFIG="{\"cluster\": {\"worker\": [\"localhost:$port0\", \"localhost:$port1\"]}, \"task\": {\"type\": \"worker\", \"index\": $index}}" \
    "$nipkit" run examples/quickstart.yaml --set training.mode=joint --set "training.steps=$sweep_steps" \
    --set training.distribute=multi_worker --set pretrain=null ${small_args[@]+"${small_args[@]}"} \
    --out "$OUT/multi-worker" \
    >"$OUT/multi-worker-$index.log" 2>&1 &
  pids+=($!)
done
mw_ok=1
for pid in "${pids[@]}"; do wait "$pid" || mw_ok=0; done
if [ "$mw_ok" = 1 ]; then
  echo "2-worker run took $((SECONDS - started)) s (logs: $OUT/multi-worker-0.log, -1.log)" | tee "$OUT/multi-worker-time.txt"
else
  failures+=("multi-worker run (see $OUT/multi-worker-*.log)")
fi

if [ ${#failures[@]} -gt 0 ]; then
  fail "failed: ${failures[*]} (the others' results are in $OUT)"
fi
echo "done: $OUT"
