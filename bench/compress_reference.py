"""Reference round trips for bench/compress-fidelity.ts (run with /usr/bin/python3: Debian's
python3-opencv, python3-numpy, python3-pil).

    compress_reference.py MANIFEST.json OUTDIR

MANIFEST lists {"file": raw RGB path, "width", "height"} items and "jobs": [[codec, quality], ...].
For every item and job writes OUTDIR/<i>.<lib>.<codec>.<q>.rgb (raw RGB) for lib in
  cv2: albumentations' ImageCompression — cv2.imencode/imdecode on the RGB array as is (OpenCV takes it as BGR)
  pil: Image.save(format="JPEG"/"WEBP", quality=q) then Image.open(...).convert("RGB")
Prints the library versions as JSON.
"""
import io
import json
import os
import sys

import cv2
import numpy as np
import PIL
from PIL import Image, features


def main():
    manifest_path, out = sys.argv[1], sys.argv[2]
    with open(manifest_path) as f:
        manifest = json.load(f)
    for i, item in enumerate(manifest["items"]):
        with open(item["file"], "rb") as f:
            rgb = np.frombuffer(f.read(), np.uint8).reshape(item["height"], item["width"], 3)
        for codec, q in manifest["jobs"]:
            ext, flag = (".jpg", cv2.IMWRITE_JPEG_QUALITY) if codec == "jpeg" else (".webp", cv2.IMWRITE_WEBP_QUALITY)
            ok, enc = cv2.imencode(ext, rgb, (int(flag), q))
            assert ok
            cv = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
            with open(os.path.join(out, f"{i}.cv2.{codec}.{q}.rgb"), "wb") as f:
                f.write(np.ascontiguousarray(cv).tobytes())
            buf = io.BytesIO()
            Image.fromarray(rgb, "RGB").save(buf, format="JPEG" if codec == "jpeg" else "WEBP", quality=q)
            buf.seek(0)
            pil = np.asarray(Image.open(buf).convert("RGB"))
            with open(os.path.join(out, f"{i}.pil.{codec}.{q}.rgb"), "wb") as f:
                f.write(np.ascontiguousarray(pil).tobytes())
    print(json.dumps({"cv2": cv2.__version__, "pillow": PIL.__version__,
                      "pil_libjpeg": features.version("jpg"), "pil_libwebp": features.version("webp")}))


if __name__ == "__main__":
    main()
