#!/usr/bin/python3
"""PyTorch (1.13, CPU) side of bench/univfd-full.ts: UnivFD at full size, CLIP ViT-L/14 at 224
(width 1024, 24 layers, 16 heads, patch 14, output 768) + the linear probe, random weights.

The tower is the torch.nn rebuild of scripts/fixtures/make_univfd_fixtures.py (OpenAI's key
names), weights from seed 0, saved in float16 as OpenAI publishes them and run widened to float32
(as clip.load on the CPU). Writes into OUTDIR:
  clip_vitl14.pth   the CLIP state dict (visual.* only; a plain torch.save)
  probe.pth         {weight [1, 768], bias [1]}, as UnivFD's fc_weights.pth
  input.bin         float32 [N, 3, 224, 224]: N random uint8 images, ToTensor + CLIP Normalize
  feature.bin       float32 [N, 768], logit.bin float32 [N, 1]: PyTorch's outputs for them
Then times the model alone (eval, no_grad, set_num_threads) per batch size: warm-up runs, then
the median of timed runs. Prints one JSON object on stdout.

  /usr/bin/python3 bench/univfd_reference.py OUTDIR '{"threads":2,"n":2,"cases":[{"batch":1,"warmup":1,"reps":3}]}'
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "fixtures"))
from make_univfd_fixtures import CLIP_MEAN, CLIP_STD, VisionTransformer, randomize  # noqa: E402


class Clip(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = VisionTransformer(224, 14, 1024, 24, 16, 768)


def main():
    out, cfg = sys.argv[1], json.loads(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(cfg["threads"])
    gen = torch.Generator().manual_seed(0)
    clip = Clip()
    randomize(clip, gen)
    probe = nn.Linear(768, 1)
    randomize(probe, gen)
    clip.half()
    torch.save(clip.state_dict(), os.path.join(out, "clip_vitl14.pth"))
    torch.save(probe.state_dict(), os.path.join(out, "probe.pth"))
    clip.float().eval()

    images = torch.randint(0, 256, (cfg["n"], 224, 224, 3), generator=gen, dtype=torch.uint8)
    x = (images.permute(0, 3, 1, 2).float().div(255) - CLIP_MEAN) / CLIP_STD
    with torch.no_grad():
        feature = clip.visual(x)
        logit = probe(feature)
    x.contiguous().numpy().tofile(os.path.join(out, "input.bin"))
    feature.numpy().tofile(os.path.join(out, "feature.bin"))
    logit.numpy().tofile(os.path.join(out, "logit.bin"))

    timings = []
    for case in cfg["cases"]:
        xb = x[: case["batch"]] if case["batch"] <= len(x) else x[:1].repeat(case["batch"], 1, 1, 1)
        times = []
        with torch.no_grad():
            for i in range(case["warmup"] + case["reps"]):
                t0 = time.perf_counter()
                probe(clip.visual(xb))
                if i >= case["warmup"]:
                    times.append(time.perf_counter() - t0)
        timings.append({**case, "ms_per_image": 1000 * statistics.median(times) / case["batch"]})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "timings": timings}))


if __name__ == "__main__":
    main()
