/**
 * Builds an ONNX model from a PyTorch checkpoint: the architecture is traced from its one TS
 * definition, its configuration (blocks per stage, width, shortcut name, head) is read off the
 * checkpoint's keys and shapes, and every parameter must match the state dict exactly — missing,
 * unexpected and mis-shaped keys are listed in the error.
 */
import { LazyTensor, readTorchCheckpoint, stateDict, type TorchCheckpoint } from "../checkpoint/index.js";
import { toOnnx, trace, type ExportOptions, type TracedGraph } from "../onnx/trace.js";
import { corvi2022, grag2021, imaginet, type ImagiNetConfig, type ResNetConfig } from "./resnet.js";

export type Architecture = "grag2021" | "corvi2022" | "imaginet";
export const ARCHITECTURES: readonly Architecture[] = ["grag2021", "corvi2022", "imaginet"];

export type ArchConfig =
  | { arch: "grag2021"; trunk: ResNetConfig; prefix: string }
  | { arch: "corvi2022"; trunk: ResNetConfig; prefix: string }
  | { arch: "imaginet"; cfg: ImagiNetConfig };

export interface BuildOptions extends ExportOptions {
  /** stem conv and maxpool stride 1 (the detectors' "nodown" trunk); default true except where noted */
  nodown?: boolean;
}

export interface BuiltModel {
  onnx: Uint8Array;
  config: ArchConfig;
  graph: TracedGraph;
  /** state-dict keys not used by the model that were ignored by rule (num_batches_tracked, training-only heads) */
  ignored: string[];
}

/** Keys a checkpoint may carry that no inference graph uses. */
function ignorable(arch: Architecture, key: string): boolean {
  if (key.endsWith(".num_batches_tracked") || key === "num_batches_tracked") return true;
  if (arch === "imaginet") return key.startsWith("model.head.") || key.startsWith("model.sub_heads.");
  return false;
}

function shapeOf(sd: ReadonlyMap<string, LazyTensor>, key: string): readonly number[] | undefined {
  return sd.get(key)?.shape;
}

/** The prefix ("" or e.g. "model.") under which a torchvision-style trunk sits. */
export function findTrunkPrefix(sd: ReadonlyMap<string, LazyTensor>): string {
  const found: string[] = [];
  for (const k of sd.keys()) {
    const m = /^(.*?)conv1\.weight$/.exec(k);
    if (m && !/layer\d/.test(m[1]!) && sd.has(`${m[1]}bn1.weight`)) found.push(m[1]!);
  }
  if (found.length === 0) throw new Error("no ResNet trunk in the checkpoint: no conv1.weight beside bn1.weight");
  found.sort((a, b) => a.length - b.length);
  return found[0]!;
}

/** Reads blocks per stage, width and shortcut name off a trunk's keys. */
export function inferResNetConfig(sd: ReadonlyMap<string, LazyTensor>, prefix: string, nodown: boolean): ResNetConfig {
  const stem = shapeOf(sd, `${prefix}conv1.weight`);
  if (!stem || stem.length !== 4) throw new Error(`${prefix}conv1.weight is missing or not 4-D`);
  const width = stem[0]! / 64;
  const layers = [0, 0, 0, 0] as [number, number, number, number];
  let shortcut: "downsample" | "shortcut" | undefined;
  const re = new RegExp(`^${prefix.replace(/\./g, "\\.")}layer([1-4])\\.(\\d+)\\.(downsample|shortcut)?`);
  for (const k of sd.keys()) {
    const m = re.exec(k);
    if (!m) continue;
    const li = Number(m[1]) - 1;
    layers[li] = Math.max(layers[li]!, Number(m[2]) + 1);
    if (m[3]) shortcut = m[3] as "downsample" | "shortcut";
  }
  if (layers.some((n) => n === 0)) throw new Error(`the trunk under "${prefix}" lacks a stage: blocks per stage [${layers.join(", ")}]`);
  return { layers, width, nodown, shortcutName: shortcut ?? "downsample" };
}

/** Reads the architecture's configuration off a state dict. */
export function inferConfig(arch: Architecture, sd: ReadonlyMap<string, LazyTensor>, opts: BuildOptions = {}): ArchConfig {
  const nodown = opts.nodown ?? true;
  if (arch === "imaginet") {
    const trunk = inferResNetConfig(sd, "model.encoder.", nodown);
    const hiddenW = shapeOf(sd, "classifier.1.weight");
    if (!hiddenW || hiddenW.length !== 2) throw new Error("ImagiNet checkpoint: classifier.1.weight is missing or not 2-D");
    const head = sd.has("classifier.4.weight") ? "bn" : sd.has("classifier.3.weight") ? "l2norm" : undefined;
    if (!head) throw new Error("ImagiNet checkpoint: neither classifier.4.weight (BN head) nor classifier.3.weight (L2Norm head) is present");
    const last = shapeOf(sd, head === "bn" ? "classifier.4.weight" : "classifier.3.weight")!;
    return { arch, cfg: { trunk, head, hidden: hiddenW[0]!, classes: last[0]! } };
  }
  const prefix = findTrunkPrefix(sd);
  return { arch, trunk: inferResNetConfig(sd, prefix, nodown), prefix: prefix.replace(/\.$/, "") };
}

/** Traces an architecture's graph. */
export function traceArch(c: ArchConfig): TracedGraph {
  switch (c.arch) {
    case "grag2021":
      return trace((ops) => grag2021(ops, c.trunk, c.prefix));
    case "corvi2022":
      return trace((ops) => corvi2022(ops, c.trunk, c.prefix));
    case "imaginet":
      return trace((ops) => imaginet(ops, c.cfg));
  }
}

function toFloat32(key: string, t: LazyTensor, data: unknown): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Float64Array) return Float32Array.from(data);
  throw new Error(`${key}: dtype ${t.dtype} is not a floating-point type`);
}

/** Checks a state dict against a traced graph's parameters and reads the weights (float32). */
export async function collectWeights(arch: Architecture, g: TracedGraph, sd: ReadonlyMap<string, LazyTensor>): Promise<{ weights: Map<string, Float32Array>; ignored: string[] }> {
  const missing: string[] = [];
  const misShaped: string[] = [];
  const want = new Set<string>();
  for (const p of g.params) {
    want.add(p.name);
    const t = sd.get(p.name);
    if (!t) missing.push(p.name);
    else if (t.shape.join(",") !== p.shape.join(",")) misShaped.push(`${p.name}: checkpoint [${t.shape.join(", ")}], model [${p.shape.join(", ")}]`);
  }
  const unexpected: string[] = [];
  const ignored: string[] = [];
  for (const k of sd.keys()) {
    if (want.has(k)) continue;
    if (ignorable(arch, k)) ignored.push(k);
    else unexpected.push(k);
  }
  if (missing.length + misShaped.length + unexpected.length > 0) {
    const list = (title: string, xs: string[]) => (xs.length ? [`${title} (${xs.length}):`, ...xs.slice(0, 50).map((x) => `  ${x}`), ...(xs.length > 50 ? [`  … and ${xs.length - 50} more`] : [])] : []);
    throw new Error(
      [`the checkpoint does not match the ${arch} model:`, ...list("missing keys", missing), ...list("unexpected keys", unexpected), ...list("mis-shaped keys", misShaped)].join("\n"),
    );
  }
  const weights = new Map<string, Float32Array>();
  for (const p of g.params) {
    const t = sd.get(p.name)!;
    weights.set(p.name, toFloat32(p.name, t, await t.read({ halfToFloat32: true })));
  }
  return { weights, ignored };
}

/** Builds the ONNX model for `arch` from a state dict. */
export async function buildFromStateDict(arch: Architecture, sd: ReadonlyMap<string, LazyTensor>, opts: BuildOptions = {}): Promise<BuiltModel> {
  const config = inferConfig(arch, sd, opts);
  const graph = traceArch(config);
  const { weights, ignored } = await collectWeights(arch, graph, sd);
  const onnx = toOnnx(graph, weights, { name: arch, ...opts, metadata: { architecture: arch, ...opts.metadata } });
  return { onnx, config, graph, ignored };
}

/** Reads a torch.save checkpoint (never executing pickle code) and builds the ONNX model for `arch`. */
export async function buildFromCheckpoint(arch: Architecture, file: string | TorchCheckpoint, opts: BuildOptions = {}): Promise<BuiltModel> {
  const ckpt = typeof file === "string" ? await readTorchCheckpoint(file) : file;
  return buildFromStateDict(arch, stateDict(ckpt), opts);
}
