/**
 * Benchmark (not a test): UnivFD at full size (CLIP ViT-L/14 at 224 + the linear probe, random
 * weights), ours against PyTorch 1.13 on the CPU, on the same input batch.
 *
 * bench/univfd_reference.py (via /usr/bin/python3) builds the model in plain torch.nn with OpenAI's
 * key names, saves the CLIP state dict (float16, as OpenAI publishes it) and the probe, a batch of
 * random images normalised as UnivFD does, PyTorch's feature and logit for it, and its timings.
 * Here the two checkpoints go through the detector module (src/detectors/UNIVFD.ts: merge,
 * configure, define), traced to ONNX and run by onnxruntime-node, and run eagerly on libtorch
 * (EagerOps); each is compared with PyTorch (max |ours − torch| / max |torch| per output) and timed
 * the same way (warm-up runs, then the median of timed runs). Prints ms/image and the ratio
 * PyTorch time / ours (> 1: ours is faster).
 *
 *   node --import tsx bench/univfd-full.ts [--threads 2] [--n 2] [--reps 3] [--no-eager]
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { UNIVFD } from "../src/detectors/univfd.js";
import * as E from "../src/engine/index.js";
import { toOnnx, trace } from "../src/onnx/trace.js";
import { DetectorSession } from "../src/runtime/session.js";
import { numberArg } from "./support.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(here, "..", ".bench", "univfd");
const THREADS = numberArg("--threads", 2);
const N = numberArg("--n", 2);
const REPS = numberArg("--reps", 3);
const EAGER = !process.argv.includes("--no-eager");
const CASES = [
  { batch: 1, warmup: 1, reps: REPS },
  { batch: N, warmup: 1, reps: Math.max(1, REPS - 1) },
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
function relToMax(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ours[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return err / scale;
}

/** ms per image of `run` on a batch: warm-up runs, then the median of timed runs */
async function time(batch: number, warmup: number, reps: number, run: () => Promise<void> | void): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < warmup + reps; i++) {
    const t0 = performance.now();
    await run();
    if (i >= warmup) times.push(performance.now() - t0);
  }
  return median(times) / batch;
}

function batchOf(input: Float32Array, batch: number): Float32Array {
  const per = 3 * 224 * 224;
  const out = new Float32Array(batch * per);
  for (let i = 0; i < batch; i++) out.set(input.subarray((i % N) * per, ((i % N) + 1) * per), i * per);
  return out;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  console.log(`PyTorch reference (ViT-L/14, ${THREADS} threads, ${N} images)…`);
  const py = spawnSync("/usr/bin/python3", [path.join(here, "univfd_reference.py"), OUT, JSON.stringify({ threads: THREADS, n: N, cases: CASES })], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  if (py.status !== 0) throw new Error(`univfd_reference.py failed:\n${py.stderr}`);
  const ref = JSON.parse(py.stdout.trim().split("\n").at(-1)!) as { torch: string; timings: { batch: number; ms_per_image: number }[] };
  const input = readF32(path.join(OUT, "input.bin"));
  const want = { feature: readF32(path.join(OUT, "feature.bin")), logit: readF32(path.join(OUT, "logit.bin")) };

  const sds = await Promise.all(["clip_vitl14.pth", "probe.pth"].map(async (f) => stateDict(await readTorchCheckpoint(path.join(OUT, f)))));
  const sd = UNIVFD.merge!(sds);
  const cfg = UNIVFD.configure(sd, {});
  console.log(`config ${JSON.stringify(cfg.vit)}`);
  const graph = trace((ops) => UNIVFD.define(ops, cfg));
  const weights = new Map<string, Float32Array>();
  for (const p of graph.params) weights.set(p.name, (await sd.get(p.name)!.read({ halfToFloat32: true })) as Float32Array);

  const rows: { backend: string; batch: number; ms: number; torchMs: number }[] = [];
  const errors: Record<string, Record<string, number>> = {};

  const t0 = performance.now();
  const session = await DetectorSession.create(toOnnx(graph, weights).model, { intraOpNumThreads: THREADS });
  console.log(`ONNX export + session: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const got = await session.runTensor(input, [N, 3, 224, 224]);
  errors.onnxruntime = { feature: relToMax(got.feature!.data, want.feature), logit: relToMax(got.logit!.data, want.logit) };
  for (const [i, c] of CASES.entries()) {
    const x = batchOf(input, c.batch);
    const ms = await time(c.batch, c.warmup, c.reps, async () => void (await session.runTensor(x, [c.batch, 3, 224, 224])));
    rows.push({ backend: "onnxruntime", batch: c.batch, ms, torchMs: ref.timings[i]!.ms_per_image });
  }
  await session.release();

  if (EAGER && E.nativeAvailable()) {
    E.setNumThreads(THREADS);
    const params = await E.loadParams(new Map([...sd].filter(([k]) => graph.params.some((p) => p.name === k))));
    const run = (x: Float32Array, batch: number) =>
      E.tidy(() => E.noGrad(() => [...E.runModel((ops) => UNIVFD.define(ops, cfg), params, { image: E.tensor(x, [batch, 3, 224, 224]) })].map(([k, t]) => [k, t.toArray()] as const)));
    const out = new Map(run(input, N));
    errors.libtorch = { feature: relToMax(out.get("feature") as Float32Array, want.feature), logit: relToMax(out.get("logit") as Float32Array, want.logit) };
    for (const [i, c] of CASES.entries()) {
      const x = batchOf(input, c.batch);
      const ms = await time(c.batch, c.warmup, c.reps, () => void run(x, c.batch));
      rows.push({ backend: "libtorch eager", batch: c.batch, ms, torchMs: ref.timings[i]!.ms_per_image });
    }
    E.dispose(params);
  }

  console.log(`\nmax relative error vs PyTorch ${ref.torch} (max |ours − torch| / max |torch|, ${N} images):`);
  for (const [b, e] of Object.entries(errors)) console.log(`  ${b.padEnd(16)} feature ${e.feature!.toExponential(2)}  logit ${e.logit!.toExponential(2)}`);
  console.log(`\nms per image, ${THREADS} threads (ratio = PyTorch / ours, > 1: ours faster):`);
  console.log(`  ${"backend".padEnd(16)} ${"batch".padStart(5)} ${"ours".padStart(9)} ${"PyTorch".padStart(9)} ${"ratio".padStart(6)}`);
  for (const r of rows) {
    console.log(`  ${r.backend.padEnd(16)} ${String(r.batch).padStart(5)} ${r.ms.toFixed(0).padStart(9)} ${r.torchMs.toFixed(0).padStart(9)} ${(r.torchMs / r.ms).toFixed(2).padStart(6)}`);
  }
}

await main();
