/**
 * Writes checkpoints in torch.save's zip format, so that `torch.load` reads them (and so does our
 * reader): `archive/data.pkl` (a protocol-2 pickle of the object, tensors as
 * torch._utils._rebuild_tensor_v2 over persistent-id storages), `archive/data/<i>` (each tensor's
 * bytes, stored uncompressed at a 64-byte-aligned offset as torch does), `archive/version`.
 * Maps become collections.OrderedDict (a state dict), plain objects dict, arrays list.
 */
import * as zlib from "node:zlib";
import { writeFileAtomic } from "../util/fs.js";
import { DTYPE_SIZE, type DType, type TypedArray } from "./tensor.js";

export interface TensorData {
  dtype: DType;
  shape: readonly number[];
  data: TypedArray;
}

export type TorchValue = TensorData | number | bigint | string | boolean | null | readonly TorchValue[] | ReadonlyMap<string, TorchValue> | { readonly [k: string]: TorchValue };

const STORAGE: Record<DType, string> = {
  f32: "FloatStorage",
  f64: "DoubleStorage",
  f16: "HalfStorage",
  bf16: "BFloat16Storage",
  i64: "LongStorage",
  i32: "IntStorage",
  i16: "ShortStorage",
  i8: "CharStorage",
  u8: "ByteStorage",
  bool: "BoolStorage",
  u16: "UInt16Storage",
  u32: "UInt32Storage",
  u64: "UInt64Storage",
};

function isTensor(v: unknown): v is TensorData {
  return typeof v === "object" && v !== null && "dtype" in v && "shape" in v && "data" in v && ArrayBuffer.isView((v as TensorData).data);
}

/** A minimal protocol-2 pickler for the values a checkpoint holds. */
class Pickler {
  private parts: Buffer[] = [];
  readonly storages: Uint8Array[] = [];

  private op(...bytes: number[]): void {
    this.parts.push(Buffer.from(bytes));
  }

  private str(s: string): void {
    const b = Buffer.from(s, "utf8");
    const h = Buffer.alloc(5);
    h[0] = 0x58; // BINUNICODE
    h.writeUInt32LE(b.length, 1);
    this.parts.push(h, b);
  }

  private global(module: string, name: string): void {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, "latin1")); // GLOBAL
  }

  private int(v: number | bigint): void {
    if (typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(v, 1);
      this.parts.push(b);
      return;
    }
    // LONG1: little-endian two's complement, as short as it can be
    let n = BigInt(v);
    const bytes: number[] = [];
    for (;;) {
      const byte = Number(n & 0xffn);
      bytes.push(byte);
      n >>= 8n;
      if ((n === 0n && (byte & 0x80) === 0) || (n === -1n && (byte & 0x80) !== 0)) break;
    }
    this.op(0x8a, bytes.length, ...bytes);
  }

  private tuple(items: readonly (() => void)[]): void {
    this.op(0x28); // MARK
    for (const f of items) f();
    this.op(0x74); // TUPLE
  }

  private tensor(t: TensorData): void {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel) throw new Error(`a tensor of shape [${t.shape.join(", ")}] needs ${numel} values, got ${t.data.length}`);
    if (t.data.BYTES_PER_ELEMENT !== DTYPE_SIZE[t.dtype]) throw new Error(`dtype ${t.dtype} does not match a ${t.data.constructor.name}`);
    const key = String(this.storages.length);
    this.storages.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    const strides: number[] = [];
    let s = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      strides[i] = s;
      s *= t.shape[i]!;
    }
    this.global("torch._utils", "_rebuild_tensor_v2");
    this.tuple([
      () => {
        this.tuple([() => this.str("storage"), () => this.global("torch", STORAGE[t.dtype]), () => this.str(key), () => this.str("cpu"), () => this.int(numel)]);
        this.op(0x51); // BINPERSID
      },
      () => this.int(0),
      () => this.tuple(t.shape.map((d) => () => this.int(d))),
      () => this.tuple(strides.map((d) => () => this.int(d))),
      () => this.op(0x89), // requires_grad = False
      () => this.orderedDict(new Map()),
    ]);
    this.op(0x52); // REDUCE
  }

  private items(entries: Iterable<[string, TorchValue]>): void {
    this.op(0x28); // MARK
    for (const [k, v] of entries) {
      this.str(k);
      this.value(v);
    }
    this.op(0x75); // SETITEMS
  }

  private orderedDict(m: ReadonlyMap<string, TorchValue>): void {
    this.global("collections", "OrderedDict");
    this.op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
    if (m.size > 0) this.items(m);
  }

  value(v: TorchValue): void {
    if (v === null)
      this.op(0x4e); // NONE
    else if (typeof v === "boolean") this.op(v ? 0x88 : 0x89);
    else if (typeof v === "bigint") this.int(v);
    else if (typeof v === "number") {
      if (Number.isInteger(v)) this.int(v);
      else {
        const b = Buffer.alloc(9);
        b[0] = 0x47; // BINFLOAT, big-endian
        b.writeDoubleBE(v, 1);
        this.parts.push(b);
      }
    } else if (typeof v === "string") this.str(v);
    else if (isTensor(v)) this.tensor(v);
    else if (Array.isArray(v)) {
      this.op(0x5d, 0x28); // EMPTY_LIST, MARK
      for (const x of v) this.value(x);
      this.op(0x65); // APPENDS
    } else if (v instanceof Map) this.orderedDict(v);
    else {
      this.op(0x7d); // EMPTY_DICT
      const entries = Object.entries(v as Record<string, TorchValue>);
      if (entries.length > 0) this.items(entries);
    }
  }

  finish(v: TorchValue): Buffer {
    this.op(0x80, 0x02); // PROTO 2
    this.value(v);
    this.op(0x2e); // STOP
    return Buffer.concat(this.parts);
  }
}

/** A zip of stored (uncompressed) entries, each entry's data starting at a multiple of 64. */
export function storedZip(entries: readonly { name: string; data: Uint8Array }[]): Buffer[] {
  const out: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const crc = zlib.crc32(e.data);
    const pad = (64 - ((offset + 30 + name.length + 4) % 64)) % 64;
    // an extra field of id 0x4b46 ("FK", as torch writes) pads the data to the alignment
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4b46, 0);
    extra.writeUInt16LE(pad, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(e.data.length, 20);
    cd.writeUInt32LE(e.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    out.push(local, name, extra, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
    offset += 30 + name.length + extra.length + e.data.length;
    if (offset >= 2 ** 32) throw new Error("a checkpoint past 4 GiB needs zip64, which this writer does not do");
  }
  const cdSize = central.reduce((a, b) => a + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return [...out, ...central, end];
}

/** The zip's parts for `value` saved as torch.save would (zip format, archive folder "archive"). */
export function torchSaveParts(value: TorchValue): Buffer[] {
  const p = new Pickler();
  const pkl = p.finish(value);
  return storedZip([{ name: "archive/data.pkl", data: pkl }, ...p.storages.map((data, i) => ({ name: `archive/data/${i}`, data })), { name: "archive/version", data: Buffer.from("3\n") }]);
}

/** Writes `value` as a torch.save checkpoint (atomically: temp file, then rename). */
export async function writeTorchCheckpoint(file: string, value: TorchValue): Promise<void> {
  await writeFileAtomic(file, torchSaveParts(value));
}
