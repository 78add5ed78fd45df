/**
 * Loads the libtorch addon (native/build/imaginet_torch.node) and declares its whole surface as
 * one type. The addon is an opaque-handle API: NativeTensor / NativeOptimizer objects own libtorch
 * objects, every operation is a plain function over them. Use it through ./tensor.ts.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../util/errors.js";

declare const tensorBrand: unique symbol;
declare const optimizerBrand: unique symbol;
/** a libtorch at::Tensor handle */
export interface NativeTensor {
  readonly [tensorBrand]: true;
}
/** a torch::optim optimizer handle */
export interface NativeOptimizer {
  readonly [optimizerBrand]: true;
}

export type DType = "float32" | "float64" | "float16" | "bfloat16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";
/** typed arrays the addon copies in (and out: bool and uint8 come out as Uint8Array, float16 widened to Float32Array) */
export type HostArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array;
export type UnaryOp =
  | "neg"
  | "exp"
  | "log"
  | "sqrt"
  | "rsqrt"
  | "abs"
  | "relu"
  | "sigmoid"
  | "tanh"
  | "sign"
  | "floor"
  | "ceil"
  | "round"
  | "square"
  | "log1p"
  | "expm1"
  | "sin"
  | "cos"
  | "reciprocal"
  | "logicalNot"
  | "softplus"
  | "gelu"
  | "isnan"
  | "isfinite";
export type BinaryOp = "add" | "sub" | "mul" | "div" | "pow" | "maximum" | "minimum" | "remainder" | "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "logicalAnd" | "logicalOr";
export type ReduceOp = "sum" | "mean" | "amax" | "amin" | "logsumexp" | "prod";
export type InplaceOp = "add_" | "sub_" | "mul_" | "div_" | "copy_";
/** "channels_last": a 4-D tensor stored NHWC */
export type MemoryFormat = "contiguous" | "channels_last";
export type Reduction = "mean" | "sum" | "none";
export type OptimizerKind = "sgd" | "adam" | "adamw";

export interface NativeOptimizerOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  betas?: readonly [number, number];
  eps?: number;
  amsgrad?: boolean;
}

type T = NativeTensor;
type Opt<X> = X | null | undefined;
type Scalarish = T | number;

export interface TorchAddon {
  /** libtorch version, e.g. "1.13.0" */
  readonly version: string;
  readonly Tensor: new () => T;

  // creation (dtype default float32 except where noted; device default "cpu")
  fromArray(data: HostArray, shape: readonly number[], dtype?: DType): T;
  create(kind: "zeros" | "ones" | "empty", shape: readonly number[], dtype?: Opt<DType>, device?: Opt<string>): T;
  full(shape: readonly number[], value: number, dtype?: Opt<DType>, device?: Opt<string>): T;
  arange(start: number, end: number, step: number, dtype?: Opt<DType>, device?: Opt<string>): T;
  eye(n: number, m: number, dtype?: Opt<DType>, device?: Opt<string>): T;
  /** seed null: the global generator (manualSeed) */
  randn(shape: readonly number[], seed: Opt<number>, dtype?: Opt<DType>, device?: Opt<string>): T;
  rand(shape: readonly number[], seed: Opt<number>, dtype?: Opt<DType>, device?: Opt<string>): T;
  /** dtype default int64 */
  randint(low: number, high: number, shape: readonly number[], seed: Opt<number>, dtype?: Opt<DType>, device?: Opt<string>): T;
  /** dtype default int64 */
  randperm(n: number, seed: Opt<number>, dtype?: Opt<DType>, device?: Opt<string>): T;

  // reading and converting
  toArray(t: T): HostArray;
  item(t: T): number;
  shape(t: T): number[];
  dtype(t: T): DType;
  device(t: T): string;
  /** target: a dtype name or a device ("cpu", "cuda", "cuda:1") */
  to(t: T, target: string): T;
  clone(t: T): T;
  contiguous(t: T, format?: MemoryFormat): T;
  isChannelsLast(t: T): boolean;
  dispose(t: T): void;
  isDisposed(t: T): boolean;

  // autograd
  requiresGrad(t: T): boolean;
  setRequiresGrad(t: T, on: boolean): void;
  grad(t: T): T | undefined;
  backward(t: T, grad?: Opt<T>, retainGraph?: boolean): void;
  zeroGrad(t: T, setToNone?: boolean): void;
  detach(t: T): T;
  isLeaf(t: T): boolean;
  noGrad<R>(fn: () => R): R;
  isGradEnabled(): boolean;
  /** fn under torch.autocast(deviceType, dtype): bfloat16 on the CPU, bfloat16 or float16 on CUDA */
  autocast<R>(deviceType: "cpu" | "cuda", dtype: "bfloat16" | "float16", fn: () => R): R;

  // elementwise
  unary(op: UnaryOp, x: T): T;
  binary(op: BinaryOp, a: Scalarish, b: Scalarish): T;
  clamp(x: T, min: Opt<number>, max: Opt<number>): T;
  where(cond: T, a: Scalarish, b: Scalarish): T;
  maskedFill(x: T, mask: T, value: number): T;
  /** returns x, updated */
  inplace(op: InplaceOp, x: T, other: Scalarish, alpha?: number): T;
  fill_(x: T, value: number): T;

  // reductions (dims null: all)
  reduce(op: ReduceOp, x: T, dims: Opt<readonly number[]>, keepdim: boolean): T;
  argmax(x: T, dim: Opt<number>, keepdim: boolean): T;
  argmin(x: T, dim: Opt<number>, keepdim: boolean): T;
  softmax(x: T, dim: number): T;
  logSoftmax(x: T, dim: number): T;

  // shapes and indexing
  reshape(x: T, shape: readonly number[]): T;
  flatten(x: T, start: number, end: number): T;
  transpose(x: T, d0: number, d1: number): T;
  permute(x: T, dims: readonly number[]): T;
  expand(x: T, shape: readonly number[]): T;
  unsqueeze(x: T, dim: number): T;
  squeeze(x: T, dim: Opt<number>): T;
  narrow(x: T, dim: number, start: number, length: number): T;
  select(x: T, dim: number, index: number): T;
  cat(xs: readonly T[], dim: number): T;
  stack(xs: readonly T[], dim: number): T;
  indexSelect(x: T, dim: number, index: T): T;
  gather(x: T, dim: number, index: T): T;

  // layers
  matmul(a: T, b: T): T;
  linear(x: T, weight: T, bias: Opt<T>): T;
  conv2d(x: T, weight: T, bias: Opt<T>, stride: number, padding: number, dilation: number, groups: number): T;
  batchNorm(x: T, weight: Opt<T>, bias: Opt<T>, runningMean: Opt<T>, runningVar: Opt<T>, training: boolean, momentum: number, eps: number): T;
  maxPool2d(x: T, kernel: number, stride: number, padding: number): T;
  avgPool2d(x: T, kernel: number, stride: number, padding: number): T;
  adaptiveAvgPool2d(x: T, size: readonly [number, number]): T;
  dropout(x: T, p: number, training: boolean): T;
  l2normalize(x: T, dim: number, eps: number): T;

  // losses
  crossEntropy(logits: T, target: T, reduction: Reduction, labelSmoothing: number, weight: Opt<T>, ignoreIndex: number): T;
  bceWithLogits(logits: T, target: T, reduction: Reduction, posWeight: Opt<T>, weight: Opt<T>): T;
  mseLoss(a: T, b: T, reduction: Reduction): T;

  // optimizers
  optimizer(kind: OptimizerKind, params: readonly T[], options: NativeOptimizerOptions): NativeOptimizer;
  optimStep(o: NativeOptimizer): void;
  optimZeroGrad(o: NativeOptimizer, setToNone?: boolean): void;
  optimGetLr(o: NativeOptimizer): number;
  optimSetLr(o: NativeOptimizer, lr: number): void;
  optimSaveState(o: NativeOptimizer): Uint8Array;
  optimLoadState(o: NativeOptimizer, state: Uint8Array): void;
  optimDispose(o: NativeOptimizer): void;

  // distributed (c10d; native/dist.cc): one process group per process, every collective waits up to its timeout
  /** the TCPStore at addr:port (hosted here when isServer), keys under prefix when given, and the process group */
  distInit(backend: "gloo" | "nccl", addr: string, port: number, rank: number, worldSize: number, timeoutMs: number, isServer: boolean, prefix: string | null): void;
  distDestroy(): void;
  distInfo(): { rank: number; size: number; backend: string } | null;
  distAllReduce(ts: readonly T[], op?: "sum" | "max" | "min"): void;
  /** in place, the mean over ranks, in all-reduces of about bucketBytes each */
  distAllReduceMean(ts: readonly T[], bucketBytes: number): void;
  /** every rank's t concatenated along dim 0 (no autograd history) */
  distAllGather(t: T): T;
  distBroadcast(ts: readonly T[], root: number): void;
  distBarrier(): void;

  // process-wide
  setNumThreads(n: number): void;
  getNumThreads(): number;
  emptyCache(): void;
  manualSeed(seed: number): void;
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  parallelInfo(): string;
  setAllowTF32(on: boolean): void;
}

const ADDON = path.join("native", "build", "imaginet_torch.node");

/** Where the built addon is: $IMAGINET_TORCH_ADDON, else native/build/ in the first folder above this file that has one. */
export function addonPath(): string | undefined {
  const env = process.env.IMAGINET_TORCH_ADDON;
  if (env) return env;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = path.join(dir, ADDON);
    if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  return undefined;
}

let loaded: TorchAddon | undefined;

/** The addon, loaded once per thread; throws with the build command when it is not built. */
export function native(): TorchAddon {
  if (loaded) return loaded;
  const p = addonPath();
  if (!p) throw new InputError("the libtorch engine is not built: run `node scripts/build-native.mjs` (needs libtorch: `bash scripts/setup.sh` or IMAGINET_LIBTORCH)");
  try {
    loaded = createRequire(import.meta.url)(p) as TorchAddon;
  } catch (err) {
    throw new InputError(`the libtorch engine at ${p} does not load: ${(err as Error).message.split("\n")[0]}; rebuild it with \`node scripts/build-native.mjs --force\``);
  }
  return loaded;
}

/** Whether the addon is built and loads here. */
export function nativeAvailable(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}
