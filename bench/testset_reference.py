"""Reference for bench/testset.ts: upstream's test-set recipe with PIL and OpenCV, as `save_testset.py`
does it through albumentations (random square crop of side h in [256, min(short, 1000)] with
reflect-101 padding, Lanczos-4 to 256, p=0.75 JPEG or WebP q 60-100 via cv2.imencode, lossless WebP
out), in a multiprocessing pool. Seeded per image. Run with /usr/bin/python3 (Debian's python3-opencv)."""
import argparse
import os
import random
from multiprocessing import Pool

import cv2
import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = 933120000
cv2.setNumThreads(1)


def perturb(job):
    k, root, rel, out, seed, method = job
    rnd = random.Random(seed * 1_000_003 + k)
    img = np.asarray(Image.open(os.path.join(root, rel)).convert("RGB"))
    h = rnd.randint(256, max(min(min(img.shape[:2]), 1000), 256))
    ph, pw = max(0, h - img.shape[0]), max(0, h - img.shape[1])
    if ph or pw:
        img = cv2.copyMakeBorder(img, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_REFLECT_101)
    y = rnd.randint(0, img.shape[0] - h)
    x = rnd.randint(0, img.shape[1] - h)
    img = cv2.resize(img[y : y + h, x : x + h], (256, 256), interpolation=cv2.INTER_LANCZOS4)
    if rnd.random() < 0.75:
        ext, flag = (".jpg", cv2.IMWRITE_JPEG_QUALITY) if rnd.random() < 0.5 else (".webp", cv2.IMWRITE_WEBP_QUALITY)
        _, enc = cv2.imencode(ext, img, (int(flag), rnd.randint(60, 100)))
        img = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    dest = os.path.join(out, f"{k:05d}.webp")
    Image.fromarray(img).save(dest, "WEBP", lossless=True, method=method)
    return k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--webp-method", type=int, default=4, help="Pillow's lossless WebP effort (its default is 4)")
    ap.add_argument("annotations")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(a.annotations) as f:
        rels = [os.path.normpath(line.strip().rsplit(",", 4)[0]) for line in f if line.strip()]
    jobs = [(k, a.root, rel, a.out, a.seed, a.webp_method) for k, rel in enumerate(rels)]
    with Pool(a.workers) as pool:
        done = sum(1 for _ in pool.imap_unordered(perturb, jobs, chunksize=4))
    assert done == len(jobs)


if __name__ == "__main__":
    main()
