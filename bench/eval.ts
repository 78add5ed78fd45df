/**
 * Benchmark (not a test): the evaluation of a benchmark run, 40,000 images × 5 detectors with
 * synthetic scores (some detectors' scores heavily tied): every point metric of src/eval/metrics.ts,
 * then 1,000-resample stratified bootstrap intervals of ROC AUC, balanced accuracy and average
 * precision per detector. Beside it, sklearn on the same inputs (bench/eval_reference.py via
 * /usr/bin/python3, inputs passed as a binary file): the same point metrics for all detectors, and a
 * naive 1,000-resample bootstrap of roc_auc_score for one detector. Prints the times, the ratios, and
 * the largest point-metric difference from sklearn.
 *
 *   node --import tsx bench/eval.ts [--n 40000] [--detectors 5] [--resamples 1000] [--seed 1]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  accuracy,
  apFromTally,
  aucFromTally,
  balancedAccuracy,
  bootstrapCi,
  brierScore,
  confusionMatrix,
  eerFromTally,
  rankScores,
  reliability,
  rocFromTally,
  tally,
  tprAtFprFromTally,
} from "../src/eval/metrics.js";
import { Rng } from "../src/util/rng.js";
import { numberArg } from "./support.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const N = numberArg("--n", 40_000);
const DETECTORS = numberArg("--detectors", 5);
const RESAMPLES = numberArg("--resamples", 1000);
const SEED = numberArg("--seed", 1);

interface Detector {
  name: string;
  scores: Float64Array;
}

/** Half real, half synthetic; detector d separates the classes by 0.6 + 0.4·d logits, odd ones round to 2 decimals. */
function makeInputs(): { labels: Uint8Array; detectors: Detector[] } {
  const rng = new Rng(SEED, "bench-eval-labels");
  const labels = new Uint8Array(N);
  for (let i = 0; i < N; i++) labels[i] = rng.next() < 0.5 ? 1 : 0;
  const detectors = Array.from({ length: DETECTORS }, (_, d) => {
    const r = new Rng(SEED, `bench-eval-detector-${d}`);
    const scores = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      const logit = gaussian(r) + (0.6 + 0.4 * d) * (labels[i] ? 1 : -1);
      const p = 1 / (1 + Math.exp(-logit));
      scores[i] = d % 2 === 1 ? Math.round(p * 100) / 100 : p;
    }
    return { name: `detector-${d}`, scores };
  });
  return { labels, detectors };
}

function gaussian(r: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
}

type PointMetrics = Record<string, number>;

/** Every point metric, the scores sorted once (the ROC curve and the confusion matrix are computed but not compared). */
function pointMetrics(labels: Uint8Array, scores: Float64Array): PointMetrics {
  const pred = scores.map((s) => (s >= 0.5 ? 1 : 0));
  const r = rankScores(labels, scores);
  const t = tally(r);
  rocFromTally(r, t);
  confusionMatrix(labels, pred, 2);
  reliability(labels, scores, 15);
  return {
    rocAuc: aucFromTally(t),
    averagePrecision: apFromTally(t),
    eer: eerFromTally(t),
    "tprAt1%": tprAtFprFromTally(t, 0.01),
    "tprAt0.1%": tprAtFprFromTally(t, 0.001),
    accuracy: accuracy(labels, pred),
    balancedAccuracy: balancedAccuracy(labels, pred),
    brier: brierScore(labels, scores),
  };
}

function seconds(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

interface Reference {
  sklearn: string;
  pointSeconds: number;
  bootstrapSeconds: number;
  values: PointMetrics[];
  aucInterval: [number, number];
}

function runReference(labels: Uint8Array, detectors: Detector[]): Reference {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "bench-eval-"));
  try {
    const file = path.join(tmp, "input.bin");
    const scores = new Float64Array(N * DETECTORS);
    detectors.forEach((d, k) => scores.set(d.scores, k * N));
    writeFileSync(file, Buffer.concat([Buffer.from(scores.buffer), Buffer.from(labels.buffer)]));
    const args = [path.join(here, "eval_reference.py"), file, String(N), String(DETECTORS), String(RESAMPLES), String(SEED)];
    const r = spawnSync("/usr/bin/python3", args, { encoding: "utf8", maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`eval_reference.py failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as Reference;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function largestDifference(ours: PointMetrics[], theirs: PointMetrics[]): { diff: number; where: string } {
  let diff = 0,
    where = "";
  ours.forEach((m, d) => {
    for (const [k, v] of Object.entries(m)) {
      const e = Math.abs(v - (theirs[d]?.[k] ?? NaN));
      if (!(e <= diff)) [diff, where] = [e, `detector-${d} ${k}`];
    }
  });
  return { diff, where };
}

const { labels, detectors } = makeInputs();
let points: PointMetrics[] = [];
const pointTime = seconds(() => {
  points = detectors.map((d) => pointMetrics(labels, d.scores));
});
const intervals: string[] = [];
const ciTime = seconds(() => {
  for (const d of detectors) {
    const pred = d.scores.map((s) => (s >= 0.5 ? 1 : 0));
    const r = bootstrapCi({ yTrue: labels, scores: d.scores, yPred: pred }, ["rocAuc", "balancedAccuracy", "averagePrecision"], { seed: SEED, id: d.name, resamples: RESAMPLES });
    const iv = Object.entries(r.intervals).map(([m, v]) => `${m} ${v.estimate.toFixed(4)} [${v.lo.toFixed(4)}, ${v.hi.toFixed(4)}]`);
    intervals.push(`  ${d.name}: ${iv.join("; ")}`);
  }
});
const ref = runReference(labels, detectors);
const worst = largestDifference(points, ref.values);
const ours = pointTime + ciTime;
const naiveAll = ref.pointSeconds + ref.bootstrapSeconds * DETECTORS * 3;

const row = (label: string, secs: number, note = ""): string => `${label.padEnd(62)} ${secs.toFixed(3).padStart(8)} s${note && `  ${note}`}`;
const perDetector = ciTime / DETECTORS;
console.log(
  `${N} images × ${DETECTORS} detectors, ${RESAMPLES} stratified resamples; node ${process.version}, ${os.cpus().length} cores (load average ${os.loadavg()[0]!.toFixed(2)}); sklearn ${ref.sklearn}`,
);
console.log(intervals.join("\n"));
console.log(row("ours: point metrics, all detectors", pointTime));
console.log(row("ours: bootstrap CIs of AUC, balanced accuracy, AP, all detectors", ciTime));
console.log(row("ours: total", ours));
console.log(row("sklearn: point metrics, all detectors", ref.pointSeconds, `(sklearn/ours ${(ref.pointSeconds / pointTime).toFixed(1)}x)`));
console.log(row("sklearn: naive bootstrap of roc_auc_score, one detector", ref.bootstrapSeconds, `(interval [${ref.aucInterval.map((v) => v.toFixed(4)).join(", ")}])`));
console.log(row("ours: bootstrap of all three metrics, per detector", perDetector, `(sklearn AUC alone / ours ${(ref.bootstrapSeconds / perDetector).toFixed(1)}x)`));
console.log(row("sklearn, whole job extrapolated (3 metrics cost as AUC)", naiveAll, `(sklearn/ours ${(naiveAll / ours).toFixed(0)}x)`));
console.log(`largest point-metric difference from sklearn: ${worst.diff.toExponential(2)} (${worst.where})`);
