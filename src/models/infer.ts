/**
 * Reading an architecture's sizes off a state dict's keys and shapes: blocks per stage, widths,
 * shortcut names, the key prefix a trunk sits under.
 */
import type { LazyTensor } from "../checkpoint/index.js";
import type { ClipResNetConfig } from "./clip.js";
import type { ResNetConfig } from "./resnet.js";
import { InputError } from "../util/errors.js";

/** Anything with a shape: a checkpoint's LazyTensor, or a training model's spec. */
export type HasShape = { readonly shape: readonly number[] };

export function shapeOf(sd: ReadonlyMap<string, HasShape>, key: string): readonly number[] | undefined {
  return sd.get(key)?.shape;
}

/**
 * The prefix ("" or e.g. "model.") under which a torchvision-style trunk sits: the shortest P with
 * P+"conv1.weight" (outside the stages) beside P+`beside`; `missing` names what is absent otherwise.
 */
export function findTrunkPrefix(sd: ReadonlyMap<string, LazyTensor>, beside = "bn1.weight", missing = "no ResNet trunk in the checkpoint"): string {
  const found: string[] = [];
  for (const k of sd.keys()) {
    const m = /^(.*?)conv1\.weight$/.exec(k);
    if (m && !/layer\d/.test(m[1]!) && sd.has(`${m[1]}${beside}`)) found.push(m[1]!);
  }
  if (found.length === 0) throw new InputError(`${missing}: no conv1.weight beside ${beside}`);
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
