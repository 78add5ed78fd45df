/**
 * The small op interface every architecture is written against, once. A backend decides what a
 * tensor is: the tracing backend (src/onnx/trace.ts) records ONNX nodes; an eager backend (libtorch)
 * can run the same definition. Parameters are named by their PyTorch state-dict keys.
 */

/** The parameter an anchored detector (LASTED) takes the mean feature of its real anchor images through. */
export const ANCHOR_PARAM = "anchor";

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
}

export interface Ops<T> {
  /** a model input, NCHW float32; dims may be symbolic ("batch") */
  input(name: string, shape: readonly (number | string)[]): T;
  /** a learnable parameter or buffer, by its full state-dict key, with its expected shape */
  param(name: string, shape: readonly number[]): T;
  /** marks a value as a named model output */
  output(name: string, x: T): void;

  conv2d(x: T, weight: T, bias: T | null, o?: Conv2dOptions): T;
  /** inference-mode batch norm over dim 1 (N,C) or (N,C,H,W) */
  batchNorm(x: T, weight: T, bias: T, runningMean: T, runningVar: T, eps: number): T;
  relu(x: T): T;
  maxPool2d(x: T, kernel: number, stride: number, padding: number): T;
  add(a: T, b: T): T;
  /** mean over the given axes */
  mean(x: T, axes: readonly number[], keepDims: boolean): T;
  /** x @ weightᵀ + bias (PyTorch nn.Linear layout: weight [out, in]) */
  linear(x: T, weight: T, bias: T | null): T;
  matmul(a: T, b: T): T;
  reshape(x: T, shape: readonly number[]): T;
  flatten(x: T, axis: number): T;
  /** x / max(‖x‖₂ along axis, eps), as torch.nn.functional.normalize */
  l2normalize(x: T, axis: number, eps?: number): T;
}

/** The further ops of attention pooling (CLIP's image tower); a separate interface so a backend can add them on its own schedule. */
export interface AttentionOps<T> extends Ops<T> {
  /** average pool with kernel = stride = k, no padding */
  avgPool2d(x: T, k: number): T;
  transpose(x: T, perm: readonly number[]): T;
  concat(xs: readonly T[], axis: number): T;
  /** x[start:end] along one axis */
  slice(x: T, axis: number, start: number, end: number): T;
  softmax(x: T, axis: number): T;
  /** x · s for a constant s */
  scale(x: T, s: number): T;
  /** elementwise product, broadcasting as numpy */
  mul(a: T, b: T): T;
  sigmoid(x: T): T;
  /** nn.LayerNorm over the last dim: (x − mean) / √(var + eps) · weight + bias, biased variance */
  layerNorm(x: T, weight: T, bias: T, eps: number): T;
  /** x broadcast (numpy rules) to the shape of `like`, e.g. a [1, 1, C] token to [N, 1, C] */
  expandAs(x: T, like: T): T;
  /**
   * Nearest-neighbour down-sampling of NCHW by f, a power of two: out[i, j] = x[f·i, f·j], of size
   * ⌊H/f⌋ × ⌊W/f⌋. F.interpolate(x, scale_factor=1/f, mode="nearest", recompute_scale_factor=True)
   * picks the same pixels for f = 2 at any size, and for any f that divides H and W.
   */
  downsampleNearest2d(x: T, f: number): T;
  /** Nearest-neighbour up-sampling of NCHW by f, a power of two (each pixel repeated f×f), as F.interpolate(x, scale_factor=f, mode="nearest"). */
  upsampleNearest2d(x: T, f: number): T;
}

/**
 * Checks a nearest re-sampling factor: a power of two, whose reciprocal float32 holds exactly, so
 * that ONNX Resize (which maps output index i to ⌊i/scale⌋) picks the same pixels as PyTorch.
 */
export function nearestFactor(f: number): number {
  if (!Number.isInteger(f) || f < 1 || (f & (f - 1)) !== 0) throw new Error(`nearest re-sampling factor ${f} is not a power of two`);
  return f;
}

/** Names parameters under a dotted prefix, as nn.Module nesting does. */
export class Scope<T> {
  constructor(
    readonly ops: Ops<T>,
    readonly prefix = "",
  ) {}

  sub(name: string | number): Scope<T> {
    return new Scope(this.ops, this.key(String(name)));
  }

  key(name: string): string {
    return this.prefix === "" ? name : `${this.prefix}.${name}`;
  }

  param(name: string, shape: readonly number[]): T {
    return this.ops.param(this.key(name), shape);
  }
}

// ---- nn building blocks (each one a PyTorch module with the same parameter names) ----

export function conv2d<T>(s: Scope<T>, x: T, cin: number, cout: number, k: number, o: Conv2dOptions & { bias?: boolean } = {}): T {
  const groups = o.groups ?? 1;
  const w = s.param("weight", [cout, cin / groups, k, k]);
  const b = o.bias ? s.param("bias", [cout]) : null;
  return s.ops.conv2d(x, w, b, o);
}

export function batchNorm<T>(s: Scope<T>, x: T, c: number, eps = 1e-5): T {
  return s.ops.batchNorm(x, s.param("weight", [c]), s.param("bias", [c]), s.param("running_mean", [c]), s.param("running_var", [c]), eps);
}

export function linear<T>(s: Scope<T>, x: T, cin: number, cout: number, bias = true): T {
  return s.ops.linear(x, s.param("weight", [cout, cin]), bias ? s.param("bias", [cout]) : null);
}

/** nn.Linear applied at every spatial position of an NCHW map, as a 1×1 convolution */
export function linearAsConv1x1<T>(s: Scope<T>, x: T, cin: number, cout: number, bias = true): T {
  const w = s.ops.reshape(s.param("weight", [cout, cin]), [cout, cin, 1, 1]);
  return s.ops.conv2d(x, w, bias ? s.param("bias", [cout]) : null);
}
