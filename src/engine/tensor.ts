/**
 * The typed Tensor over the addon, creation functions, and scopes: tidy(fn) disposes every tensor
 * created inside fn except those it returns and those passed to keep(), so a training loop frees
 * libtorch memory at once instead of waiting for the garbage collector.
 */
import { native, type MemoryFormat, type BinaryOp, type DType, type HostArray, type InplaceOp, type NativeTensor, type ReduceOp, type UnaryOp } from "./native.js";

export type { DType, HostArray } from "./native.js";
export type TensorLike = Tensor | number;

const scopes: Set<Tensor>[] = [];

export class Tensor {
  #h: NativeTensor;
  #kept = false;

  /** wraps a native handle (taking ownership); registers it with the innermost tidy scope */
  constructor(handle: NativeTensor) {
    this.#h = handle;
    scopes.at(-1)?.add(this);
  }

  get handle(): NativeTensor {
    return this.#h;
  }

  get shape(): number[] {
    return native().shape(this.#h);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    return native().dtype(this.#h);
  }
  get device(): string {
    return native().device(this.#h);
  }
  get disposed(): boolean {
    return native().isDisposed(this.#h);
  }
  get kept(): boolean {
    return this.#kept;
  }

  /** releases the libtorch tensor now (views and autograd graphs holding it keep their own reference) */
  dispose(): void {
    native().dispose(this.#h);
  }

  /** exempts this tensor from every tidy scope (parameters, optimizer state, running totals) */
  keep(): this {
    this.#kept = true;
    for (const s of scopes) s.delete(this);
    return this;
  }

  /** a copy of the data (Float32Array for float32, BigInt64Array for int64, Uint8Array for bool/uint8, …) */
  toArray(): HostArray {
    return native().toArray(this.#h);
  }
  /** the value of a one-element tensor */
  item(): number {
    return native().item(this.#h);
  }
  /** to a dtype ("float64") or a device ("cuda", "cpu") */
  to(target: DType | string): Tensor {
    return w(native().to(this.#h, target));
  }
  clone(): Tensor {
    return w(native().clone(this.#h));
  }
  /** a copy laid out as format (default: row-major); "channels_last" stores a 4-D tensor NHWC */
  contiguous(format: MemoryFormat = "contiguous"): Tensor {
    return w(native().contiguous(this.#h, format));
  }
  get isChannelsLast(): boolean {
    return native().isChannelsLast(this.#h);
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return native().requiresGrad(this.#h);
  }
  set requiresGrad(on: boolean) {
    native().setRequiresGrad(this.#h, on);
  }
  /** sets requiresGrad; returns this */
  requiresGrad_(on = true): this {
    native().setRequiresGrad(this.#h, on);
    return this;
  }
  /** the accumulated gradient, or undefined */
  get grad(): Tensor | undefined {
    const g = native().grad(this.#h);
    return g === undefined ? undefined : w(g);
  }
  backward(grad?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    native().backward(this.#h, grad?.handle, opts.retainGraph ?? false);
  }
  /** zeroes the gradient (as Optimizer.zero_grad), or drops it with setToNone */
  zeroGrad(setToNone = false): void {
    native().zeroGrad(this.#h, setToNone);
  }
  detach(): Tensor {
    return w(native().detach(this.#h));
  }
  get isLeaf(): boolean {
    return native().isLeaf(this.#h);
  }

  // ---- elementwise ----
  add(o: TensorLike): Tensor {
    return bin("add", this, o);
  }
  sub(o: TensorLike): Tensor {
    return bin("sub", this, o);
  }
  mul(o: TensorLike): Tensor {
    return bin("mul", this, o);
  }
  div(o: TensorLike): Tensor {
    return bin("div", this, o);
  }
  pow(o: TensorLike): Tensor {
    return bin("pow", this, o);
  }
  maximum(o: TensorLike): Tensor {
    return bin("maximum", this, o);
  }
  minimum(o: TensorLike): Tensor {
    return bin("minimum", this, o);
  }
  eq(o: TensorLike): Tensor {
    return bin("eq", this, o);
  }
  ne(o: TensorLike): Tensor {
    return bin("ne", this, o);
  }
  lt(o: TensorLike): Tensor {
    return bin("lt", this, o);
  }
  le(o: TensorLike): Tensor {
    return bin("le", this, o);
  }
  gt(o: TensorLike): Tensor {
    return bin("gt", this, o);
  }
  ge(o: TensorLike): Tensor {
    return bin("ge", this, o);
  }
  neg(): Tensor {
    return un("neg", this);
  }
  exp(): Tensor {
    return un("exp", this);
  }
  log(): Tensor {
    return un("log", this);
  }
  sqrt(): Tensor {
    return un("sqrt", this);
  }
  abs(): Tensor {
    return un("abs", this);
  }
  relu(): Tensor {
    return un("relu", this);
  }
  sigmoid(): Tensor {
    return un("sigmoid", this);
  }
  tanh(): Tensor {
    return un("tanh", this);
  }
  square(): Tensor {
    return un("square", this);
  }
  /** any elementwise op of the addon by name */
  unary(op: UnaryOp): Tensor {
    return un(op, this);
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return w(native().clamp(this.#h, min, max));
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return w(native().maskedFill(this.#h, mask.handle, value));
  }

  // ---- reductions (dims omitted: all) ----
  sum(dims?: number | readonly number[], keepdim = false): Tensor {
    return red("sum", this, dims, keepdim);
  }
  mean(dims?: number | readonly number[], keepdim = false): Tensor {
    return red("mean", this, dims, keepdim);
  }
  /** maximum values (torch.amax) */
  max(dims?: number | readonly number[], keepdim = false): Tensor {
    return red("amax", this, dims, keepdim);
  }
  min(dims?: number | readonly number[], keepdim = false): Tensor {
    return red("amin", this, dims, keepdim);
  }
  logsumexp(dims: number | readonly number[], keepdim = false): Tensor {
    return red("logsumexp", this, dims, keepdim);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return w(native().argmax(this.#h, dim, keepdim));
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return w(native().argmin(this.#h, dim, keepdim));
  }
  softmax(dim: number): Tensor {
    return w(native().softmax(this.#h, dim));
  }
  logSoftmax(dim: number): Tensor {
    return w(native().logSoftmax(this.#h, dim));
  }
  matmul(o: Tensor): Tensor {
    return w(native().matmul(this.#h, o.handle));
  }

  // ---- shapes and indexing ----
  reshape(shape: readonly number[]): Tensor {
    return w(native().reshape(this.#h, shape));
  }
  flatten(start = 0, end = -1): Tensor {
    return w(native().flatten(this.#h, start, end));
  }
  transpose(d0: number, d1: number): Tensor {
    return w(native().transpose(this.#h, d0, d1));
  }
  permute(dims: readonly number[]): Tensor {
    return w(native().permute(this.#h, dims));
  }
  expand(shape: readonly number[]): Tensor {
    return w(native().expand(this.#h, shape));
  }
  unsqueeze(dim: number): Tensor {
    return w(native().unsqueeze(this.#h, dim));
  }
  squeeze(dim?: number): Tensor {
    return w(native().squeeze(this.#h, dim));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return w(native().narrow(this.#h, dim, start, length));
  }
  select(dim: number, index: number): Tensor {
    return w(native().select(this.#h, dim, index));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return w(native().indexSelect(this.#h, dim, index.handle));
  }
  gather(dim: number, index: Tensor): Tensor {
    return w(native().gather(this.#h, dim, index.handle));
  }

  // ---- in place (under noGrad for leaves that require grad); each returns this ----
  add_(o: TensorLike, alpha = 1): this {
    return this.#inplace("add_", o, alpha);
  }
  sub_(o: TensorLike, alpha = 1): this {
    return this.#inplace("sub_", o, alpha);
  }
  mul_(o: TensorLike): this {
    return this.#inplace("mul_", o);
  }
  div_(o: TensorLike): this {
    return this.#inplace("div_", o);
  }
  copy_(src: TensorLike): this {
    return this.#inplace("copy_", src);
  }
  fill_(value: number): this {
    native().fill_(this.#h, value);
    return this;
  }
  zero_(): this {
    return this.fill_(0);
  }
  #inplace(op: InplaceOp, o: TensorLike, alpha = 1): this {
    native().inplace(op, this.#h, typeof o === "number" ? o : o.handle, alpha);
    return this;
  }

  toString(): string {
    return this.disposed ? "Tensor(disposed)" : `Tensor(${this.dtype}, [${this.shape.join(", ")}], ${this.device})`;
  }
}

/** wraps a handle the addon returned */
export function w(h: NativeTensor): Tensor {
  return new Tensor(h);
}

function bin(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  return w(native().binary(op, typeof a === "number" ? a : a.handle, typeof b === "number" ? b : b.handle));
}
function un(op: UnaryOp, x: Tensor): Tensor {
  return w(native().unary(op, x.handle));
}
function red(op: ReduceOp, x: Tensor, dims: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  return w(native().reduce(op, x.handle, typeof dims === "number" ? [dims] : dims, keepdim));
}

/** binary ops with a number on either side: sub(1, x) is 1 - x */
export const binary = bin;

// ---- scopes ----

function collect(v: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 8 || v === null || typeof v !== "object") return;
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v) || v instanceof Set) for (const x of v) collect(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collect(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, depth + 1);
}

/**
 * Runs a synchronous fn and disposes the tensors created meanwhile, except those reachable from
 * its result (a Tensor, or arrays / Maps / plain objects of them) and kept ones; those survive
 * into the enclosing scope. On a throw everything created inside is disposed.
 */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error("tidy() takes a synchronous function (tensors of an async one cannot be tracked)");
  }
  const live = new Set<Tensor>();
  collect(result, live);
  const outer = scopes.at(-1);
  for (const t of scope) {
    if (live.has(t)) outer?.add(t);
    else t.dispose();
  }
  return result;
}

/** Marks tensors as exempt from every tidy scope. */
export function keep<X extends Tensor>(t: X): X {
  return t.keep();
}

/** Disposes every tensor reachable from v (a Tensor, array, Map or plain object of them). */
export function dispose(v: unknown): void {
  const all = new Set<Tensor>();
  collect(v, all);
  for (const t of all) t.dispose();
}

// ---- creation ----

export interface CreateOptions {
  dtype?: DType;
  device?: string;
}
export interface RandomOptions extends CreateOptions {
  /** a seed makes the values reproducible (drawn on the CPU, then moved); without one the global generator (manualSeed) is used */
  seed?: number;
}

/** a copy of typed-array data, or of plain numbers as float32; shape defaults to 1-D */
export function tensor(data: HostArray | readonly number[], shape?: readonly number[], dtype?: DType): Tensor {
  const arr = Array.isArray(data) ? Float32Array.from(data as readonly number[]) : (data as HostArray);
  return w(native().fromArray(arr, shape ?? [arr.length], dtype));
}
export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return w(native().full([], value, opts.dtype, opts.device));
}
export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return w(native().create("zeros", shape, opts.dtype, opts.device));
}
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return w(native().create("ones", shape, opts.dtype, opts.device));
}
export function empty(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return w(native().create("empty", shape, opts.dtype, opts.device));
}
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  return w(native().full(shape, value, opts.dtype, opts.device));
}
/** [start, end) by step; dtype float32 unless given */
export function arange(start: number, end: number, step = 1, opts: CreateOptions = {}): Tensor {
  return w(native().arange(start, end, step, opts.dtype, opts.device));
}
export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  return w(native().eye(n, m, opts.dtype, opts.device));
}
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return w(native().randn(shape, opts.seed, opts.dtype, opts.device));
}
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return w(native().rand(shape, opts.seed, opts.dtype, opts.device));
}
/** integers in [low, high); int64 unless a dtype is given */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return w(native().randint(low, high, shape, opts.seed, opts.dtype, opts.device));
}
/** a random permutation of 0…n-1 (int64) */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  return w(native().randperm(n, opts.seed, opts.dtype, opts.device));
}
