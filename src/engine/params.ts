/**
 * Parameter stores: state-dict key → Tensor, loaded from a checkpoint or initialised the way
 * PyTorch initialises modules. Buffers (BN running stats, num_batches_tracked) never require grad.
 */
import type { LazyTensor } from "../checkpoint/index.js";
import { keep, ones, rand, randn, tensor, tidy, zeros, type DType, type HostArray, type Tensor } from "./tensor.js";
import { noGrad } from "./runtime.js";
import { fnv1a } from "../util/rng.js";

export type ParamStore = Map<string, Tensor>;

/** Creates a missing parameter; it may look at parameters already in the store (a bias at its weight). */
export type ParamInit = (name: string, shape: readonly number[], store: ParamStore) => Tensor;

const BUFFER_SUFFIXES = [".running_mean", ".running_var", ".num_batches_tracked"];

export function isBuffer(name: string): boolean {
  return BUFFER_SUFFIXES.some((s) => name.endsWith(s)) || name === "running_mean" || name === "running_var" || name === "num_batches_tracked";
}

/** The store's learnable tensors (those requiring grad), in insertion order: what an optimizer gets. */
export function trainableParams(store: ParamStore): Tensor[] {
  return [...store.values()].filter((t) => t.requiresGrad);
}

const CHECKPOINT_DTYPES: Partial<Record<LazyTensor["dtype"], DType>> = {
  f64: "float64",
  f32: "float32",
  f16: "float32",
  bf16: "float32",
  i64: "int64",
  i32: "int32",
  i16: "int16",
  i8: "int8",
  u8: "uint8",
  bool: "bool",
};

export interface LoadParamsOptions {
  /** make floating-point non-buffer tensors require grad (for training); default false */
  requiresGrad?: boolean;
  /** move to this device */
  device?: string;
}

/** Reads a state dict (src/checkpoint) into tensors; float16/bfloat16 are widened to float32. */
export async function loadParams(sd: ReadonlyMap<string, LazyTensor>, opts: LoadParamsOptions = {}): Promise<ParamStore> {
  const store: ParamStore = new Map();
  for (const [name, lt] of sd) {
    const dtype = CHECKPOINT_DTYPES[lt.dtype];
    if (!dtype) throw new Error(`${name}: dtype ${lt.dtype} has no engine equivalent`);
    const data = (await lt.read({ halfToFloat32: true })) as HostArray;
    let t = keep(tensor(data, lt.shape, dtype === "bool" ? "bool" : undefined));
    if (opts.device && opts.device !== "cpu") t = keep(t.to(opts.device));
    if (opts.requiresGrad && !isBuffer(name) && (dtype === "float32" || dtype === "float64")) t.requiresGrad = true;
    store.set(name, t);
  }
  return store;
}

/** Copies a store out (detached, on the CPU): name → { data, shape, dtype }. */
export function storeToHost(store: ParamStore): Map<string, { data: HostArray; shape: number[]; dtype: DType }> {
  const out = new Map<string, { data: HostArray; shape: number[]; dtype: DType }>();
  for (const [k, t] of store) out.set(k, { data: t.toArray(), shape: t.shape, dtype: t.dtype === "float16" || t.dtype === "bfloat16" ? "float32" : t.dtype });
  return out;
}

export interface InitOptions {
  /** each parameter's values come from seed and its name, so they do not depend on creation order */
  seed?: number;
  /** "pytorch": each module's reset_parameters (conv / linear: kaiming_uniform(a=√5), bias U(±1/√fan_in));
   *  "torchvision-resnet": conv weights kaiming_normal(fan_out, relu), as torchvision's ResNet */
  conv?: "pytorch" | "torchvision-resnet";
  device?: string;
}

/**
 * PyTorch's default initialisation, told apart by key and shape: running_mean 0, running_var 1,
 * a 1-D weight is a norm layer's (1), a bias is a norm layer's (0) when its weight is 1-D, else
 * U(±1/√fan_in) of its weight; ≥2-D weights kaiming_uniform(a=√5) = U(±1/√fan_in).
 */
export function defaultInit(opts: InitOptions = {}): ParamInit {
  const seed = opts.seed ?? 0;
  const device = opts.device;
  const seedOf = (name: string) => (Math.imul(seed, 0x9e3779b1) ^ fnv1a(name)) >>> 0;
  const uniform = (name: string, shape: readonly number[], bound: number) =>
    tidy(() =>
      noGrad(() =>
        rand(shape, { seed: seedOf(name) })
          .mul(2 * bound)
          .sub(bound),
      ),
    );
  const fanIn = (shape: readonly number[]) => shape.slice(1).reduce((a, b) => a * b, 1);
  return (name, shape, store) => {
    const leaf = name.slice(name.lastIndexOf(".") + 1);
    let t: Tensor;
    if (leaf === "running_mean") t = zeros(shape);
    else if (leaf === "running_var") t = ones(shape);
    else if (leaf === "num_batches_tracked") t = zeros(shape, { dtype: "int64" });
    else if (leaf === "weight" && shape.length === 1) t = ones(shape);
    else if (leaf === "bias") {
      const wt = store.get(`${name.slice(0, -"bias".length)}weight`);
      t = !wt || wt.ndim === 1 ? zeros(shape) : uniform(name, shape, 1 / Math.sqrt(fanIn(wt.shape)));
    } else if (shape.length >= 2 && opts.conv === "torchvision-resnet" && shape.length === 4) {
      const fanOut = shape[0]! * shape.slice(2).reduce((a, b) => a * b, 1);
      t = tidy(() => noGrad(() => randn(shape, { seed: seedOf(name) }).mul(Math.sqrt(2 / fanOut))));
    } else if (shape.length >= 2) t = uniform(name, shape, 1 / Math.sqrt(fanIn(shape)));
    else throw new Error(`no default initialisation for ${name} [${shape.join(", ")}]`);
    if (device && device !== "cpu") t = t.to(device);
    if (!isBuffer(name)) t.requiresGrad = true;
    return t;
  };
}
