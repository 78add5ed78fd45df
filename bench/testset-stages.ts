/**
 * Benchmark (not a test): the test-set builder's per-image stages, ours against the Python reference
 * (PIL + OpenCV, bench/testset_stages_reference.py) on the same images with the same draws (crop
 * side and box, codec, quality), one thread each side. Prints the mean CPU milliseconds per image
 * (user + system, all threads: the cost to one worker, steady on a busy machine) of each stage, the
 * totals and their ratio, and checks that both sides' final pixels are identical. Ours runs two
 * ways, interleaved image by image: with the codec addon (native/codec, the default when built) and
 * on its fallback (IMAGINET_CODEC=sharp: sharp and the JavaScript resize).
 *
 * Stages: decode+crop (ours: the file's header, then only the crop box decoded; the reference:
 * the whole image decoded, padded if needed, then sliced), resize (Lanczos-4 to 256), compress
 * (the JPEG or WebP round trip, averaged over all images; on the fallback only the encoding half,
 * its decode is part of the next stage's libvips pipeline), encode (lossless WebP). The pixels
 * compared are those of our lossless WebP output, decoded (untimed).
 *
 *   node --import tsx bench/testset-stages.ts [--images 200] [--webp-effort 4]
 *
 * Photos come from ../shared/data/wild-dev (its real images). The lossless WebP effort defaults to
 * Pillow's (method 4, what upstream's `save_testset.py` gets from `save(..., lossless=True)`).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { codecAddon, resizeOnAddon } from "../src/image/codec.js";
import { compressForEncode, decodeToRgb, type EncodedImage } from "../src/image/compress.js";
import { encodeLosslessWebp, openImage } from "../src/image/decode.js";
import { crop, padIfNeeded } from "../src/image/geometry.js";
import type { RgbImage } from "../src/image/types.js";
import { loadSharp } from "../src/image/sharp.js";
import { Rng } from "../src/util/rng.js";
import { numberArg } from "./support.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..");
const N = numberArg("--images", 200);
const effort = numberArg("--webp-effort", 4);
const wild = path.resolve(repo, "..", "shared", "data", "wild-dev");
if (!existsSync(path.join(wild, "labels.csv"))) throw new Error(`${wild}/labels.csv not found: the benchmark needs ../shared/data/wild-dev`);

interface StageJob {
  src: string;
  side: number;
  x: number;
  y: number;
  codec: "jpeg" | "webp" | null;
  quality: number;
}

/** labels.csv rows of real photos: path (quoted when it holds commas), origin, …, width, height. */
function realPhotos(): { src: string; width: number; height: number }[] {
  const out: { src: string; width: number; height: number }[] = [];
  for (const line of readFileSync(path.join(wild, "labels.csv"), "utf8").split("\n").slice(1)) {
    const m = /^("(?:[^"]|"")*"|[^,]*),(\d),.*,(\d+),(\d+),[A-Z]+,/.exec(line);
    if (m?.[2] !== "0") continue;
    const p = m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replace(/""/g, '"') : m[1]!;
    out.push({ src: path.join(wild, p), width: Number(m[3]), height: Number(m[4]) });
  }
  return out;
}

/** The test-set recipe's draws (random_square_crop 256..1000, p=0.75 JPEG or WebP q 60..100) for each image. */
function drawJobs(): StageJob[] {
  const photos = realPhotos();
  return Array.from({ length: N }, (_, k) => {
    const p = photos[k % photos.length]!;
    const rng = new Rng(42, `${k}`);
    const side = rng.int(256, Math.max(Math.min(p.width, p.height, 1000), 256));
    const x = rng.int(0, Math.max(p.width, side) - side);
    const y = rng.int(0, Math.max(p.height, side) - side);
    const codec = rng.next() < 0.75 ? (rng.next() < 0.5 ? "jpeg" : "webp") : null;
    return { src: p.src, side, x, y, codec, quality: rng.int(60, 100) };
  });
}

const jobs = drawJobs();
const work = path.join(repo, ".bench", "testset-stages");
mkdirSync(work, { recursive: true });
const jobFile = path.join(work, "jobs.json");
writeFileSync(jobFile, JSON.stringify(jobs));
for (const j of jobs) readFileSync(j.src); // warm the page cache for both sides

const sharp = await loadSharp();
sharp.concurrency(1);
const stages = ["decode_crop", "resize", "compress", "encode"] as const;
type Stage = (typeof stages)[number];

/** Process CPU time in ms (user + system, every thread). */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

type Timed = { ms: Record<Stage, number>; sha256: string[] };
const zero = (): Record<Stage, number> => ({ decode_crop: 0, resize: 0, compress: 0, encode: 0 });

/** One image our way, timing each stage into `t`: with the codec addon, or on its fallback (`sharp`). */
async function oneImage(j: StageJob, sharpPath: boolean, t: Record<Stage, number>): Promise<string> {
  if (sharpPath) process.env.IMAGINET_CODEC = "sharp";
  else delete process.env.IMAGINET_CODEC;
  const t0 = cpuMs();
  const src = await openImage(j.src, { blockingJpeg: true });
  const padded = src.width < j.side || src.height < j.side;
  const cropped = padded ? crop(padIfNeeded(await src.decode(), j.side), j.x, j.y, j.side, j.side) : await src.decode({ x: j.x, y: j.y, width: j.side, height: j.side });
  const t1 = cpuMs();
  const resized = resizeOnAddon(cropped, 256, 256, "lanczos4");
  const t2 = cpuMs();
  let out: RgbImage | EncodedImage = resized;
  if (j.codec) out = await compressForEncode(resized, j.codec, j.quality);
  const t3 = cpuMs();
  const webp = await encodeLosslessWebp(out, effort);
  const t4 = cpuMs();
  t.decode_crop += t1 - t0;
  t.resize += t2 - t1;
  t.compress += t3 - t2;
  t.encode += t4 - t3;
  return createHash("sha256")
    .update((await decodeToRgb(webp)).data)
    .digest("hex");
}

/** Ours with the addon and on the fallback, image by image in turn (so that both see the same machine load). */
async function ours(): Promise<{ addon: Timed; fallback: Timed }> {
  const addon: Timed = { ms: zero(), sha256: [] };
  const fallback: Timed = { ms: zero(), sha256: [] };
  for (const j of jobs) {
    fallback.sha256.push(await oneImage(j, true, fallback.ms));
    addon.sha256.push(await oneImage(j, false, addon.ms));
  }
  for (const s of stages) {
    addon.ms[s] /= jobs.length;
    fallback.ms[s] /= jobs.length;
  }
  return { addon, fallback };
}

if (!codecAddon()) throw new Error("the codec addon is not built: node scripts/build-codec.mjs");
await ours(); // warm-up: JIT, sharp's first calls
const { addon: a, fallback } = await ours();
const r = spawnSync("/usr/bin/python3", [path.join(here, "testset_stages_reference.py"), jobFile, String(effort)], { encoding: "utf8", maxBuffer: 1 << 26 });
if (r.status !== 0) throw new Error(`reference failed (${r.status}): ${r.stderr}`);
const b = JSON.parse(r.stdout) as { ms: Record<Stage, number>; sha256: string[] };

const differ = a.sha256.filter((h, i) => h !== b.sha256[i] || h !== fallback.sha256[i]).length;
const total = (ms: Record<Stage, number>): number => stages.reduce((s, k) => s + ms[k], 0);
const pick = (ms: Record<Stage, number>, s: Stage | "total"): number => (s === "total" ? total(ms) : ms[s]);
const ratio = (ref: number, o: number): string => `${(ref / o).toFixed(2)}x`.padStart(9);
console.log(`images: ${N}, compressed: ${jobs.filter((j) => j.codec).length}, lossless WebP effort ${effort} both sides, one thread each`);
console.log("stage (mean CPU ms/image)  addon  fallback  reference  ref/addon  ref/fallback");
for (const s of [...stages, "total"] as const) {
  const o = pick(a.ms, s);
  const f = pick(fallback.ms, s);
  const p = pick(b.ms, s);
  console.log(`${s.padEnd(25)} ${o.toFixed(2).padStart(6)} ${f.toFixed(2).padStart(9)} ${p.toFixed(2).padStart(10)} ${ratio(p, o)}  ${ratio(p, f).padStart(12)}`);
}
console.log(`final pixels identical to the reference (addon and fallback): ${N - differ}/${N}`);
if (differ > 0) process.exitCode = 1;
