/**
 * The tracing backend of the op interface: running a model definition with it records an ONNX
 * graph. Values are names; parameters become graph initializers named by their state-dict keys,
 * filled in later (see src/models/load.ts) from whatever weights the caller has.
 */
import { nearestFactor, type AttentionOps, type Conv2dOptions } from "../models/ops.js";
import { DataType, encodeModel, floatTensor, int64Tensor, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto } from "./proto.js";

export const OPSET = 17;
export const IR_VERSION = 8;

export interface ParamSpec {
  name: string;
  shape: readonly number[];
}

export interface TracedGraph {
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: string[];
  /** parameters in first-use order */
  params: ParamSpec[];
  /** constants the trace created itself (shapes, eps) */
  constants: TensorProto[];
}

export class TraceOps implements AttentionOps<string> {
  readonly nodes: NodeProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: string[] = [];
  readonly params = new Map<string, ParamSpec>();
  readonly constants: TensorProto[] = [];
  private counter = 0;

  private fresh(op: string): string {
    return `${op}_${this.counter++}`;
  }

  private node(opType: string, inputs: string[], attributes: NodeProto["attributes"] = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [out], name: `${opType}_${this.nodes.length}`, attributes });
    return out;
  }

  private constInt64(values: readonly number[]): string {
    const name = this.fresh("const");
    this.constants.push(int64Tensor(name, [values.length], values));
    return name;
  }

  private constFloat(value: number): string {
    const name = this.fresh("const");
    this.constants.push(floatTensor(name, [], [value]));
    return name;
  }

  input(name: string, shape: readonly (number | string)[]): string {
    this.inputs.push({ name, elemType: DataType.FLOAT, shape });
    return name;
  }

  param(name: string, shape: readonly number[]): string {
    const prev = this.params.get(name);
    if (prev) {
      if (prev.shape.join(",") !== shape.join(",")) throw new Error(`parameter ${name} used with shapes [${prev.shape.join(", ")}] and [${shape.join(", ")}]`);
      return name;
    }
    this.params.set(name, { name, shape: [...shape] });
    return name;
  }

  output(name: string, x: string): void {
    this.node("Identity", [x], {}, name);
    this.outputs.push(name);
  }

  conv2d(x: string, weight: string, bias: string | null, o: Conv2dOptions = {}): string {
    const s = o.stride ?? 1;
    const p = o.padding ?? 0;
    const d = o.dilation ?? 1;
    return this.node("Conv", bias ? [x, weight, bias] : [x, weight], {
      strides: { kind: "ints", value: [s, s] },
      pads: { kind: "ints", value: [p, p, p, p] },
      dilations: { kind: "ints", value: [d, d] },
      group: { kind: "int", value: o.groups ?? 1 },
    });
  }

  batchNorm(x: string, weight: string, bias: string, runningMean: string, runningVar: string, eps: number): string {
    return this.node("BatchNormalization", [x, weight, bias, runningMean, runningVar], { epsilon: { kind: "float", value: eps } });
  }

  relu(x: string): string {
    return this.node("Relu", [x]);
  }

  maxPool2d(x: string, kernel: number, stride: number, padding: number): string {
    return this.node("MaxPool", [x], {
      kernel_shape: { kind: "ints", value: [kernel, kernel] },
      strides: { kind: "ints", value: [stride, stride] },
      pads: { kind: "ints", value: [padding, padding, padding, padding] },
    });
  }

  add(a: string, b: string): string {
    return this.node("Add", [a, b]);
  }

  mean(x: string, axes: readonly number[], keepDims: boolean): string {
    // opset 13-17: axes is an attribute
    return this.node("ReduceMean", [x], { axes: { kind: "ints", value: axes }, keepdims: { kind: "int", value: keepDims ? 1 : 0 } });
  }

  linear(x: string, weight: string, bias: string | null): string {
    return this.node("Gemm", bias ? [x, weight, bias] : [x, weight], { transB: { kind: "int", value: 1 } });
  }

  matmul(a: string, b: string): string {
    return this.node("MatMul", [a, b]);
  }

  reshape(x: string, shape: readonly number[]): string {
    return this.node("Reshape", [x, this.constInt64(shape)]);
  }

  flatten(x: string, axis: number): string {
    return this.node("Flatten", [x], { axis: { kind: "int", value: axis } });
  }

  l2normalize(x: string, axis: number, eps = 1e-12): string {
    const norm = this.node("ReduceL2", [x], { axes: { kind: "ints", value: [axis] }, keepdims: { kind: "int", value: 1 } });
    const clamped = this.node("Max", [norm, this.constFloat(eps)]);
    return this.node("Div", [x, clamped]);
  }

  avgPool2d(x: string, k: number): string {
    return this.node("AveragePool", [x], { kernel_shape: { kind: "ints", value: [k, k] }, strides: { kind: "ints", value: [k, k] } });
  }

  transpose(x: string, perm: readonly number[]): string {
    return this.node("Transpose", [x], { perm: { kind: "ints", value: perm } });
  }

  concat(xs: readonly string[], axis: number): string {
    return this.node("Concat", [...xs], { axis: { kind: "int", value: axis } });
  }

  slice(x: string, axis: number, start: number, end: number): string {
    return this.node("Slice", [x, this.constInt64([start]), this.constInt64([end]), this.constInt64([axis])]);
  }

  softmax(x: string, axis: number): string {
    return this.node("Softmax", [x], { axis: { kind: "int", value: axis } });
  }

  scale(x: string, s: number): string {
    return this.node("Mul", [x, this.constFloat(s)]);
  }

  downsampleNearest2d(x: string, f: number): string {
    return this.resizeNearest(x, 1 / nearestFactor(f));
  }

  upsampleNearest2d(x: string, f: number): string {
    return this.resizeNearest(x, nearestFactor(f));
  }

  /** Resize by s on H and W: output ⌊H·s⌋ × ⌊W·s⌋, out[i] = x[⌊i/s⌋] (asymmetric coordinates, floor) */
  private resizeNearest(x: string, s: number): string {
    const scales = this.fresh("const");
    this.constants.push(floatTensor(scales, [4], [1, 1, s, s]));
    return this.node("Resize", [x, "", scales], {
      mode: { kind: "string", value: "nearest" },
      coordinate_transformation_mode: { kind: "string", value: "asymmetric" },
      nearest_mode: { kind: "string", value: "floor" },
    });
  }

  mul(a: string, b: string): string {
    return this.node("Mul", [a, b]);
  }

  sigmoid(x: string): string {
    return this.node("Sigmoid", [x]);
  }

  /** LayerNormalization is in the default domain from opset 17 (OPSET) */
  layerNorm(x: string, weight: string, bias: string, eps: number): string {
    return this.node("LayerNormalization", [x, weight, bias], { axis: { kind: "int", value: -1 }, epsilon: { kind: "float", value: eps } });
  }

  expandAs(x: string, like: string): string {
    return this.node("Expand", [x, this.node("Shape", [like])]);
  }

  graph(): TracedGraph {
    return { nodes: this.nodes, inputs: this.inputs, outputs: this.outputs, params: [...this.params.values()], constants: this.constants };
  }
}

/** Records a model definition's graph. */
export function trace(build: (ops: TraceOps) => void): TracedGraph {
  const ops = new TraceOps();
  build(ops);
  return ops.graph();
}

export interface ExportOptions {
  name?: string;
  producerVersion?: string;
  metadata?: Record<string, string>;
  /**
   * Keep the weights in a file of this name beside the model (ONNX external data). Needed past
   * protobuf's 2 GB message limit; buildFromStateDict chooses it by itself for such models.
   */
  externalData?: string;
}

/** Protobuf messages are limited to 2 GiB; past this many weight bytes the model keeps them in a side file. */
export const INLINE_WEIGHTS_LIMIT = 1.8 * 2 ** 30;

/** The model bytes, and where external data is used, the side file's name and bytes (in order). */
export interface OnnxModel {
  model: Uint8Array;
  external?: { location: string; chunks: Uint8Array[] };
}

/**
 * Encodes a traced graph as ONNX bytes; `weights` supplies every parameter (float32, in the shape
 * the trace recorded). Outputs keep a symbolic batch dim; other output dims are left to ORT.
 */
export function toOnnx(g: TracedGraph, weights: ReadonlyMap<string, Float32Array>, opts: ExportOptions = {}): OnnxModel {
  const initializers: TensorProto[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const p of g.params) {
    const w = weights.get(p.name);
    if (!w) throw new Error(`no weights for parameter ${p.name}`);
    const t = floatTensor(p.name, p.shape, w);
    if (opts.externalData !== undefined && t.raw.length >= 1024) {
      t.external = { location: opts.externalData, offset, length: t.raw.length };
      chunks.push(t.raw);
      offset += t.raw.length;
    }
    initializers.push(t);
  }
  if (opts.externalData === undefined && initializers.reduce((a, t) => a + t.raw.length, 0) > INLINE_WEIGHTS_LIMIT) {
    throw new Error("the weights exceed protobuf's 2 GB limit: export with external data");
  }
  initializers.push(...g.constants);
  const graph: GraphProto = {
    name: opts.name ?? "model",
    nodes: g.nodes,
    inputs: g.inputs,
    outputs: g.outputs.map((name) => ({ name, elemType: DataType.FLOAT })),
    initializers,
  };
  const model = encodeModel({
    irVersion: IR_VERSION,
    opsetImports: [{ domain: "", version: OPSET }],
    producerName: "imaginet",
    producerVersion: opts.producerVersion ?? "0.1.0",
    graph,
    metadata: opts.metadata,
  });
  return opts.externalData === undefined ? { model } : { model, external: { location: opts.externalData, chunks } };
}
