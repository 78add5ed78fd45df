/**
 * Builds an ONNX model from a PyTorch checkpoint: the architecture is traced from its one TS
 * definition, its configuration (blocks per stage, width, shortcut name, head) is read off the
 * checkpoint's keys and shapes, and every parameter must match the state dict exactly — missing,
 * unexpected and mis-shaped keys are listed in the error.
 */
import { type LazyTensor, readTorchCheckpoint, stateDict, type TorchCheckpoint } from "../checkpoint/index.js";
import { INLINE_WEIGHTS_LIMIT, toOnnx, trace, type ExportOptions, type OnnxModel, type TracedGraph } from "../onnx/trace.js";
import { LASTED_ANCHOR, lasted, type ClipResNetConfig } from "./clip.js";
import { corvi2022, corvi2022Average, grag2021, imaginet, type ImagiNetConfig, type ResNetConfig } from "./resnet.js";
import { InputError } from "../util/errors.js";

export type Architecture = "grag2021" | "corvi2022" | "imaginet" | "lasted";

export type ArchConfig =
  | { arch: "grag2021"; trunk: ResNetConfig; prefix: string }
  | { arch: "corvi2022"; trunk: ResNetConfig; prefix: string }
  | { arch: "imaginet"; cfg: ImagiNetConfig }
  /** several Corvi2022 models on one image, logit maps averaged; member i's keys are prefixed `m{i}.` */
  | { arch: "corvi2022-average"; members: { trunk: ResNetConfig; prefix: string }[] }
  /** anchored: the model also outputs "logit" = feature · anchor */
  | { arch: "lasted"; cfg: ClipResNetConfig; prefix: string; anchored: boolean };

export interface BuildOptions extends ExportOptions {
  /** stem conv and maxpool stride 1 (the detectors' "nodown" trunk); default true except where noted (an ImagiNet checkpoint of a CE-trained encoder is strided) */
  nodown?: boolean;
  /** LASTED: the mean L2-normalised feature of the real anchor images; without it the model outputs only "feature" */
  anchor?: Float32Array;
}

export interface BuiltModel {
  onnx: OnnxModel;
  config: ArchConfig;
  graph: TracedGraph;
  /** state-dict keys not used by the model that were ignored by rule (num_batches_tracked, training-only heads) */
  ignored: string[];
}

/** Where an ImagiNet checkpoint whose encoder was trained with cross-entropy keeps that training's head. */
const CE_HEAD = "model.fc";

/** Keys a checkpoint may carry that no inference graph uses. */
function ignorable(c: ArchConfig, key: string): boolean {
  if (key.endsWith(".num_batches_tracked") || key === "num_batches_tracked") return true;
  // the representation's training-only parts: SelfCon's projection heads and sub-network on layer2
  // (encoder.selfcon_layer), or the CE variant's fc head
  if (c.arch === "imaginet") return ["model.head.", "model.sub_heads.", "model.encoder.selfcon_layer.", `${CE_HEAD}.`].some((p) => key.startsWith(p));
  // LASTED checkpoints carry CLIP's text tower and LASTED's training head
  if (c.arch === "lasted") return !key.startsWith(`${c.prefix}.`);
  return false;
}

/** Anything with a shape: a checkpoint's LazyTensor, or a training model's spec. */
export type HasShape = { readonly shape: readonly number[] };

function shapeOf(sd: ReadonlyMap<string, HasShape>, key: string): readonly number[] | undefined {
  return sd.get(key)?.shape;
}

/** The prefix ("" or e.g. "model.") under which a torchvision-style trunk sits. */
export function findTrunkPrefix(sd: ReadonlyMap<string, LazyTensor>): string {
  const found: string[] = [];
  for (const k of sd.keys()) {
    const m = /^(.*?)conv1\.weight$/.exec(k);
    if (m && !/layer\d/.test(m[1]!) && sd.has(`${m[1]}bn1.weight`)) found.push(m[1]!);
  }
  if (found.length === 0) throw new InputError("no ResNet trunk in the checkpoint: no conv1.weight beside bn1.weight");
  found.sort((a, b) => a.length - b.length);
  return found[0]!;
}

/** Reads blocks per stage, width and shortcut name off a trunk's keys. */
export function inferResNetConfig(sd: ReadonlyMap<string, HasShape>, prefix: string, nodown: boolean): ResNetConfig {
  const stem = shapeOf(sd, `${prefix}conv1.weight`);
  if (stem?.length !== 4) throw new InputError(`${prefix}conv1.weight is missing or not 4-D`);
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
  if (layers.some((n) => n === 0)) throw new InputError(`the trunk under "${prefix}" lacks a stage: blocks per stage [${layers.join(", ")}]`);
  return { layers, width, nodown, shortcutName: shortcut ?? "downsample" };
}

/** Reads a CLIP ModifiedResNet's configuration off the keys under "PREFIX.attnpool" etc. */
export function inferClipConfig(sd: ReadonlyMap<string, LazyTensor>): { cfg: ClipResNetConfig; prefix: string } {
  const posKey = [...sd.keys()].find((k) => k.endsWith("attnpool.positional_embedding"));
  if (!posKey) throw new InputError("no CLIP image tower in the checkpoint: no …attnpool.positional_embedding");
  const prefix = posKey.slice(0, -"attnpool.positional_embedding".length);
  const pos = shapeOf(sd, posKey)!;
  const width = shapeOf(sd, `${prefix}layer1.0.conv1.weight`)?.[0];
  const out = shapeOf(sd, `${prefix}attnpool.c_proj.weight`)?.[0];
  if (pos.length !== 2 || width === undefined || out === undefined) throw new InputError(`the CLIP tower under "${prefix}" lacks layer1.0.conv1.weight or attnpool.c_proj.weight`);
  const side = Math.sqrt(pos[0]! - 1);
  if (!Number.isInteger(side) || pos[1] !== width * 32) throw new InputError(`${posKey}: shape [${pos.join(", ")}] is not [(side)²+1, ${width * 32}]`);
  const layers = [0, 0, 0, 0] as [number, number, number, number];
  const re = new RegExp(`^${prefix.replace(/\./g, "\\.")}layer([1-4])\\.(\\d+)\\.`);
  for (const k of sd.keys()) {
    const m = re.exec(k);
    if (m) layers[Number(m[1]) - 1] = Math.max(layers[Number(m[1]) - 1]!, Number(m[2]) + 1);
  }
  return { cfg: { layers, width, resolution: side * 32, outputDim: out }, prefix: prefix.replace(/\.$/, "") };
}

/** Reads the architecture's configuration off a state dict. */
export function inferConfig(arch: Architecture, sd: ReadonlyMap<string, LazyTensor>, opts: BuildOptions = {}): ArchConfig {
  const nodown = opts.nodown ?? true;
  if (arch === "lasted") return { arch, ...inferClipConfig(sd), anchored: opts.anchor !== undefined };
  if (arch === "imaginet") {
    // an encoder trained with cross-entropy (the CE variant's LinResNet, with its fc head) has the standard strided trunk
    const trunk = inferResNetConfig(sd, "model.encoder.", sd.has(`${CE_HEAD}.0.weight`) ? false : nodown);
    const hiddenW = shapeOf(sd, "classifier.1.weight");
    if (hiddenW?.length !== 2) throw new InputError("ImagiNet checkpoint: classifier.1.weight is missing or not 2-D");
    const head = sd.has("classifier.4.weight") ? "bn" : sd.has("classifier.3.weight") ? "l2norm" : undefined;
    if (!head) throw new InputError("ImagiNet checkpoint: neither classifier.4.weight (BN head) nor classifier.3.weight (L2Norm head) is present");
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
    case "corvi2022-average":
      return trace((ops) => corvi2022Average(ops, c.members));
    case "lasted":
      return trace((ops) => lasted(ops, c.cfg, c.anchored, c.prefix));
  }
}

function toFloat32(key: string, t: LazyTensor, data: unknown): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Float64Array) return Float32Array.from(data);
  throw new InputError(`${key}: dtype ${t.dtype} is not a floating-point type`);
}

/** Checks a state dict against a traced graph's parameters and reads the weights (float32). */
export async function collectWeights(
  c: ArchConfig,
  g: TracedGraph,
  sd: ReadonlyMap<string, LazyTensor>,
  extra: ReadonlyMap<string, Float32Array> = new Map(),
): Promise<{ weights: Map<string, Float32Array>; ignored: string[] }> {
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
    if (ignorable(c, k)) ignored.push(k);
    else unexpected.push(k);
  }
  if (missing.length + misShaped.length + unexpected.length > 0) {
    const list = (title: string, xs: string[]) =>
      xs.length ? [`${title} (${xs.length}):`, ...xs.slice(0, 50).map((x) => `  ${x}`), ...(xs.length > 50 ? [`  … and ${xs.length - 50} more`] : [])] : [];
    throw new InputError(
      [`the checkpoint does not match the ${c.arch} model:`, ...list("missing keys", missing), ...list("unexpected keys", unexpected), ...list("mis-shaped keys", misShaped)].join("\n"),
    );
  }
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
function exportGraph(graph: TracedGraph, weights: ReadonlyMap<string, Float32Array>, name: string, opts: BuildOptions): OnnxModel {
  const bytes = graph.params.reduce((a, p) => a + 4 * p.shape.reduce((x, y) => x * y, 1), 0);
  const externalData = opts.externalData ?? (bytes > INLINE_WEIGHTS_LIMIT ? `${opts.name ?? name}.onnx.data` : undefined);
  return toOnnx(graph, weights, { name, ...opts, ...(externalData ? { externalData } : {}), metadata: { architecture: name, ...opts.metadata } });
}

/** Builds the ONNX model for `arch` from a state dict. */
export async function buildFromStateDict(arch: Architecture, sd: ReadonlyMap<string, LazyTensor>, opts: BuildOptions = {}): Promise<BuiltModel> {
  const config = inferConfig(arch, sd, opts);
  const graph = traceArch(config);
  const extra = new Map<string, Float32Array>(opts.anchor ? [[LASTED_ANCHOR, opts.anchor]] : []);
  const { weights, ignored } = await collectWeights(config, graph, sd, extra);
  return { onnx: exportGraph(graph, weights, arch, opts), config, graph, ignored };
}

/** Upstream's Corvi2022: the logit maps of several checkpoints (ProGAN- and latent-trained) averaged in one model. */
export async function buildCorviAverage(sds: readonly ReadonlyMap<string, LazyTensor>[], opts: BuildOptions = {}): Promise<BuiltModel> {
  if (sds.length < 2) throw new InputError("averaging needs at least two Corvi2022 checkpoints");
  const merged = new Map<string, LazyTensor>();
  const members = sds.map((sd, i) => {
    const c = inferConfig("corvi2022", sd, opts) as { trunk: ResNetConfig; prefix: string };
    for (const [k, t] of sd) merged.set(`m${i}.${k}`, t);
    return { trunk: c.trunk, prefix: c.prefix === "" ? `m${i}` : `m${i}.${c.prefix}` };
  });
  const config: ArchConfig = { arch: "corvi2022-average", members };
  const graph = traceArch(config);
  const { weights, ignored } = await collectWeights(config, graph, merged);
  return { onnx: exportGraph(graph, weights, "corvi2022-average", opts), config, graph, ignored };
}

/** Reads a torch.save checkpoint (never executing pickle code) and builds the ONNX model for `arch`. */
export async function buildFromCheckpoint(arch: Architecture, file: string | TorchCheckpoint, opts: BuildOptions = {}): Promise<BuiltModel> {
  const ckpt = typeof file === "string" ? await readTorchCheckpoint(file) : file;
  return buildFromStateDict(arch, stateDict(ckpt), opts);
}
