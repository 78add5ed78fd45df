#!/usr/bin/python3
"""PyTorch side of bench/precision.ts's inference: the Grag2021 nodown ResNet-50 (the model code of
scripts/fixtures/make_model_fixtures.py at width 1, random weights), eval mode under no_grad, on a
random batch; PRECISION bf16 / fp16 under torch.autocast, CHANNELS_LAST 1 stores the model and input
NHWC. Prints JSON: {"ms": [per-batch milliseconds after one warm-up batch]}.
Usage: python3 bench/precision_reference.py BATCH SIZE STEPS THREADS DEVICE PRECISION CHANNELS_LAST
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "fixtures"))
from make_model_fixtures import Grag  # noqa: E402

batch, size, steps, threads = (int(a) for a in sys.argv[1:5])
device, precision, channels_last = sys.argv[5], sys.argv[6], sys.argv[7] == "1"
torch.set_num_threads(threads)
torch.manual_seed(0)
model = Grag([3, 4, 6, 3], 1).to(device).eval()
x = torch.randn(batch, 3, size, size, device=device)
if channels_last:
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def run():
    with torch.no_grad(), torch.autocast(device.split(":")[0], dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return model(x)["logit"].float().cpu()  # the copy back synchronises, so the time includes the GPU's work


run()
ms = []
for _ in range(steps):
    t = time.perf_counter()
    run()
    ms.append((time.perf_counter() - t) * 1000)
print(json.dumps({"ms": ms}))
