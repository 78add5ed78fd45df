import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { fitLogistic, fitTemperature, logisticProb, rates, sigmoid, softmaxWithTemperature, thresholdForFpr } from "../src/eval/calibration.js";
import { REPO } from "./helpers.js";

// made by scripts/fixtures/make_calibration_fixtures.py (scikit-learn, scipy, numpy, mpmath)
interface SkFit {
  coef: number;
  intercept: number;
  n_iter: number;
  convergence_warning: string | null;
  prob: number[];
}
interface LogisticCase {
  name: string;
  C: number;
  x: number[];
  y: number[];
  grid: number[];
  separation: string;
  lbfgs: SkFit;
  lbfgs_tight: SkFit;
  saga: SkFit;
  newton_cholesky: SkFit;
  exact: { coef: number; intercept: number; prob: number[] };
}
interface TemperatureCase {
  name: string;
  k: number;
  logits: number[][];
  y: number[];
  T: number;
  nll: number;
  T_minimize_scalar: number;
  nll_minimize_scalar: number;
  nll_T1: number;
  softmax_first3_at_T: number[][];
}
interface RatesRef {
  fpr: number;
  tpr: number;
}
interface ThresholdCase {
  name: string;
  y: number[];
  scores: number[];
  y_test: number[];
  scores_test: number[];
  rows: { target: number; threshold: number | null; calibration: RatesRef; test: RatesRef }[];
}
const fx = JSON.parse(readFileSync(path.join(REPO, "test/fixtures/calibration/calibration.json"), "utf8")) as {
  versions: Record<string, string>;
  logistic: LogisticCase[];
  temperature: TemperatureCase[];
  thresholds: ThresholdCase[];
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const byName = (name: string): LogisticCase => {
  const c = fx.logistic.find((l) => l.name === name);
  assert.ok(c, name);
  return c;
};

/**
 * Largest |p − p_sklearn| observed on each case's grid (41 points around the data plus the training scores), with
 * sklearn 1.2.1 / scipy 1.10.1. lbfgs stops on gtol = 1e-4 or scipy's ftol ≈ 2.2e-9, saga on a 1e-4 relative weight
 * change (or after max_iter = 1000 epochs), so these are their distances from the optimum, not ours.
 */
const SKLEARN_GAP: Record<string, { lbfgs: number; saga: number }> = {
  overlap_40_40: { lbfgs: 1e-6, saga: 1.5e-4 },
  negative_slope: { lbfgs: 1e-6, saga: 1.5e-4 },
  unbalanced_10_70: { lbfgs: 1e-6, saga: 2.5e-4 },
  "overlap_C_0.01": { lbfgs: 1e-6, saga: 1e-5 },
  tied: { lbfgs: 2e-6, saga: 2e-4 },
  "scale_1e-3": { lbfgs: 1e-5, saga: 0.45 }, // saga: no convergence in 1000 epochs
  nearly_separable: { lbfgs: 2e-5, saga: 1e-2 },
  scale_1e4: { lbfgs: 0.22, saga: 0.22 }, // raw scores ×1e4: both stop far from the optimum
  shift_1e3: { lbfgs: 0.501, saga: 0.501 }, // raw scores +1e3: lbfgs stops after 2 iterations with p ≈ 0.5 everywhere
  separable: { lbfgs: 0.08, saga: 0.1 },
  quasi_separable: { lbfgs: 4e-4, saga: 0.16 },
  separable_C_1: { lbfgs: 1, saga: 0.97 },
  constant: { lbfgs: 0, saga: 1e-11 },
};

describe("fitLogistic against sklearn LogisticRegression and an exact 60-digit optimum", () => {
  test("fixture versions recorded", () => {
    assert.ok(fx.versions.sklearn && fx.versions.scipy && fx.versions.numpy);
    assert.equal(fx.logistic.length, Object.keys(SKLEARN_GAP).length);
  });

  for (const c of fx.logistic) {
    test(`${c.name}: the penalised optimum to rounding, sklearn within its observed gap`, () => {
      const m = fitLogistic(c.x, c.y, { C: c.C });
      assert.equal(m.converged, true);
      assert.equal(m.separation, c.separation);
      // coefficients to a few ulps of the mpmath optimum
      assert.ok(Math.abs(m.a - c.exact.coef) <= 1e-13 * Math.max(1e-300, Math.abs(c.exact.coef)) || m.a === c.exact.coef, `a ${m.a} vs ${c.exact.coef}`);
      assert.ok(Math.abs(m.b - c.exact.intercept) <= 1e-13 * Math.max(1, Math.abs(c.exact.intercept)), `b ${m.b} vs ${c.exact.intercept}`);
      const p = logisticProb(m, c.grid);
      assert.ok(maxAbsDiff(p, c.exact.prob) <= 1e-13, `vs exact ${maxAbsDiff(p, c.exact.prob)}`);
      // sklearn's exact Newton solver (tol 1e-12) agrees except where it stops early itself
      const nc = maxAbsDiff(p, c.newton_cholesky.prob);
      const ncBound = c.name === "separable" ? 1e-4 : c.name === "constant" ? 2e-6 : c.name === "separable_C_1" ? 1e-8 : 1e-10;
      assert.ok(nc <= ncBound, `vs newton-cholesky ${nc}`);
      const gap = SKLEARN_GAP[c.name]!;
      const dl = maxAbsDiff(p, c.lbfgs.prob);
      const ds = maxAbsDiff(p, c.saga.prob);
      assert.ok(dl <= gap.lbfgs, `vs lbfgs ${dl} > ${gap.lbfgs}`);
      assert.ok(ds <= gap.saga, `vs saga ${ds} > ${gap.saga}`);
    });
  }

  test("non-separable, well-scaled scores: within 1e-6 of sklearn's default lbfgs", () => {
    for (const name of ["overlap_40_40", "negative_slope", "unbalanced_10_70", "overlap_C_0.01"]) {
      const c = byName(name);
      assert.ok(maxAbsDiff(logisticProb(fitLogistic(c.x, c.y, { C: c.C }), c.grid), c.lbfgs.prob) <= 1e-6, name);
    }
  });

  test("separable scores: the finite penalised optimum, flagged; sklearn stops early but decides the same", () => {
    const c = byName("separable");
    const m = fitLogistic(c.x, c.y);
    assert.equal(m.separation, "complete");
    assert.equal(m.converged, true);
    assert.match(m.warning ?? "", /separate the classes perfectly.*set by the penalty C = 10000000000/);
    // ours ≈ 38.9; lbfgs stopped near 20, saga near 11 (ConvergenceWarning after 1000 epochs)
    assert.ok(c.lbfgs.coef < 0.6 * m.a && c.saga.coef < 0.3 * m.a, `${m.a} ${c.lbfgs.coef} ${c.saga.coef}`);
    assert.equal(c.lbfgs.convergence_warning, null);
    assert.match(c.saga.convergence_warning ?? "", /max_iter was reached/);
    // every calibration score is classified the same (and correctly) by all three
    const p = logisticProb(m, c.x);
    const n = c.grid.length - c.x.length;
    c.x.forEach((_, i) => {
      const mine = p[i]! >= 0.5;
      assert.equal(mine, c.y[i] === 1);
      assert.equal(c.lbfgs.prob[n + i]! >= 0.5, mine);
      assert.equal(c.saga.prob[n + i]! >= 0.5, mine);
    });
    // the nearest points sit at a margin of ≈ 20 logits: probabilities within ~1e-8 of 0 or 1
    let worst = 0;
    for (let i = 0; i < c.x.length; i++) worst = Math.max(worst, c.y[i] === 1 ? 1 - p[i]! : p[i]!);
    assert.ok(worst > 1e-10 && worst < 1e-7, String(worst));
  });

  test("quasi-separable and constant scores", () => {
    const q = byName("quasi_separable");
    const mq = fitLogistic(q.x, q.y);
    assert.equal(mq.separation, "quasi");
    assert.match(mq.warning ?? "", /except for tied scores/);
    const k = fitLogistic(new Float64Array(10).fill(3.5), [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual([k.a, k.separation, k.converged], [0, "constant", true]);
    assert.ok(Math.abs(k.b - Math.log(8 / 2)) < 1e-15);
  });

  test("no penalty (C = Infinity) on overlapping scores matches C = 1e10 closely; refused on separable ones", () => {
    const c = byName("overlap_40_40");
    assert.ok(maxAbsDiff(logisticProb(fitLogistic(c.x, c.y, { C: Infinity }), c.grid), c.exact.prob) < 1e-9);
    const s = byName("separable");
    assert.throws(() => fitLogistic(s.x, s.y, { C: Infinity }), /maximum-likelihood slope is infinite/);
  });

  test("typed arrays in, same answer", () => {
    const c = byName("tied");
    const a = fitLogistic(c.x, c.y);
    const b = fitLogistic(Float64Array.from(c.x), Int32Array.from(c.y));
    assert.deepEqual([a.a, a.b], [b.a, b.b]);
  });

  test("bad input is refused with a clear message", () => {
    assert.throws(() => fitLogistic([1, 2, 3], [0, 0, 0]), { message: "calibration needs both classes: got 3 real (label 0) and 0 synthetic (label 1)" });
    assert.throws(() => fitLogistic([1, 2, 3], [1, 1, 1]), /calibration needs both classes/);
    assert.throws(() => fitLogistic([1, NaN, 3], [0, 1, 1]), { message: "score at index 1 is NaN: calibration needs finite numbers" });
    assert.throws(() => fitLogistic([1, 2, -Infinity], [0, 1, 1]), /score at index 2 is -Infinity/);
    assert.throws(() => fitLogistic([1, 2, 3], [0, 1]), { message: "scores and labels differ in length: 3 vs 2" });
    assert.throws(() => fitLogistic([1, 2, 3], [0, 2, 1]), /label at index 1 is 2/);
    assert.throws(() => fitLogistic([1, 2, 3, 4], [0, 1, 0, 1], { C: 0 }), /C must be positive/);
  });

  test("logisticProb is stable in both tails", () => {
    const p = logisticProb({ a: 1, b: 0 }, [-800, -40, 0, 40, 800]);
    assert.deepEqual([p[0], p[2], p[4]], [0, 0.5, 1]);
    assert.ok(Math.abs(p[1]! / Math.exp(-40) - 1) < 1e-15);
    assert.equal(p[3], 1);
    assert.equal(sigmoid(-745.2), Math.exp(-745.2) / (1 + Math.exp(-745.2)));
  });
});

describe("fitTemperature against scipy", () => {
  for (const c of fx.temperature) {
    test(`${c.name}: T and NLL as scipy's optimum`, () => {
      const r = fitTemperature(c.logits, c.y);
      // the brentq root of the analytic derivative: to rounding; scipy's minimize_scalar (bounded): within 1e-6 relative
      assert.ok(Math.abs(r.T - c.T) <= 1e-12 * c.T, `T ${r.T} vs ${c.T}`);
      assert.ok(Math.abs(r.T - c.T_minimize_scalar) <= 1e-6 * c.T, `T ${r.T} vs minimize_scalar ${c.T_minimize_scalar}`);
      assert.ok(Math.abs(r.nll - c.nll) <= 1e-9 && Math.abs(r.nll - c.nll_minimize_scalar) <= 1e-9, `nll ${r.nll} vs ${c.nll}`);
      assert.ok(r.nll <= c.nll_T1);
      assert.equal(r.warning, undefined);
      const flat = fitTemperature(Float64Array.from(c.logits.flat()), Int32Array.from(c.y));
      assert.deepEqual([flat.T, flat.nll], [r.T, r.nll]);
      const sm = softmaxWithTemperature(c.logits.slice(0, 3), r.T);
      sm.forEach((row, i) => assert.ok(maxAbsDiff(row, c.softmax_first3_at_T[i]!) <= 1e-14));
      const smFlat = softmaxWithTemperature(Float64Array.from(c.logits.slice(0, 3).flat()), r.T, c.k);
      assert.deepEqual(Array.from(smFlat), sm.flat());
    });
  }

  test("degenerate label sets give the limits, with a warning", () => {
    const logits = [
      [2, 0, -1],
      [0, 3, 1],
    ];
    const zero = fitTemperature(logits, [0, 1]);
    assert.deepEqual([zero.T, zero.nll], [0, 0]);
    assert.match(zero.warning ?? "", /T → 0/);
    const inf = fitTemperature(logits, [2, 0]);
    assert.equal(inf.T, Infinity);
    assert.ok(Math.abs(inf.nll - Math.log(3)) < 1e-15);
  });

  test("softmax is safe for huge logits and rejects bad temperatures", () => {
    const s = softmaxWithTemperature([[1000, 0, -1000]], 0.5);
    assert.deepEqual(s, [[1, 0, 0]]);
    assert.throws(() => softmaxWithTemperature([[1, 2]], 0), /temperature must be positive/);
    assert.throws(() => softmaxWithTemperature(new Float64Array(5), 1, 2), /do not split/);
  });

  test("bad input is refused", () => {
    assert.throws(
      () =>
        fitTemperature(
          [
            [1, 2],
            [3, 4],
          ],
          [0, 2],
        ),
      /label at index 1 is 2/,
    );
    assert.throws(() => fitTemperature([[1, 2], [3]], [0, 1]), /row 1 has 1 classes, expected 2/);
    assert.throws(
      () =>
        fitTemperature(
          [
            [1, NaN],
            [3, 4],
          ],
          [0, 1],
        ),
      /logit at row 0, class 1 is NaN/,
    );
    assert.throws(() => fitTemperature([[1, 2]], [0, 1]), /1 rows but there are 2 labels/);
  });
});

describe("thresholdForFpr and rates against numpy brute force", () => {
  for (const c of fx.thresholds) {
    test(`${c.name}: thresholds and rates exact`, () => {
      for (const row of c.rows) {
        const t = thresholdForFpr(c.y, c.scores, row.target);
        assert.equal(t, row.threshold ?? Infinity, `target ${row.target}`);
        const cal = rates(c.y, c.scores, t);
        assert.deepEqual([cal.fpr, cal.tpr], [row.calibration.fpr, row.calibration.tpr]);
        assert.ok(cal.fpr <= row.target);
        const te = rates(c.y_test, c.scores_test, t);
        assert.deepEqual([te.fpr, te.tpr], [row.test.fpr, row.test.tpr]);
      }
    });
  }

  test("ties with the threshold count as positive, so tied groups go in or out together", () => {
    // real: 1, 2, 2, 3   synthetic: 2, 4
    const y = [0, 0, 0, 0, 1, 1];
    const s = [1, 2, 2, 3, 2, 4];
    assert.equal(thresholdForFpr(y, s, 0), 4);
    assert.equal(thresholdForFpr(y, s, 0.25), 3);
    assert.equal(thresholdForFpr(y, s, 0.5), 3, "t = 2 would bring in both tied real scores (FPR 3/4)");
    assert.equal(thresholdForFpr(y, s, 0.75), 2);
    assert.equal(thresholdForFpr(y, s, 1), 1);
    assert.deepEqual(rates(y, s, 2), { fpr: 0.75, tpr: 1, fp: 3, tp: 2, negatives: 4, positives: 2 });
    assert.equal(thresholdForFpr([0, 1], [5, 1], 0), Infinity, "a real image holds the top score");
    assert.ok(Number.isNaN(rates([0, 0], [1, 2], 1.5).tpr));
  });

  test("bad input is refused", () => {
    assert.throws(() => thresholdForFpr([1, 1], [1, 2], 0.1), /at least one real image/);
    assert.throws(() => thresholdForFpr([0, 1], [1, 2], 1.5), /target FPR must be within \[0, 1\]/);
    assert.throws(() => thresholdForFpr([0, 1], [1, NaN], 0.1), /score at index 1 is NaN/);
    assert.throws(() => rates([0, 1], [1], 0.1), /differ in length/);
    assert.throws(() => rates([0, 1], [1, 2], NaN), /threshold is NaN/);
  });
});
