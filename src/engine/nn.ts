/** Functional layers and losses (torch.nn.functional's meaning and defaults). */
import { native, type Reduction } from "./native.js";
import { type Tensor, w, type TensorLike } from "./tensor.js";

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
}

export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, o: Conv2dOptions = {}): Tensor {
  return w(native().conv2d(x.handle, weight.handle, bias?.handle, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1));
}

export interface BatchNormOptions {
  /** batch statistics, and running stats updated in place (as nn.BatchNorm in train()); default false */
  training?: boolean;
  momentum?: number;
  eps?: number;
}

export function batchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null, o: BatchNormOptions = {}): Tensor {
  return w(native().batchNorm(x.handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle, o.training ?? false, o.momentum ?? 0.1, o.eps ?? 1e-5));
}

export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return w(native().linear(x.handle, weight.handle, bias?.handle));
}

export function maxPool2d(x: Tensor, kernel: number, stride = kernel, padding = 0): Tensor {
  return w(native().maxPool2d(x.handle, kernel, stride, padding));
}

export function avgPool2d(x: Tensor, kernel: number, stride = kernel, padding = 0): Tensor {
  return w(native().avgPool2d(x.handle, kernel, stride, padding));
}

export function adaptiveAvgPool2d(x: Tensor, size: number | readonly [number, number]): Tensor {
  return w(native().adaptiveAvgPool2d(x.handle, typeof size === "number" ? [size, size] : size));
}

/** draws its mask from the global generator (manualSeed) */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return w(native().dropout(x.handle, p, training));
}

/** x / max(‖x‖₂ along dim, eps), as F.normalize */
export function l2normalize(x: Tensor, dim: number, eps = 1e-12): Tensor {
  return w(native().l2normalize(x.handle, dim, eps));
}

export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}

export function logSoftmax(x: Tensor, dim: number): Tensor {
  return x.logSoftmax(dim);
}

export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  return w(
    native().cat(
      xs.map((x) => x.handle),
      dim,
    ),
  );
}

export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  return w(
    native().stack(
      xs.map((x) => x.handle),
      dim,
    ),
  );
}

export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const h = (v: TensorLike) => (typeof v === "number" ? v : v.handle);
  return w(native().where(cond.handle, h(a), h(b)));
}

export interface CrossEntropyOptions {
  reduction?: Reduction;
  labelSmoothing?: number;
  /** per-class weights [C] */
  weight?: Tensor;
  ignoreIndex?: number;
}

/** logits [N, C], target [N] class indices (int64) */
export function crossEntropy(logits: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  return w(native().crossEntropy(logits.handle, target.handle, o.reduction ?? "mean", o.labelSmoothing ?? 0, o.weight?.handle, o.ignoreIndex ?? -100));
}

export interface BceOptions {
  reduction?: Reduction;
  posWeight?: Tensor;
  weight?: Tensor;
}

/** binary_cross_entropy_with_logits: target of the logits' shape, in [0, 1] */
export function bceWithLogits(logits: Tensor, target: Tensor, o: BceOptions = {}): Tensor {
  return w(native().bceWithLogits(logits.handle, target.handle, o.reduction ?? "mean", o.posWeight?.handle, o.weight?.handle));
}

export function mseLoss(a: Tensor, b: Tensor, reduction: Reduction = "mean"): Tensor {
  return w(native().mseLoss(a.handle, b.handle, reduction));
}

/** x[:, :, f·i, f·j] for i < ⌊H/f⌋, j < ⌊W/f⌋: nearest down-sampling of NCHW (see Ops.downsampleNearest2d) */
export function downsampleNearest2d(x: Tensor, f: number): Tensor {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const h2 = Math.floor(h / f);
  const w2 = Math.floor(wd / f);
  if (h2 === 0 || w2 === 0) throw new Error(`down-sampling ${h}×${wd} by ${f} leaves no pixels`);
  return x
    .narrow(2, 0, h2 * f)
    .narrow(3, 0, w2 * f)
    .reshape([n, c, h2, f, w2, f])
    .select(5, 0)
    .select(3, 0);
}

/** each pixel repeated f×f: nearest up-sampling of NCHW by an integer factor */
export function upsampleNearest2d(x: Tensor, f: number): Tensor {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  return x
    .reshape([n, c, h, 1, wd, 1])
    .expand([n, c, h, f, wd, f])
    .reshape([n, c, h * f, wd * f]);
}
