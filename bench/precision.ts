/**
 * Benchmark (not a test): fp32 against bf16 autocast (and channels-last) on the libtorch engine.
 *
 * Training: upstream's SelfCon ConResNet (nodown ResNet-50; --small: one block per stage at ¼ width),
 * SGD, the same initialisation and the same fixed batch for each precision: ms/step, images/s, and
 * the loss curve of each (max |Δloss| between them). Inference: the Grag2021 nodown ResNet-50 (random
 * weights, eval mode, no grad) on a random batch: images/s for fp32, bf16, and each channels-last,
 * and max |Δp| (p = sigmoid(logit)) of bf16 against fp32. With --reference, PyTorch runs the same
 * (bench/train_reference.py, bench/precision_reference.py; REFERENCE_PYTHON, default /usr/bin/python3).
 *
 *   node --import tsx bench/precision.ts [--device cpu|cuda] [--batch 64] [--size 256] [--steps 5]
 *     [--infer-batch 64] [--threads 2] [--small] [--reference] [--precisions fp32,bf16]
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { autocast, defaultInit, dispose, keep, noGrad, randn, runModel, setNumThreads, tidy, type ParamStore, type Precision, type Tensor } from "../src/engine/index.js";
import { grag2021, RESNET50_NODOWN, type ResNetConfig } from "../src/models/resnet.js";
import { SELFCON_RESNET50, type ConResNetConfig } from "../src/models/selfcon.js";
import { createModel, disposeModel, makeOptimizer, representationStep } from "../src/train/steps.js";
import { argValue, numberArg } from "./support.js";

const DEVICE = argValue("--device") ?? "cpu";
const BATCH = numberArg("--batch", 64);
const SIZE = numberArg("--size", 256);
const STEPS = numberArg("--steps", 5);
const INFER_BATCH = numberArg("--infer-batch", BATCH);
const THREADS = numberArg("--threads", 2);
const SMALL = process.argv.includes("--small");
const REFERENCE = process.argv.includes("--reference");
const PRECISIONS = (argValue("--precisions") ?? "fp32,bf16").split(",") as Precision[];
const here = path.dirname(fileURLToPath(import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const trunk: ResNetConfig = SMALL ? { layers: [1, 1, 1, 1], width: 0.25, nodown: true, shortcutName: "shortcut" } : SELFCON_RESNET50.trunk;
const selfcon: ConResNetConfig = { ...SELFCON_RESNET50, trunk, hidden: Math.round(512 * trunk.width) * 4 };
const grag: ResNetConfig = SMALL ? { ...trunk, shortcutName: "downsample" } : RESNET50_NODOWN;

function fixedBatch(n: number, size: number) {
  const x = new Float32Array(n * 3 * size * size).map((_, i) => ((i * 2654435761) % 1000) / 1000);
  const labels = new Int32Array(n * 4);
  for (let i = 0; i < n; i++) {
    labels[i * 4] = i % 2;
    labels[i * 4 + 2] = i % 2 === 1 ? Math.floor(i / 2) % 4 : 4;
  }
  return { x, shape: [n, 3, size, size] as const, labels };
}

/** every step's loss (the first is the warm-up's) and the timed steps' ms */
async function train(precision: Precision): Promise<{ losses: number[]; ms: number[] }> {
  if (precision === "fp16") throw new Error("training runs in fp32 or bf16");
  const model = await createModel({ kind: "selfcon", cfg: selfcon, prefix: "" }, { seed: 0, device: DEVICE, precision });
  const opt = makeOptimizer(model, { name: "sgd", lr: 0.005 });
  const batch = fixedBatch(BATCH, SIZE);
  const losses = [representationStep(model, opt, batch)];
  const ms: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t = performance.now();
    losses.push(representationStep(model, opt, batch)); // .item() synchronises with the GPU
    ms.push(performance.now() - t);
  }
  opt.dispose();
  disposeModel(model);
  return { losses, ms };
}

/** ms per timed batch and the logits, for one precision and layout */
function infer(params: ParamStore, x: Tensor, precision: Precision, channelsLast: boolean): { ms: number[]; logits: Float32Array } {
  const store: ParamStore = channelsLast ? new Map([...params].map(([k, t]) => [k, t.ndim === 4 ? keep(t.contiguous("channels_last")) : t])) : params;
  const input = channelsLast ? keep(x.contiguous("channels_last")) : x;
  const run = () =>
    tidy(() =>
      noGrad(() =>
        autocast(
          DEVICE,
          precision,
          () =>
            runModel((ops) => grag2021(ops, grag), store, { image: input })
              .get("logit")!
              .to("float32")
              .toArray() as Float32Array,
        ),
      ),
    );
  const logits = run(); // warm-up
  const ms: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t = performance.now();
    run();
    ms.push(performance.now() - t);
  }
  if (channelsLast) {
    for (const [k, t] of store) if (params.get(k) !== t) t.dispose();
    input.dispose();
  }
  return { ms, logits };
}

function reference(script: string, args: (string | number)[]): { ms: number[]; losses?: number[] } | string {
  const r = spawnSync(process.env.REFERENCE_PYTHON ?? "/usr/bin/python3", [path.join(here, script), ...args.map(String)], { encoding: "utf8" });
  if (r.status !== 0) return `failed: ${r.stderr.trim().split("\n").at(-1)}`;
  return JSON.parse(r.stdout) as { ms: number[]; losses?: number[] };
}

const ips = (ms: number[], n: number) => ((n * 1000) / median(ms)).toFixed(1);
setNumThreads(THREADS);
const arch = SMALL ? "small ResNet (1 block per stage, ¼ width)" : "ResNet-50";
console.log(`device ${DEVICE}, ${THREADS} threads; ${arch}; training batch ${BATCH} at ${SIZE}×${SIZE}, inference batch ${INFER_BATCH}; ${STEPS} timed steps after a warm-up`);

console.log(`\ntraining (SelfCon nodown ${arch}, SGD): images/s (median step)`);
const curves = new Map<Precision, number[]>();
for (const p of PRECISIONS) {
  if (p === "fp16") continue;
  const r = await train(p);
  curves.set(p, r.losses);
  let line = `  ours    ${p}  ${ips(r.ms, BATCH).padStart(8)} img/s  ${median(r.ms).toFixed(0)} ms/step  losses [${r.losses.map((l) => l.toFixed(4)).join(", ")}]`;
  if (REFERENCE && !SMALL) {
    const ref = reference("train_reference.py", [BATCH, SIZE, STEPS, THREADS, DEVICE, p]);
    line += typeof ref === "string" ? `\n  PyTorch ${p}  ${ref}` : `\n  PyTorch ${p}  ${ips(ref.ms, BATCH).padStart(8)} img/s  ${median(ref.ms).toFixed(0)} ms/step`;
  }
  console.log(line);
}
const f32 = curves.get("fp32");
const b16 = curves.get("bf16");
if (f32 && b16) console.log(`  loss curves: max |loss(bf16) − loss(fp32)| over ${f32.length} steps ${Math.max(...f32.map((l, i) => Math.abs(l - b16[i]!))).toExponential(2)}`);

console.log(`\ninference (Grag2021 nodown ${arch}, eval, no grad): images/s (median batch)`);
const params: ParamStore = new Map();
const init = defaultInit({ seed: 0, conv: "torchvision-resnet", device: DEVICE });
runModel((ops) => grag2021(ops, grag), params, { image: keep(randn([1, 3, 32, 32], { device: DEVICE })) }, { init });
for (const t of params.values()) t.requiresGrad = false;
const x = keep(randn([INFER_BATCH, 3, SIZE, SIZE], { seed: 1, device: DEVICE }));
let fp32Logits: Float32Array | undefined;
for (const p of PRECISIONS) {
  for (const channelsLast of [false, true]) {
    const r = infer(params, x, p, channelsLast);
    if (p === "fp32" && !channelsLast) fp32Logits = r.logits;
    const dp = fp32Logits && p !== "fp32" ? `  max |Δp| vs fp32 ${Math.max(...fp32Logits.map((l, i) => Math.abs(sigmoid(l) - sigmoid(r.logits[i]!)))).toExponential(2)}` : "";
    console.log(`  ours    ${p}${channelsLast ? " channels-last" : "              "} ${ips(r.ms, INFER_BATCH).padStart(8)} img/s${dp}`);
    if (REFERENCE && !SMALL) {
      const ref = reference("precision_reference.py", [INFER_BATCH, SIZE, STEPS, THREADS, DEVICE, p, channelsLast ? 1 : 0]);
      console.log(typeof ref === "string" ? `  PyTorch ${p} ${ref}` : `  PyTorch ${p}${channelsLast ? " channels-last" : "              "} ${ips(ref.ms, INFER_BATCH).padStart(8)} img/s`);
    }
  }
}
dispose([...params.values(), x]);
