/**
 * Benchmark (not a test): how close our JPEG/WebP round trips (`compressRoundTrip`, sharp) come to
 * OpenCV's (albumentations `ImageCompression`: cv2.imencode/imdecode on the RGB array) and to PIL's
 * (`Image.save(format=..., quality=q)`), on real photos centre-cropped to 256×256.
 *
 *   node --import tsx bench/compress-fidelity.ts [--photos N] [--dir DIR]
 *
 * Needs /usr/bin/python3 with Debian's python3-opencv, python3-numpy and python3-pil
 * (bench/compress_reference.py does the reference round trips).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { argValue, listImages, numberArg } from "./support.js";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { compressRoundTrip, type Codec } from "../src/image/compress.js";
import { loadSharp } from "../src/image/sharp.js";
import type { RgbImage } from "../src/image/types.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const PHOTOS = numberArg("--photos", 50);
const DIR = argValue("--dir") ?? path.resolve(here, "..", "..", "shared", "data", "wild-dev", "images", "imagenet");
const SIZE = 256;
const JOBS: [Codec, number][] = [
  ["jpeg", 60],
  ["jpeg", 75],
  ["jpeg", 90],
  ["jpeg", 100],
  ["webp", 60],
  ["webp", 80],
  ["webp", 100],
];

/** Decodes without colour management and takes the centre SIZE×SIZE; null when the photo is smaller. */
async function centreCrop(file: string): Promise<RgbImage | null> {
  const sharp = await loadSharp();
  const meta = await sharp(file, { ignoreIcc: true }).metadata();
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w < SIZE || h < SIZE || meta.space === "cmyk") return null;
  const { data, info } = await sharp(file, { ignoreIcc: true, failOn: "none" })
    .extract({ left: (w - SIZE) >> 1, top: (h - SIZE) >> 1, width: SIZE, height: SIZE })
    .removeAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) return null;
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

interface Acc {
  sum: number;
  n: number;
  max: number;
  exact: number;
  images: number;
}
const acc = (): Acc => ({ sum: 0, n: 0, max: 0, exact: 0, images: 0 });
function add(a: Acc, x: Uint8Array, y: Uint8Array): void {
  let s = 0;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    s += d;
    if (d > m) m = d;
  }
  a.sum += s;
  a.n += x.length;
  a.max = Math.max(a.max, m);
  a.images++;
  if (m === 0) a.exact++;
}
const fmt = (a: Acc): string => `${(a.sum / a.n).toFixed(4).padStart(7)} ${String(a.max).padStart(3)} ${`${a.exact}/${a.images}`.padStart(6)}`;

const tmp = mkdtempSync(path.join(os.tmpdir(), "imaginet-compress-bench-"));
try {
  const files = listImages(DIR);
  const images: RgbImage[] = [];
  // spread the picks over the sorted list; later passes fill in for photos smaller than SIZE
  const step = Math.max(1, Math.floor(files.length / PHOTOS));
  for (let offset = 0; offset < step && images.length < PHOTOS; offset++) {
    for (let i = offset; i < files.length && images.length < PHOTOS; i += step) {
      const img = await centreCrop(files[i]!).catch(() => null);
      if (!img) continue;
      images.push(img);
    }
  }
  const items = images.map((img, i) => {
    const file = path.join(tmp, `${i}.in.rgb`);
    writeFileSync(file, img.data);
    return { file, width: img.width, height: img.height };
  });
  const manifest = path.join(tmp, "manifest.json");
  writeFileSync(manifest, JSON.stringify({ items, jobs: JOBS }));
  const t0 = performance.now();
  const py = spawnSync("/usr/bin/python3", [path.join(here, "compress_reference.py"), manifest, tmp], { encoding: "utf8" });
  if (py.status !== 0) throw new Error(`compress_reference.py failed (${py.status}): ${py.stderr}`);
  const pyMs = performance.now() - t0;
  const sharp = await loadSharp();

  const rows: string[] = [];
  let oursMs = 0;
  for (const [codec, q] of JOBS) {
    const swapVsCv = acc();
    const plainVsPil = acc();
    const plainVsCv = acc();
    const cvVsPil = acc();
    for (let i = 0; i < images.length; i++) {
      const img = images[i]!;
      const t = performance.now();
      const swapped = await compressRoundTrip(img, codec, q);
      oursMs += performance.now() - t;
      const plain = await compressRoundTrip(img, codec, q, { swapRB: false });
      const cv = new Uint8Array(readFileSync(path.join(tmp, `${i}.cv2.${codec}.${q}.rgb`)));
      const pil = new Uint8Array(readFileSync(path.join(tmp, `${i}.pil.${codec}.${q}.rgb`)));
      add(swapVsCv, swapped.data, cv);
      add(plainVsPil, plain.data, pil);
      add(plainVsCv, plain.data, cv);
      add(cvVsPil, cv, pil);
    }
    rows.push(`${codec.padEnd(4)} ${String(q).padStart(3)} | ${fmt(swapVsCv)} | ${fmt(plainVsCv)} | ${fmt(plainVsPil)} | ${fmt(cvVsPil)}`);
  }
  const versions = JSON.parse(py.stdout) as Record<string, string>;
  console.log(`photos: ${images.length} (${DIR}, centre ${SIZE}×${SIZE}, ignoreIcc)`);
  console.log(
    `references: OpenCV ${versions.cv2} / Pillow ${versions.pillow} (libjpeg ${versions.pil_libjpeg}, libwebp ${versions.pil_libwebp}); ours: sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, mozjpeg ${sharp.versions.mozjpeg}, libwebp ${sharp.versions.webp}`,
  );
  console.log("each cell: mean abs diff per channel value, max abs diff, photos bit-identical");
  const h = "   mean max  exact";
  console.log(`         | ours(swapRB) vs cv2 | ours(plain) vs cv2  | ours(plain) vs PIL  | cv2 vs PIL`);
  console.log(`codec  q |${h} |${h} |${h} |${h}`);
  for (const r of rows) console.log(r);
  console.log(`time: ours ${(oursMs / (images.length * JOBS.length)).toFixed(2)} ms per round trip; python (cv2 + PIL, incl. I/O) ${(pyMs / (images.length * JOBS.length)).toFixed(2)} ms per pair`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
