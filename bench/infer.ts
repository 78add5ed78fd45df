/**
 * Benchmark (not a test): inference speed of a full-size nodown ResNet-50 Grag2021 detector, ours
 * (checkpoint → ONNX with our reader, onnxruntime-node on CPU) against PyTorch 1.13 on CPU.
 *
 * bench/infer_reference.py (via /usr/bin/python3) builds the model in plain torch.nn with random
 * weights (seed 0, non-trivial BN running stats), saves it as {'model': state_dict}, saves one random
 * input batch and its logits, and times PyTorch (eval, no_grad, set_num_threads) model alone and
 * end to end from photo files. Here: the ONNX is built from that .pth with buildFromCheckpoints, the
 * logits are compared on the saved batch (and on the photos), then ORT (intraOpNumThreads) is timed
 * the same way: model alone with runTensor (warm-up runs, then the median of timed runs) and end to
 * end with detect() on the same files (decode, pad/centre-crop 256, normalise, run; detect() also
 * creates its session, timed alone as "first session creation"). Prints ms/image and ours/PyTorch
 * throughput ratios (> 1: ours is faster).
 *
 * End to end is also set against onnxruntime alone doing the same work in the same run: create a
 * session and run the same number of batches on tensors already in memory (its first, cold run
 * included). Their ratio is what decoding, cropping, normalising and the worker hand-off add; the
 * ratio to the warm model-alone time per image says what all one-time costs add. A stage profile
 * (decode, crop, normalise on one thread, worker start-up, session creation) is printed too.
 * The CPU may be shared: compare ratios within one run, and rerun to see the noise.
 *
 *   node --import tsx bench/infer.ts [--threads 2] [--b16-reps 2] [--photos 16] [--no-448] [--no-torch]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildFromCheckpoints } from "../src/detectors/build.js";
import { findDetector } from "../src/detectors/index.js";
import { detect } from "../src/runtime/detect.js";
import { Preparer } from "../src/runtime/prepare.js";
import { DetectorSession } from "../src/runtime/session.js";
import { decodeRgb } from "../src/image/decode.js";
import { normalizeImage } from "../src/image/preprocess.js";
import { applyRecipe } from "../src/image/recipe.js";
import { Rng } from "../src/util/rng.js";
import { listImages, numberArg } from "./support.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, "..");
const THREADS = numberArg("--threads", 2);
const B16_REPS = numberArg("--b16-reps", 2);
const N_PHOTOS = numberArg("--photos", 16);
const WITH_448 = !process.argv.includes("--no-448");
/** PyTorch only builds the model and the parity batch; its timings and the photo parity are left out (a busy CPU) */
const NO_TORCH = process.argv.includes("--no-torch");
const OUT = path.join(root, ".bench", "infer");
const PHOTO_DIR = "/work/shared/data/wild-dev/images/imagenet";

interface Case {
  size: number;
  batch: number;
  warmup: number;
  reps: number;
}
const CASES: Case[] = [{ size: 256, batch: 1, warmup: 1, reps: 3 }, { size: 256, batch: 16, warmup: 1, reps: B16_REPS }, ...(WITH_448 ? [{ size: 448, batch: 1, warmup: 1, reps: 2 }] : [])];
const E2E = [
  { batch: 1, n: Math.min(4, N_PHOTOS) },
  { batch: 16, n: N_PHOTOS },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const readF32 = (file: string): Float32Array => {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
function relErr(ours: ArrayLike<number>, ref: ArrayLike<number>): { maxAbs: number; maxRel: number; relToMax: number } {
  let maxAbs = 0;
  let maxRel = 0;
  let refMax = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    maxAbs = Math.max(maxAbs, d);
    maxRel = Math.max(maxRel, d / Math.max(Math.abs(ref[i]!), 1e-12));
    refMax = Math.max(refMax, Math.abs(ref[i]!));
  }
  return { maxAbs, maxRel, relToMax: maxAbs / refMax };
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const photos = listImages(PHOTO_DIR).slice(0, N_PHOTOS);
  if (photos.length < N_PHOTOS) throw new Error(`only ${photos.length} photos in ${PHOTO_DIR}`);
  const t00 = performance.now();

  // 1. PyTorch
  console.error(`PyTorch: building the model and timing (threads ${THREADS}) …`);
  const cfg = { threads: THREADS, cases: NO_TORCH ? [] : CASES, e2e: NO_TORCH ? [] : E2E, parityN: 2 };
  const py = spawnSync("/usr/bin/python3", [path.join(here, "infer_reference.py"), OUT, JSON.stringify(cfg), ...photos], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 1 << 26,
  });
  if (py.status !== 0) throw new Error(`infer_reference.py failed (${py.status})`);
  const ref = JSON.parse(py.stdout.trim().split("\n").pop()!) as {
    torch: string;
    threads: number;
    model: (Case & { runsMs: number[]; msPerImage: number })[];
    e2e: { batch: number; n: number; totalMs: number; msPerImage: number }[];
  };
  const tPy = performance.now();

  // 2. ours: ONNX from the .pth, parity, timings
  let t0 = performance.now();
  const built = await buildFromCheckpoints(findDetector("grag2021"), path.join(OUT, "grag_r50.pth"));
  const buildMs = performance.now() - t0;
  console.error(`ours: ONNX built in ${buildMs.toFixed(0)} ms (${(built.onnx.model.byteLength / 2 ** 20).toFixed(1)} MiB), trunk ${JSON.stringify(built.config)}`);
  t0 = performance.now();
  const session = await DetectorSession.create(built.onnx, { intraOpNumThreads: THREADS, batchSize: 16 });
  const sessionMs = performance.now() - t0;

  const pin = readF32(path.join(OUT, "parity_input.bin"));
  const pref = readF32(path.join(OUT, "parity_logit.bin"));
  const pout = (await session.runTensor(pin, [cfg.parityN, 3, 256, 256])).logit!.data;
  const parity = relErr(pout, pref);
  console.error(`parity (random batch): ours ${Array.from(pout).map((v) => v.toPrecision(7))} vs torch ${Array.from(pref).map((v) => v.toPrecision(7))}`);

  const rng = new Rng(1, "infer-bench");
  const ours: { size: number; batch: number; runsMs: number[]; msPerImage: number }[] = [];
  for (const c of CASES) {
    const data = new Float32Array(c.batch * 3 * c.size * c.size);
    for (let i = 0; i < data.length; i++) data[i] = rng.next() * 4 - 2;
    const dims = [c.batch, 3, c.size, c.size];
    for (let i = 0; i < c.warmup; i++) await session.runTensor(data, dims);
    const runsMs: number[] = [];
    for (let i = 0; i < c.reps; i++) {
      const t = performance.now();
      await session.runTensor(data, dims);
      runsMs.push(performance.now() - t);
    }
    ours.push({ size: c.size, batch: c.batch, runsMs, msPerImage: median(runsMs) / c.batch });
    console.error(JSON.stringify(ours.at(-1)));
  }
  await session.release();

  const spec = findDetector("grag2021");
  const stages = await profileStages(spec, photos);
  console.error(JSON.stringify(stages));
  const oursE2e: { batch: number; n: number; totalMs: number; msPerImage: number; ortAloneMs: number; parity: ReturnType<typeof relErr> | null }[] = [];
  for (const c of E2E) {
    const files = photos.slice(0, c.n);
    // onnxruntime alone on the same batches: session creation, then its runs on tensors in memory
    const ortAloneMs = await ortAlone(built.onnx, c.n, c.batch);
    const t = performance.now();
    const dets = await detect(spec, built.onnx, files, { intraOpNumThreads: THREADS, batchSize: c.batch });
    const totalMs = performance.now() - t;
    const scores = dets.map((d) => ("score" in d ? d.score : NaN));
    const parity = NO_TORCH ? null : relErr(scores, readF32(path.join(OUT, `photo_logit_b${c.batch}.bin`)));
    oursE2e.push({ ...c, totalMs, msPerImage: totalMs / c.n, ortAloneMs, parity });
    console.error(JSON.stringify(oursE2e.at(-1)));
  }
  const tEnd = performance.now();

  // 3. the table
  const fmt = (x: number) => x.toFixed(1).padStart(9);
  const torchCells = (ms: number, r: { msPerImage: number } | undefined) => (r ? `${fmt(r.msPerImage)} | ${(r.msPerImage / ms).toFixed(2)}× |` : "— | — |");
  const rows: string[] = [];
  rows.push(`| what | size | batch | ours ms/img | PyTorch ms/img | ours/PyTorch throughput |`);
  rows.push(`|---|---|---|---|---|---|`);
  for (let i = 0; i < CASES.length; i++) {
    const o = ours[i]!;
    rows.push(`| model alone | ${o.size} | ${o.batch} | ${fmt(o.msPerImage)} | ${torchCells(o.msPerImage, ref.model[i])}`);
  }
  for (let i = 0; i < E2E.length; i++) {
    const o = oursE2e[i]!;
    rows.push(`| end to end (${o.n} photos) | 256 | ${o.batch} | ${fmt(o.msPerImage)} | ${torchCells(o.msPerImage, ref.e2e[i])}`);
  }
  const ratios: string[] = [`| batch | photos | ours end to end ms/img | onnxruntime alone, same batches, ms/img | ratio | model alone (warm) ms/img | ratio |`, `|---|---|---|---|---|---|---|`];
  for (const o of oursE2e) {
    const warm = ours.find((m) => m.size === 256 && m.batch === o.batch)!.msPerImage;
    const alone = o.ortAloneMs / o.n;
    ratios.push(`| ${o.batch} | ${o.n} | ${fmt(o.msPerImage)} | ${fmt(alone)} | ${(o.msPerImage / alone).toFixed(3)}× | ${fmt(warm)} | ${(o.msPerImage / warm).toFixed(3)}× |`);
  }
  console.log(`\nGrag2021 nodown ResNet-50 [3,4,6,3], CPU, ${THREADS} threads: PyTorch ${ref.torch} (${ref.threads} threads) vs onnxruntime-node`);
  console.log(rows.join("\n"));
  console.log(`\nend to end (detect(): session, workers, decode, crop, normalise, runs) against onnxruntime alone\n${ratios.join("\n")}`);
  console.log(
    `\nstages, ms (one thread, ${N_PHOTOS} photos): decode ${stages.decode.toFixed(1)}/img, crop ${stages.crop.toFixed(2)}/img, normalise ${stages.normalise.toFixed(2)}/img; ` +
      `in a worker ${stages.worker.toFixed(1)}/img; worker start-up and first image ${stages.workerStart.toFixed(0)}; session creation ${sessionMs.toFixed(0)}`,
  );
  console.log(
    `\nparity, random batch of ${cfg.parityN} at 256: max abs ${parity.maxAbs.toExponential(3)}, max rel ${parity.maxRel.toExponential(3)} (abs / max|ref| ${parity.relToMax.toExponential(3)})`,
  );
  for (const o of oursE2e)
    if (o.parity)
      console.log(
        `parity, ${o.n} photos at batch ${o.batch}: max abs ${o.parity.maxAbs.toExponential(3)}, max rel ${o.parity.maxRel.toExponential(3)} (abs / max|ref| ${o.parity.relToMax.toExponential(3)})`,
      );
  console.log(`ours: checkpoint → ONNX ${buildMs.toFixed(0)} ms, first session creation ${sessionMs.toFixed(0)} ms`);
  console.log(`model-alone runs (ms): ours ${ours.map((o) => `${o.size}b${o.batch} [${o.runsMs.map((x) => x.toFixed(0)).join(", ")}]`).join("; ")}`);
  console.log(`                       torch ${ref.model.map((r) => `${r.size}b${r.batch} [${r.runsMs.map((x) => x.toFixed(0)).join(", ")}]`).join("; ")}`);
  console.log(`wall: PyTorch side ${((tPy - t00) / 1000).toFixed(0)} s, ours ${((tEnd - tPy) / 1000).toFixed(0)} s`);
}

/** Per-image decode, crop and normalise times on this thread, and a worker's start-up and per-image time. */
async function profileStages(spec: ReturnType<typeof findDetector>, files: readonly string[]) {
  await decodeRgb(files[0]!); // sharp's load, once
  let decode = 0;
  let crop = 0;
  let normalise = 0;
  for (const f of files) {
    let t = performance.now();
    const img = await decodeRgb(f);
    decode += performance.now() - t;
    t = performance.now();
    const cropped = (await applyRecipe(img, spec.preprocess.recipe, new Rng(0, f))).image;
    crop += performance.now() - t;
    t = performance.now();
    normalizeImage(cropped, spec.preprocess.normalization);
    normalise += performance.now() - t;
  }
  const preparer = new Preparer(spec.preprocess, 1);
  let t = performance.now();
  await preparer.prepare(files[0]!);
  const workerStart = performance.now() - t;
  t = performance.now();
  await Promise.all(files.map((f) => preparer.prepare(f)));
  const worker = (performance.now() - t) / files.length;
  await preparer.close();
  const n = files.length;
  return { decode: decode / n, crop: crop / n, normalise: normalise / n, workerStart, worker };
}

/** onnxruntime alone doing detect()'s model work on `n` images in batches: session creation, then the runs. */
async function ortAlone(model: Parameters<typeof DetectorSession.create>[0], n: number, batch: number): Promise<number> {
  const t = performance.now();
  const session = await DetectorSession.create(model, { intraOpNumThreads: THREADS, batchSize: batch });
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    await session.runTensor(new Float32Array(b * 3 * 256 * 256), [b, 3, 256, 256]);
  }
  await session.release();
  return performance.now() - t;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
