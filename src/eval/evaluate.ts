/**
 * Both tracks of the ImagiNet protocol, recomputed from a run's saved predictions:
 * - detection: raw scores calibrated by logistic regression on the calibration subset (C = 1e10, as
 *   upstream), p ≥ 0.5 is "synthetic"; balanced accuracy and ROC AUC (on p, as upstream) per group
 *   list, per specific generator (each with an equal-size seeded subsample of the reals, as upstream),
 *   per content type, with mean rows; plus AP, EER, TPR at 1% / 0.1% FPR, Brier, reliability and ECE;
 * - identification: 4-way arg-max accuracy per group and macro one-vs-rest AUC of the softmax;
 * - robustness: the same metrics per perturbation severity.
 * Headline numbers carry seeded percentile-bootstrap 95% intervals.
 */
import { CONTENTS, GROUPS, GROUP_TITLES, SPECIFICS } from "../data/labels.js";
import { Rng } from "../util/rng.js";
import { fitLogistic, logisticProb, sigmoid, softmaxWithTemperature, type Separation } from "./calibration.js";
import { balancedAccuracy, bootstrapCi, brierScore, eer, macroOvrAuc, reliability, rocAuc, rocCurve, tprAtFpr, type Reliability } from "./metrics.js";
import type { PredictionRow, Run } from "./results.js";

export interface Estimate {
  value: number;
  lo: number;
  hi: number;
}

export interface DetectionRow {
  label: string;
  real: number;
  synthetic: number;
  acc: Estimate;
  auc: Estimate;
  ap: Estimate;
  eer: number;
  tprAt1: number;
  tprAt01: number;
  brier: number;
  ece: number;
}

export interface DetectionTable {
  rows: DetectionRow[];
  /** arithmetic means of the rows, as upstream's Mean row */
  mean: { acc: number; auc: number };
}

export interface IdentificationRow {
  label: string;
  n: number;
  acc: Estimate;
}

export interface SeverityPoint {
  perturbation: string;
  severity: number;
  n: number;
  acc: number;
  auc: number | null;
}

export interface Evaluation {
  detector: string;
  run: string;
  options: { seed: number; resamples: number };
  calibration: { a: number; b: number; n: number; separation: Separation; warning?: string } | null;
  detection: {
    all: DetectionRow;
    groups: DetectionTable | null;
    specific: DetectionTable | null;
    content: DetectionTable | null;
    reliability: Reliability;
    roc: { fpr: number[]; tpr: number[] };
  } | null;
  identification: { rows: IdentificationRow[]; meanAcc: number; macroAuc: number } | null;
  robustness: SeverityPoint[];
  notes: string[];
}

export interface EvaluateOptions {
  seed?: number;
  /** bootstrap resamples for the intervals; 0 turns intervals off */
  resamples?: number;
}

const isClean = (r: PredictionRow): boolean => r.perturbation === undefined;

/** Detection metrics on one set of images. `id` names the bootstrap stream. */
function detectionRow(label: string, y: Uint8Array, p: Float64Array, opts: Required<EvaluateOptions>, id: string): DetectionRow {
  const pred = Uint8Array.from(p, (v) => (v >= 0.5 ? 1 : 0));
  const ci = bootstrapCi({ yTrue: y, scores: p, yPred: pred }, ["balancedAccuracy", "rocAuc", "averagePrecision"], {
    seed: opts.seed,
    id,
    resamples: Math.max(1, opts.resamples),
  }).intervals;
  const est = (i: { estimate: number; lo: number; hi: number }): Estimate => (opts.resamples > 0 ? { value: i.estimate, lo: i.lo, hi: i.hi } : { value: i.estimate, lo: NaN, hi: NaN });
  let synthetic = 0;
  for (const v of y) synthetic += v;
  return {
    label,
    real: y.length - synthetic,
    synthetic,
    acc: est(ci.balancedAccuracy),
    auc: est(ci.rocAuc),
    ap: est(ci.averagePrecision),
    eer: eer(y, p),
    tprAt1: tprAtFpr(y, p, 0.01),
    tprAt01: tprAtFpr(y, p, 0.001),
    brier: brierScore(y, p),
    ece: reliability(y, p).ece,
  };
}

function table(rows: DetectionRow[]): DetectionTable | null {
  if (rows.length === 0) return null;
  const mean = (f: (r: DetectionRow) => number): number => rows.reduce((a, r) => a + f(r), 0) / rows.length;
  return { rows, mean: { acc: mean((r) => r.acc.value), auc: mean((r) => r.auc.value) } };
}

/** Seeded Fisher–Yates: the first `n` of a permutation of `items` drawn from Rng(seed, id). */
export function seededSample<T>(items: readonly T[], n: number, seed: number, id: string): T[] {
  const a = [...items];
  const rng = new Rng(seed, id);
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

function evaluateDetection(run: Run, opts: Required<EvaluateOptions>, notes: string[]): Pick<Evaluation, "calibration" | "detection"> {
  const rows = run.predictions.filter((r) => isClean(r) && r.score !== undefined);
  if (rows.length === 0) return { calibration: null, detection: null };
  const cal = run.calibration?.filter((r) => r.score !== undefined) ?? [];
  let calibration: Evaluation["calibration"] = null;
  let prob: (rs: readonly PredictionRow[]) => Float64Array;
  if (cal.length > 0) {
    const m = fitLogistic(Float64Array.from(cal, (r) => r.score!), Uint8Array.from(cal, (r) => r.labels[0]));
    calibration = { a: m.a, b: m.b, n: cal.length, separation: m.separation, ...(m.warning ? { warning: m.warning } : {}) };
    prob = (rs) => logisticProb(m, Float64Array.from(rs, (r) => r.score!));
  } else {
    notes.push("no calibration predictions: scores were taken as logits, p = sigmoid(score)");
    prob = (rs) => Float64Array.from(rs, (r) => sigmoid(r.score!));
  }
  const id = (part: string): string => `${run.manifest.detector.name}/${part}`;
  const row = (label: string, rs: readonly PredictionRow[], part: string): DetectionRow =>
    detectionRow(label, Uint8Array.from(rs, (r) => r.labels[0]), prob(rs), opts, id(part));

  const splits = GROUPS.slice(0, 4).filter((g) => rows.some((r) => r.split === g));
  if (splits.length === 0) notes.push("predictions carry no split (import the four test_{group}.txt files): the group table is left out");
  const groups = table(splits.map((g) => row(GROUP_TITLES[GROUPS.indexOf(g)]!, rows.filter((r) => r.split === g), `group/${g}`)));

  const reals = dedupe(rows.filter((r) => r.labels[0] === 0));
  const specificRows: DetectionRow[] = [];
  for (let s = 0; s < 8; s++) {
    const synth = dedupe(rows.filter((r) => r.labels[0] === 1 && r.labels[3] === s));
    if (synth.length === 0) continue;
    if (reals.length < synth.length) notes.push(`${SPECIFICS[s]}: only ${reals.length} real images to pair with ${synth.length} synthetic`);
    const paired = seededSample(reals, synth.length, opts.seed, id(`specific/${SPECIFICS[s]}/reals`));
    specificRows.push(row(SPECIFICS[s]!, [...paired, ...synth], `specific/${SPECIFICS[s]}`));
  }

  const all = dedupe(rows);
  const contentRows = CONTENTS.map((c, i) => ({ c, rs: all.filter((r) => r.labels[1] === i) }))
    .filter(({ rs }) => rs.length > 0)
    .map(({ c, rs }) => row(c === "uncategorized" ? "Uncategorised" : c[0]!.toUpperCase() + c.slice(1), rs, `content/${c}`));

  const yAll = Uint8Array.from(all, (r) => r.labels[0]);
  const pAll = prob(all);
  const roc = rocCurve(yAll, pAll);
  return {
    calibration,
    detection: {
      all: detectionRow("All", yAll, pAll, opts, id("all")),
      groups,
      specific: table(specificRows),
      content: table(contentRows),
      reliability: reliability(yAll, pAll),
      roc: thinRoc(Array.from(roc.fpr), Array.from(roc.tpr)),
    },
  };
}

/** An image listed in several group files counts once where images are pooled. */
function dedupe(rows: readonly PredictionRow[]): PredictionRow[] {
  const seen = new Set<string>();
  return rows.filter((r) => (seen.has(r.path) ? false : (seen.add(r.path), true)));
}

/** At most ~500 ROC points for plotting: keeps the first, last and evenly spaced ones. */
function thinRoc(fpr: number[], tpr: number[]): { fpr: number[]; tpr: number[] } {
  const step = Math.max(1, Math.ceil(fpr.length / 500));
  const keep = fpr.map((_, i) => i).filter((i) => i % step === 0 || i === fpr.length - 1);
  return { fpr: keep.map((i) => fpr[i]!), tpr: keep.map((i) => tpr[i]!) };
}

function evaluateIdentification(run: Run, opts: Required<EvaluateOptions>): Evaluation["identification"] {
  const rows = dedupe(run.predictions.filter((r) => isClean(r) && r.logits !== undefined && r.labels[0] === 1));
  if (rows.length === 0) return null;
  const k = rows[0]!.logits!.length;
  const pred = (r: PredictionRow): number => r.logits!.indexOf(Math.max(...r.logits!));
  const out: IdentificationRow[] = [];
  for (let g = 0; g < k && g < 4; g++) {
    const rs = rows.filter((r) => r.labels[2] === g);
    if (rs.length === 0) continue;
    const y = Int32Array.from(rs, () => g);
    const yp = Int32Array.from(rs, pred);
    const ci = bootstrapCi({ yTrue: y, yPred: yp }, ["accuracy"], { seed: opts.seed, id: `${run.manifest.detector.name}/identification/${GROUPS[g]}`, resamples: Math.max(1, opts.resamples) }).intervals.accuracy;
    out.push({ label: GROUP_TITLES[g]!, n: rs.length, acc: opts.resamples > 0 ? { value: ci.estimate, lo: ci.lo, hi: ci.hi } : { value: ci.estimate, lo: NaN, hi: NaN } });
  }
  const probs = softmaxWithTemperature(rows.map((r) => r.logits!), 1);
  const y = Int32Array.from(rows, (r) => r.labels[2]);
  return { rows: out, meanAcc: out.reduce((a, r) => a + r.acc.value, 0) / out.length, macroAuc: macroOvrAuc(y, probs, k) };
}

function evaluateRobustness(run: Run, calibration: Evaluation["calibration"]): SeverityPoint[] {
  const byKey = new Map<string, PredictionRow[]>();
  for (const r of run.predictions) {
    if (r.perturbation === undefined) continue;
    const key = `${r.perturbation}\u0000${r.severity}`;
    let list = byKey.get(key);
    if (!list) byKey.set(key, (list = []));
    list.push(r);
  }
  const points: SeverityPoint[] = [];
  for (const rs of byKey.values()) {
    const first = rs[0]!;
    if (first.logits !== undefined) {
      // identification under perturbation (upstream's sweeps): accuracy of the generator group on synthetic images
      const synth = rs.filter((r) => r.labels[0] === 1);
      const correct = synth.filter((r) => r.logits!.indexOf(Math.max(...r.logits!)) === r.labels[2]).length;
      points.push({ perturbation: first.perturbation!, severity: first.severity!, n: synth.length, acc: correct / synth.length, auc: null });
    } else {
      const y = Uint8Array.from(rs, (r) => r.labels[0]);
      const p = Float64Array.from(rs, (r) => (calibration ? sigmoid(calibration.a * r.score! + calibration.b) : sigmoid(r.score!)));
      const pred = Uint8Array.from(p, (v) => (v >= 0.5 ? 1 : 0));
      points.push({ perturbation: first.perturbation!, severity: first.severity!, n: rs.length, acc: balancedAccuracy(y, pred), auc: rocAuc(y, p) });
    }
  }
  return points.sort((a, b) => (a.perturbation < b.perturbation ? -1 : a.perturbation > b.perturbation ? 1 : a.severity - b.severity));
}

export function evaluateRun(run: Run, options: EvaluateOptions = {}): Evaluation {
  const opts: Required<EvaluateOptions> = { seed: options.seed ?? 42, resamples: options.resamples ?? 1000 };
  const notes: string[] = [];
  const { calibration, detection } = evaluateDetection(run, opts, notes);
  return {
    detector: run.manifest.detector.name,
    run: run.dir,
    options: opts,
    calibration,
    detection,
    identification: evaluateIdentification(run, opts),
    robustness: evaluateRobustness(run, calibration),
    notes,
  };
}
