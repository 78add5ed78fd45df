/**
 * A minimal protobuf encoder for the parts of onnx.proto that exporting a model needs:
 * ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto (tensor types
 * with static or named dims) and OperatorSetIdProto. Field numbers follow onnx.proto (proto2).
 */

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values used here. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface TensorProto {
  name: string;
  dims: readonly number[];
  dataType: DataTypeCode;
  /** little-endian element bytes (TensorProto.raw_data) */
  raw: Uint8Array;
  /** the bytes live in a file beside the model instead (TensorProto.external_data, data_location = EXTERNAL) */
  external?: { location: string; offset: number; length: number };
}

export type AttributeValue =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "floats"; value: readonly number[] }
  | { kind: "string"; value: string }
  | { kind: "tensor"; value: TensorProto };

export interface NodeProto {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attributes?: Readonly<Record<string, AttributeValue>>;
}

/** A dim is a fixed size or a symbolic name (e.g. "batch"). */
export type Dim = number | string;

export interface ValueInfoProto {
  name: string;
  elemType: DataTypeCode;
  shape?: readonly Dim[];
}

export interface GraphProto {
  name: string;
  nodes: readonly NodeProto[];
  inputs: readonly ValueInfoProto[];
  outputs: readonly ValueInfoProto[];
  initializers: readonly TensorProto[];
  valueInfo?: readonly ValueInfoProto[];
}

export interface ModelProto {
  irVersion: number;
  opsetImports: readonly { domain: string; version: number }[];
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  graph: GraphProto;
  metadata?: Readonly<Record<string, string>>;
}

const WIRE_VARINT = 0;
const WIRE_I32 = 5;
const WIRE_LEN = 2;

/** Append-only protobuf writer; nested messages are encoded to bytes first, then length-prefixed. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(256);
  private pos = 0;
  private total = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.flush();
    if (n > this.cur.length) this.cur = new Uint8Array(Math.max(n, 256));
  }

  private flush(): void {
    if (this.pos > 0) {
      this.chunks.push(this.cur.slice(0, this.pos));
      this.pos = 0;
    }
  }

  /** unsigned varint; negative numbers are written as 64-bit two's complement (10 bytes) */
  varint(v: number | bigint): this {
    let b = typeof v === "bigint" ? v : BigInt(v);
    if (typeof v === "number" && !Number.isSafeInteger(v)) throw new Error(`varint: ${v} is not a safe integer`);
    if (b < 0n) b = BigInt.asUintN(64, b);
    this.ensure(10);
    if (b < 0x80000000n) {
      let n = Number(b);
      while (n >= 0x80) {
        this.cur[this.pos++] = (n & 0x7f) | 0x80;
        this.total++;
        n >>>= 7;
      }
      this.cur[this.pos++] = n;
      this.total++;
      return this;
    }
    while (b >= 0x80n) {
      this.cur[this.pos++] = Number(b & 0x7fn) | 0x80;
      this.total++;
      b >>= 7n;
    }
    this.cur[this.pos++] = Number(b);
    this.total++;
    return this;
  }

  private tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }

  raw(bytes: Uint8Array): this {
    if (bytes.length > 4096) {
      this.flush();
      this.chunks.push(bytes);
    } else {
      this.ensure(bytes.length);
      this.cur.set(bytes, this.pos);
      this.pos += bytes.length;
    }
    this.total += bytes.length;
    return this;
  }

  int(field: number, v: number | bigint): this {
    return this.tag(field, WIRE_VARINT).varint(v);
  }

  float(field: number, v: number): this {
    this.tag(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.raw(b);
  }

  bytes(field: number, b: Uint8Array): this {
    return this.tag(field, WIRE_LEN).varint(b.length).raw(b);
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** a nested message, written by fn into its own writer */
  message(field: number, fn: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    fn(w);
    const parts = w.parts();
    this.tag(field, WIRE_LEN).varint(w.length);
    for (const p of parts) this.raw(p);
    return this;
  }

  get length(): number {
    return this.total;
  }

  parts(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }

  finish(): Uint8Array {
    const parts = this.parts();
    const out = new Uint8Array(this.total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function writeTensor(w: ProtoWriter, t: TensorProto): void {
  for (const d of t.dims) w.int(1, d); // dims (repeated int64, unpacked is valid)
  w.int(2, t.dataType); // data_type
  w.string(8, t.name); // name
  if (t.external) {
    const e = t.external;
    for (const [k, v] of [
      ["location", e.location],
      ["offset", String(e.offset)],
      ["length", String(e.length)],
    ] as const)
      w.message(13, (m) => m.string(1, k).string(2, v)); // external_data
    w.int(14, 1); // data_location = EXTERNAL
  } else w.bytes(9, t.raw); // raw_data
}

function writeAttribute(w: ProtoWriter, name: string, a: AttributeValue): void {
  w.string(1, name);
  switch (a.kind) {
    case "float":
      w.float(2, a.value).int(20, AttrType.FLOAT);
      break;
    case "int":
      w.int(3, a.value).int(20, AttrType.INT);
      break;
    case "string":
      w.string(4, a.value).int(20, AttrType.STRING);
      break;
    case "tensor":
      w.message(5, (m) => writeTensor(m, a.value)).int(20, AttrType.TENSOR);
      break;
    case "floats":
      for (const v of a.value) w.float(7, v);
      w.int(20, AttrType.FLOATS);
      break;
    case "ints":
      for (const v of a.value) w.int(8, v);
      w.int(20, AttrType.INTS);
      break;
  }
}

function writeNode(w: ProtoWriter, n: NodeProto): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, (m) => writeAttribute(m, k, v));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoProto): void {
  w.string(1, v.name);
  // type: TypeProto { tensor_type (1): Tensor { elem_type (1), shape (2): TensorShapeProto { dim (1): { dim_value (1) | dim_param (2) } } } }
  w.message(2, (tp) =>
    tp.message(1, (tt) => {
      tt.int(1, v.elemType);
      if (v.shape) {
        const shape = v.shape;
        tt.message(2, (sh) => {
          for (const d of shape) sh.message(1, (dm) => (typeof d === "number" ? dm.int(1, d) : dm.string(2, d)));
        });
      }
    }),
  );
}

function writeGraph(w: ProtoWriter, g: GraphProto): void {
  for (const n of g.nodes) w.message(1, (m) => writeNode(m, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t));
  for (const v of g.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of g.outputs) w.message(12, (m) => writeValueInfo(m, v));
  for (const v of g.valueInfo ?? []) w.message(13, (m) => writeValueInfo(m, v));
}

/** Serialises a ModelProto to its binary protobuf form (what InferenceSession.create accepts). */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion);
  if (m.producerName) w.string(2, m.producerName);
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, (g) => writeGraph(g, m.graph));
  for (const o of m.opsetImports) {
    w.message(8, (op) => {
      if (o.domain) op.string(1, o.domain);
      op.int(2, o.version);
    });
  }
  for (const [k, v] of Object.entries(m.metadata ?? {})) w.message(14, (e) => e.string(1, k).string(2, v));
  return w.finish();
}

/** A float32 TensorProto from values (copied into little-endian raw bytes). */
export function floatTensor(name: string, dims: readonly number[], data: ArrayLike<number>): TensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(", ")}] (${n})`);
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  return { name, dims, dataType: DataType.FLOAT, raw: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
}

/** An int64 TensorProto (for shapes, axes, …). */
export function int64Tensor(name: string, dims: readonly number[], data: readonly number[]): TensorProto {
  const b = new BigInt64Array(data.map((v) => BigInt(v)));
  return { name, dims, dataType: DataType.INT64, raw: new Uint8Array(b.buffer) };
}
