/**
 * One training step of upstream's SelfCon ConResNet (nodown ResNet-50, batch 32, 96×96 crops,
 * ImagiNet's multi-label ConLoss, SGD momentum 0.9) on our libtorch engine beside PyTorch 1.13
 * (Debian's python3-torch) on the same machine, in one run; prints ms/step and the ratio (target:
 * ours ≤ 1.1× PyTorch's time). Both sides use the same libtorch build and thread count.
 *
 *   node --import tsx bench/train.ts [--batch 32] [--size 96] [--steps 3] [--threads 2] [--device cpu|cuda]
 * On a GPU machine: bench/train-cuda.sh builds the addon against the pip wheel's libtorch first.
 * REFERENCE_PYTHON picks the python that runs the PyTorch side (default Debian's /usr/bin/python3).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { emptyCache, setNumThreads } from "../src/engine/index.js";
import { SELFCON_RESNET50 } from "../src/models/selfcon.js";
import { createModel, disposeModel, makeOptimizer, representationStep } from "../src/train/steps.js";
import { argValue, numberArg } from "./support.js";

const BATCH = numberArg("--batch", 32);
const SIZE = numberArg("--size", 96);
const STEPS = numberArg("--steps", 3);
const THREADS = numberArg("--threads", 2);
const DEVICE = argValue("--device") ?? "cpu";
const here = path.dirname(fileURLToPath(import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function reference(): number[] {
  const r = spawnSync(process.env.REFERENCE_PYTHON ?? "/usr/bin/python3", [path.join(here, "train_reference.py"), String(BATCH), String(SIZE), String(STEPS), String(THREADS), DEVICE], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`the PyTorch reference failed (needs Debian's python3-torch):\n${r.stderr}`);
  return (JSON.parse(r.stdout) as { ms: number[] }).ms;
}

async function ours(): Promise<number[]> {
  setNumThreads(THREADS);
  const model = await createModel({ kind: "selfcon", cfg: SELFCON_RESNET50, prefix: "" }, { seed: 0, device: DEVICE });
  const opt = makeOptimizer(model, { name: "sgd", lr: 0.005 });
  const x = new Float32Array(BATCH * 3 * SIZE * SIZE).map((_, i) => ((i * 2654435761) % 1000) / 1000);
  const labels = new Int32Array(BATCH * 4);
  for (let i = 0; i < BATCH; i++) {
    labels[i * 4] = i % 2;
    labels[i * 4 + 2] = i % 2 === 1 ? Math.floor(i / 2) % 4 : 4;
  }
  const batch = { x, shape: [BATCH, 3, SIZE, SIZE] as const, labels };
  representationStep(model, opt, batch); // warm-up
  const ms: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t = performance.now();
    representationStep(model, opt, batch);
    ms.push(performance.now() - t);
  }
  opt.dispose();
  disposeModel(model);
  emptyCache(); // PyTorch's side runs next, beside this process: hand back the allocator's cached blocks
  return ms;
}

console.error(`SelfCon nodown ResNet-50 training step, batch ${BATCH}, ${SIZE}×${SIZE}, ${DEVICE}, ${THREADS} threads, ${STEPS} timed steps each`);
const a = await ours();
const b = reference();
const [mo, mp] = [median(a), median(b)];
console.log(`ours (libtorch addon)   ${mo.toFixed(0)} ms/step   [${a.map((v) => v.toFixed(0)).join(", ")}]`);
console.log(`PyTorch 1.13 (python)   ${mp.toFixed(0)} ms/step   [${b.map((v) => v.toFixed(0)).join(", ")}]`);
console.log(`ratio ours/PyTorch: ${(mo / mp).toFixed(2)}× the time (target ≤ 1.1×)`);
