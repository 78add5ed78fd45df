/**
 * A detector module + its checkpoint files → an ONNX model. The architecture is traced from its one
 * TS definition, its configuration read off the state dict, and every parameter must match the state
 * dict exactly: missing, unexpected and mis-shaped keys are listed in the error.
 */
import { type LazyTensor, readSafetensors, readTorchCheckpoint, recordedNodown, stateDict } from "../checkpoint/index.js";
import { INLINE_WEIGHTS_LIMIT, toOnnx, trace, type ExportOptions, type OnnxModel, type TracedGraph } from "../onnx/trace.js";
import { InputError } from "../util/errors.js";
import { ANCHOR_PARAM } from "../models/ops.js";
import type { BuildOptions, DetectorModule, StateDict } from "./types.js";

export interface BuiltModel {
  onnx: OnnxModel;
  /** the configuration read off the checkpoint */
  config: unknown;
  graph: TracedGraph;
  /** state-dict keys not used by the model that were ignored by rule (num_batches_tracked, training-only heads) */
  ignored: string[];
}

/** Module + checkpoint state dicts → the state dict `define` names (the module's merge; one checkpoint as it is). */
export function mergeStateDicts(d: DetectorModule, sds: readonly StateDict[]): StateDict {
  const { min, max } = d.checkpoints;
  if (sds.length < min || sds.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new InputError(`${d.title} is built from ${want} checkpoint file(s), got ${sds.length}`);
  }
  if (d.merge) return d.merge(sds);
  return sds[0]!;
}

/** The configuration the module reads off its checkpoint(s). */
export function configureDetector(d: DetectorModule, sds: StateDict | readonly StateDict[], opts: BuildOptions = {}): unknown {
  return d.configure(mergeStateDicts(d, sds instanceof Map ? [sds] : (sds as readonly StateDict[])), opts);
}

function toFloat32(key: string, t: LazyTensor, data: unknown): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Float64Array) return Float32Array.from(data);
  throw new InputError(`${key}: dtype ${t.dtype} is not a floating-point type`);
}

/**
 * Checks a state dict against a traced graph's parameters (`extra`: those given beside it, e.g. the
 * anchor): missing, unexpected and mis-shaped keys are listed in an InputError. Returns the keys
 * ignored by rule.
 */
export function checkStateDict(d: DetectorModule, cfg: unknown, g: TracedGraph, sd: StateDict, extra: ReadonlyMap<string, Float32Array> = new Map()): string[] {
  const missing: string[] = [];
  const misShaped: string[] = [];
  const want = new Set<string>();
  for (const p of g.params) {
    want.add(p.name);
    const e = extra.get(p.name);
    if (e) {
      if (e.length !== p.shape.reduce((a, b) => a * b, 1)) misShaped.push(`${p.name}: given ${e.length} values, model [${p.shape.join(", ")}]`);
      continue;
    }
    const t = sd.get(p.name);
    if (!t) missing.push(p.name);
    else if (t.shape.join(",") !== p.shape.join(",")) misShaped.push(`${p.name}: checkpoint [${t.shape.join(", ")}], model [${p.shape.join(", ")}]`);
  }
  const unexpected: string[] = [];
  const ignored: string[] = [];
  for (const k of sd.keys()) {
    if (want.has(k)) continue;
    if (k.endsWith(".num_batches_tracked") || k === "num_batches_tracked" || d.ignorable?.(k, cfg)) ignored.push(k);
    else unexpected.push(k);
  }
  if (missing.length + misShaped.length + unexpected.length > 0) {
    const list = (title: string, xs: string[]) =>
      xs.length ? [`${title} (${xs.length}):`, ...xs.slice(0, 50).map((x) => `  ${x}`), ...(xs.length > 50 ? [`  … and ${xs.length - 50} more`] : [])] : [];
    throw new InputError(
      [`the checkpoint does not match the ${d.title} model:`, ...list("missing keys", missing), ...list("unexpected keys", unexpected), ...list("mis-shaped keys", misShaped)].join("\n"),
    );
  }
  return ignored;
}

/** Checks a state dict against a traced graph's parameters and reads the weights (float32). */
async function collectWeights(
  d: DetectorModule,
  cfg: unknown,
  g: TracedGraph,
  sd: StateDict,
  extra: ReadonlyMap<string, Float32Array>,
): Promise<{ weights: Map<string, Float32Array>; ignored: string[] }> {
  const ignored = checkStateDict(d, cfg, g, sd, extra);
  const weights = new Map<string, Float32Array>();
  for (const p of g.params) {
    const e = extra.get(p.name);
    if (e) {
      weights.set(p.name, e);
      continue;
    }
    const t = sd.get(p.name)!;
    weights.set(p.name, toFloat32(p.name, t, await t.read({ halfToFloat32: true })));
  }
  return { weights, ignored };
}

/** ONNX for a traced graph, its weights in a side file `NAME.onnx.data` when they pass protobuf's 2 GB limit (unless opts say where). */
function exportGraph(graph: TracedGraph, weights: ReadonlyMap<string, Float32Array>, name: string, opts: ExportOptions): OnnxModel {
  const bytes = graph.params.reduce((a, p) => a + 4 * p.shape.reduce((x, y) => x * y, 1), 0);
  const externalData = opts.externalData ?? (bytes > INLINE_WEIGHTS_LIMIT ? `${opts.name ?? name}.onnx.data` : undefined);
  return toOnnx(graph, weights, { name, ...opts, ...(externalData ? { externalData } : {}), metadata: { architecture: name, ...opts.metadata } });
}

/** Traces the module's architecture for a configuration. */
export function traceDetector(d: DetectorModule, cfg: unknown): TracedGraph {
  return trace((ops) => d.define(ops, cfg));
}

/** Builds the detector's ONNX model from its checkpoints' state dicts (one, or as many as the module takes). */
export async function buildDetector(d: DetectorModule, sds: StateDict | readonly StateDict[], opts: BuildOptions & ExportOptions = {}): Promise<BuiltModel> {
  const sd = mergeStateDicts(d, sds instanceof Map ? [sds] : (sds as readonly StateDict[]));
  const config = d.configure(sd, opts);
  const graph = traceDetector(d, config);
  const extra = new Map<string, Float32Array>(opts.anchor ? [[ANCHOR_PARAM, opts.anchor]] : []);
  const { weights, ignored } = await collectWeights(d, config, graph, sd, extra);
  return { onnx: exportGraph(graph, weights, d.name, opts), config, graph, ignored };
}

/**
 * Reads checkpoints: torch.save (never executing pickle code) or safetensors. Returns their state
 * dicts and what our training recorded beside them that the keys cannot say: whether the trunk is
 * nodown (`imaginet train` writes it; upstream's checkpoints say nothing, and the module's default holds).
 */
export async function readCheckpoints(files: readonly string[]): Promise<{ sds: StateDict[]; recorded: BuildOptions }> {
  const recorded: BuildOptions = {};
  const sds = await Promise.all(
    files.map(async (f) => {
      if (f.endsWith(".safetensors")) return (await readSafetensors(f)).tensors;
      const ck = await readTorchCheckpoint(f);
      const nodown = recordedNodown(ck);
      if (nodown !== undefined) recorded.nodown = nodown;
      return stateDict(ck);
    }),
  );
  return { sds, recorded };
}

/** Reads checkpoints (see readCheckpoints) and builds the detector's ONNX model. */
export async function buildFromCheckpoints(d: DetectorModule, files: string | readonly string[], opts: BuildOptions & ExportOptions = {}): Promise<BuiltModel> {
  const { sds, recorded } = await readCheckpoints(typeof files === "string" ? [files] : files);
  return buildDetector(d, sds, { ...recorded, ...opts });
}
