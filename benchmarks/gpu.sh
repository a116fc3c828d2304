#!/usr/bin/env bash
# nipkit's GPU benchmarks in one go, for a machine with an NVIDIA GPU and a copy of this
# repository: installs nipkit with its GPU extra into a fresh virtual environment, prints
# nvidia-smi, runs benchmarks/training.py at the paper's sizes (batch 20; 128² pre-training
# patches; F+N: 256² NIP patches, 5 classes, 128² FAN inputs) in float32 and with mixed
# precision, each without and with XLA, and a short F+N run of the quick-start experiment.
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
echo "$found" | head -n 1
gpus=$(echo "$found" | tail -n 1)
echo "GPUs visible to TensorFlow: $gpus"
if [ "$gpus" = 0 ] && [ "$quick" = 0 ]; then
  fail "TensorFlow sees no GPU (check the driver and CUDA libraries of tensorflow[and-cuda]); nothing measured"
fi

size_args=()
fplusn_steps=200
pretrain_steps=300
if [ "$quick" = 1 ]; then
  size_args=(--quick)
  fplusn_steps=10
  pretrain_steps=10
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
  --set "pretrain.steps=$pretrain_steps" --out "$OUT/fplusn"; then
  echo "F+N run took $((SECONDS - started)) s (pre-training $pretrain_steps steps, joint $fplusn_steps steps," \
    "evaluation)" | tee "$OUT/fplusn-time.txt"
else
  failures+=("F+N run")
fi

if [ ${#failures[@]} -gt 0 ]; then
  fail "failed: ${failures[*]} (the others' results are in $OUT)"
fi
echo "done: $OUT"
