#!/usr/bin/python3
"""PyTorch (1.13, CPU) side of bench/infer.ts: a full-size nodown ResNet-50 Grag2021 detector.

Builds the model in plain torch.nn with torchvision's key names (the model code of
scripts/fixtures/make_model_fixtures.py, at width 1), random weights from seed 0 with non-trivial
BN running stats, and writes into OUTDIR:
  grag_r50.pth       {'model': state_dict}, as upstream saves it
  parity_input.bin   float32 [PARITY_N, 3, 256, 256], a random normalised batch
  parity_logit.bin   float32 [PARITY_N, 1], the model's logits for it
  photo_logit_bB.bin float32 [n], the logits of the end-to-end photos run in batches of B
Then times, in eval mode under torch.no_grad() with torch.set_num_threads(THREADS): the model alone
(batches of random input: warm-up runs, then the median of timed runs) and end to end from files
(PIL decode, reflect-pad to 256 if needed, centre crop 256, ToTensor + Normalize, forward in batches).
Prints one JSON object on stdout.

  /usr/bin/python3 bench/infer_reference.py OUTDIR CONFIG_JSON PHOTO...
  CONFIG_JSON: {"threads":2,"cases":[{"size":256,"batch":1,"warmup":1,"reps":3},...],"e2e":[{"batch":16,"n":16}],"parityN":2}
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# the model definitions the parity fixtures use (torchvision key names, nodown trunk)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "fixtures"))
from make_model_fixtures import Grag, randomize  # noqa: E402


def load_photo(path, size=256):
    """PIL decode + convert RGB, reflect-pad (reflect-101) to `size` if smaller, centre crop `size`."""
    a = np.asarray(Image.open(path).convert("RGB"))
    h, w = a.shape[:2]
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        a = np.pad(a, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")
        h, w = a.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return a[y : y + size, x : x + size]


def to_tensor(arrs):
    """ToTensor + Normalize on a list of HxWx3 uint8 arrays."""
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float().div(255)
    return (x - MEAN) / STD


def main():
    outdir, cfg, photos = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(cfg.get("threads", 2))
    gen = torch.Generator().manual_seed(0)
    model = Grag([3, 4, 6, 3], 1)
    randomize(model, gen)
    model.eval()
    torch.save({"model": model.state_dict()}, os.path.join(outdir, "grag_r50.pth"))

    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "model": []}
    with torch.no_grad():
        # parity batch
        xp = torch.randn((cfg.get("parityN", 2), 3, 256, 256), generator=gen)
        yp = model(xp)["logit"]
        xp.numpy().astype("<f4").tofile(os.path.join(outdir, "parity_input.bin"))
        yp.numpy().astype("<f4").tofile(os.path.join(outdir, "parity_logit.bin"))

        # model alone
        for case in cfg["cases"]:
            x = torch.randn((case["batch"], 3, case["size"], case["size"]), generator=gen)
            for _ in range(case["warmup"]):
                model(x)
            ts = []
            for _ in range(case["reps"]):
                t0 = time.perf_counter()
                model(x)
                ts.append((time.perf_counter() - t0) * 1000)
            med = statistics.median(ts)
            result["model"].append({**case, "runsMs": ts, "msPerImage": med / case["batch"]})
            print(json.dumps(result["model"][-1]), file=sys.stderr, flush=True)

        # end to end from files (after the model-alone runs, so the model is warm), per case the first n photos
        result["e2e"] = []
        for case in cfg.get("e2e", []):
            files, bs = photos[: case["n"]], case["batch"]
            t0 = time.perf_counter()
            logits = []
            for i in range(0, len(files), bs):
                arrs = [load_photo(p) for p in files[i : i + bs]]
                logits.append(model(to_tensor(arrs))["logit"])
            ms = (time.perf_counter() - t0) * 1000
            out = torch.cat(logits).flatten().numpy().astype("<f4")
            out.tofile(os.path.join(outdir, "photo_logit_b%d.bin" % bs))
            result["e2e"].append({**case, "totalMs": ms, "msPerImage": ms / len(files)})
            print(json.dumps(result["e2e"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
