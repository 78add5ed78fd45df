#!/usr/bin/python3
"""PyTorch 1.13 side of bench/train.ts: upstream's SelfCon ConResNet (nodown ResNet-50, selfcon
at layer2, MLP heads, feat_dim 128) built from scripts/fixtures/make_train_fixtures.py's modules
at full width, one SGD step (lr 0.005, momentum 0.9, wd 1e-4) with ImagiNet's multi-label ConLoss
on a fixed random batch; PRECISION bf16 / fp16 runs the forward pass and loss under torch.autocast.
Prints JSON: {"ms": [per-step milliseconds], "loss": first loss, "losses": every step's}.
Usage: /usr/bin/python3 bench/train_reference.py BATCH SIZE STEPS THREADS [DEVICE] [PRECISION]
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "fixtures"))
import make_train_fixtures as m  # noqa: E402

batch, size, steps, threads = (int(a) for a in sys.argv[1:5])
device = sys.argv[5] if len(sys.argv) > 5 else "cpu"
precision = sys.argv[6] if len(sys.argv) > 6 else "fp32"
autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
torch.set_num_threads(threads)
torch.manual_seed(0)
m.WIDTH, m.FEAT_DIM = 64, 128
model = m.ConResNet()
model.encoder = m.Trunk([3, 4, 6, 3], (False, True, False), nodown=True)
model.to(device).train()
opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9, weight_decay=1e-4)
x = torch.rand(batch, 3, size, size, device=device)
labels = torch.zeros(batch, 4, dtype=torch.long)
labels[:, 0] = torch.arange(batch) % 2
labels[:, 2] = torch.where(labels[:, 0] == 1, (torch.arange(batch) // 2) % 4, torch.full((batch,), 4))
labels = labels.to(device)


def step():
    opt.zero_grad()
    with torch.autocast(device.split(":")[0], dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
        sh, f, _, _ = model(x)
        loss = m.multilabel_imaginet(torch.cat([sh[0].unsqueeze(1), f.unsqueeze(1)], 1), labels)[0]
    loss.backward()
    opt.step()
    return loss.item()  # .item() synchronises, so the time includes the GPU's work


first = step()  # warm-up (allocations, kernel choice)
ms = []
losses = [first]
for _ in range(steps):
    t = time.perf_counter()
    losses.append(step())
    ms.append((time.perf_counter() - t) * 1000)
print(json.dumps({"ms": ms, "loss": first, "losses": losses}))
