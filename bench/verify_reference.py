"""Reference for bench/verify.ts: for each annotated path, check it exists and read its first bytes,
as a plain upstream-style Python script would. Prints "<present> <problems>"."""
import os
import sys

root, ann = sys.argv[1], sys.argv[2]
SIGS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
present = problems = 0
with open(ann) as f:
    for line in f:
        rel = os.path.normpath(line.strip().rsplit(",", 4)[0])
        try:
            with open(os.path.join(root, rel), "rb") as img:
                head = img.read(16)
            if head.startswith(SIGS):
                present += 1
            else:
                problems += 1
        except OSError:
            problems += 1
print(present, problems)
