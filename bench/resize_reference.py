"""Reference resizes for bench/resize-fidelity.ts (run with /usr/bin/python3: Debian's python3-opencv
and python3-numpy).

    resize_reference.py MANIFEST.json OUTDIR

MANIFEST: {"items": [{"file": raw RGB path, "width", "height"}], "size": S, "modes": [...], "repeat": R}.
For every item and mode writes OUTDIR/<i>.<mode>.rgb, cv2.resize(rgb, (S, S), interpolation=...) of
the RGB array as is. Times cv2.resize alone (R calls per item, after one warm-up call), once with
OpenCV's default threading and once with cv2.setNumThreads(1), and prints JSON:
{"cv2": version, "threads": default thread count, "ms": {mode: {"default": mean ms per image, "single": ...}}}.
"""
import json
import os
import sys
import time

import cv2
import numpy as np

FLAGS = {
    "lanczos4": cv2.INTER_LANCZOS4,
    "bicubic": cv2.INTER_CUBIC,
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
}


def main():
    manifest_path, out = sys.argv[1], sys.argv[2]
    with open(manifest_path) as f:
        manifest = json.load(f)
    size, repeat = manifest["size"], manifest["repeat"]
    imgs = []
    for item in manifest["items"]:
        with open(item["file"], "rb") as f:
            imgs.append(np.frombuffer(f.read(), np.uint8).reshape(item["height"], item["width"], 3))
    default_threads = cv2.getNumThreads()
    ms = {}
    for mode in manifest["modes"]:
        flag = FLAGS[mode]
        for i, rgb in enumerate(imgs):
            res = cv2.resize(rgb, (size, size), interpolation=flag)
            with open(os.path.join(out, f"{i}.{mode}.rgb"), "wb") as f:
                f.write(np.ascontiguousarray(res).tobytes())
        ms[mode] = {}
        for label, threads in (("default", default_threads), ("single", 1)):
            cv2.setNumThreads(threads)
            total = 0.0
            for rgb in imgs:
                cv2.resize(rgb, (size, size), interpolation=flag)
                t0 = time.perf_counter()
                for _ in range(repeat):
                    cv2.resize(rgb, (size, size), interpolation=flag)
                total += (time.perf_counter() - t0) / repeat
            ms[mode][label] = total * 1000 / len(imgs)
        cv2.setNumThreads(default_threads)
    print(json.dumps({"cv2": cv2.__version__, "threads": default_threads, "ms": ms}))


if __name__ == "__main__":
    main()
