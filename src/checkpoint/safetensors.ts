/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * ({"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, …}, padded
 * with spaces to a multiple of 8), then the tensors' bytes (offsets relative to the end of the header).
 *
 * Reading checks what the reference implementation checks (header size, offsets that tile the data
 * exactly) and leaves the data on disk: each tensor is a LazyTensor on its own byte range.
 * Writing produces the same bytes as the reference (safetensors' serialize): tensors ordered by
 * dtype (widest first, in its Dtype enum order) then name, compact JSON, space padding.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { DTYPE_SIZE, LazyTensor, contiguousStrides, Storage, bytesOf, readFileRange, tensorFromArray, type DType, type ReadOptions, type TypedArray } from "./tensor.js";
import { InputError } from "../util/errors.js";

/** safetensors dtype names, in the order of the reference's Dtype enum (the writer sorts by it). */
const ST_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"] as const;

const FROM_ST: Record<string, DType> = {
  BOOL: "bool",
  U8: "u8",
  I8: "i8",
  I16: "i16",
  U16: "u16",
  F16: "f16",
  BF16: "bf16",
  I32: "i32",
  U32: "u32",
  F32: "f32",
  F64: "f64",
  I64: "i64",
  U64: "u64",
};
const TO_ST: Record<DType, string> = {
  bool: "BOOL",
  u8: "U8",
  i8: "I8",
  i16: "I16",
  u16: "U16",
  f16: "F16",
  bf16: "BF16",
  i32: "I32",
  u32: "U32",
  f32: "F32",
  f64: "F64",
  i64: "I64",
  u64: "U64",
};

/** The reference refuses headers above this size. */
const MAX_HEADER_SIZE = 100_000_000;

export interface SafetensorsFile {
  file: string;
  /** the "__metadata__" entry, or null when there is none */
  metadata: Record<string, string> | null;
  /** in the header's order */
  tensors: Map<string, LazyTensor>;
  /** where the data starts (8 + header length) */
  dataOffset: number;
}

export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  let size: number;
  try {
    size = (await fsp.stat(file)).size;
  } catch (err) {
    throw new InputError(`${file}: cannot read: ${(err as Error).message}`);
  }
  if (size < 8) throw new InputError(`${file}: not a safetensors file: ${size} bytes is shorter than the 8-byte header length`);
  const lenBytes = await readFileRange(file, 0, 8, "the header length");
  const n64 = Buffer.from(lenBytes).readBigUInt64LE(0);
  if (n64 > BigInt(MAX_HEADER_SIZE)) throw new InputError(`${file}: not a safetensors file: header length ${n64} exceeds ${MAX_HEADER_SIZE}`);
  const n = Number(n64);
  if (8 + n > size) throw new InputError(`${file}: truncated: the header needs bytes 8..${8 + n} but the file has ${size}`);
  const headerBytes = await readFileRange(file, 8, n, "the header");
  const text = Buffer.from(headerBytes).toString("utf8");
  if (!text.startsWith("{")) throw new InputError(`${file}: not a safetensors file: the header does not start with '{'`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: invalid safetensors header JSON: ${(err as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new InputError(`${file}: invalid safetensors header: not a JSON object`);
  const dataOffset = 8 + n;
  const dataLength = size - dataOffset;
  let metadata: Record<string, string> | null = null;
  const infos: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (v === null) continue;
      if (typeof v !== "object" || Array.isArray(v)) throw new InputError(`${file}: invalid safetensors header: __metadata__ is not an object`);
      metadata = Object.create(null) as Record<string, string>;
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== "string") throw new InputError(`${file}: invalid safetensors header: __metadata__.${mk} is not a string`);
        metadata[mk] = mv;
      }
      continue;
    }
    const bad = (why: string): never => {
      throw new InputError(`${file}: invalid safetensors header: tensor ${JSON.stringify(name)} ${why}`);
    };
    if (typeof v !== "object" || v === null) bad("is not an object");
    const info = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info.dtype !== "string") bad("has no dtype");
    const dtype = FROM_ST[info.dtype as string];
    if (dtype === undefined) bad(`has dtype ${String(info.dtype)}, which is not supported`);
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad("has an invalid shape");
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) bad("has invalid data_offsets");
    const [begin, end] = offs as [number, number];
    const shape = info.shape as number[];
    const bytes = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype!];
    if (end < begin || end - begin !== bytes) bad(`has data_offsets [${begin}, ${end}] for ${bytes} bytes of data`);
    infos.push({ name, dtype: dtype!, shape, begin, end });
  }
  // as the reference: the tensors' data must tile the data section exactly
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of sorted) {
    if (t.begin !== at) throw new InputError(`${file}: invalid safetensors header: tensor ${JSON.stringify(t.name)} starts at ${t.begin}, expected ${at} (gap or overlap)`);
    at = t.end;
  }
  if (at > dataLength) throw new InputError(`${file}: truncated: the tensors need ${at} bytes of data but the file has ${dataLength}`);
  if (at !== dataLength) throw new InputError(`${file}: invalid safetensors file: ${dataLength - at} bytes after the last tensor`);
  const tensors = new Map<string, LazyTensor>();
  for (const t of infos) {
    const storage = new Storage(t.name, t.dtype, t.end - t.begin, { kind: "file", file, offset: dataOffset + t.begin }, file);
    tensors.set(t.name, new LazyTensor(storage, t.dtype, t.shape, contiguousStrides(t.shape), 0));
  }
  return { file, metadata, tensors, dataOffset };
}

/** A tensor to write: one already lazy (read when written) or data in memory. */
export type TensorInput = LazyTensor | { dtype: DType; shape: readonly number[]; data: TypedArray };

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** The header bytes (padded) and the order the tensors' data follows in. */
export function safetensorsHeader(tensors: ReadonlyMap<string, { dtype: DType; shape: readonly number[] }>, metadata: Record<string, string> | null = null): { header: Uint8Array; order: string[] } {
  const rank = (d: DType): number => ST_ORDER.indexOf(TO_ST[d] as (typeof ST_ORDER)[number]);
  const order = [...tensors.keys()].sort((a, b) => rank(tensors.get(b)!.dtype) - rank(tensors.get(a)!.dtype) || utf8Compare(a, b));
  const parts: string[] = [];
  if (metadata !== null) {
    const keys = Object.keys(metadata).sort(utf8Compare);
    const meta = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
    parts.push(`"__metadata__":{${meta.join(",")}}`);
  }
  let offset = 0;
  for (const name of order) {
    if (name === "__metadata__") throw new Error("a tensor cannot be named __metadata__");
    const t = tensors.get(name)!;
    const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype];
    parts.push(`${JSON.stringify(name)}:{"dtype":"${TO_ST[t.dtype]}","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${offset + bytes}]}`);
    offset += bytes;
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8");
  const pad = (8 - (json.length % 8)) % 8;
  const header = Buffer.alloc(8 + json.length + pad, 0x20);
  header.writeBigUInt64LE(BigInt(json.length + pad), 0);
  json.copy(header, 8);
  return { header, order };
}

/**
 * Writes a safetensors file as the reference does, atomically: into a temp file beside it, then
 * renamed. Tensors are written one at a time (a LazyTensor is read just before it is written),
 * so memory holds one tensor, not the file.
 */
export async function writeSafetensors(file: string, tensors: ReadonlyMap<string, TensorInput> | Record<string, TensorInput>, metadata: Record<string, string> | null = null): Promise<void> {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const lazy = new Map<string, LazyTensor>();
  for (const [name, t] of entries) {
    lazy.set(name, t instanceof LazyTensor ? t : tensorFromArray(t.data, t.dtype, t.shape));
  }
  if (metadata !== null) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== "string") throw new Error(`metadata ${k} is not a string`);
  }
  const { header, order } = safetensorsHeader(lazy, metadata);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fh = await fsp.open(tmp, "wx");
    try {
      await writeAll(fh, header);
      for (const name of order) {
        const data = await lazy.get(name)!.read({} satisfies ReadOptions); // raw bits: halves stay halves
        await writeAll(fh, bytesOf(data));
      }
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

async function writeAll(fh: fsp.FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
    done += bytesWritten;
  }
}
