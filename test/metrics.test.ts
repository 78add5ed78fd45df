/**
 * src/eval/metrics.ts against scikit-learn: test/fixtures/metrics/metrics.json was made by
 * scripts/fixtures/make_metric_fixtures.py (sklearn version inside; EER, TPR@FPR and ECE there are
 * numpy implementations of the same definitions). Values must agree within 1e-9, absolute for
 * |expected| ≤ 1 and relative above. Plus degenerate inputs and the bootstrap.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  accuracy,
  averagePrecision,
  balancedAccuracy,
  bootstrapCi,
  brierScore,
  confusionMatrix,
  createResampler,
  eer,
  macroOvrAuc,
  rankScores,
  reliability,
  rocAuc,
  rocCurve,
  tally,
  aucFromTally,
  tprAtFpr,
  type Numbers,
} from "../src/eval/metrics.js";
import { Rng } from "../src/util/rng.js";
import { REPO } from "./helpers.js";

type Num = number | null; // null = NaN in the fixture

interface Recorded<T> {
  value?: T;
  error?: string;
  warnings?: string[];
}

interface CalibrationEntry {
  fracPositive: number[];
  meanProb: number[];
  counts: number[];
  ece: number;
}

interface BinaryCase {
  name: string;
  yTrue: number[];
  scores: number[];
  yPred: number[];
  weights?: number[];
  roc?: { fpr: number[]; tpr: number[]; thresholds: number[] };
  rocAuc: number;
  averagePrecision: number;
  eer: number;
  tprAtFpr: Record<string, number>;
  accuracy: number;
  balancedAccuracy: number;
  confusion: number[][];
  brier?: number;
  calibration?: Record<string, CalibrationEntry>;
}

interface MulticlassCase {
  name: string;
  nClasses: number;
  yTrue: number[];
  yPred: number[];
  confusion: number[][];
  accuracy: number;
  balancedAccuracy: Recorded<number>;
  probs?: number[][];
  macroOvrAuc?: Recorded<number>;
}

interface OneClassCase {
  name: string;
  yTrue: number[];
  scores: number[];
  yPred: number[];
  sklearn: {
    rocAuc: Recorded<number>;
    averagePrecision: Recorded<number>;
    rocCurve: Recorded<[Num[], Num[]]>;
    balancedAccuracy: Recorded<number>;
    accuracy: Recorded<number>;
    brier: Recorded<number>;
  };
}

interface Fixtures {
  sklearn: string;
  maxFprs: number[];
  binary: BinaryCase[];
  multiclass: MulticlassCase[];
  oneClass: OneClassCase[];
}

const fx = JSON.parse(readFileSync(path.join(REPO, "test", "fixtures", "metrics", "metrics.json"), "utf8")) as Fixtures;
const TOL = 1e-9;

function close(actual: number, expected: Num | undefined, what: string): void {
  if (expected === null || expected === undefined) {
    assert.ok(Number.isNaN(actual), `${what}: expected NaN, got ${actual}`);
    return;
  }
  const tol = TOL * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, sklearn ${expected} (diff ${actual - expected})`);
}

function closeArray(actual: Numbers, expected: readonly Num[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) close(actual[i]!, expected[i], `${what}[${i}]`);
}

function recordedValue(r: Recorded<number>, what: string): number {
  assert.ok(r.value !== undefined, `${what}: sklearn raised ${r.error}`);
  return r.value;
}

describe(`binary metrics vs sklearn ${fx.sklearn}`, () => {
  for (const c of fx.binary) {
    test(c.name, () => {
      const w = c.weights;
      if (c.roc) {
        const roc = rocCurve(c.yTrue, c.scores, w);
        closeArray(roc.fpr, c.roc.fpr, "fpr");
        closeArray(roc.tpr, c.roc.tpr, "tpr");
        assert.equal(roc.thresholds[0], Infinity);
        assert.deepEqual(Array.from(roc.thresholds.subarray(1)), c.roc.thresholds.slice(1), "thresholds after the first");
        // sklearn < 1.3 puts max score + 1 where ≥ 1.3 (and we) put +inf
        const first = c.roc.thresholds[0]!;
        assert.ok(first === c.roc.thresholds[1]! + 1 || first === Infinity);
      }
      close(rocAuc(c.yTrue, c.scores, w), c.rocAuc, "rocAuc");
      close(averagePrecision(c.yTrue, c.scores, w), c.averagePrecision, "averagePrecision");
      close(eer(c.yTrue, c.scores, w), c.eer, "eer");
      for (const m of fx.maxFprs) close(tprAtFpr(c.yTrue, c.scores, m, w), c.tprAtFpr[String(m)], `tprAtFpr(${m})`);
      close(accuracy(c.yTrue, c.yPred, w), c.accuracy, "accuracy");
      close(balancedAccuracy(c.yTrue, c.yPred, w), c.balancedAccuracy, "balancedAccuracy");
      confusionMatrix(c.yTrue, c.yPred, 2, w).forEach((row, t) => closeArray(row, c.confusion[t]!, `confusion row ${t}`));
      if (c.brier !== undefined) close(brierScore(c.yTrue, c.scores, w), c.brier, "brier");
      for (const [nBins, expected] of Object.entries(c.calibration ?? {})) checkReliability(c, Number(nBins), expected);
    });
  }
});

function checkReliability(c: BinaryCase, nBins: number, expected: CalibrationEntry): void {
  const r = reliability(c.yTrue, c.scores, nBins);
  assert.deepEqual(
    r.bins.map((b) => b.count),
    expected.counts,
    `${nBins} bins: counts`,
  );
  const filled = r.bins.filter((b) => b.count > 0);
  closeArray(
    filled.map((b) => b.fracPositive),
    expected.fracPositive,
    `${nBins} bins: fraction positive`,
  );
  closeArray(
    filled.map((b) => b.meanProb),
    expected.meanProb,
    `${nBins} bins: mean probability`,
  );
  close(r.ece, expected.ece, `${nBins} bins: ece`);
  r.bins.forEach((b, i) => {
    close(b.lo, i / nBins, "lo edge");
    if (b.count === 0) assert.ok(Number.isNaN(b.meanProb) && Number.isNaN(b.fracPositive));
  });
}

describe(`multi-class metrics vs sklearn ${fx.sklearn}`, () => {
  for (const c of fx.multiclass) {
    test(c.name, () => {
      confusionMatrix(c.yTrue, c.yPred, c.nClasses).forEach((row, t) => assert.deepEqual(row, c.confusion[t], `confusion row ${t}`));
      close(accuracy(c.yTrue, c.yPred), c.accuracy, "accuracy");
      close(balancedAccuracy(c.yTrue, c.yPred), recordedValue(c.balancedAccuracy, "balancedAccuracy"), "balancedAccuracy");
      if (c.probs && c.macroOvrAuc) {
        // sklearn raises when a class is absent from yTrue; the documented result here is NaN
        const expected = c.macroOvrAuc.error === undefined ? c.macroOvrAuc.value : null;
        close(macroOvrAuc(c.yTrue, c.probs), expected, "macroOvrAuc (rows)");
        close(macroOvrAuc(c.yTrue, Float64Array.from(c.probs.flat()), c.nClasses), expected, "macroOvrAuc (flat)");
      }
    });
  }
});

describe("one class only", () => {
  for (const c of fx.oneClass) {
    test(`${c.name}: ranking metrics NaN, the rest as sklearn`, () => {
      const sk = c.sklearn;
      assert.match(sk.rocAuc.error ?? "", /Only one class present/);
      assert.ok(Number.isNaN(rocAuc(c.yTrue, c.scores)));
      // sklearn returns 0 (no positives) or 1 (no negatives) here; the metric is undefined: NaN
      assert.equal(Math.abs(recordedValue(sk.averagePrecision, "ap")), c.yTrue[0]);
      assert.ok(Number.isNaN(averagePrecision(c.yTrue, c.scores)));
      assert.ok(Number.isNaN(eer(c.yTrue, c.scores)));
      assert.ok(Number.isNaN(tprAtFpr(c.yTrue, c.scores, 0.01)));
      const roc = rocCurve(c.yTrue, c.scores);
      const [fpr, tpr] = sk.rocCurve.value!;
      closeArray(roc.fpr, fpr, "fpr");
      closeArray(roc.tpr, tpr, "tpr");
      close(balancedAccuracy(c.yTrue, c.yPred), recordedValue(sk.balancedAccuracy, "balancedAccuracy"), "balancedAccuracy");
      close(accuracy(c.yTrue, c.yPred), recordedValue(sk.accuracy, "accuracy"), "accuracy");
      close(brierScore(c.yTrue, c.scores), recordedValue(sk.brier, "brier"), "brier");
    });
  }
});

describe("invalid inputs", () => {
  test("empty input throws", () => {
    assert.throws(() => rocAuc([], []), /empty input/);
    assert.throws(() => balancedAccuracy([], []), /empty input/);
    assert.throws(() => macroOvrAuc([], [], 3), /empty input/);
  });
  test("non-finite scores throw, naming the index", () => {
    assert.throws(() => rocAuc([0, 1, 1], [0.1, NaN, 0.3]), /score at index 1 is NaN/);
    assert.throws(() => averagePrecision([0, 1, 1], [0.1, 0.2, Infinity]), /score at index 2 is Infinity/);
    assert.throws(() => eer([0, 1], [-Infinity, 0]), /score at index 0/);
  });
  test("mismatched lengths throw", () => {
    assert.throws(() => rocAuc([0, 1], [0.5]), /yTrue has 2 values but scores has 1/);
    assert.throws(() => accuracy([0, 1], [0, 1, 1]), /yTrue has 2 values but yPred has 3/);
    assert.throws(() => rocAuc([0, 1], [0.1, 0.2], [1]), /weights has 1 values/);
    assert.throws(() => macroOvrAuc([0, 1], [[0.5, 0.5]]), /1 rows/);
  });
  test("bad labels, probabilities and weights throw", () => {
    assert.throws(() => rocAuc([0, 2], [0.1, 0.2]), /label at index 1 is 2, expected 0 or 1/);
    assert.throws(() => balancedAccuracy([0, 1.5], [0, 1]), /yTrue at index 1 is 1.5/);
    assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), /not below nClasses 3/);
    assert.throws(() => brierScore([0, 1], [0.5, 1.2]), /probability at index 1 is 1.2, outside \[0, 1\]/);
    assert.throws(() => reliability([0, 1], [-0.1, 0.5]), /outside \[0, 1\]/);
    assert.throws(() => rocAuc([0, 1], [0.1, 0.2], [1, -1]), /weight at index 1 is -1/);
    assert.throws(() => rocAuc([0, 1], [0.1, 0.2], [0, 0]), /weights sum to 0/);
    assert.throws(() => tprAtFpr([0, 1], [0.1, 0.2], 1.5), /maxFpr/);
  });
});

/** A detector-like sample: `n` labels with scores shifted by class, some ties. */
function sample(n: number, seed: number): { y: Uint8Array; s: Float64Array; pred: Uint8Array } {
  const rng = new Rng(seed, "metrics-test-sample");
  const y = new Uint8Array(n),
    s = new Float64Array(n),
    pred = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.next() < 0.4 ? 1 : 0;
    s[i] = Math.round((rng.next() + rng.next() + 0.8 * y[i]!) * 200) / 200;
    pred[i] = s[i]! >= 1.2 ? 1 : 0;
  }
  return { y, s, pred };
}

/** The resample as explicit arrays: sample i repeated counts[i] times. */
function materialise(counts: Numbers, ...arrays: Numbers[]): number[][] {
  return arrays.map((a) => {
    const out: number[] = [];
    for (let i = 0; i < counts.length; i++) for (let k = 0; k < counts[i]!; k++) out.push(a[i]!);
    return out;
  });
}

describe("bootstrap", () => {
  const { y, s, pred } = sample(3000, 7);
  const input = { yTrue: y, scores: s, yPred: pred };
  const metrics = ["rocAuc", "averagePrecision", "balancedAccuracy", "eer", "tprAtFpr@0.01", "accuracy"] as const;

  test("same seed and id give the same intervals; another id or seed others", () => {
    const a = bootstrapCi(input, metrics, { seed: 1, id: "det-a", resamples: 200 });
    const b = bootstrapCi(input, metrics, { seed: 1, id: "det-a", resamples: 200 });
    const c = bootstrapCi(input, metrics, { seed: 1, id: "det-b", resamples: 200 });
    const d = bootstrapCi(input, metrics, { seed: 2, id: "det-a", resamples: 200 });
    assert.deepEqual(a.intervals, b.intervals);
    assert.deepEqual(a.samples.rocAuc, b.samples.rocAuc);
    assert.notDeepEqual(a.intervals.rocAuc, c.intervals.rocAuc);
    assert.notDeepEqual(a.intervals.rocAuc, d.intervals.rocAuc);
  });

  test("the resamples do not depend on which metrics are asked for", () => {
    const all = bootstrapCi(input, metrics, { seed: 3, id: "x", resamples: 50 });
    const one = bootstrapCi(input, ["averagePrecision"], { seed: 3, id: "x", resamples: 50 });
    assert.deepEqual(one.samples.averagePrecision, all.samples.averagePrecision);
  });

  test("intervals contain the point estimate and are ordered", () => {
    const r = bootstrapCi(input, metrics, { seed: 1, id: "contains" });
    assert.equal(r.resamples, 1000);
    assert.equal(r.stratified, true);
    close(r.intervals.rocAuc.estimate, rocAuc(y, s), "estimate");
    close(r.intervals.balancedAccuracy.estimate, balancedAccuracy(y, pred), "estimate");
    for (const m of metrics) {
      const iv = r.intervals[m];
      assert.ok(iv.lo <= iv.estimate && iv.estimate <= iv.hi, `${m}: ${iv.lo} ≤ ${iv.estimate} ≤ ${iv.hi}`);
      assert.ok(iv.hi - iv.lo < 0.1, `${m}: width ${iv.hi - iv.lo}`);
      assert.equal(iv.undefinedResamples, 0);
    }
  });

  test("each resample's values equal the plain metrics on the materialised resample", () => {
    for (const stratified of [true, false]) {
      const r = bootstrapCi(input, metrics, { seed: 5, id: "materialise", resamples: 4, stratified });
      const resampler = createResampler(y, 5, "materialise", stratified);
      for (let b = 0; b < 4; b++) {
        const counts = resampler.next();
        const [ry, rs, rp] = materialise(counts, y, s, pred) as [number[], number[], number[]];
        assert.equal(ry.length, y.length);
        close(r.samples.rocAuc[b]!, rocAuc(ry, rs), "rocAuc");
        close(r.samples.averagePrecision[b]!, averagePrecision(ry, rs), "averagePrecision");
        close(r.samples.eer[b]!, eer(ry, rs), "eer");
        close(r.samples["tprAtFpr@0.01"][b]!, tprAtFpr(ry, rs, 0.01), "tprAtFpr");
        close(r.samples.balancedAccuracy[b]!, balancedAccuracy(ry, rp), "balancedAccuracy");
        close(r.samples.accuracy[b]!, accuracy(ry, rp), "accuracy");
        // and the weighted calls with multiplicity weights agree with both
        close(rocAuc(y, s, counts), rocAuc(ry, rs), "weighted rocAuc");
        close(averagePrecision(y, s, counts), averagePrecision(ry, rs), "weighted ap");
        close(balancedAccuracy(y, pred, counts), balancedAccuracy(ry, rp), "weighted balanced accuracy");
        closeArray(rocCurve(y, s, counts).tpr, Array.from(rocCurve(ry, rs).tpr), "weighted roc");
      }
    }
  });

  test("multi-class balanced accuracy without scores: resamples equal the materialised ones", () => {
    const c = fx.multiclass[0]!;
    const r = bootstrapCi({ yTrue: c.yTrue, yPred: c.yPred }, ["balancedAccuracy", "accuracy"], { seed: 6, id: "classes", resamples: 3 });
    const resampler = createResampler(c.yTrue, 6, "classes");
    for (let b = 0; b < 3; b++) {
      const [ry, rp] = materialise(resampler.next(), c.yTrue, c.yPred) as [number[], number[]];
      close(r.samples.balancedAccuracy[b]!, balancedAccuracy(ry, rp), "balancedAccuracy");
      close(r.samples.accuracy[b]!, accuracy(ry, rp), "accuracy");
    }
    close(r.intervals.balancedAccuracy.estimate, recordedValue(c.balancedAccuracy, "balancedAccuracy"), "estimate vs sklearn");
  });

  test("stratified resamples keep class sizes; unstratified ones do not", () => {
    const positives = y.reduce((a, v) => a + v, 0);
    const countPositives = (counts: Float64Array): number => counts.reduce((a, c, i) => a + c * y[i]!, 0);
    const strat = createResampler(y, 9, "sizes", true),
      free = createResampler(y, 9, "sizes", false);
    const freeSizes = new Set<number>();
    for (let b = 0; b < 20; b++) {
      assert.equal(countPositives(strat.next()), positives);
      freeSizes.add(countPositives(free.next()));
    }
    assert.ok(freeSizes.size > 1);
  });

  test("draws are uniform for every chunk size (8, 10, 16 and 32 bits)", () => {
    for (const n of [3, 1000, 40000, 70000]) {
      const resampler = createResampler(new Uint8Array(n), 4, `uniform-${n}`);
      const buckets = new Float64Array(3);
      let draws = 0;
      for (let _b = 0; draws < 300000; _b++) {
        resampler.next().forEach((c, i) => {
          buckets[Math.floor((3 * i) / n)]! += c;
        });
        draws += n;
      }
      // each third of the index range gets a third of the draws (the first third is ⌈n/3⌉ wide)
      const expected = [Math.ceil(n / 3) / n, (Math.ceil((2 * n) / 3) - Math.ceil(n / 3)) / n];
      expected.forEach((p, j) => {
        const sd = Math.sqrt(draws * p * (1 - p));
        assert.ok(Math.abs(buckets[j]! - draws * p) < 5 * sd, `n=${n} third ${j}: ${buckets[j]} vs ${draws * p}`);
      });
    }
  });

  test("a tally can be reused across weightings", () => {
    const r = rankScores(y, s);
    const t = tally(r);
    const counts = createResampler(y, 1, "reuse").next();
    const again = tally(r, counts, t);
    assert.equal(again, t);
    close(aucFromTally(again), rocAuc(y, s, counts), "reused tally");
  });

  test("undefined metric on the original sample gives NaN bounds; bad options throw", () => {
    const one = bootstrapCi({ yTrue: [1, 1, 1], scores: [0.1, 0.2, 0.3] }, ["rocAuc"], { seed: 1, id: "one", resamples: 10 });
    assert.ok(Number.isNaN(one.intervals.rocAuc.estimate) && Number.isNaN(one.intervals.rocAuc.lo));
    assert.throws(() => bootstrapCi({ yTrue: y, scores: s }, ["accuracy"], { seed: 1, id: "x" }), /need yPred/);
    assert.throws(() => bootstrapCi({ yTrue: y, yPred: pred }, ["rocAuc"], { seed: 1, id: "x" }), /need scores/);
    assert.throws(() => bootstrapCi(input, ["rocAuc"], { seed: 1, id: "x", resamples: 0 }), /resamples/);
  });
});
