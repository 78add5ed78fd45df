/**
 * Both tracks of the ImagiNet protocol, recomputed from a run's saved predictions:
 * - detection: raw scores calibrated by logistic regression on the calibration subset (C = 1e10, as
 *   upstream), p ≥ 0.5 is "synthetic"; balanced accuracy and ROC AUC (on p, as upstream) per group
 *   list, per specific generator (each with an equal-size seeded subsample of the reals, as upstream),
 *   per content type, with mean rows; plus AP, EER, TPR at 1% / 0.1% FPR, Brier, reliability and ECE;
 * - identification: 4-way arg-max accuracy per group and macro one-vs-rest AUC of the softmax;
 * - robustness: the same metrics per perturbation severity;
 * - on the Corvi and Practical tracks (see src/data/tracks.ts) the same calibration and metrics, in
 *   one per-generator table as upstream's Corvi/ and PracticalTestset/ scripts make it (no identification).
 * Headline numbers carry seeded percentile-bootstrap 95% intervals.
 *
 * Content types where only one class is present have no AUC (and a balanced accuracy that is one
 * class's recall): they are left out of the content table and listed as skipped. Given a sources
 * side file (`sources.csv`), each synthetic source is also measured within each content type against
 * every real image of that content type (docs/wild-dev.md, "Honest evaluation").
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CONTENTS, CORVI_GENERATORS, GROUPS, GROUP_TITLES, SPECIFICS } from "../data/labels.js";
import { PRACTICAL_SUBSETS, type TrackName } from "../data/tracks.js";
import { mapPool } from "../util/pool.js";
import { startWorker } from "../util/worker.js";
import { Rng } from "../util/rng.js";
import { fitLogistic, fitTemperature, logisticProb, rates, sigmoid, softmaxWithTemperature, thresholdForFpr, type Separation } from "./calibration.js";
import {
  aucFromTally,
  apFromTally,
  balancedAccuracy,
  bootstrapCi,
  brierScore,
  createResampler,
  eerFromTally,
  macroOvrAuc,
  percentile,
  rankScores,
  reliability,
  rocAuc,
  rocCurve,
  tally,
  tprAtFprFromTally,
  type Ranking,
  type Reliability,
} from "./metrics.js";
import { METRICS_FILE, readRun, trackOf, type PredictionRow, type Run } from "./results.js";
import { contentTitle, type SourceTable } from "./sources.js";
import { InputError, rebuildError, type PostedError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";

export interface Estimate {
  value: number;
  lo: number;
  hi: number;
}

export interface DetectionRow {
  label: string;
  /** on per-source rows: the synthetic source and the content type's title */
  source?: string;
  content?: string;
  real: number;
  synthetic: number;
  acc: Estimate;
  auc: Estimate;
  ap: number;
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

/** A row that was not computed because one class is missing. */
export interface SkippedRow {
  label: string;
  real: number;
  synthetic: number;
  reason: string;
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
  /** the test set the run's predictions come from */
  track: TrackName;
  options: { seed: number; resamples: number; targetFpr: number };
  calibration: {
    a: number;
    b: number;
    n: number;
    separation: Separation;
    warning?: string;
    /** the operating point chosen on the calibration images for the target FPR, carried to the test images */
    operatingPoint: { targetFpr: number; threshold: number; calibration: { fpr: number; tpr: number }; test: { fpr: number; tpr: number } };
  } | null;
  /** sha256 of the sorted image paths evaluated: equal across runs means the same images */
  images: { count: number; sha256: string };
  /** the sources side file the per-source table was computed from (`eval run --sources`) */
  sources: { file: string; sha256: string; matched: number; unmatched: number } | null;
  detection: {
    all: DetectionRow;
    groups: DetectionTable | null;
    specific: DetectionTable | null;
    /** content types with both classes present */
    content: DetectionTable | null;
    /** the Corvi or Practical track's per-generator table (null on the ImagiNet track) */
    generators: DetectionTable | null;
    contentSkipped: SkippedRow[];
    /** each synthetic source × content type against the real images of that content type (with `sources`) */
    sources: DetectionTable | null;
    sourcesSkipped: SkippedRow[];
    reliability: Reliability;
    roc: { fpr: number[]; tpr: number[] };
  } | null;
  identification: {
    rows: IdentificationRow[];
    meanAcc: number;
    macroAuc: number;
    /** temperature fitted on the calibration images' logits (softmax(logits / T)), when they have logits */
    temperature: number | null;
  } | null;
  robustness: SeverityPoint[];
  notes: string[];
}

export interface EvaluateOptions {
  seed?: number;
  /** bootstrap resamples for the intervals; 0 turns intervals off */
  resamples?: number;
  /** false-positive rate the calibration-chosen operating point aims at (default 0.05) */
  targetFpr?: number;
  /** where each image came from (src/eval/sources.ts): adds the per-source table */
  sources?: SourceTable;
}

/** The options recorded in metrics.json (the sources file is recorded on its own). */
type Settings = Evaluation["options"];

const isClean = (r: PredictionRow): boolean => r.perturbation === undefined;

/** A set of images (indices into the pooled, de-duplicated test images) that makes one table row. */
interface RowSet {
  label: string;
  members: number[];
  source?: string;
  content?: string;
}

/** Point metrics of one row, from one ranking of its images. */
function pointRow(set: RowSet, y: Uint8Array, p: Float64Array): { row: DetectionRow; ranking: Ranking; yr: Uint8Array; pr: Float64Array } {
  const yr = Uint8Array.from(set.members, (i) => y[i]!);
  const pr = Float64Array.from(set.members, (i) => p[i]!);
  const ranking = rankScores(yr, pr, set.label);
  const t = tally(ranking);
  let synthetic = 0;
  for (const v of yr) synthetic += v;
  const point = (value: number): Estimate => ({ value, lo: NaN, hi: NaN });
  const row: DetectionRow = {
    label: set.label,
    ...(set.source !== undefined ? { source: set.source, content: set.content! } : {}),
    real: yr.length - synthetic,
    synthetic,
    acc: point(
      balancedAccuracy(
        yr,
        Uint8Array.from(pr, (v) => (v >= 0.5 ? 1 : 0)),
      ),
    ),
    auc: point(aucFromTally(t)),
    ap: apFromTally(t),
    eer: eerFromTally(t),
    tprAt1: tprAtFprFromTally(t, 0.01),
    tprAt01: tprAtFprFromTally(t, 0.001),
    brier: brierScore(yr, pr),
    ece: reliability(yr, pr).ece,
  };
  return { row, ranking, yr, pr };
}

/**
 * Detection rows with bootstrap intervals on ACC and AUC. One resample draws images from the whole
 * pooled test set (stratified by real/synthetic, stream Rng(seed, id)), and every row is evaluated on
 * that same resample: intervals of different rows come from the same draws, and the random numbers
 * are drawn once per resample rather than once per row. Each row is ranked once; a resample only
 * sums its draw counts into the row's tie groups and confusion cells, and the metrics come from those
 * by the same code as the point metrics (aucFromTally, balancedAccuracyFromConfusion).
 */
function detectionRows(sets: RowSet[], y: Uint8Array, p: Float64Array, opts: Settings, id: string): DetectionRow[] {
  const prepared = sets.map((set) => {
    const { row, ranking, yr, pr } = pointRow(set, y, p);
    const groups = ranking.groupScore.length;
    const ranked: RankedRow = {
      group: Uint32Array.from(ranking.slot, (s) => (s < groups ? s : s - groups)),
      label: Float64Array.from(ranking.order, (j) => yr[j]!),
      pred: Float64Array.from(ranking.order, (j) => (pr[j]! >= 0.5 ? 1 : 0)),
      index: Uint32Array.from(ranking.order, (j) => set.members[j]!),
    };
    return { row, ranked, acc: new Float64Array(opts.resamples), auc: new Float64Array(opts.resamples) };
  });
  if (opts.resamples === 0) return prepared.map((x) => x.row);
  const resampler = createResampler(y, opts.seed, id, true);
  for (let b = 0; b < opts.resamples; b++) {
    const counts = resampler.next();
    for (const x of prepared) {
      const r = resampledRow(x.ranked, counts);
      x.auc[b] = r.auc;
      x.acc[b] = r.acc;
    }
  }
  return prepared.map((x) => ({ ...x.row, acc: interval(x.row.acc.value, x.acc), auc: interval(x.row.auc.value, x.auc) }));
}

/** A row in score order, as the bootstrap's hot loop reads it. */
export interface RankedRow {
  /** tie group of each position (non-decreasing) */
  group: Uint32Array;
  /** 1 where the image is synthetic */
  label: Float64Array;
  /** 1 where it is predicted synthetic (p ≥ 0.5) */
  pred: Float64Array;
  /** index into the resample's draw counts */
  index: Uint32Array;
}

/**
 * ROC AUC and balanced accuracy of one row under bootstrap draw counts, in one branch-free pass over
 * the row's score order (labels are random, so branching on them would be mispredicted half the
 * time): the hot loop of the intervals. It sums exactly what `aucFromTally` and
 * `balancedAccuracyFromConfusion` (src/eval/metrics.ts) sum — tie group by tie group, twice the area,
 * so integer counts stay exact — and test/evaluate.test.ts checks it against them.
 */
export function resampledRow(row: RankedRow, counts: Float64Array): { auc: number; acc: number } {
  const { group, label, pred, index } = row;
  let area2 = 0,
    tps = 0,
    pg = 0,
    ng = 0,
    current = group.length > 0 ? group[0]! : 0;
  let tp = 0,
    _fn = 0,
    fp = 0,
    tn = 0;
  for (let j = 0; j < group.length; j++) {
    const g = group[j]!;
    if (g !== current) {
      area2 += ng * (2 * tps + pg);
      tps += pg;
      pg = 0;
      ng = 0;
      current = g;
    }
    const c = counts[index[j]!]!;
    const pos = c * label[j]!;
    const neg = c - pos;
    pg += pos;
    ng += neg;
    const pp = pred[j]!;
    tp += pos * pp;
    _fn += pos - pos * pp;
    fp += neg * pp;
    tn += neg - neg * pp;
  }
  area2 += ng * (2 * tps + pg);
  tps += pg;
  const negatives = tn + fp;
  const auc = tps > 0 && negatives > 0 ? area2 / (2 * tps * negatives) : NaN;
  // balanced accuracy over the classes present, as balancedAccuracyFromConfusion
  const recalls = (negatives > 0 ? 1 : 0) + (tps > 0 ? 1 : 0);
  const acc = ((negatives > 0 ? tn / negatives : 0) + (tps > 0 ? tp / tps : 0)) / recalls;
  return { auc, acc };
}

/** Percentile 95% interval of the defined resampled values. */
function interval(value: number, samples: Float64Array): Estimate {
  const defined = samples.filter((v) => !Number.isNaN(v)).sort();
  if (Number.isNaN(value) || defined.length === 0) return { value, lo: NaN, hi: NaN };
  return { value, lo: percentile(defined, 0.025), hi: percentile(defined, 0.975) };
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

function evaluateDetection(run: Run, opts: Settings, sources: SourceTable | null, notes: string[]): Pick<Evaluation, "calibration" | "detection"> {
  const rows = run.predictions.filter((r) => isClean(r) && r.score !== undefined);
  if (rows.length === 0) return { calibration: null, detection: null };
  const cal = run.calibration?.filter((r) => r.score !== undefined) ?? [];
  let calibration: Evaluation["calibration"] = null;
  let prob: (rs: readonly PredictionRow[]) => Float64Array;
  if (cal.length > 0) {
    const yCal = Uint8Array.from(cal, (r) => r.labels[0]);
    const m = fitLogistic(
      Float64Array.from(cal, (r) => r.score!),
      yCal,
    );
    prob = (rs) =>
      logisticProb(
        m,
        Float64Array.from(rs, (r) => r.score!),
      );
    const pCal = prob(cal);
    const threshold = thresholdForFpr(yCal, pCal, opts.targetFpr);
    const atCal = rates(yCal, pCal, threshold);
    const test = dedupe(rows);
    const atTest = rates(
      Uint8Array.from(test, (r) => r.labels[0]),
      prob(test),
      threshold,
    );
    calibration = {
      a: m.a,
      b: m.b,
      n: cal.length,
      separation: m.separation,
      ...(m.warning ? { warning: m.warning } : {}),
      operatingPoint: { targetFpr: opts.targetFpr, threshold, calibration: { fpr: atCal.fpr, tpr: atCal.tpr }, test: { fpr: atTest.fpr, tpr: atTest.tpr } },
    };
  } else {
    notes.push("no calibration predictions: scores were taken as logits, p = sigmoid(score)");
    prob = (rs) => Float64Array.from(rs, (r) => sigmoid(r.score!));
  }
  const id = (part: string): string => `${run.manifest.detector.name}/${part}`;

  // pooled images in descending probability: every row's score order then reads the resample's
  // draw counts front to back (cache-friendly), instead of at random
  const unordered = dedupe(rows);
  const pUnordered = prob(unordered);
  const order = Array.from(unordered.keys()).sort((i, j) => pUnordered[j]! - pUnordered[i]! || i - j);
  const all = order.map((i) => unordered[i]!);
  const p = Float64Array.from(order, (i) => pUnordered[i]!);
  const indexOf = new Map(all.map((r, i) => [r.path, i]));
  const y = Uint8Array.from(all, (r) => r.labels[0]);
  const members = (rs: readonly PredictionRow[]): number[] => rs.map((r) => indexOf.get(r.path)!);
  const where = (f: (r: PredictionRow) => boolean): number[] => all.flatMap((r, i) => (f(r) ? [i] : []));

  const allSet: RowSet = { label: "All", members: all.map((_, i) => i) };
  const track = trackOf(run.manifest);
  // ImagiNet: group lists, specific generators, content types, sources; Corvi and Practical: one per-generator table
  const {
    sets: tableSets,
    contentSkipped,
    sourcesSkipped,
  } = track === "imaginet"
    ? imagiNetSets(rows, all, y, members, where, opts, id, notes, sources)
    : { sets: [[], [], [], [], trackSets(track, rows, members, where)], contentSkipped: [], sourcesSkipped: [] };

  const computed = detectionRows([allSet, ...tableSets.flat()], y, p, opts, id("detection"));
  const tables: (DetectionTable | null)[] = [];
  let from = 1;
  for (const sets of tableSets) {
    tables.push(table(computed.slice(from, from + sets.length)));
    from += sets.length;
  }
  const roc = rocCurve(y, p);
  return {
    calibration,
    detection: {
      all: computed[0]!,
      groups: tables[0]!,
      specific: tables[1]!,
      content: tables[2]!,
      contentSkipped,
      sources: tables[3]!,
      sourcesSkipped,
      generators: tables[4]!,
      reliability: reliability(y, p),
      roc: thinRoc(Array.from(roc.fpr), Array.from(roc.tpr)),
    },
  };
}

/**
 * ImagiNet's tables: group lists, specific generators (each with a seeded equal-size sample of the
 * reals), content types with both classes, and with a sources file each source within each content type.
 */
function imagiNetSets(
  rows: readonly PredictionRow[],
  all: readonly PredictionRow[],
  y: Uint8Array,
  members: (rs: readonly PredictionRow[]) => number[],
  where: (f: (r: PredictionRow) => boolean) => number[],
  opts: Settings,
  id: (part: string) => string,
  notes: string[],
  sources: SourceTable | null,
): { sets: RowSet[][]; contentSkipped: SkippedRow[]; sourcesSkipped: SkippedRow[] } {
  const splits = GROUPS.slice(0, 4).filter((g) => rows.some((r) => r.split === g));
  if (splits.length === 0) notes.push("predictions carry no split (import the four test_{group}.txt files): the group table is left out");
  const groupSets = splits.map((g) => ({ label: GROUP_TITLES[GROUPS.indexOf(g)]!, members: members(rows.filter((r) => r.split === g)) }));

  // in path order, so every detector evaluated on the same images pairs each generator with the same reals
  const reals = where((r) => r.labels[0] === 0).sort((i, j) => (all[i]!.path < all[j]!.path ? -1 : all[i]!.path > all[j]!.path ? 1 : 0));
  const specificSets: RowSet[] = [];
  for (let s = 0; s < 8; s++) {
    const synth = where((r) => r.labels[0] === 1 && r.labels[3] === s);
    if (synth.length === 0) continue;
    if (reals.length < synth.length) notes.push(`${SPECIFICS[s]}: only ${reals.length} real images to pair with ${synth.length} synthetic`);
    specificSets.push({ label: SPECIFICS[s]!, members: [...seededSample(reals, synth.length, opts.seed, id(`specific/${SPECIFICS[s]}/reals`)), ...synth] });
  }
  const contentSets: RowSet[] = [];
  const contentSkipped: SkippedRow[] = [];
  for (const c of CONTENTS.keys()) {
    const set = bothClasses({ label: contentTitle(c), members: where((r) => r.labels[1] === c) }, y, contentSkipped);
    if (set) contentSets.push(set);
  }
  for (const s of contentSkipped) notes.push(`content type ${s.label} left out: ${s.reason}`);
  const bySource = sources ? sourceSets(all, y, sources, notes) : { sets: [], skipped: [] };
  return { sets: [groupSets, specificSets, contentSets, bySource.sets, []], contentSkipped, sourcesSkipped: bySource.skipped };
}

/**
 * The per-generator rows of the other two tracks, as upstream's scripts make them:
 * - Corvi (Corvi/*_model.py): one row per generator id 0-11 in id order, each with every real image
 *   of the set (no subsample);
 * - Practical (PracticalTestset/*_model.py): one row per list `Test_<subset>_num<N>.txt`, its own real
 *   and synthetic images, in upstream's subset order (other subsets after, in the order given).
 */
function trackSets(
  track: Exclude<TrackName, "imaginet">,
  rows: readonly PredictionRow[],
  members: (rs: readonly PredictionRow[]) => number[],
  where: (f: (r: PredictionRow) => boolean) => number[],
): RowSet[] {
  if (track === "corvi") {
    const reals = where((r) => r.labels[0] === 0);
    return CORVI_GENERATORS.map((g, gen) => ({ label: g, synth: where((r) => r.labels[0] === 1 && r.labels[1] === gen) }))
      .filter((x) => x.synth.length > 0)
      .map((x) => ({ label: x.label, members: [...reals, ...x.synth] }));
  }
  const given = [...new Set(rows.map((r) => r.split ?? ""))];
  const rank = (s: string): number => {
    const i = (PRACTICAL_SUBSETS as readonly string[]).indexOf(s);
    return i >= 0 ? i : PRACTICAL_SUBSETS.length + given.indexOf(s);
  };
  return given.sort((a, b) => rank(a) - rank(b)).map((s) => ({ label: s, members: members(rows.filter((r) => (r.split ?? "") === s)) }));
}

/** The set when both classes are in it; else null, with the set listed in `skipped` and why. */
function bothClasses(set: RowSet, y: Uint8Array, skipped: SkippedRow[]): RowSet | null {
  if (set.members.length === 0) return null;
  let synthetic = 0;
  for (const i of set.members) synthetic += y[i]!;
  const real = set.members.length - synthetic;
  if (real > 0 && synthetic > 0) return set;
  skipped.push({ label: set.label, real, synthetic, reason: `no ${real === 0 ? "real" : "synthetic"} images, so AUC is undefined` });
  return null;
}

/**
 * One set per synthetic source and content type: the source's synthetic images of that content type
 * with every real image of the same content type (whatever its source). Pairing with the same content
 * type's reals keeps content from telling the classes apart; taking all of them (not a subsample)
 * keeps the reals the same for every source, so rows compare.
 */
function sourceSets(all: readonly PredictionRow[], y: Uint8Array, sources: SourceTable, notes: string[]): { sets: RowSet[]; skipped: SkippedRow[] } {
  const sourceOf = all.map((r) => sources.byPath.get(r.path)?.source);
  const unmatched = sourceOf.filter((s) => s === undefined).length;
  if (unmatched > 0) notes.push(`${unmatched} of ${all.length} images have no row in ${sources.file}: left out of the per-source table`);
  const realsOf = (c: number): number[] => all.flatMap((r, i) => (y[i] === 0 && r.labels[1] === c ? [i] : []));
  const names = [...new Set(sourceOf.filter((s, i): s is string => s !== undefined && y[i] === 1))].sort();
  const sets: RowSet[] = [];
  const skipped: SkippedRow[] = [];
  for (const source of names) {
    for (const c of CONTENTS.keys()) {
      const synthetic = all.flatMap((r, i) => (y[i] === 1 && sourceOf[i] === source && r.labels[1] === c ? [i] : []));
      if (synthetic.length === 0) continue;
      const content = contentTitle(c);
      const set = bothClasses({ label: `${source} / ${content}`, source, content, members: [...realsOf(c), ...synthetic] }, y, skipped);
      if (set) sets.push(set);
    }
  }
  for (const s of skipped) notes.push(`${s.label} left out of the per-source table: ${s.reason}`);
  return { sets, skipped };
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

function evaluateIdentification(run: Run, opts: Settings): Evaluation["identification"] {
  if (trackOf(run.manifest) !== "imaginet") return null;
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
    const ci = bootstrapCi({ yTrue: y, yPred: yp }, ["accuracy"], { seed: opts.seed, id: `${run.manifest.detector.name}/identification/${GROUPS[g]}`, resamples: Math.max(1, opts.resamples) })
      .intervals.accuracy;
    out.push({ label: GROUP_TITLES[g]!, n: rs.length, acc: opts.resamples > 0 ? { value: ci.estimate, lo: ci.lo, hi: ci.hi } : { value: ci.estimate, lo: NaN, hi: NaN } });
  }
  const probs = softmaxWithTemperature(
    rows.map((r) => r.logits!),
    1,
  );
  const y = Int32Array.from(rows, (r) => r.labels[2]!);
  const cal = (run.calibration ?? []).filter((r) => r.logits !== undefined && r.labels[0] === 1);
  const temperature =
    cal.length > 0
      ? fitTemperature(
          cal.map((r) => r.logits!),
          Int32Array.from(cal, (r) => r.labels[2]!),
        ).T
      : null;
  return { rows: out, meanAcc: out.reduce((a, r) => a + r.acc.value, 0) / out.length, macroAuc: macroOvrAuc(y, probs, k), temperature };
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
  const opts: Settings = { seed: options.seed ?? 42, resamples: options.resamples ?? 1000, targetFpr: options.targetFpr ?? 0.05 };
  const notes: string[] = [];
  const sources = options.sources ?? null;
  const sourcesFile = sources ? sourcesSummary(run.predictions, sources) : null;
  const { calibration, detection } = evaluateDetection(run, opts, sources, notes);
  return {
    detector: run.manifest.detector.name,
    run: run.dir,
    track: trackOf(run.manifest),
    options: opts,
    calibration,
    images: imagesFingerprint(run.predictions),
    sources: sourcesFile,
    detection,
    identification: evaluateIdentification(run, opts),
    robustness: evaluateRobustness(run, calibration),
    notes,
  };
}

/**
 * Evaluates several runs, `workers` at a time in worker threads (default: one per core); results
 * keep the order of `dirs`.
 */
export async function evaluateRuns(dirs: readonly string[], options: EvaluateOptions = {}, workers = os.availableParallelism()): Promise<Evaluation[]> {
  return mapPool(
    dirs,
    Math.max(1, workers),
    (dir) =>
      new Promise<Evaluation>((resolve, reject) => {
        const w = startWorker(new URL("./worker.js", import.meta.url), { kind: "evaluate", dir, options });
        w.once("message", (m: { ok: true; evaluation: Evaluation } | { ok: false; error: PostedError }) => {
          void w.terminate();
          if (m.ok) resolve(m.evaluation);
          else reject(rebuildError(m.error));
        });
        w.once("error", reject);
      }),
  );
}

/** Saves an evaluation as RUN/metrics.json. */
export async function writeMetrics(dir: string, e: Evaluation): Promise<void> {
  await writeFileAtomic(path.join(dir, METRICS_FILE), `${JSON.stringify(e, null, 2)}\n`);
}

/** A run's saved metrics.json when `eval run` wrote one, else the run evaluated now. */
export async function savedOrEvaluated(dir: string, options: EvaluateOptions = {}): Promise<Evaluation> {
  const file = path.join(dir, METRICS_FILE);
  const saved = await fsp.readFile(file, "utf8").catch(() => null);
  if (saved === null) return evaluateRun(await readRun(dir), options);
  let e: Evaluation;
  try {
    e = JSON.parse(saved) as Evaluation;
  } catch {
    throw new InputError(`${file}: not valid JSON (run \`imaginet eval run ${dir}\` again, or delete it)`);
  }
  if (typeof e?.detector !== "string" || e.detector === "") throw new InputError(`${file}: expected "detector": a non-empty string`);
  return e;
}

/** How many of the run's images the sources file names; none at all means the wrong file. */
function sourcesSummary(rows: readonly PredictionRow[], sources: SourceTable): NonNullable<Evaluation["sources"]> {
  const paths = new Set(rows.map((r) => r.path));
  let matched = 0;
  for (const p of paths) if (sources.byPath.has(p)) matched++;
  if (matched === 0) throw new InputError(`${sources.file}: names none of the run's ${paths.size} images (its paths must be the annotation paths, as \`dataset import\` writes them)`);
  return { file: sources.file, sha256: sources.sha256, matched, unmatched: paths.size - matched };
}

function imagesFingerprint(rows: readonly PredictionRow[]): Evaluation["images"] {
  const paths = [...new Set(rows.map((r) => r.path))].sort();
  return { count: paths.length, sha256: createHash("sha256").update(paths.join("\n")).digest("hex") };
}
