/**
 * Static int8 quantization of an exported detector into onnxruntime's QDQ format: per-channel
 * symmetric int8 weights, per-tensor asymmetric uint8 activations whose ranges are calibrated by
 * running the float model over a set of images. onnxruntime's CPU provider fuses
 * DQ → Conv → Q into QLinearConv (u8·s8 kernels: VNNI/AMX where the CPU has them), DQ → Add → Q into
 * QLinearAdd, DQ → AveragePool → Q into QLinearAveragePool, drops the Q/DQ around MaxPool, and turns
 * DQ → Gemm/MatMul into QGemm/MatMulIntegerToFloat. See docs/quantization.md.
 */
import * as ort from "onnxruntime-node";
import type { NormalizedImage } from "../image/preprocess.js";
import { InputError } from "../util/errors.js";
import { roundHalfEven } from "../util/round.js";
import { decodeModel } from "./decode.js";
import { DataType, encodeModel, floatTensor, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from "./proto.js";

/** How activation ranges are taken from the calibration outputs. */
export type RangeMethod = "minmax" | "percentile";

export interface QuantizeOptions {
  method?: RangeMethod;
  /** for "percentile": the fraction of values kept inside the range on each side (default 0.9999) */
  percentile?: number;
  /** recorded in the model's metadata_props (e.g. the calibration set's hash and count) */
  metadata?: Record<string, string>;
  /** onnxruntime intra-op threads for the calibration runs */
  threads?: number;
}

/** uint8 activations, asymmetric */
const QMIN = 0;
const QMAX = 255;
/** int8 weights, symmetric (−127…127, so that −w quantizes to −q) */
const WMAX = 127;

type Range = [number, number];

const floats = (t: TensorProto) => new Float32Array(t.raw.slice().buffer);

/** Quantizes ONNX model bytes, calibrating activation ranges on `images` (normalised CHW, one size). */
export async function quantizeModel(model: Uint8Array, images: readonly NormalizedImage[], opts: QuantizeOptions = {}): Promise<Uint8Array> {
  if (images.length === 0) throw new InputError("quantization needs at least one calibration image");
  const m = decodeModel(model);
  if (m.graph.nodes.some((n) => n.opType === "QuantizeLinear" || n.opType === "DequantizeLinear")) throw new InputError("the model is already quantized");
  const folded = foldBatchNorms(m.graph);
  const plan = planQuantization(folded);
  const ranges = await calibrate(m, folded, plan, images, opts);
  const graph = rewrite(folded, plan, ranges);
  const method = opts.method === "percentile" ? `percentile ${opts.percentile ?? 0.9999}` : "minmax";
  return encodeModel({
    ...m,
    opsetImports: m.opsetImports.map((o) => (o.domain === "" ? { domain: "", version: Math.max(o.version, 13) } : o)),
    graph,
    metadata: {
      ...m.metadata,
      quantization: "int8 QDQ: weights int8 symmetric per output channel, activations uint8 asymmetric per tensor",
      "quantization.calibration.method": method,
      "quantization.calibration.count": String(images.length),
      ...opts.metadata,
    },
  });
}

/** Who produces and who consumes each tensor. */
function index(g: GraphProto): { producer: Map<string, NodeProto>; consumers: Map<string, NodeProto[]>; init: Map<string, TensorProto> } {
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const n of g.nodes) {
    for (const o of n.outputs) producer.set(o, n);
    for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  return { producer, consumers, init: new Map(g.initializers.map((t) => [t.name, t])) };
}

function pruneInitializers(g: GraphProto): GraphProto {
  const used = new Set(g.nodes.flatMap((n) => n.inputs));
  return { ...g, initializers: g.initializers.filter((t) => used.has(t.name)) };
}

/**
 * Folds each BatchNormalization that is the only consumer of a Conv into the Conv's weight and
 * bias (in float64, rounded once to float32), so that its weights are quantized as they are used.
 */
export function foldBatchNorms(g: GraphProto): GraphProto {
  const { producer, consumers, init } = index(g);
  const replaced = new Map<NodeProto, NodeProto | null>();
  const added: TensorProto[] = [];
  for (const bn of g.nodes) {
    if (bn.opType !== "BatchNormalization") continue;
    const [x, ...params] = bn.inputs as [string, string, string, string, string];
    const conv = producer.get(x);
    const ps = params.map((p) => init.get(p));
    if (conv?.opType !== "Conv" || consumers.get(x)?.length !== 1 || ps.some((p) => !p) || !init.has(conv.inputs[1]!)) continue;
    const [gamma, beta, mean, variance] = ps.map((p) => floats(p!)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const eps = bn.attributes?.epsilon?.kind === "float" ? bn.attributes.epsilon.value : 1e-5;
    const wt = init.get(conv.inputs[1]!)!;
    const w = floats(wt);
    const cout = wt.dims[0]!;
    const per = w.length / cout;
    const bias0 = conv.inputs[2] ? floats(init.get(conv.inputs[2])!) : new Float32Array(cout);
    const w2 = new Float32Array(w.length);
    const b2 = new Float32Array(cout);
    for (let c = 0; c < cout; c++) {
      const k = gamma[c]! / Math.sqrt(variance[c]! + Math.fround(eps));
      for (let i = 0; i < per; i++) w2[c * per + i] = w[c * per + i]! * k;
      b2[c] = (bias0[c]! - mean[c]!) * k + beta[c]!;
    }
    const out = bn.outputs[0]!;
    added.push(floatTensor(`${out}.conv_weight`, wt.dims, w2), floatTensor(`${out}.conv_bias`, [cout], b2));
    replaced.set(conv, { ...conv, inputs: [conv.inputs[0]!, `${out}.conv_weight`, `${out}.conv_bias`], outputs: [out] });
    replaced.set(bn, null);
  }
  const nodes = g.nodes.flatMap((n) => (replaced.has(n) ? (replaced.get(n) ? [replaced.get(n)!] : []) : [n]));
  return pruneInitializers({ ...g, nodes, initializers: [...g.initializers, ...added] });
}

/** A weight op to quantize: its activation input, weight (and bias) initializer, the weight's channel axis. */
interface WeightOp {
  node: NodeProto;
  weight: string;
  axis: number;
  bias: string | null;
}

interface Plan {
  ops: Map<NodeProto, WeightOp>;
  /** ReLUs dropped: their input is quantized with their output's range (zero point 0 clamps as ReLU does) */
  absorbed: Map<NodeProto, NodeProto>;
  /** activation tensors to quantize, in graph order */
  tensors: string[];
  /** tensors that take another tensor's parameters (MaxPool output = its input's) */
  shared: Map<string, string>;
}

const isGraphOutput = (g: GraphProto, t: string) => g.outputs.some((o) => o.name === t);

/** Which nodes are weight ops, which ReLUs fold into a Q, and which tensors get Q/DQ pairs. */
function planQuantization(g: GraphProto): Plan {
  const { producer, consumers, init } = index(g);
  const ops = new Map<NodeProto, WeightOp>();
  const isHead = (n: NodeProto) => {
    const out = n.outputs[0]!;
    const cs = consumers.get(out) ?? [];
    return isGraphOutput(g, out) || (cs.length > 0 && cs.every((c) => c.opType === "Identity" && isGraphOutput(g, c.outputs[0]!)));
  };
  for (const n of g.nodes) {
    const w = n.inputs[1];
    const wt = w ? init.get(w) : undefined;
    if (!wt || init.has(n.inputs[0]!) || isHead(n)) continue;
    const attr = (k: string) => (n.attributes?.[k]?.kind === "int" ? n.attributes[k].value : undefined);
    const bias = n.inputs[2] && init.has(n.inputs[2]) ? n.inputs[2] : null;
    if (n.opType === "Conv") ops.set(n, { node: n, weight: wt.name, axis: 0, bias });
    else if (n.opType === "Gemm" && attr("transB") === 1 && !attr("transA") && n.attributes?.alpha === undefined && n.attributes?.beta === undefined)
      ops.set(n, { node: n, weight: wt.name, axis: 0, bias });
    else if (n.opType === "MatMul" && wt.dims.length === 2) ops.set(n, { node: n, weight: wt.name, axis: 1, bias: null });
  }
  const absorbed = new Map<NodeProto, NodeProto>();
  for (const n of g.nodes) {
    if (n.opType !== "Relu") continue;
    const p = producer.get(n.inputs[0]!);
    const soleUse = consumers.get(n.inputs[0]!)?.length === 1 && !isGraphOutput(g, n.inputs[0]!);
    if (p && soleUse && ((p.opType === "Conv" && ops.has(p)) || p.opType === "Add")) absorbed.set(p, n);
  }
  const tensors: string[] = [];
  const shared = new Map<string, string>();
  const quantized = new Set<string>();
  const add = (t: string) => {
    if (!quantized.has(t)) tensors.push(t);
    quantized.add(t);
  };
  const output = (n: NodeProto) => absorbed.get(n)?.outputs[0] ?? n.outputs[0]!;
  for (const n of g.nodes) {
    if (ops.has(n)) {
      add(n.inputs[0]!);
      if (n.opType === "Conv") add(output(n));
    } else if (n.opType === "Add" && n.inputs.every((i) => quantized.has(i))) add(output(n));
    else if (n.opType === "AveragePool" && quantized.has(n.inputs[0]!)) add(n.outputs[0]!);
    else if (n.opType === "MaxPool" && quantized.has(n.inputs[0]!)) {
      shared.set(n.outputs[0]!, shared.get(n.inputs[0]!) ?? n.inputs[0]!);
      add(n.outputs[0]!);
    }
  }
  return { ops, absorbed, tensors, shared };
}

/** Runs the float model over the images with every planned tensor as an extra output; returns each tensor's range. */
async function calibrate(m: ModelProto, g: GraphProto, plan: Plan, images: readonly NormalizedImage[], opts: QuantizeOptions): Promise<Map<string, Range>> {
  const inputs = new Set(g.inputs.map((i) => i.name));
  const watched = plan.tensors.filter((t) => !plan.shared.has(t) && !inputs.has(t));
  const extra = watched.filter((t) => !isGraphOutput(g, t)).map((name) => ({ name, elemType: DataType.FLOAT }));
  const bytes = encodeModel({ ...m, graph: { ...g, outputs: [...g.outputs, ...extra] } });
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: "all",
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  });
  const p = opts.percentile ?? 0.9999;
  if (!(p > 0.5 && p <= 1)) throw new InputError(`percentile ${p}: expected a fraction in (0.5, 1]`);
  const rangeOf = opts.method === "percentile" ? (d: Float32Array) => percentileRange(d, p) : minMax;
  const per = new Map<string, Range[]>([...inputs].map((i) => [i, []]));
  for (const t of watched) per.set(t, []);
  try {
    for (const im of images) {
      for (const i of inputs) per.get(i)!.push(rangeOf(im.chw));
      const res = await session.run({ [g.inputs[0]!.name]: new ort.Tensor("float32", im.chw, [1, 3, im.height, im.width]) }, watched);
      for (const t of watched) {
        const v = res[t]!;
        per.get(t)!.push(rangeOf(v.data as Float32Array));
        v.dispose?.();
      }
    }
  } finally {
    await session.release();
  }
  // min/max: the extremes over all images; percentile: the mean of each image's percentiles
  const combine = (rs: Range[]): Range =>
    opts.method === "percentile" ? [rs.reduce((a, r) => a + r[0], 0) / rs.length, rs.reduce((a, r) => a + r[1], 0) / rs.length] : [Math.min(...rs.map((r) => r[0])), Math.max(...rs.map((r) => r[1]))];
  const ranges = new Map<string, Range>();
  for (const [t, rs] of per) ranges.set(t, combine(rs));
  for (const [t, src] of plan.shared) ranges.set(t, ranges.get(src)!);
  return ranges;
}

function minMax(d: Float32Array): Range {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of d) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** The (1−p) and p quantiles of the values, from a 4096-bin histogram over their min…max. */
function percentileRange(d: Float32Array, p: number): Range {
  const [lo, hi] = minMax(d);
  if (!(hi > lo)) return [lo, hi];
  const bins = 4096;
  const h = new Float64Array(bins);
  const k = bins / (hi - lo);
  for (const v of d) h[Math.min(bins - 1, Math.floor((v - lo) * k))]!++;
  const cut = (1 - p) * d.length;
  let a = 0;
  let i = 0;
  while (i < bins - 1 && a + h[i]! <= cut) a += h[i++]!;
  let b = 0;
  let j = bins - 1;
  while (j > 0 && b + h[j]! <= cut) b += h[j--]!;
  return [lo + i / k, lo + (j + 1) / k];
}

/** uint8 scale and zero point for a range widened to include 0 (so that 0 is exact: padding, ReLU). */
export function activationParams([lo, hi]: Range): { scale: number; zeroPoint: number } {
  const a = Math.min(0, lo);
  const b = Math.max(0, hi);
  const scale = Math.fround(b > a ? (b - a) / (QMAX - QMIN) : 1);
  return { scale, zeroPoint: Math.min(QMAX, Math.max(QMIN, roundHalfEven(QMIN - a / scale))) };
}

/** Symmetric int8 per-channel quantization of a weight along `axis`: q = round(w / s_c), s_c = max|w_c| / 127. */
export function quantizeWeight(w: Float32Array, dims: readonly number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const chan = (i: number) => Math.floor(i / inner) % channels;
  const amax = new Float64Array(channels);
  for (let i = 0; i < w.length; i++) amax[chan(i)] = Math.max(amax[chan(i)]!, Math.abs(w[i]!));
  const scales = Float32Array.from(amax, (a) => (a > 0 ? a / WMAX : 1));
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = Math.max(-WMAX, Math.min(WMAX, roundHalfEven(w[i]! / scales[chan(i)]!)));
  return { q, scales };
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The graph with BN folded, absorbed ReLUs removed, Q/DQ pairs on the planned tensors and DQ'd int8 weights / int32 biases. */
function rewrite(g: GraphProto, plan: Plan, ranges: Map<string, Range>): GraphProto {
  const { init } = index(g);
  const tensors: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  const params = new Map<string, { scale: number; zeroPoint: number }>();
  const dq = new Map<string, string>(); // tensor → its dequantized name
  const qdq = (t: string) => {
    const p = activationParams(ranges.get(t)!);
    params.set(t, p);
    tensors.push(floatTensor(`${t}.scale`, [], [p.scale]), { name: `${t}.zero_point`, dims: [], dataType: DataType.UINT8, raw: Uint8Array.of(p.zeroPoint) });
    nodes.push(
      { opType: "QuantizeLinear", inputs: [t, `${t}.scale`, `${t}.zero_point`], outputs: [`${t}.q`], name: `${t}.QuantizeLinear` },
      { opType: "DequantizeLinear", inputs: [`${t}.q`, `${t}.scale`, `${t}.zero_point`], outputs: [`${t}.dq`], name: `${t}.DequantizeLinear` },
    );
    dq.set(t, `${t}.dq`);
  };
  const weightDq = (op: WeightOp): string[] => {
    const wt = init.get(op.weight)!;
    const { q, scales } = quantizeWeight(floats(wt), wt.dims, op.axis);
    const name = `${op.node.name ?? op.node.outputs[0]}.weight`;
    const c = scales.length;
    tensors.push({ name: `${name}.q`, dims: wt.dims, dataType: DataType.INT8, raw: bytesOf(q) }, floatTensor(`${name}.scale`, [c], scales), {
      name: `${name}.zero_point`,
      dims: [c],
      dataType: DataType.INT8,
      raw: new Uint8Array(c),
    });
    const axis = { axis: { kind: "int", value: op.axis } } as const;
    nodes.push({ opType: "DequantizeLinear", inputs: [`${name}.q`, `${name}.scale`, `${name}.zero_point`], outputs: [`${name}.dq`], name: `${name}.DequantizeLinear`, attributes: axis });
    if (!op.bias) return [`${name}.dq`];
    // int32 bias at scale s_x·s_w[c], as QLinearConv / QGemm take it
    const sx = params.get(op.node.inputs[0]!)!.scale;
    const b = floats(init.get(op.bias)!);
    const bs = Float32Array.from(scales, (s) => Math.fround(sx * s));
    const bq = Int32Array.from(b, (v, i) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, roundHalfEven(v / bs[i]!))));
    tensors.push({ name: `${name}.bias_q`, dims: [c], dataType: DataType.INT32, raw: bytesOf(bq) }, floatTensor(`${name}.bias_scale`, [c], bs), {
      name: `${name}.bias_zero_point`,
      dims: [c],
      dataType: DataType.INT32,
      raw: new Uint8Array(4 * c),
    });
    nodes.push({
      opType: "DequantizeLinear",
      inputs: [`${name}.bias_q`, `${name}.bias_scale`, `${name}.bias_zero_point`],
      outputs: [`${name}.bias_dq`],
      name: `${name}.bias.DequantizeLinear`,
      attributes: axis,
    });
    return [`${name}.dq`, `${name}.bias_dq`];
  };
  const planned = new Set(plan.tensors);
  const dropped = new Set(plan.absorbed.values());
  for (const i of g.inputs) if (planned.has(i.name)) qdq(i.name);
  for (const n of g.nodes) {
    if (dropped.has(n)) continue;
    const relu = plan.absorbed.get(n);
    const inputs = n.inputs.map((i) => dq.get(i) ?? i);
    const op = plan.ops.get(n);
    const out = relu ? [relu.outputs[0]!] : n.outputs;
    nodes.push({ ...n, inputs: op ? [inputs[0]!, ...weightDq(op)] : inputs, outputs: out });
    for (const o of out) if (planned.has(o)) qdq(o);
  }
  // graph outputs keep their float names; only consumers read the dequantized copies
  return pruneInitializers({ ...g, nodes, initializers: [...g.initializers, ...tensors] });
}
