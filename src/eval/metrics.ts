/**
 * Evaluation metrics of the benchmark, exact against scikit-learn (test/fixtures/metrics/, made by
 * scripts/fixtures/make_metric_fixtures.py), plus seeded bootstrap confidence intervals.
 *
 * Conventions:
 * - Binary labels are 0 (real) and 1 (synthetic); scores are finite reals, higher = more synthetic.
 * - Class labels (accuracy, balanced accuracy, confusion matrix, one-vs-rest AUC) are non-negative
 *   integers.
 * - Optional `weights` are per-sample weights (finite, ≥ 0), as sklearn's `sample_weight`; integer
 *   weights are multiplicities, which is how the bootstrap evaluates a resample without
 *   materialising it. Every metric has one implementation: the unweighted call is the weighted one
 *   with all weights 1.
 * - Errors (thrown `Error`): empty input, mismatched lengths, a label that is not 0/1 (binary) or not
 *   a non-negative integer (classes), a NaN or infinite score or weight (the message names the index),
 *   a probability outside [0, 1], negative weights, weights summing to 0.
 * - Undefined results are NaN, never an exception: ranking metrics (ROC AUC, average precision, EER,
 *   TPR@FPR) need both classes in `yTrue`.
 *
 * Score-ranking metrics go through three steps: {@link rankScores} sorts once and groups tied
 * scores; {@link tally} sums the (weighted) positives and negatives of every tie group in one O(n)
 * pass in score order; the `…FromTally` functions read a metric off the per-group sums in one pass
 * over the groups, in descending score order. The bootstrap sorts once per input and repeats only the
 * last two steps per resample.
 */
import { Rng } from "../util/rng.js";

export type Numbers = ArrayLike<number>;

// ---------------------------------------------------------------------------------------------
// input checks

function checkNonEmpty(n: number, what: string): void {
  if (n === 0) throw new Error(`${what}: empty input`);
}

function checkSameLength(what: string, a: Numbers, b: Numbers, aName: string, bName: string): void {
  if (a.length !== b.length) throw new Error(`${what}: ${aName} has ${a.length} values but ${bName} has ${b.length}`);
}

/** yTrue as 0/1 bytes; throws on anything else. */
function binaryLabels(y: Numbers, what: string): Uint8Array {
  checkNonEmpty(y.length, what);
  const out = new Uint8Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (v !== 0 && v !== 1) throw new Error(`${what}: label at index ${i} is ${v}, expected 0 or 1`);
    out[i] = v;
  }
  return out;
}

/** Class labels as int32; throws unless every value is a non-negative integer. */
function classLabels(y: Numbers, what: string, name: string): Int32Array {
  const out = new Int32Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new Error(`${what}: ${name} at index ${i} is ${v}, expected a non-negative integer class`);
    out[i] = v;
  }
  return out;
}

function checkFinite(x: Numbers, what: string, name: string): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) throw new Error(`${what}: ${name} at index ${i} is ${x[i]}, expected a finite number`);
  }
}

function checkProbabilities(p: Numbers, what: string): void {
  checkFinite(p, what, "probability");
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    if (v < 0 || v > 1) throw new Error(`${what}: probability at index ${i} is ${v}, outside [0, 1]`);
  }
}

/** Weights as given (null = all ones) after checking them. */
function checkWeights(w: Numbers | undefined, n: number, what: string): Numbers | null {
  if (w === undefined) return null;
  if (w.length !== n) throw new Error(`${what}: weights has ${w.length} values but there are ${n} samples`);
  checkFinite(w, what, "weight");
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (w[i]! < 0) throw new Error(`${what}: weight at index ${i} is ${w[i]}, expected ≥ 0`);
    sum += w[i]!;
  }
  if (!(sum > 0)) throw new Error(`${what}: weights sum to 0`);
  return w;
}

/**
 * The one accumulation behind every metric except the probability ones: out[slots[j]] += w[j] for
 * every j (w null = all 1), after zeroing out. Ranking metrics sum weights into tie groups by label,
 * class metrics into confusion-matrix cells. Indexing by a precomputed slot avoids a branch on the
 * label, which random labels would mispredict half the time.
 */
function accumulate(slots: Uint32Array, w: Float64Array | null, out: Float64Array): Float64Array {
  out.fill(0);
  if (w === null) for (let j = 0; j < slots.length; j++) out[slots[j]!]! += 1;
  else for (let j = 0; j < slots.length; j++) out[slots[j]!]! += w[j]!;
  return out;
}

// ---------------------------------------------------------------------------------------------
// ranking: sort once, group ties

/** Samples in descending score order (their positions), with tied scores grouped. */
export interface Ranking {
  readonly n: number;
  /** the sample at each position: indices by descending score, ties in ascending index order */
  readonly order: Uint32Array;
  /** the score of each tie group, descending (its lowest-index sample's: -0 or 0) */
  readonly groupScore: Float64Array;
  /** where each position's weight goes in a tally's buffer: its group g if positive, else groups + g */
  readonly slot: Uint32Array;
}

/** Validates binary labels and scores, sorts once and groups equal scores (-0 and 0 are equal). */
export function rankScores(yTrue: Numbers, scores: Numbers, what = "rankScores"): Ranking {
  const labels = binaryLabels(yTrue, what);
  checkSameLength(what, yTrue, scores, "yTrue", "scores");
  checkFinite(scores, what, "score");
  const n = labels.length;
  const s = new Float64Array(scores);
  const groupScore = distinctDescending(s);
  const groups = groupScore.length;
  const groupOf = new Uint32Array(n);
  for (let i = 0; i < n; i++) groupOf[i] = groupIndex(groupScore, s[i]!);
  const order = orderByGroup(groupOf, groups);
  const slot = new Uint32Array(n);
  for (let j = 0; j < n; j++) {
    const i = order[j]!,
      g = groupOf[i]!;
    slot[j] = labels[i] === 1 ? g : groups + g;
    // a group's score is its first sample's, as sklearn's threshold (this tells -0 from 0)
    if (j === 0 || g !== groupOf[order[j - 1]!]) groupScore[g] = s[i]!;
  }
  return { n, order, groupScore, slot };
}

/** The distinct values of s, descending (a native numeric sort: much faster than sorting indices with a comparator). */
function distinctDescending(s: Float64Array): Float64Array {
  const sorted = s.slice().sort();
  const out: number[] = [];
  for (let i = sorted.length - 1; i >= 0; i--) {
    if (out.length === 0 || sorted[i] !== out[out.length - 1]) out.push(sorted[i]!);
  }
  return Float64Array.from(out);
}

/** Index of v in the descending array `desc`, which holds it. */
function groupIndex(desc: Float64Array, v: number): number {
  let lo = 0,
    hi = desc.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (desc[mid]! > v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sample indices ordered by group, ascending index within a group (a counting sort). */
function orderByGroup(groupOf: Uint32Array, groups: number): Uint32Array {
  const next = new Uint32Array(groups + 1);
  for (let i = 0; i < groupOf.length; i++) next[groupOf[i]! + 1]!++;
  for (let g = 1; g <= groups; g++) next[g]! += next[g - 1]!;
  const order = new Uint32Array(groupOf.length);
  for (let i = 0; i < groupOf.length; i++) order[next[groupOf[i]!]!++] = i;
  return order;
}

/** Weighted positives and negatives per tie group of a {@link Ranking}. */
export interface Tally {
  /** positives then negatives per group: what {@link Ranking.slot} indexes */
  readonly buffer: Float64Array;
  /** views of the buffer */
  readonly pos: Float64Array;
  readonly neg: Float64Array;
  totalPos: number;
  totalNeg: number;
}

export function emptyTally(groups: number): Tally {
  const buffer = new Float64Array(2 * groups);
  return { buffer, pos: buffer.subarray(0, groups), neg: buffer.subarray(groups), totalPos: 0, totalNeg: 0 };
}

/**
 * Sums each tie group's positive and negative weight. `weights` are per sample, in the input's order
 * (omitted = all 1). Reuses `out` when given.
 */
export function tally(r: Ranking, weights?: Numbers, out?: Tally): Tally {
  return checkedTally(r, weights, out ?? emptyTally(r.groupScore.length), "tally");
}

function checkedTally(r: Ranking, weights: Numbers | undefined, out: Tally, what: string): Tally {
  const w = checkWeights(weights, r.n, what);
  return accumulateTally(r, w === null ? null : permute(w, r.order), out);
}

/** a[order[j]] at j. */
function permute(a: Numbers, order: Uint32Array): Float64Array {
  const out = new Float64Array(order.length);
  for (let j = 0; j < order.length; j++) out[j] = a[order[j]!]!;
  return out;
}

/** Per-group sums of the weights of the positions (null = all 1); a bootstrap resample passes how often each was drawn. */
function accumulateTally(r: Ranking, w: Float64Array | null, out: Tally): Tally {
  accumulate(r.slot, w, out.buffer);
  out.totalPos = sum(out.pos);
  out.totalNeg = sum(out.neg);
  return out;
}

function sum(a: Float64Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i]!;
  return total;
}

const bothClasses = (t: Tally): boolean => t.totalPos > 0 && t.totalNeg > 0;

// ---------------------------------------------------------------------------------------------
// metrics from a tally

export interface RocCurve {
  fpr: Float64Array;
  tpr: Float64Array;
  /** descending; the first is +Infinity (the (0, 0) point) */
  thresholds: Float64Array;
}

/**
 * The ROC curve with one point per distinct score (sklearn `roc_curve(drop_intermediate=False)`):
 * point i > 0 classifies score ≥ thresholds[i] as positive; point 0 is (0, 0) with threshold
 * +Infinity, as sklearn ≥ 1.3 (sklearn 1.2 used max score + 1). Tie groups whose weight is 0 are left
 * out, as sklearn drops zero-weight samples. With no negatives fpr is all NaN, with no positives tpr
 * is all NaN (sklearn warns and does the same).
 */
export function rocFromTally(r: Ranking, t: Tally): RocCurve {
  // 0 / 0 at the first point too when a class is missing, as sklearn
  const fpr: number[] = [0 / t.totalNeg],
    tpr: number[] = [0 / t.totalPos],
    thresholds: number[] = [Infinity];
  let tps = 0,
    fps = 0;
  for (let g = 0; g < t.pos.length; g++) {
    const p = t.pos[g]!,
      q = t.neg[g]!;
    if (p === 0 && q === 0) continue;
    tps += p;
    fps += q;
    fpr.push(fps / t.totalNeg);
    tpr.push(tps / t.totalPos);
    thresholds.push(r.groupScore[g]!);
  }
  return { fpr: Float64Array.from(fpr), tpr: Float64Array.from(tpr), thresholds: Float64Array.from(thresholds) };
}

/**
 * Area under the ROC curve by the trapezoid rule, which with ties equals the Mann–Whitney statistic
 * with half credit for tied positive/negative pairs. NaN unless both classes are present.
 */
export function aucFromTally(t: Tally): number {
  if (!bothClasses(t)) return NaN;
  // twice the area, so integer weights keep the sum an exact integer
  let area2 = 0,
    tps = 0;
  for (let g = 0; g < t.pos.length; g++) {
    const p = t.pos[g]!;
    area2 += t.neg[g]! * (2 * tps + p);
    tps += p;
  }
  return area2 / (2 * t.totalPos * t.totalNeg);
}

/**
 * Average precision, sklearn's step-wise definition (no interpolation): Σ over tie groups of
 * (recall increase) × (precision at that group's threshold). NaN unless both classes are present
 * (sklearn returns 0 with a warning when there are no positives, and 1 when there are no negatives).
 */
export function apFromTally(t: Tally): number {
  if (!bothClasses(t)) return NaN;
  let total = 0,
    tps = 0,
    fps = 0;
  for (let g = 0; g < t.pos.length; g++) {
    const p = t.pos[g]!;
    tps += p;
    fps += t.neg[g]!;
    // p = 0 adds nothing; `|| 1` only avoids 0/0 before the first weighted group
    total += (p * tps) / (tps + fps || 1);
  }
  return total / t.totalPos;
}

/**
 * Equal error rate: the point of the ROC polyline (points as {@link rocFromTally}, starting at (0, 0))
 * where FPR = FNR (= 1 − TPR). FPR − FNR rises from −1 to +1 along the curve; if a point has it exactly
 * 0 that point's FPR is the EER, otherwise the EER is where the segment between the last point below 0
 * and the first point above 0 crosses FPR = FNR, both rates linearly interpolated along the segment.
 * NaN unless both classes are present.
 */
export function eerFromTally(t: Tally): number {
  if (!bothClasses(t)) return NaN;
  const P = t.totalPos,
    N = t.totalNeg;
  let tps = 0,
    fps = 0,
    prevFpr = 0,
    prevFnr = 1;
  for (let g = 0; g < t.pos.length; g++) {
    tps += t.pos[g]!;
    fps += t.neg[g]!;
    // the sign of FPR − FNR, scaled by P·N so that integer weights decide it exactly
    const side = fps * P + tps * N - P * N;
    if (side < 0) {
      prevFpr = fps / N;
      prevFnr = 1 - tps / P;
      continue;
    }
    const fpr = fps / N,
      fnr = 1 - tps / P;
    if (side === 0) return fpr;
    const d0 = prevFpr - prevFnr,
      d1 = fpr - fnr;
    return prevFpr + ((0 - d0) / (d1 - d0)) * (fpr - prevFpr);
  }
  return NaN; // unreachable: the last point has FPR − FNR = 1
}

/** The highest TPR among ROC points with FPR ≤ maxFpr (≥ 0: the (0, 0) point always counts). NaN unless both classes are present. */
export function tprAtFprFromTally(t: Tally, maxFpr: number): number {
  if (!(maxFpr >= 0 && maxFpr <= 1)) throw new Error(`tprAtFpr: maxFpr ${maxFpr} is outside [0, 1]`);
  if (!bothClasses(t)) return NaN;
  let tps = 0,
    fps = 0,
    best = 0;
  for (let g = 0; g < t.pos.length; g++) {
    tps += t.pos[g]!;
    fps += t.neg[g]!;
    if (fps / t.totalNeg > maxFpr) break;
    best = tps / t.totalPos;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// binary score metrics

function rankedTally(yTrue: Numbers, scores: Numbers, weights: Numbers | undefined, what: string): { r: Ranking; t: Tally } {
  const r = rankScores(yTrue, scores, what);
  return { r, t: checkedTally(r, weights, emptyTally(r.groupScore.length), what) };
}

/** {@link rocFromTally} of the given labels and scores. */
export function rocCurve(yTrue: Numbers, scores: Numbers, weights?: Numbers): RocCurve {
  const { r, t } = rankedTally(yTrue, scores, weights, "rocCurve");
  return rocFromTally(r, t);
}

/** ROC AUC (sklearn `roc_auc_score`, binary), exact with ties; NaN with one class (sklearn raises). */
export function rocAuc(yTrue: Numbers, scores: Numbers, weights?: Numbers): number {
  return aucFromTally(rankedTally(yTrue, scores, weights, "rocAuc").t);
}

/** Average precision (sklearn `average_precision_score`), see {@link apFromTally}; NaN with one class. */
export function averagePrecision(yTrue: Numbers, scores: Numbers, weights?: Numbers): number {
  return apFromTally(rankedTally(yTrue, scores, weights, "averagePrecision").t);
}

/** Equal error rate, see {@link eerFromTally}; NaN with one class. */
export function eer(yTrue: Numbers, scores: Numbers, weights?: Numbers): number {
  return eerFromTally(rankedTally(yTrue, scores, weights, "eer").t);
}

/** TPR at FPR ≤ maxFpr (e.g. 0.01, 0.001), see {@link tprAtFprFromTally}; NaN with one class. */
export function tprAtFpr(yTrue: Numbers, scores: Numbers, maxFpr: number, weights?: Numbers): number {
  return tprAtFprFromTally(rankedTally(yTrue, scores, weights, "tprAtFpr").t, maxFpr);
}

/**
 * Macro-averaged one-vs-rest ROC AUC over `nClasses` classes (sklearn `roc_auc_score(multi_class="ovr",
 * average="macro")`): the mean over classes c of the binary AUC of (yTrue == c) against column c.
 * `probs` is one row per sample, or a row-major Float64Array with `nClasses` columns. NaN when a class
 * is absent from yTrue (sklearn raises). Unlike sklearn, rows need not sum to 1.
 */
export function macroOvrAuc(yTrue: Numbers, probs: Float64Array | readonly Numbers[], nClasses?: number): number {
  const what = "macroOvrAuc";
  const n = yTrue.length;
  checkNonEmpty(n, what);
  const k = probs instanceof Float64Array ? nClasses : (nClasses ?? probs[0]?.length);
  if (k === undefined || !Number.isInteger(k) || k < 2) throw new Error(`${what}: need nClasses ≥ 2, got ${k}`);
  const column = probabilityColumns(probs, n, k, what);
  const labels = classLabels(yTrue, what, "yTrue");
  labels.forEach((c, i) => {
    if (c >= k) throw new Error(`${what}: yTrue at index ${i} is ${c}, but there are ${k} classes`);
  });
  let sum = 0;
  for (let c = 0; c < k; c++)
    sum += rocAuc(
      labels.map((l) => (l === c ? 1 : 0)),
      column(c),
    );
  return sum / k;
}

function probabilityColumns(probs: Float64Array | readonly Numbers[], n: number, k: number, what: string): (c: number) => Float64Array {
  if (probs instanceof Float64Array) {
    if (probs.length !== n * k) throw new Error(`${what}: probs has ${probs.length} values, expected ${n} × ${k}`);
    return (c) => {
      const col = new Float64Array(n);
      for (let i = 0; i < n; i++) col[i] = probs[i * k + c]!;
      return col;
    };
  }
  if (probs.length !== n) throw new Error(`${what}: probs has ${probs.length} rows but yTrue has ${n} values`);
  probs.forEach((row, i) => {
    if (row.length !== k) throw new Error(`${what}: probs row ${i} has ${row.length} values, expected ${k}`);
  });
  return (c) => Float64Array.from(probs, (row) => row[c]!);
}

// ---------------------------------------------------------------------------------------------
// class-label metrics

/** A k×k confusion matrix is allocated per call: this keeps it small. */
const MAX_CLASSES = 1024;

/** Validated class labels of a prediction task, as cells of a row-major k×k confusion matrix. */
export interface LabelPairs {
  /** trueClass·k + predictedClass per sample */
  readonly cell: Uint32Array;
  /** k: nClasses when given, else 1 + the largest label in either array */
  readonly nClasses: number;
}

export function labelPairs(yTrue: Numbers, yPred: Numbers, nClasses?: number, what = "labelPairs"): LabelPairs {
  checkNonEmpty(yTrue.length, what);
  checkSameLength(what, yTrue, yPred, "yTrue", "yPred");
  const t = classLabels(yTrue, what, "yTrue"),
    p = classLabels(yPred, what, "yPred");
  let max = 0;
  for (let i = 0; i < t.length; i++) max = Math.max(max, t[i]!, p[i]!);
  const k = nClasses ?? max + 1;
  if (k > MAX_CLASSES) throw new Error(`${what}: ${k} classes; at most ${MAX_CLASSES} are supported`);
  if (max >= k) {
    const i = t.findIndex((a, j) => a >= k || p[j]! >= k);
    throw new Error(`${what}: label at index ${i} (true ${t[i]}, predicted ${p[i]}) is not below nClasses ${k}`);
  }
  const cell = new Uint32Array(t.length);
  for (let i = 0; i < t.length; i++) cell[i] = t[i]! * k + p[i]!;
  return { cell, nClasses: k };
}

/** Row-major k×k confusion counts (row = true class, column = predicted) of {@link labelPairs}, optionally weighted. */
export function confusionFromPairs(pairs: LabelPairs, weights?: Numbers): Float64Array {
  const w = checkWeights(weights, pairs.cell.length, "confusionFromPairs");
  return confusionOf(pairs, w === null ? null : new Float64Array(w));
}

/** {@link confusionFromPairs} with weights already checked (null = all 1), into `out`. */
function confusionOf(pairs: LabelPairs, w: Float64Array | null, out = new Float64Array(pairs.nClasses ** 2)): Float64Array {
  return accumulate(pairs.cell, w, out);
}

/** Mean recall over the classes with weight in yTrue (rows of the confusion matrix with a positive sum). */
export function balancedAccuracyFromConfusion(c: Float64Array, k: number): number {
  let sum = 0,
    present = 0;
  for (let t = 0; t < k; t++) {
    let row = 0;
    for (let p = 0; p < k; p++) row += c[t * k + p]!;
    if (row > 0) {
      sum += c[t * k + t]! / row;
      present++;
    }
  }
  return sum / present;
}

export function accuracyFromConfusion(c: Float64Array, k: number): number {
  let correct = 0,
    total = 0;
  for (let i = 0; i < k * k; i++) total += c[i]!;
  for (let t = 0; t < k; t++) correct += c[t * k + t]!;
  return correct / total;
}

function pairsAndWeights(yTrue: Numbers, yPred: Numbers, weights: Numbers | undefined, what: string, nClasses?: number): { pairs: LabelPairs; w: Float64Array | null } {
  const pairs = labelPairs(yTrue, yPred, nClasses, what);
  const w = checkWeights(weights, pairs.cell.length, what);
  return { pairs, w: w === null ? null : new Float64Array(w) };
}

/** Fraction of samples with yPred = yTrue (sklearn `accuracy_score`). */
export function accuracy(yTrue: Numbers, yPred: Numbers, weights?: Numbers): number {
  const { pairs, w } = pairsAndWeights(yTrue, yPred, weights, "accuracy");
  return accuracyFromConfusion(confusionOf(pairs, w), pairs.nClasses);
}

/**
 * Mean per-class recall over the classes present in yTrue (sklearn `balanced_accuracy_score`, binary
 * or multi-class; a class only in yPred is ignored, where sklearn also warns). With one class in yTrue
 * it is that class's recall.
 */
export function balancedAccuracy(yTrue: Numbers, yPred: Numbers, weights?: Numbers): number {
  const { pairs, w } = pairsAndWeights(yTrue, yPred, weights, "balancedAccuracy");
  return balancedAccuracyFromConfusion(confusionOf(pairs, w), pairs.nClasses);
}

/**
 * The nClasses × nClasses confusion matrix, rows = true class, columns = predicted (sklearn
 * `confusion_matrix(labels=range(nClasses))`). sklearn silently drops samples with a label outside
 * range(nClasses); here that is an error.
 */
export function confusionMatrix(yTrue: Numbers, yPred: Numbers, nClasses: number, weights?: Numbers): number[][] {
  if (!Number.isInteger(nClasses) || nClasses < 1) throw new Error(`confusionMatrix: nClasses ${nClasses} is not a positive integer`);
  const { pairs, w } = pairsAndWeights(yTrue, yPred, weights, "confusionMatrix", nClasses);
  const flat = confusionOf(pairs, w);
  return Array.from({ length: nClasses }, (_, t) => Array.from(flat.subarray(t * nClasses, (t + 1) * nClasses)));
}

// ---------------------------------------------------------------------------------------------
// probability metrics

/** Mean squared difference between label and predicted probability of class 1 (sklearn `brier_score_loss`). */
export function brierScore(yTrue: Numbers, prob: Numbers, weights?: Numbers): number {
  const what = "brierScore";
  const y = binaryLabels(yTrue, what);
  checkSameLength(what, yTrue, prob, "yTrue", "prob");
  checkProbabilities(prob, what);
  const w = checkWeights(weights, y.length, what);
  let sum = 0,
    total = 0;
  for (let i = 0; i < y.length; i++) {
    const wi = w === null ? 1 : w[i]!;
    const d = y[i]! - prob[i]!;
    sum += wi * d * d;
    total += wi;
  }
  return sum / total;
}

export interface ReliabilityBin {
  /** bin edges: the bin holds lo < p ≤ hi (the first bin also holds p = 0) */
  lo: number;
  hi: number;
  count: number;
  /** mean predicted probability (NaN when empty) */
  meanProb: number;
  /** fraction of positives (NaN when empty) */
  fracPositive: number;
}

export interface Reliability {
  bins: ReliabilityBin[];
  /** expected calibration error: Σ over bins (count/n)·|fracPositive − meanProb| */
  ece: number;
}

/**
 * Reliability diagram of predicted probabilities of class 1 in `nBins` equal-width bins over [0, 1],
 * binned as sklearn `calibration_curve(strategy="uniform")`: edges k/nBins (as numpy's linspace), a
 * probability goes to the first bin whose upper edge is ≥ it, so bins are right-closed and the first
 * also holds 0. sklearn returns only the non-empty bins' (fracPositive, meanProb); all bins are
 * returned here. `ece` (no sklearn counterpart) weighs each bin's |fracPositive − meanProb| by its
 * share of the samples.
 */
export function reliability(yTrue: Numbers, prob: Numbers, nBins = 15): Reliability {
  const what = "reliability";
  if (!Number.isInteger(nBins) || nBins < 1) throw new Error(`${what}: nBins ${nBins} is not a positive integer`);
  const y = binaryLabels(yTrue, what);
  checkSameLength(what, yTrue, prob, "yTrue", "prob");
  checkProbabilities(prob, what);
  const edges = Float64Array.from({ length: nBins + 1 }, (_, k) => (k === nBins ? 1 : k * (1 / nBins)));
  const count = new Float64Array(nBins),
    sumProb = new Float64Array(nBins),
    sumPos = new Float64Array(nBins);
  for (let i = 0; i < y.length; i++) {
    const b = binOf(prob[i]!, edges);
    count[b]!++;
    sumProb[b]! += prob[i]!;
    sumPos[b]! += y[i]!;
  }
  const bins: ReliabilityBin[] = [];
  let ece = 0;
  for (let b = 0; b < nBins; b++) {
    const c = count[b]!;
    const meanProb = c > 0 ? sumProb[b]! / c : NaN,
      fracPositive = c > 0 ? sumPos[b]! / c : NaN;
    bins.push({ lo: edges[b]!, hi: edges[b + 1]!, count: c, meanProb, fracPositive });
    if (c > 0) ece += (c / y.length) * Math.abs(fracPositive - meanProb);
  }
  return { bins, ece };
}

/** numpy `searchsorted(edges[1:-1], p, side="left")`: the number of inner edges strictly below p. */
function binOf(p: number, edges: Float64Array): number {
  const nBins = edges.length - 1;
  let b = Math.min(nBins - 1, Math.floor(p * nBins));
  while (b > 0 && p <= edges[b]!) b--;
  while (b < nBins - 1 && p > edges[b + 1]!) b++;
  return b;
}

// ---------------------------------------------------------------------------------------------
// bootstrap

export type BootstrapMetric = "rocAuc" | "averagePrecision" | "eer" | `tprAtFpr@${number}` | "accuracy" | "balancedAccuracy";

const SCORE_METRICS = new Set(["rocAuc", "averagePrecision", "eer"]);

function needsScores(m: BootstrapMetric): boolean {
  return SCORE_METRICS.has(m) || m.startsWith("tprAtFpr@");
}

export interface BootstrapInput {
  /** labels: 0/1 for score metrics, classes for accuracy and balanced accuracy */
  yTrue: Numbers;
  /** needed by rocAuc, averagePrecision, eer, tprAtFpr@x */
  scores?: Numbers;
  /** needed by accuracy and balancedAccuracy */
  yPred?: Numbers;
}

export interface BootstrapOptions {
  seed: number;
  /**
   * names the random stream with the seed, so results do not depend on call order; e.g. the detector's
   * name. Detectors scored on the same images under the same id get the same resamples (paired).
   */
  id: string;
  /** default 1000 */
  resamples?: number;
  /** default true: resample within each yTrue class, keeping class sizes */
  stratified?: boolean;
  /** default 0.95 */
  level?: number;
}

export interface Interval {
  /** the metric on the original sample */
  estimate: number;
  lo: number;
  hi: number;
  /** resamples where the metric was undefined (NaN), left out of the percentiles */
  undefinedResamples: number;
}

export interface BootstrapResult<M extends BootstrapMetric> {
  seed: number;
  id: string;
  resamples: number;
  stratified: boolean;
  level: number;
  intervals: Record<M, Interval>;
  /** each metric's value on every resample, in resample order */
  samples: Record<M, Float64Array>;
}

/**
 * Draws bootstrap resamples as multiplicities: how often each sample was drawn. Stratified: each
 * class of yTrue (ascending) draws as many samples as it has, with replacement, from its own members;
 * otherwise all n draws come from all samples. The stream is `Rng(seed, id)`, so resample r depends
 * only on (seed, id, yTrue, stratified, r). `next()` reuses one buffer.
 */
export function createResampler(yTrue: Numbers, seed: number, id: string, stratified = true): { next(): Float64Array } {
  return resamplerAt(yTrue, seed, id, stratified, null);
}

/**
 * {@link createResampler} with the counts stored at `positionOf[sample]` (null = at the sample's
 * index). Members are always taken in ascending sample index, so the drawn samples do not depend on
 * the positions.
 */
function resamplerAt(yTrue: Numbers, seed: number, id: string, stratified: boolean, positionOf: Uint32Array | null): { next(): Float64Array } {
  const samples = stratified ? classMembers(classLabels(yTrue, "bootstrap", "yTrue")) : [allIndices(yTrue.length)];
  const strata = positionOf === null ? samples : samples.map((m) => m.map((i) => positionOf[i]!));
  const rng = new Rng(seed, id);
  const counts = new Float64Array(yTrue.length);
  return {
    next(): Float64Array {
      counts.fill(0);
      for (const members of strata) drawMembers(rng, members, counts);
      return counts;
    },
  };
}

/**
 * Adds members.length draws, uniform with replacement from `members`, to `counts`. Each 32-bit Rng
 * output is split into as many 8-, 10- or 16-bit chunks as the class size allows, and a chunk is
 * mapped to a member by multiply-and-shift, rejecting the few values that would bias it (Lemire's
 * method), so every draw is exactly uniform. Drawing dominates the bootstrap's time, and this needs
 * about half the Rng calls of one output per draw.
 */
function drawMembers(rng: Rng, members: Uint32Array, counts: Float64Array): void {
  const k = members.length;
  if (k > 65536) {
    drawMembersWide(rng, members, counts);
    return;
  }
  const bits = k <= 256 ? 8 : k <= 1024 ? 10 : 16;
  const chunks = Math.floor(32 / bits),
    mask = (1 << bits) - 1;
  const reject = (1 << bits) % k;
  let drawn = 0;
  while (drawn < k) {
    let u = rng.nextU32();
    for (let c = 0; c < chunks && drawn < k; c++) {
      const m = (u & mask) * k; // < 2^32
      u >>>= bits;
      if ((m & mask) >= reject) {
        counts[members[m >>> bits]!]!++;
        drawn++;
      }
    }
  }
}

/** {@link drawMembers} for classes over 65,536 samples: one 32-bit output per draw, rejection then modulo. */
function drawMembersWide(rng: Rng, members: Uint32Array, counts: Float64Array): void {
  const k = members.length;
  const limit = 4294967296 - (4294967296 % k);
  for (let drawn = 0; drawn < k; ) {
    const u = rng.nextU32();
    if (u < limit) {
      counts[members[u % k]!]!++;
      drawn++;
    }
  }
}

function allIndices(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

function classMembers(labels: Int32Array): Uint32Array[] {
  const byClass = new Map<number, number[]>();
  labels.forEach((c, i) => {
    const list = byClass.get(c);
    if (list) list.push(i);
    else byClass.set(c, [i]);
  });
  return [...byClass.keys()].sort((a, b) => a - b).map((c) => Uint32Array.from(byClass.get(c)!));
}

/** Metrics of weighted samples, the inputs prepared once with samples at fixed positions. */
interface MetricEvaluator {
  /** where each sample's weight goes (null = at its index) */
  positionOf: Uint32Array | null;
  /** the metrics with weights per position (null = the original sample) */
  evaluate(w: Float64Array | null): Float64Array;
}

function metricEvaluator(input: BootstrapInput, metrics: readonly BootstrapMetric[]): MetricEvaluator {
  const useScores = metrics.some(needsScores);
  const useLabels = metrics.some((m) => !needsScores(m));
  if (useScores && input.scores === undefined) throw new Error("bootstrapCi: the metrics need scores");
  if (useLabels && input.yPred === undefined) throw new Error("bootstrapCi: the metrics need yPred");
  const r = useScores ? rankScores(input.yTrue, input.scores!, "bootstrapCi") : null;
  const t = r ? emptyTally(r.groupScore.length) : null;
  const given = useLabels ? labelPairs(input.yTrue, input.yPred!, undefined, "bootstrapCi") : null;
  // with scores, weights are per position in score order, so the cells go in that order too
  const pairs = given && r ? { ...given, cell: Uint32Array.from(permute(given.cell, r.order)) } : given;
  const confusion = new Float64Array(pairs ? pairs.nClasses ** 2 : 0);
  const values = new Float64Array(metrics.length);
  return {
    positionOf: r ? inverse(r.order) : null,
    evaluate(w) {
      if (r && t) accumulateTally(r, w, t);
      if (pairs) confusionOf(pairs, w, confusion);
      for (let i = 0; i < metrics.length; i++) values[i] = metricValue(metrics[i]!, t, confusion, pairs?.nClasses ?? 0);
      return values;
    },
  };
}

function inverse(order: Uint32Array): Uint32Array {
  const out = new Uint32Array(order.length);
  order.forEach((sample, position) => {
    out[sample] = position;
  });
  return out;
}

function metricValue(m: BootstrapMetric, t: Tally | null, confusion: Float64Array, k: number): number {
  if (m === "accuracy") return accuracyFromConfusion(confusion, k);
  if (m === "balancedAccuracy") return balancedAccuracyFromConfusion(confusion, k);
  if (t === null) throw new Error(`bootstrapCi: ${m} needs scores`);
  if (m === "rocAuc") return aucFromTally(t);
  if (m === "averagePrecision") return apFromTally(t);
  if (m === "eer") return eerFromTally(t);
  const maxFpr = Number(m.slice("tprAtFpr@".length));
  return tprAtFprFromTally(t, maxFpr);
}

/**
 * Percentile bootstrap intervals (numpy's default linear-interpolated percentiles of the resampled
 * values at (1 − level)/2 and (1 + level)/2) for several metrics at once, all evaluated on the same
 * resamples ({@link createResampler}). The scores are sorted once; each resample is evaluated from
 * its multiplicities in one O(n) pass over the score order, without sorting, by the same code as the
 * point metrics (which are the all-weights-1 case). A metric undefined on the original sample
 * gets NaN bounds.
 */
export function bootstrapCi<M extends BootstrapMetric>(input: BootstrapInput, metrics: readonly M[], options: BootstrapOptions): BootstrapResult<M> {
  const resamples = options.resamples ?? 1000,
    stratified = options.stratified ?? true,
    level = options.level ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 1) throw new Error(`bootstrapCi: resamples ${resamples} is not a positive integer`);
  if (!(level > 0 && level < 1)) throw new Error(`bootstrapCi: level ${level} is outside (0, 1)`);
  if (metrics.length === 0) throw new Error("bootstrapCi: no metrics");
  const evaluator = metricEvaluator(input, metrics);
  const estimates = Float64Array.from(evaluator.evaluate(null));
  const samples = metrics.map(() => new Float64Array(resamples));
  const resampler = resamplerAt(input.yTrue, options.seed, options.id, stratified, evaluator.positionOf);
  for (let b = 0; b < resamples; b++) {
    const values = evaluator.evaluate(resampler.next());
    for (let i = 0; i < metrics.length; i++) samples[i]![b] = values[i]!;
  }
  const intervals = {} as Record<M, Interval>,
    byMetric = {} as Record<M, Float64Array>;
  metrics.forEach((m, i) => {
    intervals[m] = percentileInterval(estimates[i]!, samples[i]!, level);
    byMetric[m] = samples[i]!;
  });
  return { seed: options.seed, id: options.id, resamples, stratified, level, intervals, samples: byMetric };
}

function percentileInterval(estimate: number, values: Float64Array, level: number): Interval {
  const defined = values.filter((v) => !Number.isNaN(v)).sort();
  const undefinedResamples = values.length - defined.length;
  if (Number.isNaN(estimate) || defined.length === 0) return { estimate, lo: NaN, hi: NaN, undefinedResamples };
  return { estimate, lo: percentile(defined, (1 - level) / 2), hi: percentile(defined, (1 + level) / 2), undefinedResamples };
}

/** numpy `percentile(..., method="linear")` of ascending `sorted` at quantile q. */
export function percentile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h),
    hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}
