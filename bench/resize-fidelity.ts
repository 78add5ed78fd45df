/**
 * Benchmark (not a test): our `resize` against OpenCV's cv2.resize on real photos, the way
 * ImagiNet's perturbed test set uses it: a random square crop of side 256..1000 (bounded by the
 * photo) resized to 256×256. Prints, per interpolation, the mean and max absolute pixel difference,
 * the share of identical values, and the time per image of ours (here, single-threaded) and of
 * cv2 (timed inside Python, with OpenCV's default threading and with one thread).
 *
 *   node --import tsx bench/resize-fidelity.ts [--photos N] [--dir DIR] [--seed S] [--modes lanczos4,bicubic,...]
 *
 * Needs /usr/bin/python3 with Debian's python3-opencv and python3-numpy (bench/resize_reference.py).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { argValue, listImages, numberArg } from "./support.js";
import { Rng } from "../src/util/rng.js";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeRgb } from "../src/image/decode.js";
import { crop } from "../src/image/geometry.js";
import { resize, type ResizeInterpolation } from "../src/image/resize.js";
import type { RgbImage } from "../src/image/types.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const PHOTOS = numberArg("--photos", 100);
const DIR = argValue("--dir") ?? path.resolve(here, "..", "..", "shared", "data", "wild-dev", "images");
const SEED = numberArg("--seed", 1);
const MODES = (argValue("--modes") ?? "lanczos4,bicubic,bilinear,area").split(",") as ResizeInterpolation[];
const SIZE = 256;
const REPEAT = 5;

const rng = new Rng(SEED, "resize-fidelity");
const rand = (): number => rng.next();
const randInt = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1)); // inclusive

// pick photos in a seeded order, decode (no EXIF rotation, ICC ignored), crop
const files = listImages(DIR);
for (let i = files.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [files[i], files[j]] = [files[j]!, files[i]!];
}
const crops: { file: string; side: number; img: RgbImage }[] = [];
let skipped = 0;
for (const file of files) {
  if (crops.length >= PHOTOS) break;
  let img: RgbImage;
  try {
    img = await decodeRgb(file);
  } catch {
    skipped++;
    continue;
  }
  const maxSide = Math.min(1000, img.width, img.height);
  if (maxSide < SIZE) {
    skipped++;
    continue;
  }
  const side = randInt(SIZE, maxSide);
  crops.push({ file, side, img: crop(img, randInt(0, img.width - side), randInt(0, img.height - side), side, side) });
}
if (crops.length === 0) throw new Error(`no usable photos under ${DIR}`);

// reference
const tmp = mkdtempSync(path.join(os.tmpdir(), "resize-fidelity-"));
try {
  const items = crops.map((c, i) => {
    const file = path.join(tmp, `${i}.in.rgb`);
    writeFileSync(file, c.img.data);
    return { file, width: c.img.width, height: c.img.height };
  });
  const manifest = path.join(tmp, "manifest.json");
  writeFileSync(manifest, JSON.stringify({ items, size: SIZE, modes: MODES, repeat: REPEAT }));
  const r = spawnSync("/usr/bin/python3", [path.join(here, "resize_reference.py"), manifest, tmp], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`resize_reference.py failed (${r.status}): ${r.stderr}`);
  const ref = JSON.parse(r.stdout) as { cv2: string; threads: number; ms: Record<string, { default: number; single: number }> };

  const sides = crops.map((c) => c.side);
  console.log(`photos: ${crops.length} (skipped ${skipped}) from ${DIR}`);
  console.log(
    `crops: side ${Math.min(...sides)}..${Math.max(...sides)} (mean ${(sides.reduce((a, b) => a + b, 0) / sides.length).toFixed(0)}) -> ${SIZE}x${SIZE}; cv2 ${ref.cv2}, default threads ${ref.threads}`,
  );
  console.log("mode      mean|diff|  max|diff|  identical values   images exact   ours ms/img   cv2 ms/img (default / 1 thread)   ours/cv2 (1 thread)");
  for (const mode of MODES) {
    let sum = 0,
      n = 0,
      max = 0,
      same = 0,
      exactImages = 0;
    for (let i = 0; i < crops.length; i++) {
      const ours = resize(crops[i]!.img, SIZE, SIZE, mode).data;
      const theirs = readFileSync(path.join(tmp, `${i}.${mode}.rgb`));
      if (theirs.length !== ours.length) throw new Error(`${mode} item ${i}: ${theirs.length} bytes from cv2, ${ours.length} from us`);
      let imgMax = 0;
      for (let k = 0; k < ours.length; k++) {
        const d = Math.abs(ours[k]! - theirs[k]!);
        sum += d;
        if (d === 0) same++;
        if (d > imgMax) imgMax = d;
      }
      n += ours.length;
      if (imgMax === 0) exactImages++;
      else if (imgMax > max) {
        max = imgMax;
        console.log(`  ${mode}: ${crops[i]!.file} (crop ${crops[i]!.side}) differs by up to ${imgMax}`);
      }
    }
    // timing: same inputs, one warm-up call each, REPEAT timed calls
    let total = 0;
    for (const c of crops) {
      resize(c.img, SIZE, SIZE, mode);
      const t0 = performance.now();
      for (let k = 0; k < REPEAT; k++) resize(c.img, SIZE, SIZE, mode);
      total += (performance.now() - t0) / REPEAT;
    }
    const ours = total / crops.length;
    const cv = ref.ms[mode]!;
    console.log(
      `${mode.padEnd(9)} ${(sum / n).toFixed(6).padStart(10)}  ${String(max).padStart(9)}  ${((100 * same) / n).toFixed(4).padStart(15)}%  ${`${exactImages}/${crops.length}`.padStart(13)}  ${ours.toFixed(2).padStart(12)}  ${cv.default.toFixed(2).padStart(14)} / ${cv.single.toFixed(2).padEnd(17)}  ${(ours / cv.single).toFixed(2)}x`,
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
