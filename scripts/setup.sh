#!/usr/bin/env bash
# Create .venv and install recplug's stack in the only order that works.
#
# Why the order matters: `pip install torchrec` pulls the CUDA build of fbgemm-gpu, which
# overwrites the CPU build and then fails at import on a machine without CUDA. So we pin
# torch first, then the fbgemm build that matches the machine, then torchrec with --no-deps
# plus its own requirements, and only then the project with its dev extras.
#
# Choose the fbgemm build with RECPLUG_FBGEMM=cpu|gpu (default: gpu when `nvidia-smi` works).
# Idempotent: a second run only checks that everything imports (a stamp file records success).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${VENV:-.venv}
TORCH_VERSION=2.13.0
FBGEMM_VERSION=1.8.0
TORCHREC_VERSION=1.8.0
STAMP="$VENV/.recplug-setup-$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)"

if [[ -f "$STAMP" ]]; then
  exit 0
fi

if [[ -z "${RECPLUG_FBGEMM:-}" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    RECPLUG_FBGEMM=gpu
  else
    RECPLUG_FBGEMM=cpu
  fi
fi
case "$RECPLUG_FBGEMM" in
  cpu) FBGEMM_PKG="fbgemm-gpu-cpu==$FBGEMM_VERSION" ;;
  gpu) FBGEMM_PKG="fbgemm-gpu==$FBGEMM_VERSION" ;;
  *) echo "RECPLUG_FBGEMM must be cpu or gpu, got '$RECPLUG_FBGEMM'" >&2; exit 2 ;;
esac

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
# --no-warn-conflicts: torchrec's metadata names the CUDA fbgemm-gpu, which we replace on purpose;
# the import check at the end is the real test of the pairing.
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --no-warn-conflicts -q)

echo "[setup] 1/4 torch==$TORCH_VERSION"
"${PIP[@]}" "torch==$TORCH_VERSION"
echo "[setup] 2/4 $FBGEMM_PKG"
"${PIP[@]}" "$FBGEMM_PKG"
echo "[setup] 3/4 torchrec==$TORCHREC_VERSION --no-deps and its requirements"
"${PIP[@]}" --no-deps "torchrec==$TORCHREC_VERSION"
"${PIP[@]}" "torch==$TORCH_VERSION" "$FBGEMM_PKG" tensordict "torchmetrics==1.0.3" tqdm pyre-extensions iopath
echo "[setup] 4/4 recplug[dev]"
"${PIP[@]}" "torch==$TORCH_VERSION" "$FBGEMM_PKG" -e ".[dev]"

"$VENV/bin/python" - <<'PY'
import torch, torchrec, fbgemm_gpu  # noqa: F401  (fails loudly if the pairing is wrong)
from torchrec import KeyedJaggedTensor
KeyedJaggedTensor.from_lengths_sync(keys=["f"], values=torch.tensor([1, 2]), lengths=torch.tensor([2]))
print(f"[setup] torch {torch.__version__}, torchrec {torchrec.__version__ if hasattr(torchrec, '__version__') else 'ok'}")
PY
rm -f "$VENV"/.recplug-setup-*
touch "$STAMP"
