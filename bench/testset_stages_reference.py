"""Per-stage reference for bench/testset-stages.ts: the test-set recipe's stages with PIL and OpenCV
(as bench/testset_reference.py does them), one process, one thread, on the jobs the TypeScript side
drew (same images, crop boxes, codecs and qualities). Prints per-stage mean CPU milliseconds
(time.process_time: user + system, all threads) and the sha256 of each image's final pixels as JSON. Run with /usr/bin/python3 (Debian's python3-opencv)."""
import hashlib
import io
import json
import sys
import time

import cv2
import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = 933120000
cv2.setNumThreads(1)


def main():
    jobs = json.load(open(sys.argv[1]))
    effort = int(sys.argv[2])
    t = {"decode_crop": 0.0, "resize": 0.0, "compress": 0.0, "encode": 0.0}
    hashes = []
    for job in jobs:
        t0 = time.process_time()
        img = np.asarray(Image.open(job["src"]).convert("RGB"))
        h, x, y = job["side"], job["x"], job["y"]
        ph, pw = max(0, h - img.shape[0]), max(0, h - img.shape[1])
        if ph or pw:
            img = cv2.copyMakeBorder(img, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_REFLECT_101)
        img = img[y : y + h, x : x + h]
        t1 = time.process_time()
        img = cv2.resize(img, (256, 256), interpolation=cv2.INTER_LANCZOS4)
        t2 = time.process_time()
        if job["codec"]:
            ext, flag = (".jpg", cv2.IMWRITE_JPEG_QUALITY) if job["codec"] == "jpeg" else (".webp", cv2.IMWRITE_WEBP_QUALITY)
            _, enc = cv2.imencode(ext, img, (int(flag), job["quality"]))
            img = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
        t3 = time.process_time()
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "WEBP", lossless=True, method=effort)
        t4 = time.process_time()
        t["decode_crop"] += t1 - t0
        t["resize"] += t2 - t1
        t["compress"] += t3 - t2
        t["encode"] += t4 - t3
        hashes.append(hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest())
    print(json.dumps({"ms": {k: 1000 * v / len(jobs) for k, v in t.items()}, "sha256": hashes}))


if __name__ == "__main__":
    main()
