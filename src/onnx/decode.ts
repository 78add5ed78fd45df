/**
 * Reads ONNX bytes back into the ModelProto of src/onnx/proto.ts: the subset this project writes
 * (and onnxruntime's optimised-model dumps use). Fields outside it (doc strings, functions,
 * training info, typed tensor fields other than float_data/int32_data/int64_data) are skipped;
 * a tensor kept in an external data file is refused, since its bytes are not in the model.
 */
import { InputError } from "../util/errors.js";
import type { AttributeValue, DataTypeCode, Dim, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from "./proto.js";

class ProtoReader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new InputError("ONNX model: truncated varint");
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  }

  /** a varint as a signed 64-bit value, as a number */
  int(): number {
    return Number(BigInt.asIntN(64, this.varint()));
  }

  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new InputError("ONNX model: truncated field");
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(): string {
    return new TextDecoder().decode(this.bytes());
  }

  float(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  /** field number and wire type of the next field */
  tag(): [number, number] {
    const t = Number(this.varint());
    return [t >>> 3, t & 7];
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new InputError(`ONNX model: unsupported protobuf wire type ${wire}`);
  }

  /** Calls fn(field, wire) for each field; fn returns false for a field it did not read (skipped). */
  fields(fn: (field: number, wire: number) => boolean): void {
    while (!this.done) {
      const [field, wire] = this.tag();
      if (!fn(field, wire)) this.skip(wire);
    }
  }

  /** repeated scalar: packed (wire 2) or one value per tag */
  repeated(wire: number, one: (r: ProtoReader) => number): number[] {
    if (wire !== 2) return [one(this)];
    const r = new ProtoReader(this.bytes());
    const out: number[] = [];
    while (!r.done) out.push(one(r));
    return out;
  }
}

const read = (b: Uint8Array) => new ProtoReader(b);

function decodeTensor(buf: Uint8Array): TensorProto {
  const r = read(buf);
  const dims: number[] = [];
  let dataType = 0;
  let name = "";
  let raw: Uint8Array | null = null;
  const floats: number[] = [];
  const ints: number[] = [];
  let external = false;
  r.fields((f, w) => {
    if (f === 1) dims.push(...r.repeated(w, (x) => x.int()));
    else if (f === 2) dataType = r.int();
    else if (f === 8) name = r.string();
    else if (f === 9) raw = r.bytes().slice();
    else if (f === 4) floats.push(...r.repeated(w, (x) => x.float()));
    else if (f === 5 || f === 7) ints.push(...r.repeated(w, (x) => x.int()));
    else if (f === 14) external = r.int() === 1;
    else return false;
    return true;
  });
  if (external) throw new InputError(`ONNX tensor ${name} keeps its data in an external file: not supported here`);
  return { name, dims, dataType: dataType as DataTypeCode, raw: raw ?? typedRaw(dataType, floats, ints) };
}

/** float_data / int32_data / int64_data as little-endian raw bytes */
function typedRaw(dataType: number, floats: number[], ints: number[]): Uint8Array {
  if (floats.length > 0) return new Uint8Array(Float32Array.from(floats).buffer);
  if (dataType === 7) return new Uint8Array(BigInt64Array.from(ints.map((v) => BigInt(v))).buffer);
  if (dataType === 6) return new Uint8Array(Int32Array.from(ints).buffer);
  if (dataType === 2 || dataType === 9) return Uint8Array.from(ints);
  if (dataType === 3) return new Uint8Array(Int8Array.from(ints).buffer);
  return new Uint8Array(0);
}

function decodeAttribute(buf: Uint8Array): [string, AttributeValue | null] {
  const r = read(buf);
  let name = "";
  let type = 0;
  let f = 0;
  let i = 0;
  let s = "";
  let t: TensorProto | null = null;
  const floats: number[] = [];
  const ints: number[] = [];
  r.fields((field, w) => {
    if (field === 1) name = r.string();
    else if (field === 2) f = r.float();
    else if (field === 3) i = r.int();
    else if (field === 4) s = r.string();
    else if (field === 5) t = decodeTensor(r.bytes());
    else if (field === 7) floats.push(...r.repeated(w, (x) => x.float()));
    else if (field === 8) ints.push(...r.repeated(w, (x) => x.int()));
    else if (field === 20) type = r.int();
    else return false;
    return true;
  });
  const value: AttributeValue | null =
    type === 1
      ? { kind: "float", value: f }
      : type === 2
        ? { kind: "int", value: i }
        : type === 3
          ? { kind: "string", value: s }
          : type === 4 && t
            ? { kind: "tensor", value: t }
            : type === 6
              ? { kind: "floats", value: floats }
              : type === 7
                ? { kind: "ints", value: ints }
                : null;
  return [name, value];
}

function decodeNode(buf: Uint8Array): NodeProto {
  const r = read(buf);
  const inputs: string[] = [];
  const outputs: string[] = [];
  let name = "";
  let opType = "";
  let domain = "";
  const attributes: Record<string, AttributeValue> = {};
  r.fields((f) => {
    if (f === 1) inputs.push(r.string());
    else if (f === 2) outputs.push(r.string());
    else if (f === 3) name = r.string();
    else if (f === 4) opType = r.string();
    else if (f === 7) domain = r.string();
    else if (f === 5) {
      const [k, v] = decodeAttribute(r.bytes());
      if (v) attributes[k] = v;
    } else return false;
    return true;
  });
  return { opType, inputs, outputs, ...(name ? { name } : {}), ...(domain ? { domain } : {}), attributes };
}

function decodeValueInfo(buf: Uint8Array): ValueInfoProto {
  const r = read(buf);
  let name = "";
  let elemType = 0;
  let shape: Dim[] | undefined;
  // type: TypeProto { tensor_type (1): { elem_type (1), shape (2): { dim (1): { dim_value (1) | dim_param (2) } } } }
  const readShape = (sh: ProtoReader) =>
    sh.fields((df) => {
      if (df !== 1) return false;
      const d = read(sh.bytes());
      let dim: Dim = "";
      d.fields((kf) => {
        if (kf === 1) dim = d.int();
        else if (kf === 2) dim = d.string();
        else return false;
        return true;
      });
      (shape ??= []).push(dim);
      return true;
    });
  r.fields((f) => {
    if (f === 1) name = r.string();
    else if (f === 2) {
      const tp = read(r.bytes());
      tp.fields((tf) => {
        if (tf !== 1) return false;
        const tt = read(tp.bytes());
        tt.fields((ef) => {
          if (ef === 1) elemType = tt.int();
          else if (ef === 2) {
            shape = [];
            readShape(read(tt.bytes()));
          } else return false;
          return true;
        });
        return true;
      });
    } else return false;
    return true;
  });
  return { name, elemType: elemType as DataTypeCode, ...(shape ? { shape } : {}) };
}

function decodeGraph(buf: Uint8Array): GraphProto {
  const r = read(buf);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const inputs: ValueInfoProto[] = [];
  const outputs: ValueInfoProto[] = [];
  const valueInfo: ValueInfoProto[] = [];
  let name = "";
  r.fields((f) => {
    if (f === 1) nodes.push(decodeNode(r.bytes()));
    else if (f === 2) name = r.string();
    else if (f === 5) initializers.push(decodeTensor(r.bytes()));
    else if (f === 11) inputs.push(decodeValueInfo(r.bytes()));
    else if (f === 12) outputs.push(decodeValueInfo(r.bytes()));
    else if (f === 13) valueInfo.push(decodeValueInfo(r.bytes()));
    else return false;
    return true;
  });
  return { name, nodes, initializers, inputs, outputs, ...(valueInfo.length ? { valueInfo } : {}) };
}

/** ONNX bytes → ModelProto (the subset described above). */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const r = read(bytes);
  let irVersion = 0;
  let producerName: string | undefined;
  let producerVersion: string | undefined;
  let docString: string | undefined;
  let graph: GraphProto | null = null;
  const opsetImports: { domain: string; version: number }[] = [];
  const metadata: Record<string, string> = {};
  r.fields((f) => {
    if (f === 1) irVersion = r.int();
    else if (f === 2) producerName = r.string();
    else if (f === 3) producerVersion = r.string();
    else if (f === 6) docString = r.string();
    else if (f === 7) graph = decodeGraph(r.bytes());
    else if (f === 8) {
      let domain = "";
      let version = 0;
      const o = read(r.bytes());
      o.fields((of) => {
        if (of === 1) domain = o.string();
        else if (of === 2) version = o.int();
        else return false;
        return true;
      });
      opsetImports.push({ domain, version });
    } else if (f === 14) {
      let k = "";
      let v = "";
      const e = read(r.bytes());
      e.fields((ef) => {
        if (ef === 1) k = e.string();
        else if (ef === 2) v = e.string();
        else return false;
        return true;
      });
      metadata[k] = v;
    } else return false;
    return true;
  });
  if (!graph) throw new InputError("ONNX model: no graph");
  return {
    irVersion,
    opsetImports,
    graph,
    ...(producerName !== undefined ? { producerName } : {}),
    ...(producerVersion !== undefined ? { producerVersion } : {}),
    ...(docString !== undefined ? { docString } : {}),
    ...(Object.keys(metadata).length ? { metadata } : {}),
  };
}
