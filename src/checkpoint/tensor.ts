/**
 * Tensors that stay on disk until read: a {@link Storage} is a byte range of a checkpoint file, a
 * {@link LazyTensor} a view into one (dtype, shape, strides and offset in elements, as in PyTorch).
 * Reading a tensor reads only the bytes its view spans, with positional reads on a file handle;
 * {@link readAll} reads a storage that several tensors share once.
 */
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as zlib from "node:zlib";
import { InputError } from "../util/errors.js";

export type DType = "f64" | "f32" | "f16" | "bf16" | "i64" | "i32" | "i16" | "i8" | "u8" | "bool" | "u16" | "u32" | "u64";

export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  f64: 8,
  f32: 4,
  f16: 2,
  bf16: 2,
  i64: 8,
  i32: 4,
  i16: 2,
  i8: 1,
  u8: 1,
  bool: 1,
  u16: 2,
  u32: 4,
  u64: 8,
};

export type TypedArray = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint32Array | BigUint64Array;

/**
 * The array read() gives for each dtype: f16 and bf16 are their raw bits in a Uint16Array unless
 * halfToFloat32 is asked for; bool is a Uint8Array of 0 / 1; i64 / u64 are BigInt arrays.
 */
export interface ReadOptions {
  /** convert f16 and bf16 to a Float32Array */
  halfToFloat32?: boolean;
}

/** Where a storage's bytes are. */
export type StorageSource =
  | { kind: "file"; file: string; offset: number }
  | { kind: "deflate"; file: string; offset: number; compressedLength: number }
  | { kind: "memory"; bytes: Uint8Array }
  | { kind: "view"; parent: Storage; offset: number };

if (os.endianness() !== "LE") {
  // Typed arrays use the host's byte order; every format read here is little-endian.
  throw new Error("src/checkpoint needs a little-endian host");
}

const READ_CHUNK = 1 << 30;

/** Reads file[offset, offset + length) into a fresh array; a short file is a clear error. */
export async function readFileRange(file: string, offset: number, length: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  if (length === 0) return out;
  const fh = await fsp.open(file, "r");
  try {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(out, done, Math.min(length - done, READ_CHUNK), offset + done);
      if (bytesRead === 0) {
        throw new InputError(`${file}: truncated: ${what} needs bytes ${offset}..${offset + length} but the file ends at byte ${offset + done}`);
      }
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return out;
}

/**
 * Inflates a raw deflate stream that must give exactly `size` bytes: one that would give more is
 * stopped there (a zip header can lie about what its entry inflates to), so memory stays bounded
 * by the declared size. `what` starts the error messages ("FILE: zip entry NAME").
 */
export function inflateAtMost(packed: Uint8Array, size: number, what: string): Uint8Array {
  let out: Uint8Array;
  try {
    out = zlib.inflateRawSync(packed, { maxOutputLength: Math.max(size, 1) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw new InputError(`${what} inflates past its declared ${size} bytes`);
    throw new InputError(`${what} does not inflate: ${(err as Error).message}`);
  }
  if (out.length !== size) throw new InputError(`${what} inflates to ${out.length} bytes, its declared size is ${size}`);
  return out;
}

/** A storage: a run of bytes on disk (or in memory) that tensors view. */
export class Storage {
  /** how many times bytes were fetched for this storage or its views (for tests and diagnostics) */
  reads = 0;
  bytesRead = 0;
  /** @internal the legacy format learns where storages lie only after their tensors */
  source: StorageSource | undefined;

  constructor(
    /** where errors can point: "data/3", a tensor name … */
    readonly name: string,
    /** the element type the checkpoint declared for it */
    readonly dtype: DType,
    readonly byteLength: number,
    source: StorageSource | undefined,
    /** the file it comes from, for messages */
    readonly file: string,
    /** the data was saved big-endian (a zip checkpoint's byteorder record says "big") */
    readonly bigEndian = false,
  ) {
    this.source = source;
  }

  /** The storage this one is a view of (itself when none) and where it starts in it. */
  get root(): { storage: Storage; offset: number } {
    let s: Storage = this;
    let offset = 0;
    while (s.source?.kind === "view") {
      offset += s.source.offset;
      s = s.source.parent;
    }
    return { storage: s, offset };
  }

  /** Reads bytes [start, end) of this storage into a fresh array. */
  async readBytes(start: number, end: number): Promise<Uint8Array> {
    if (start < 0 || end > this.byteLength || start > end) {
      throw new InputError(`${this.file}: bytes ${start}..${end} lie outside storage ${this.name} (${this.byteLength} bytes)`);
    }
    const src = this.source;
    if (src === undefined) throw new InputError(`${this.file}: storage ${this.name} was never located in the file`);
    if (src.kind === "view") return src.parent.readBytes(src.offset + start, src.offset + end);
    this.reads++;
    this.bytesRead += end - start;
    if (src.kind === "memory") return src.bytes.slice(start, end);
    if (src.kind === "file") return readFileRange(src.file, src.offset + start, end - start, `storage ${this.name}`);
    const packed = await readFileRange(src.file, src.offset, src.compressedLength, `storage ${this.name}`);
    return (await inflateAtMost(packed, this.byteLength, `${this.file}: storage ${this.name}`)).slice(start, end);
  }
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= Math.max(shape[i]!, 1); // as torch: a size-0 dimension counts as 1
  }
  return strides;
}

/** A tensor whose data stays in its storage until read(). */
export class LazyTensor {
  readonly numel: number;
  /** first and one-past-last element of the storage that the view touches (both 0 when empty) */
  readonly span: { readonly lo: number; readonly hi: number };

  constructor(
    readonly storage: Storage,
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    /** in elements of dtype */
    readonly storageOffset: number,
    readonly requiresGrad = false,
  ) {
    const where = `${storage.file}: tensor on storage ${storage.name}`;
    if (shape.length !== strides.length) throw new InputError(`${where} has ${shape.length} sizes but ${strides.length} strides`);
    for (const v of [...shape, ...strides, storageOffset]) {
      if (!Number.isSafeInteger(v) || v < 0) throw new InputError(`${where} has an invalid size, stride or offset (${v})`);
    }
    this.numel = shape.reduce((a, b) => a * b, 1);
    if (this.numel === 0) {
      this.span = { lo: 0, hi: 0 };
    } else {
      let hi = storageOffset;
      for (let i = 0; i < shape.length; i++) hi += (shape[i]! - 1) * strides[i]!;
      this.span = { lo: storageOffset, hi: hi + 1 };
      const es = DTYPE_SIZE[dtype];
      if (this.span.hi * es > storage.byteLength) {
        throw new InputError(
          `${where}: the view (offset ${storageOffset}, sizes [${shape.join(", ")}], strides [${strides.join(", ")}]) reaches byte ${this.span.hi * es}, past the storage's ${storage.byteLength} bytes`,
        );
      }
    }
  }

  get isContiguous(): boolean {
    const c = contiguousStrides(this.shape);
    return this.shape.every((n, i) => n === 1 || this.strides[i] === c[i]);
  }

  /** Reads the tensor's elements, contiguous in row-major order, into a fresh array. */
  async read(opts: ReadOptions = {}): Promise<TypedArray> {
    const es = DTYPE_SIZE[this.dtype];
    if (this.numel === 0) return typedArray(this.dtype, new Uint8Array(0), opts);
    const bytes = await this.storage.readBytes(this.span.lo * es, this.span.hi * es);
    return this.fromSpan(bytes, this.span.lo, opts);
  }

  /** @internal builds the data from the bytes of storage elements [spanLo, …) */
  fromSpan(bytes: Uint8Array, spanLo: number, opts: ReadOptions): TypedArray {
    const es = DTYPE_SIZE[this.dtype];
    let out: Uint8Array;
    if (this.numel === 0) {
      out = new Uint8Array(0);
    } else if (this.isContiguous && spanLo === this.span.lo && bytes.byteOffset === 0 && bytes.byteLength === this.numel * es) {
      out = bytes; // already exactly the tensor, fresh and aligned
    } else {
      out = gather(bytes, es, this.shape, this.strides, this.storageOffset - spanLo, this.numel);
    }
    if (this.storage.bigEndian && es > 1) swapBytes(out, es);
    return typedArray(this.dtype, out, opts);
  }
}

/** Copies a strided view out of src (whose element 0 is storage element spanLo) into a contiguous array. */
function gather(src: Uint8Array, es: number, shapeIn: readonly number[], stridesIn: readonly number[], offsetIn: number, numel: number): Uint8Array {
  let shape = [...shapeIn];
  let strides = [...stridesIn];
  let offset = offsetIn;
  let unit = es;
  if (es === 8) {
    // copy 8-byte elements as two 32-bit words (no float NaN canonicalisation, no BigInt)
    shape = [...shape, 2];
    strides = [...strides.map((s) => s * 2), 1];
    offset *= 2;
    unit = 4;
  }
  if (src.byteOffset % unit !== 0) throw new Error("internal: unaligned span");
  const out = new Uint8Array(numel * es);
  const count = (numel * es) / unit;
  const s = unit === 1 ? src : unit === 2 ? new Uint16Array(src.buffer, src.byteOffset, src.byteLength >> 1) : new Uint32Array(src.buffer, src.byteOffset, src.byteLength >> 2);
  const d = unit === 1 ? out : unit === 2 ? new Uint16Array(out.buffer) : new Uint32Array(out.buffer);
  const nd = shape.length;
  if (nd === 0) {
    d[0] = s[offset]!;
    return out;
  }
  const inner = shape[nd - 1]!;
  const innerStride = strides[nd - 1]!;
  const idx = new Array<number>(nd - 1).fill(0);
  let base = offset;
  let k = 0;
  while (k < count) {
    if (innerStride === 1) {
      d.set(s.subarray(base, base + inner), k);
      k += inner;
    } else {
      let p = base;
      for (let i = 0; i < inner; i++, p += innerStride) d[k++] = s[p]!;
    }
    for (let dim = nd - 2; dim >= 0; dim--) {
      idx[dim]!++;
      base += strides[dim]!;
      if (idx[dim]! < shape[dim]!) break;
      base -= strides[dim]! * shape[dim]!;
      idx[dim] = 0;
    }
  }
  return out;
}

function swapBytes(b: Uint8Array, es: number): void {
  for (let i = 0; i < b.length; i += es) {
    for (let a = i, z = i + es - 1; a < z; a++, z--) {
      const t = b[a]!;
      b[a] = b[z]!;
      b[z] = t;
    }
  }
}

let halfTable: Float32Array | undefined;

export function halfBitsToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** f16 bits → f32, exactly (every half is a float). NaNs become the quiet NaN with the payload shifted, as torch's .float() does. */
export function halfToFloat32(bits: Uint16Array): Float32Array {
  if (halfTable === undefined) {
    const t = new Uint32Array(65536);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
        t[h] = ((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13) | 0x400000;
      } else {
        f[0] = halfBitsToFloat(h);
        t[h] = u[0]!;
      }
    }
    halfTable = new Float32Array(t.buffer);
  }
  const out = new Uint32Array(bits.length);
  const table = new Uint32Array(halfTable.buffer);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return new Float32Array(out.buffer);
}

/** bf16 bits → f32 (the upper half of a float's bits). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

/** Views bytes (fresh, offset 0 or aligned) as the array for dtype. */
export function typedArray(dtype: DType, b: Uint8Array, opts: ReadOptions = {}): TypedArray {
  const es = DTYPE_SIZE[dtype];
  if (b.byteOffset % es !== 0) b = b.slice();
  const n = b.byteLength / es;
  const buf = b.buffer;
  const o = b.byteOffset;
  switch (dtype) {
    case "f64":
      return new Float64Array(buf, o, n);
    case "f32":
      return new Float32Array(buf, o, n);
    case "f16": {
      const bits = new Uint16Array(buf, o, n);
      return opts.halfToFloat32 ? halfToFloat32(bits) : bits;
    }
    case "bf16": {
      const bits = new Uint16Array(buf, o, n);
      return opts.halfToFloat32 ? bfloat16ToFloat32(bits) : bits;
    }
    case "i64":
      return new BigInt64Array(buf, o, n);
    case "u64":
      return new BigUint64Array(buf, o, n);
    case "i32":
      return new Int32Array(buf, o, n);
    case "u32":
      return new Uint32Array(buf, o, n);
    case "i16":
      return new Int16Array(buf, o, n);
    case "u16":
      return new Uint16Array(buf, o, n);
    case "i8":
      return new Int8Array(buf, o, n);
    case "u8":
    case "bool":
      return new Uint8Array(buf, o, n);
  }
}

/** The bytes of a typed array (a view, no copy). */
export function bytesOf(a: TypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A tensor over data already in memory (for writing). */
export function tensorFromArray(data: TypedArray, dtype: DType, shape: readonly number[]): LazyTensor {
  const bytes = bytesOf(data);
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel * DTYPE_SIZE[dtype] !== bytes.byteLength) {
    throw new Error(`tensor of shape [${shape.join(", ")}] and dtype ${dtype} needs ${numel * DTYPE_SIZE[dtype]} bytes, the array has ${bytes.byteLength}`);
  }
  const storage = new Storage("array", dtype, bytes.byteLength, { kind: "memory", bytes }, "memory");
  return new LazyTensor(storage, dtype, shape, contiguousStrides(shape), 0);
}

/**
 * Reads many tensors, each storage at most once: tensors that share a storage (views, slices,
 * tied weights) are cut from one read of the bytes they span together. Storages are handled one
 * after another, so at most one shared storage's span is held beside the results.
 */
export async function readAll<K>(tensors: Iterable<[K, LazyTensor]> | ReadonlyMap<K, LazyTensor>, opts: ReadOptions = {}): Promise<Map<K, TypedArray>> {
  const entries = [...(tensors instanceof Map ? tensors.entries() : tensors)] as [K, LazyTensor][];
  const groups = new Map<Storage, { key: K; t: LazyTensor; lo: number; hi: number }[]>();
  for (const [key, t] of entries) {
    const { storage, offset } = t.storage.root;
    const es = DTYPE_SIZE[t.dtype];
    const g = groups.get(storage) ?? [];
    g.push({ key, t, lo: offset + t.span.lo * es, hi: offset + t.span.hi * es });
    groups.set(storage, g);
  }
  const out = new Map<K, TypedArray>();
  for (const [storage, group] of groups) {
    const live = group.filter((m) => m.t.numel > 0);
    if (live.length <= 1) {
      for (const m of group) out.set(m.key, await m.t.read(opts));
      continue;
    }
    const lo = Math.min(...live.map((m) => m.lo));
    const hi = Math.max(...live.map((m) => m.hi));
    const bytes = await storage.readBytes(lo, hi);
    for (const m of group) {
      if (m.t.numel === 0) {
        out.set(m.key, await m.t.read(opts));
        continue;
      }
      const es = DTYPE_SIZE[m.t.dtype];
      const rel = m.lo - lo; // where this tensor's span starts in the shared read
      const len = m.hi - m.lo;
      // a contiguous tensor gets its own copy (results never alias each other); a strided one is gathered from a view
      let piece = m.t.isContiguous ? bytes.slice(rel, rel + len) : bytes.subarray(rel, rel + len);
      if (piece.byteOffset % es !== 0) piece = piece.slice();
      out.set(m.key, m.t.fromSpan(piece, m.t.span.lo, opts));
    }
  }
  // keep the caller's order
  return new Map(entries.map(([k]) => [k, out.get(k)!]));
}
