#!/usr/bin/env bash
# The GPU check (docs/gpu.md), on a machine with NVIDIA GPUs and a CUDA build of PyTorch:
#   1. builds the libtorch addon against the wheel's torch/ (include/, lib/) into native/build-cuda
#      (native/build, the CPU build, is left alone) and loads that one for everything below;
#   2. runs the engine tests on CUDA (IMAGINET_TEST_DEVICE=cuda): detectors on the libtorch engine
#      against onnxruntime, and the training steps against PyTorch's (test/fixtures/train);
#   3. one training step beside PyTorch on the same GPU (bench/train.ts), then images/s for training
#      (256×256, batch 64, fp32 and bf16) and inference (fp32, bf16, fp16, channels-last), ours beside
#      PyTorch's (bench/precision.ts --reference);
#   4. an all-reduce over every GPU present with NCCL through our process group (bench/allreduce.ts),
#      and `imaginet train represent --nproc <GPUs> --device cuda` on the example dataset.
#
# Needs: node ≥ 20 on PATH (or NODE=/path/to/node), the checkout's node_modules installed (no network
# is used), g++, and python3 with a CUDA torch (PYTHON=... to pick another). The wheel must carry
# Gloo's headers (torch/include/gloo, for native/dist.cc) and, for NCCL, nccl.h (torch/include or
# /usr/include). Logs go to $OUT (default bench/gpu-check-out/).
#   bash bench/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "gpu-check: $*" >&2
  exit 1
}

NODE=${NODE:-$(command -v node || true)}
[ -n "$NODE" ] && [ -x "$NODE" ] || die "no node binary: this machine has no Node.js; carry one in (e.g. a node-v20 linux-x64 tarball's bin/node) and set NODE=/path/to/node or put it on PATH"
"$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "$NODE is Node $("$NODE" --version); need 20 or newer"
[ -d node_modules/tsx ] || die "node_modules is missing (tsx, node-addon-api, onnxruntime-node …): carry the checkout's node_modules in (npm ci needs the network)"
command -v g++ >/dev/null || die "g++ is missing: the addon is compiled here"
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || die "$PYTHON not found: set PYTHON to a python with a CUDA build of torch"
"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null || die "$PYTHON's torch has no usable CUDA device ($("$PYTHON" -c 'import torch; print(torch.__version__)' 2>&1 | tail -1))"
NGPU=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())')
"$PYTHON" -c 'import torch; print("gpu-check: torch", torch.__version__, "CUDA", torch.version.cuda, "on", torch.cuda.device_count(), "x", torch.cuda.get_device_name(0))'

OUT=${OUT:-bench/gpu-check-out}
mkdir -p "$OUT"
export PATH="$(dirname "$NODE"):$PATH"
export REFERENCE_PYTHON
REFERENCE_PYTHON=$(command -v "$PYTHON")

echo "== 1. build the addon against the wheel's libtorch"
IMAGINET_LIBTORCH=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
# the wheel's own C++ ABI (pip wheels before 2.7 use the pre-C++11 one)
IMAGINET_CXX11_ABI=$("$PYTHON" -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')
export IMAGINET_LIBTORCH IMAGINET_CXX11_ABI
export IMAGINET_NATIVE_BUILD="$PWD/native/build-cuda"
export IMAGINET_TORCH_ADDON="$IMAGINET_NATIVE_BUILD/imaginet_torch.node"
"$NODE" scripts/build-native.mjs 2>&1 | tee "$OUT/build.log"
"$NODE" --import tsx -e '
  const E = await import("./src/engine/index.ts");
  if (!E.cudaAvailable()) { console.error("gpu-check: the addon built, but libtorch sees no CUDA device"); process.exit(1); }
  console.log(`gpu-check: addon on libtorch ${E.torchVersion()}, ${E.cudaDeviceCount()} CUDA device(s)`);
'

echo "== 2. engine tests on CUDA"
export IMAGINET_TEST_DEVICE=cuda
"$NODE" --import tsx --test test/eager-detect.test.ts test/train-step.test.ts 2>&1 | tee "$OUT/tests.log"
unset IMAGINET_TEST_DEVICE

echo "== 3. training step beside PyTorch, then throughput (256×256, batch 64)"
"$NODE" --import tsx bench/train.ts --device cuda --threads 1 --batch 64 --size 256 --steps 5 2>&1 | tee "$OUT/train-step.log"
"$NODE" --import tsx bench/precision.ts --device cuda --threads 1 --batch 64 --size 256 --infer-batch 64 --steps 10 --precisions fp32,bf16,fp16 --reference 2>&1 | tee "$OUT/precision.log"

echo "== 4. NCCL over ${NGPU} GPU(s)"
if [ "$NGPU" -ge 2 ]; then
  "$NODE" --import tsx bench/allreduce.ts --nproc "$NGPU" --device cuda --mb 256 --reps 10 2>&1 | tee "$OUT/allreduce.log"
  DATA="$OUT/example-data"
  rm -rf "$DATA" "$OUT/ddp-run"
  "$NODE" --import tsx src/cli/main.ts dataset example --out "$DATA"
  "$NODE" --import tsx src/cli/main.ts train represent --root "$DATA" "$DATA/annotations/train_annotations.txt" --out "$OUT/ddp-run" \
    --device cuda --nproc "$NGPU" --epochs 1 --batch $((4 * NGPU)) --crop 64 --json 2>&1 | tee "$OUT/ddp-train.log"
else
  echo "gpu-check: one GPU: NCCL all-reduce needs 2 or more, skipped" | tee "$OUT/allreduce.log"
fi
echo "gpu-check: done; logs in $OUT"
