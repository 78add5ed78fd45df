/**
 * Benchmark (not a test): int8 (convert --quantize int8, src/onnx/quantize.ts) beside fp32 on the
 * same images, per detector architecture.
 *
 * Speed: a full-size nodown ResNet-50 (grag2021/corvi2022) and CLIP's ModifiedResNet (the tower
 * wu2023 is built on; RN50 widths at 224 by default, RN50x64 being beyond a bounded run on 2
 * cores), random-init weights with non-trivial BN statistics, calibrated on random images; the
 * model alone (runTensor, warm-up then the median of timed runs) at batch 1.
 * Accuracy: the demo's trained detector (a reduced nodown ResNet, `imaginet demo --fast`, reused
 * when already under .bench/) converted in fp32 and int8 (calibrated on the demo's calibration
 * split), both scoring the demo's test set: largest |Δscore|, ΔAUC, Δ balanced accuracy (logit > 0).
 *
 *   node --import tsx bench/quantize.ts [--threads 2] [--size 224] [--runs 5] [--calibration 8] [--method minmax|percentile] [--part speed|accuracy]
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildFromCheckpoints } from "../src/detectors/build.js";
import { IMAGINET } from "../src/detectors/imaginet.js";
import { balancedAccuracy, rocAuc } from "../src/eval/metrics.js";
import type { NormalizedImage } from "../src/image/preprocess.js";
import { lasted, type ClipResNetConfig } from "../src/models/clip.js";
import { grag2021, RESNET50_NODOWN } from "../src/models/resnet.js";
import { quantizeModel, type RangeMethod } from "../src/onnx/quantize.js";
import { toOnnx, trace, type TracedGraph } from "../src/onnx/trace.js";
import { readCalibrationSet } from "../src/runtime/calibration-set.js";
import { readImageList } from "../src/runtime/detect.js";
import { Preparer } from "../src/runtime/prepare.js";
import { DetectorSession } from "../src/runtime/session.js";
import { Rng } from "../src/util/rng.js";
import { argValue, numberArg } from "./support.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const THREADS = numberArg("--threads", 2);
const SIZE = numberArg("--size", 224);
const RUNS = numberArg("--runs", 5);
const CALIBRATION = numberArg("--calibration", 8);
const METHOD = (argValue("--method") ?? "minmax") as RangeMethod;
const DEMO = path.join(repo, ".bench", "quantize-demo");
const CLIP_RN50: ClipResNetConfig = { layers: [3, 4, 6, 3], width: 64, resolution: SIZE, outputDim: 1024 };

const rng = new Rng(0, "bench-quantize");

/** Random weights: He-uniform convs/linears, BN weight ~U(0.5, 1.5), running_var ~U(0.5, 1.5), means/biases small. */
function randomWeights(g: TracedGraph): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  for (const p of g.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const fan = p.shape.slice(1).reduce((a, b) => a * b, 1);
    const gen =
      p.name.endsWith("running_var") || (p.shape.length === 1 && p.name.endsWith(".weight"))
        ? () => 0.5 + rng.next()
        : p.shape.length === 1 || p.name.endsWith("positional_embedding")
          ? () => (rng.next() - 0.5) * 0.2
          : () => (rng.next() * 2 - 1) * Math.sqrt(6 / Math.max(fan, 1));
    w.set(p.name, Float32Array.from({ length: n }, gen));
  }
  return w;
}

function randomImages(n: number, side: number): NormalizedImage[] {
  return Array.from({ length: n }, () => ({ width: side, height: side, chw: Float32Array.from({ length: 3 * side * side }, () => rng.next() * 4 - 2) }));
}

async function msPerImage(model: Uint8Array, im: NormalizedImage): Promise<number> {
  const s = await DetectorSession.create(model, { intraOpNumThreads: THREADS, batchSize: 1 });
  try {
    const dims = [1, 3, im.height, im.width];
    await s.runTensor(im.chw, dims);
    const t: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await s.runTensor(im.chw, dims);
      t.push(performance.now() - t0);
    }
    return t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
  } finally {
    await s.release();
  }
}

async function outputs(model: Uint8Array, images: readonly NormalizedImage[], output: string): Promise<Float32Array> {
  const s = await DetectorSession.create(model, { intraOpNumThreads: THREADS, batchSize: 8 });
  try {
    return (await s.runNormalized(images))[output]!.data;
  } finally {
    await s.release();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

async function speed(name: string, g: TracedGraph, output: string): Promise<void> {
  const fp32 = toOnnx(g, randomWeights(g)).model;
  const calib = randomImages(CALIBRATION, SIZE);
  const t0 = performance.now();
  const int8 = await quantizeModel(fp32, calib, { method: METHOD, threads: THREADS });
  const quantizeS = (performance.now() - t0) / 1000;
  const test = randomImages(4, SIZE);
  const [a, b] = [await outputs(fp32, test, output), await outputs(int8, test, output)];
  const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const f = await msPerImage(fp32, test[0]!);
  const q = await msPerImage(int8, test[0]!);
  console.log(
    `${name} ${SIZE}×${SIZE}, batch 1, ${THREADS} threads: fp32 ${f.toFixed(0)} ms, int8 ${q.toFixed(0)} ms → ${(f / q).toFixed(2)}× ` +
      `(model ${(fp32.length / 2 ** 20).toFixed(0)} → ${(int8.length / 2 ** 20).toFixed(0)} MiB; quantizing took ${quantizeS.toFixed(0)} s on ${CALIBRATION} images); ` +
      `random inputs: max |Δ${output}| ${maxAbsDiff(a, b).toExponential(2)} (max |${output}| ${scale.toExponential(2)})`,
  );
}

/** The demo's trained detector and test set: fp32 vs int8 scores. */
async function demoAccuracy(): Promise<void> {
  const pth = path.join(DEMO, "train", "detector", "detector.pth");
  if (!existsSync(pth)) {
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(repo, "src", "cli", "main.ts"), "demo", "--fast", "--out", DEMO], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("imaginet demo --fast failed");
  }
  const fp32 = (await buildFromCheckpoints(IMAGINET, pth)).onnx.model;
  const cal = await readCalibrationSet(path.join(DEMO, "data", "annotations", "test_calibration.txt"), IMAGINET.preprocess, 64, {
    workers: 2,
    root: path.join(DEMO, "data"),
  });
  const int8 = await quantizeModel(fp32, cal.images, { method: METHOD, threads: THREADS });
  const lists = ["gan", "sd", "midjourney", "dalle3"].map((g) => path.join(DEMO, "testset", `test_${g}.txt`));
  const labels: number[] = [];
  const files: string[] = [];
  for (const l of lists) {
    const lines = readFileSync(l, "utf8")
      .split("\n")
      .filter((x) => x.trim());
    const paths = await readImageList(l);
    for (const [i, p] of paths.entries()) {
      if (files.includes(p)) continue;
      files.push(p);
      labels.push(Number(lines[i]!.trim().split(/[,\s]+/)[1]));
    }
  }
  const prep = new Preparer(IMAGINET.preprocess, 2);
  const prepared = await Promise.all(files.map((f) => prep.prepare(f)));
  await prep.close();
  const bad = prepared.find((p) => "error" in p);
  if (bad) throw new Error(`${bad.file}: ${"error" in bad ? bad.error : ""}`);
  const images = prepared as NormalizedImage[];
  const [a, b] = [await outputs(fp32, images, "logit"), await outputs(int8, images, "logit")];
  const auc = [rocAuc(labels, a), rocAuc(labels, b)];
  const bacc = [
    balancedAccuracy(
      labels,
      Array.from(a, (v) => (v > 0 ? 1 : 0)),
    ),
    balancedAccuracy(
      labels,
      Array.from(b, (v) => (v > 0 ? 1 : 0)),
    ),
  ];
  const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  console.log(
    `demo detector (nodown ResNet, layers [1,1,1,1], width 1/16; calibrated on ${cal.images.length} images, ${METHOD}) on ${files.length} test images ` +
      `(${labels.filter((x) => x === 1).length} synthetic): max |Δlogit| ${maxAbsDiff(a, b).toExponential(2)} (max |logit| ${scale.toFixed(2)}), ` +
      `AUC ${auc[0]!.toFixed(4)} → ${auc[1]!.toFixed(4)} (Δ ${(auc[1]! - auc[0]!).toFixed(4)}), ` +
      `balanced accuracy ${bacc[0]!.toFixed(4)} → ${bacc[1]!.toFixed(4)} (Δ ${(bacc[1]! - bacc[0]!).toFixed(4)})`,
  );
}

const PART = argValue("--part"); // "accuracy" or "speed": only that part
if (PART !== "speed") await demoAccuracy();
if (PART !== "accuracy") {
  await speed(
    "nodown ResNet-50 (grag2021)",
    trace((ops) => grag2021(ops, RESNET50_NODOWN)),
    "logit",
  );
  await speed(
    "CLIP ModifiedResNet RN50 (wu2023's tower)",
    trace((ops) => lasted(ops, CLIP_RN50, false)),
    "feature",
  );
}
