#!/usr/bin/env bash
# The training-step benchmark on a GPU: builds the libtorch addon against the libtorch inside the
# installed PyTorch wheel (torch/include, torch/lib; CUDA libraries linked with --no-as-needed), then
# runs bench/train.ts --device cuda beside PyTorch on the same GPU. Needs node, npm's node_modules
# already installed (no network is used), and python3 with a CUDA build of torch.
#   bash bench/train-cuda.sh [PYTHON] [extra bench/train.ts options, e.g. --batch 200]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
shift || true
TORCH_DIR=$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
"$PY" -c 'import torch; assert torch.cuda.is_available(), "this torch has no CUDA device"; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
# the wheel's own C++ ABI flag (pip wheels before 2.7 use the pre-C++11 ABI)
export IMAGINET_CXX11_ABI=$("$PY" -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')
export IMAGINET_LIBTORCH="$TORCH_DIR"
node scripts/build-native.mjs --force
REFERENCE_PYTHON=$(command -v "$PY") node --import tsx bench/train.ts --device cuda --threads 1 "$@"
