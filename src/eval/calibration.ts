/**
 * Score calibration as the ImagiNet evaluation does it, plus two related tools.
 *
 * Upstream, every detector gives one raw scalar per image; a calibration subset (40 real + 40 synthetic)
 * is used to fit `sklearn.linear_model.LogisticRegression(C=1e10, solver="saga", max_iter=1000)` on that
 * single feature, and an image is called synthetic when sigmoid(a·x + b) ≥ 0.5.
 *
 * `fitLogistic` minimises exactly sklearn's objective for that model,
 *
 *     f(a, b) = Σᵢ log(1 + exp(−sᵢ (a·xᵢ + b))) + a² / (2C),      sᵢ = +1 for label 1, −1 for label 0,
 *
 * (L2 penalty on the slope only; the intercept is not penalised; no sample weights), by Newton's method
 * with a backtracking line search, on internally standardised scores, to machine precision. All of
 * sklearn's solvers target this same optimum; they differ only in where they stop (measured with sklearn 1.2.1 /
 * scipy 1.10.1 in test/fixtures/calibration, against a 60-digit mpmath optimum that this code matches to ≤ 6e-14 in probability):
 *
 *  - lbfgs (the default) stops on gtol = tol = 1e-4 or on scipy's default ftol ≈ 2.2e-9 (sklearn 1.2 does not
 *    pass ftol, so a smaller `tol` does not help). On well-scaled scores it is within ~1e-6 in probability of
 *    the optimum; on raw scores with a large offset or scale it can stop after a couple of iterations far from
 *    it (scores + 1e3: every probability ≈ 0.5, |Δp| up to 0.5; scores × 1e4: |Δp| up to 0.21).
 *  - saga (the upstream choice) stops on a relative weight change of 1e-4: |Δp| ~1e-4 on well-scaled scores,
 *    and it does not converge at all in 1000 epochs on badly scaled or separable scores.
 *  - newton-cholesky (tol 1e-12) agrees to ~1e-13, except where it stops early itself (separable: 7e-5).
 *
 * Perfectly separable scores: the unpenalised maximum-likelihood slope is infinite, but with the 1/C
 * penalty the optimum is finite — with C = 1e10 it sits where the nearest points reach a margin of about
 * 20 logits (|a·gap/2| ≈ 19.5 for a gap of 1), which Newton reaches in ~30 iterations. That true penalised
 * optimum is what `fitLogistic` returns (`converged: true`), with `separation: "complete"` (or `"quasi"` when
 * the classes only touch at tied scores) and a `warning`, because the slope is then set by C rather than the
 * data. sklearn does not get there: on the fixture (gap 1, optimum a ≈ 38.9) lbfgs stops at a ≈ 20.2 and
 * saga at a ≈ 11.1 after 1000 epochs with a ConvergenceWarning, so their probabilities differ from the
 * optimum by up to ~0.1 away from the data, though every calibration image is classified the same way.
 */
import { InputError } from "../util/errors.js";

export interface LogisticFitOptions {
  /** Inverse L2 strength on the slope, as sklearn's `C`; default 1e10 as upstream. `Infinity` = no penalty. */
  C?: number;
  /** Newton iterations at most; default 200 (separable data needs ~30, overlapping ~6). */
  maxIter?: number;
  /** Stop once a Newton step changes both standardised coefficients by ≤ tol relative (≥ 1 absolute scale); default 1e-10 — with quadratic convergence the next error is then at rounding level. */
  tol?: number;
}

export type Separation = "none" | "quasi" | "complete" | "constant";

export interface LogisticModel {
  /** Slope on the raw score. */
  a: number;
  /** Intercept: p = sigmoid(a·x + b). */
  b: number;
  iterations: number;
  converged: boolean;
  /** "complete": one class's scores all lie strictly above the other's; "quasi": they only touch at tied scores; "constant": every score equal (slope 0). */
  separation: Separation;
  /** Set when the fit is degenerate (separable or constant scores) or did not converge. */
  warning?: string;
}

const EPS = Number.EPSILON;

function checkScores(x: ArrayLike<number>, what: string): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) throw new Error(`${what} at index ${i} is ${v}: calibration needs finite numbers`);
  }
}

function checkBinary(y: ArrayLike<number>, what: string): { n0: number; n1: number } {
  let n1 = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (v !== 0 && v !== 1) throw new Error(`${what} at index ${i} is ${v}: labels must be 0 (real) or 1 (synthetic)`);
    n1 += v;
  }
  return { n0: y.length - n1, n1 };
}

function checkLengths(x: ArrayLike<number>, y: ArrayLike<number>, xs: string, ys: string): void {
  if (x.length !== y.length) throw new Error(`${xs} and ${ys} differ in length: ${x.length} vs ${y.length}`);
}

/** log(1 + exp(z)) without overflow or loss of precision for large |z|. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** 1 / (1 + exp(−z)), stable for large |z| (no overflow, full relative precision in both tails). */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/**
 * A binary detector's score as p(synthetic) and its verdict (synthetic at p ≥ 0.5): p = sigmoid(a·score + b)
 * with a calibration, else sigmoid(score). A detector whose raw score is no such logit
 * (`needsCalibration`, its reason) gets no p and no verdict without a calibration, only the score.
 */
export type ScoreVerdict = { score: number; p: number; calibrated: boolean; verdict: "synthetic" | "real" } | { score: number; p: null; calibrated: false; verdict: null; noVerdict: string };

export function scoreVerdict(score: number, calibration?: { a: number; b: number } | null, needsCalibration?: string): ScoreVerdict {
  if (!calibration && needsCalibration) return { score, p: null, calibrated: false, verdict: null, noVerdict: `no verdict without a calibration: ${needsCalibration}` };
  const p = calibration ? sigmoid(calibration.a * score + calibration.b) : sigmoid(score);
  return { score, p, calibrated: !!calibration, verdict: p >= 0.5 ? "synthetic" : "real" };
}

export function fitLogistic(x: ArrayLike<number>, y: ArrayLike<number>, opts: LogisticFitOptions = {}): LogisticModel {
  const C = opts.C ?? 1e10;
  const maxIter = opts.maxIter ?? 200;
  const tol = opts.tol ?? 1e-10;
  if (!(C > 0)) throw new Error(`C must be positive, got ${C}`);
  checkLengths(x, y, "scores", "labels");
  checkScores(x, "score");
  const { n0, n1 } = checkBinary(y, "label");
  if (n0 === 0 || n1 === 0) {
    throw new Error(`calibration needs both classes: got ${n0} real (label 0) and ${n1} synthetic (label 1)`);
  }
  const n = x.length;

  // Separation of the two classes along the score.
  let min0 = Infinity,
    max0 = -Infinity,
    min1 = Infinity,
    max1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (y[i] === 1) {
      if (v < min1) min1 = v;
      if (v > max1) max1 = v;
    } else {
      if (v < min0) min0 = v;
      if (v > max0) max0 = v;
    }
  }
  const allEqual = min0 === max0 && min1 === max1 && min0 === min1;
  const logOdds = Math.log(n1 / n0);
  if (allEqual) {
    // The slope's gradient is x times the intercept's, so at the optimum the intercept is the log-odds and the penalty sets a = 0.
    return { a: 0, b: logOdds, iterations: 0, converged: true, separation: "constant", warning: "every calibration score is equal: slope 0, intercept = log-odds of the classes" };
  }
  const separation: Separation = max0 < min1 || max1 < min0 ? "complete" : max0 === min1 || max1 === min0 ? "quasi" : "none";
  if (separation !== "none" && C === Infinity) {
    throw new Error(`the scores separate the classes ${separation === "complete" ? "perfectly" : "up to tied scores"}: without a penalty (C = Infinity) the maximum-likelihood slope is infinite`);
  }

  // Standardise: u = (x − m) / s, z = α·u + β, so a = α / s, b = β − a·m, and the penalty a²/(2C) = α² λ / 2 with λ = 1/(C s²).
  // m and s are computed on x / c, c = max |x|, so that scores near ±1e308 cannot overflow the variance.
  let c = 0;
  for (let i = 0; i < n; i++) c = Math.max(c, Math.abs(x[i]!));
  let mc = 0;
  for (let i = 0; i < n; i++) mc += x[i]! / c;
  mc /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i]! / c - mc) ** 2;
  const sc = Math.sqrt(ss / n); // s = sc·c, m = mc·c
  const u = new Float64Array(n);
  for (let i = 0; i < n; i++) u[i] = (x[i]! / c - mc) / sc;
  const invS = 1 / sc / c;
  const lambda = C === Infinity ? 0 : (invS * invS) / C;
  if (!Number.isFinite(lambda) || sc === 0) {
    // Spread so small relative to C that the penalty pins the slope at 0.
    return { a: 0, b: logOdds, iterations: 0, converged: true, separation, warning: "score spread too small for the penalty: slope 0" };
  }
  const yy = Float64Array.from(y as ArrayLike<number>);

  const objective = (al: number, be: number): number => {
    let f = 0.5 * lambda * al * al;
    for (let i = 0; i < n; i++) {
      const z = al * u[i]! + be;
      f += yy[i] === 1 ? softplus(-z) : softplus(z);
    }
    return f;
  };

  let al = 0;
  let be = logOdds;
  let f = objective(al, be);
  let converged = false;
  let iterations = 0;
  let stalled = false;
  for (; iterations < maxIter && !converged; ) {
    iterations++;
    let ga = lambda * al,
      gb = 0,
      haa = lambda,
      hab = 0,
      hbb = 0;
    for (let i = 0; i < n; i++) {
      const ui = u[i]!;
      const z = al * ui + be;
      const sp = sigmoid(z); // p
      const sm = sigmoid(-z); // 1 − p, computed directly so tiny residuals keep full precision
      const r = yy[i] === 1 ? -sm : sp; // p − y
      const w = sp * sm;
      ga += r * ui;
      gb += r;
      haa += w * ui * ui;
      hab += w * ui;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    let da: number, db: number;
    if (det > 0 && hbb > 0) {
      da = -(hbb * ga - hab * gb) / det;
      db = -(haa * gb - hab * ga) / det;
    } else {
      // Hessian numerically singular (weights underflowed): fall back to a scaled gradient step.
      da = -ga / Math.max(haa, EPS);
      db = -gb / Math.max(hbb, EPS);
    }
    const slope = ga * da + gb * db; // < 0 for a descent direction
    if (!(slope < 0)) {
      // Zero gradient (or rounding noise): at the optimum.
      converged = true;
      break;
    }
    let t = 1;
    let fNew = objective(al + da, be + db);
    const slack = 4 * EPS * Math.abs(f);
    let halvings = 0;
    while (!(fNew <= f + 1e-4 * t * slope + slack) && halvings < 60) {
      t /= 2;
      halvings++;
      fNew = objective(al + t * da, be + t * db);
    }
    if (halvings === 60) {
      // No decrease measurable: the remaining Newton decrement is below the objective's rounding.
      stalled = true;
      converged = -slope <= 1e3 * EPS * Math.max(1, Math.abs(f));
      break;
    }
    al += t * da;
    be += t * db;
    f = fNew;
    if (t === 1 && Math.abs(da) <= tol * Math.max(1, Math.abs(al)) && Math.abs(db) <= tol * Math.max(1, Math.abs(be))) converged = true;
  }
  const a = al / sc / c;
  const b = be - (al / sc) * mc;
  let warning: string | undefined;
  if (separation !== "none") {
    warning =
      `the calibration scores separate the classes ${separation === "complete" ? "perfectly" : "except for tied scores"}: ` +
      `the unpenalised fit diverges, and this slope (${a.toPrecision(6)}) is set by the penalty C = ${C}, not by the data ` +
      `(sklearn's lbfgs and saga stop early, with smaller slopes)`;
  }
  if (!converged) warning = `${warning ? `${warning}; ` : ""}Newton did not converge in ${iterations} iterations${stalled ? " (line search stalled)" : ""}`;
  return warning === undefined ? { a, b, iterations, converged, separation } : { a, b, iterations, converged, separation, warning };
}

/** sigmoid(a·x + b) for each score, as sklearn's predict_proba[:, 1]. */
export function logisticProb(model: { a: number; b: number }, x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = sigmoid(model.a * x[i]! + model.b);
  return out;
}

/** What `imaginet calibrate` writes beside `a` and `b` (provenance; not used to calibrate). */
const CALIBRATION_FILE_KEYS = new Set(["a", "b", "method", "detector", "weightsSha256", "annotations", "converged", "warning"]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function finiteParameter(c: Record<string, unknown>, key: "a" | "b", where: string): number {
  const v = c[key];
  if (v === undefined) throw new InputError(`${where}: "${key}" is missing: expected {"a": number, "b": number}`);
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new InputError(`${where}: "${key}" must be a finite number, got ${typeof v === "number" ? String(v) : JSON.stringify(v)}`);
  }
  return v;
}

/**
 * The logistic calibration p = sigmoid(a·score + b) in a calibration file's JSON `text`: the {a, b, …}
 * that `imaginet calibrate` writes (no other keys), or a run's metrics.json (its "calibration").
 * Throws InputError naming `file` when a or b is missing or not a finite number (JSON's 1e999 is
 * Infinity), or when the file holds anything else.
 */
export function parseCalibration(text: string, file: string): { a: number; b: number } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) throw new InputError(`${file}: expected a JSON object {"a": number, "b": number} or a run's metrics.json`);
  if ("calibration" in v) {
    const c = v.calibration;
    if (!isObject(c)) throw new InputError(`${file}: "calibration" is ${JSON.stringify(c)}: the run had no calibration images`);
    return { a: finiteParameter(c, "a", `${file}: "calibration"`), b: finiteParameter(c, "b", `${file}: "calibration"`) };
  }
  const unknown = Object.keys(v).find((k) => !CALIBRATION_FILE_KEYS.has(k));
  if (unknown !== undefined) throw new InputError(`${file}: unknown key ${JSON.stringify(unknown)}: expected {"a": number, "b": number} as \`imaginet calibrate\` writes it, or a run's metrics.json`);
  return { a: finiteParameter(v, "a", file), b: finiteParameter(v, "b", file) };
}

// ------------------------------------------------------------------------------------------------ temperature

export interface TemperatureFitOptions {
  /** Safeguarded Newton iterations at most; default 200. */
  maxIter?: number;
}

export interface TemperatureFit {
  /** Optimal temperature; Infinity when no T > 0 beats the uniform prediction, 0 when every label is already the arg-max (NLL keeps falling as T → 0). */
  T: number;
  /** Mean cross-entropy of softmax(logits / T) at that T (its limit for T = 0 or Infinity). */
  nll: number;
  iterations: number;
  warning?: string;
}

type Logits = number[][] | Float64Array;

/** Rows of the logits as one flat row-major array plus the class count. */
function flatLogits(logits: Logits, n: number | undefined, k?: number): { z: Float64Array; n: number; k: number } {
  if (logits instanceof Float64Array) {
    let rows: number;
    let cols: number;
    if (k !== undefined) {
      cols = k;
      rows = logits.length / k;
    } else if (n !== undefined) {
      rows = n;
      cols = n === 0 ? 0 : logits.length / n;
    } else throw new Error("flat logits need the number of classes k");
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows * cols !== logits.length) {
      throw new Error(`flat logits of length ${logits.length} do not split into ${n ?? "?"} rows of ${k ?? "?"} classes`);
    }
    if (n !== undefined && rows !== n) throw new Error(`logits have ${rows} rows but there are ${n} labels`);
    checkScores(logits, "logit");
    return { z: logits, n: rows, k: cols };
  }
  const rows = logits.length;
  if (n !== undefined && rows !== n) throw new Error(`logits have ${rows} rows but there are ${n} labels`);
  const cols = k ?? logits[0]?.length ?? 0;
  const z = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = logits[i]!;
    if (row.length !== cols) throw new Error(`logits row ${i} has ${row.length} classes, expected ${cols}`);
    for (let j = 0; j < cols; j++) {
      const v = row[j]!;
      if (!Number.isFinite(v)) throw new Error(`logit at row ${i}, class ${j} is ${v}: calibration needs finite numbers`);
      z[i * cols + j] = v;
    }
  }
  return { z, n: rows, k: cols };
}

/**
 * Temperature scaling: the T > 0 minimising the mean cross-entropy of softmax(logits / T).
 *
 * Solved in β = 1/T, where the mean NLL(β) = mean(logsumexp(β zᵢ) − β zᵢ,yᵢ) is convex, with derivative
 * mean(E_softmax(βz)[z] − z_y) and second derivative mean(Var_softmax(βz)[z]) ≥ 0: Newton's method,
 * safeguarded by bisection inside a sign-change bracket, to a root at rounding level. Same optimum as
 * scipy.optimize.minimize_scalar on T (which only resolves T to ~1e-8, the NLL being flat there) or
 * PyTorch temperature-scaling recipes run to convergence.
 */
export function fitTemperature(logits: Logits, y: ArrayLike<number>, opts: TemperatureFitOptions = {}): TemperatureFit {
  const maxIter = opts.maxIter ?? 200;
  const { z, n, k } = flatLogits(logits, y.length);
  if (n === 0) throw new Error("temperature scaling needs at least one sample");
  if (k < 2) throw new Error(`temperature scaling needs at least 2 classes, got ${k}`);
  for (let i = 0; i < n; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= k) throw new Error(`label at index ${i} is ${v}: expected a class index 0..${k - 1}`);
  }
  const p = new Float64Array(k);
  // Mean NLL, derivative and second derivative in β.
  const evalAt = (beta: number): { f: number; g: number; h: number } => {
    let f = 0,
      g = 0,
      h = 0;
    for (let i = 0; i < n; i++) {
      const o = i * k;
      let mx = -Infinity;
      for (let j = 0; j < k; j++) mx = Math.max(mx, beta * z[o + j]!);
      let sum = 0;
      for (let j = 0; j < k; j++) sum += p[j] = Math.exp(beta * z[o + j]! - mx);
      let e1 = 0;
      for (let j = 0; j < k; j++) {
        p[j]! /= sum;
        e1 += p[j]! * z[o + j]!;
      }
      let v = 0;
      for (let j = 0; j < k; j++) v += p[j]! * (z[o + j]! - e1) ** 2;
      const zy = z[o + y[i]!]!;
      f += mx + Math.log(sum) - beta * zy;
      g += e1 - zy;
      h += v;
    }
    return { f: f / n, g: g / n, h: h / n };
  };

  // Limits: g(0) ≥ 0 ⇒ NLL increases for every β > 0 (best T is ∞); g(∞) = mean(max z − z_y) = 0 ⇒ every label is an arg-max and the NLL decreases for every β (best T is 0).
  const g0 = evalAt(0).g;
  if (g0 >= 0) {
    return { T: Infinity, nll: Math.log(k), iterations: 0, warning: "the logits are no better than uniform on these labels: the best temperature is T → ∞" };
  }
  let gInf = 0,
    nllZero = 0;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, z[o + j]!);
    let ties = 0;
    for (let j = 0; j < k; j++) if (z[o + j] === mx) ties++;
    gInf += mx - z[o + y[i]!]!;
    nllZero += Math.log(ties);
  }
  if (gInf === 0) {
    return { T: 0, nll: nllZero / n, iterations: 0, warning: "every label is the arg-max of its logits: the NLL keeps falling as T → 0" };
  }

  // Newton on g(β) from β = 1 (T = 1), kept inside the sign-change bracket lo < β* < hi (bisection when a step leaves it).
  let lo = 0;
  let hi = Infinity;
  let beta = 1;
  let iterations = 0;
  while (iterations < maxIter) {
    iterations++;
    const { g, h } = evalAt(beta);
    if (g > 0) hi = beta;
    else if (g < 0) lo = beta;
    else break;
    const newton = h > 0 ? g / h : NaN;
    if (Math.abs(newton) <= 2 * EPS * beta) break; // the next step is below rounding: β is the root
    let next = beta - newton;
    if (!(next > lo && next < hi)) next = hi === Infinity ? 2 * beta : lo > 0 ? Math.sqrt(lo * hi) : hi / 2;
    if (hi !== Infinity && hi - lo <= 4 * EPS * hi) break;
    beta = next;
    if (beta > 1e300) throw new Error("temperature scaling: no finite optimum found");
  }
  return finishTemperature(z, y, n, k, beta, iterations);
}

function finishTemperature(z: Float64Array, y: ArrayLike<number>, n: number, k: number, beta: number, iterations: number): TemperatureFit {
  const T = 1 / beta;
  let f = 0;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, z[o + j]! / T);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(z[o + j]! / T - mx);
    f += mx + Math.log(sum) - z[o + y[i]!]! / T;
  }
  return { T, nll: f / n, iterations };
}

/** softmax(logits / T) row by row (max-subtracted, so any finite logits are safe). A flat Float64Array needs the class count k and gives a flat Float64Array back. */
export function softmaxWithTemperature(logits: number[][], T: number): number[][];
export function softmaxWithTemperature(logits: Float64Array, T: number, k: number): Float64Array;
export function softmaxWithTemperature(logits: Logits, T: number, k?: number): number[][] | Float64Array {
  if (!(T > 0) || T === Infinity) throw new Error(`temperature must be positive and finite, got ${T}`);
  const { z, n, k: cols } = flatLogits(logits, undefined, logits instanceof Float64Array ? k : undefined);
  const out = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) {
    const o = i * cols;
    let mx = -Infinity;
    for (let j = 0; j < cols; j++) mx = Math.max(mx, z[o + j]! / T);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += out[o + j] = Math.exp(z[o + j]! / T - mx);
    for (let j = 0; j < cols; j++) out[o + j]! /= sum;
  }
  if (logits instanceof Float64Array) return out;
  return Array.from({ length: n }, (_, i) => Array.from(out.subarray(i * cols, (i + 1) * cols)));
}

// ------------------------------------------------------------------------------------------------ thresholds

export interface Rates {
  /** False-positive rate: real images (label 0) with score ≥ t, over all real images; NaN when there are none. */
  fpr: number;
  /** True-positive rate: synthetic images (label 1) with score ≥ t, over all synthetic images; NaN when there are none. */
  tpr: number;
  fp: number;
  tp: number;
  negatives: number;
  positives: number;
}

/** FPR and TPR of the rule "synthetic when score ≥ t" (ties with t count as positive), e.g. to carry a calibration threshold to the test set. */
export function rates(yTrue: ArrayLike<number>, scores: ArrayLike<number>, t: number): Rates {
  checkLengths(yTrue, scores, "labels", "scores");
  checkScores(scores, "score");
  if (Number.isNaN(t)) throw new Error("threshold is NaN");
  const { n0, n1 } = checkBinary(yTrue, "label");
  let fp = 0,
    tp = 0;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i]! >= t) {
      if (yTrue[i] === 1) tp++;
      else fp++;
    }
  }
  return { fpr: n0 === 0 ? NaN : fp / n0, tpr: n1 === 0 ? NaN : tp / n1, fp, tp, negatives: n0, positives: n1 };
}

/**
 * The smallest threshold t, among the observed scores, such that the rule "synthetic when score ≥ t" has a
 * false-positive rate ≤ targetFpr on these (calibration) labels; +Infinity when even the largest score
 * gives too many false positives (only possible when targetFpr is below 1/#real and a real image has the
 * top score).
 *
 * Ties: every score equal to t counts as positive, so a group of tied scores is admitted or rejected as a
 * whole. Restricting t to observed scores loses nothing: any t' between two neighbouring scores gives the
 * same decisions as the next observed score above it, and that one is the smallest t with the highest
 * TPR for the FPR limit. The FPR is compared as fp / #real ≤ targetFpr in double precision (so a target of
 * 0.29 admits exactly 29 of 100, as 29/100 and 0.29 are the same double).
 */
export function thresholdForFpr(yTrue: ArrayLike<number>, scores: ArrayLike<number>, targetFpr: number): number {
  checkLengths(yTrue, scores, "labels", "scores");
  checkScores(scores, "score");
  if (!(targetFpr >= 0 && targetFpr <= 1)) throw new Error(`target FPR must be within [0, 1], got ${targetFpr}`);
  const { n0 } = checkBinary(yTrue, "label");
  if (n0 === 0) throw new Error("a false-positive rate needs at least one real image (label 0)");
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((i, j) => scores[j]! - scores[i]!);
  let best = Infinity;
  let fp = 0;
  for (let k = 0; k < order.length; ) {
    const v = scores[order[k]!]!;
    let groupFp = 0;
    for (; k < order.length && scores[order[k]!] === v; k++) if (yTrue[order[k]!] === 0) groupFp++;
    fp += groupFp;
    if (fp / n0 <= targetFpr) best = v;
    else break;
  }
  return best;
}
