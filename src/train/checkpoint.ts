/**
 * Training checkpoints in torch.save's format, laid out as upstream saves them — `{model: state
 * dict, [classifier: state dict], epoch, ...}` — so they load in PyTorch, in `imaginet detect`, and
 * back here for `--resume`. Our optimizer state (libtorch's archive bytes) rides along as a uint8
 * tensor under `optimizer_libtorch`; PyTorch sees an ordinary byte tensor there.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { checkpointEntry, type LazyTensor, readTorchCheckpoint, stateDict, writeTorchCheckpoint, type DType as CkptDType, type TorchValue } from "../checkpoint/index.js";
import { storeToHost, type DType, type HostArray, type ParamStore } from "../engine/index.js";

const TO_CKPT: Record<DType, CkptDType> = {
  float32: "f32",
  float64: "f64",
  float16: "f16",
  bfloat16: "bf16",
  int64: "i64",
  int32: "i32",
  int16: "i16",
  int8: "i8",
  uint8: "u8",
  bool: "bool",
};

/** A parameter store as a state dict for torch.save (keys in the store's order). */
export function storeToStateDict(store: ParamStore): Map<string, TorchValue> {
  const out = new Map<string, TorchValue>();
  for (const [k, v] of storeToHost(store)) out.set(k, { dtype: TO_CKPT[v.dtype], shape: v.shape, data: v.data as HostArray });
  return out;
}

export interface TrainCheckpoint {
  /** top-level state dicts by name, e.g. {model} or {model, classifier} */
  stores: Record<string, ParamStore>;
  optimizerState?: Uint8Array;
  epoch: number;
  /** anything JSON-like worth keeping (stage, options, seed) */
  meta: Record<string, TorchValue>;
}

export function checkpointPath(dir: string, epoch: number): string {
  return path.join(dir, `ckpt_epoch_${String(epoch).padStart(4, "0")}.pth`);
}

export async function saveTrainCheckpoint(file: string, c: TrainCheckpoint): Promise<void> {
  const value: Record<string, TorchValue> = { ...c.meta, epoch: c.epoch };
  for (const [name, store] of Object.entries(c.stores)) value[name] = storeToStateDict(store);
  if (c.optimizerState) value.optimizer_libtorch = { dtype: "u8", shape: [c.optimizerState.length], data: c.optimizerState };
  await writeTorchCheckpoint(file, value);
}

/** The newest ckpt_epoch_N.pth in `dir`, or null. */
export async function latestCheckpoint(dir: string): Promise<{ file: string; epoch: number } | null> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  let best: { file: string; epoch: number } | null = null;
  for (const n of names) {
    const m = /^ckpt_epoch_(\d+)\.pth$/.exec(n);
    if (m && (!best || Number(m[1]) > best.epoch)) best = { file: path.join(dir, n), epoch: Number(m[1]) };
  }
  return best;
}

export interface LoadedCheckpoint {
  /** state dicts by top-level name, keys without that prefix */
  stateDicts: Map<string, Map<string, LazyTensor>>;
  optimizerState: Uint8Array | null;
  epoch: number | null;
}

/** Reads a training (or upstream) checkpoint: its state dicts grouped by top-level key, the epoch, our optimizer state. */
export async function loadTrainCheckpoint(file: string): Promise<LoadedCheckpoint> {
  const ck = await readTorchCheckpoint(file);
  const flat = stateDict(ck);
  const stateDicts = new Map<string, Map<string, LazyTensor>>();
  let optimizerState: Uint8Array | null = null;
  for (const [k, t] of flat) {
    if (k === "optimizer_libtorch") {
      optimizerState = (await t.read()) as Uint8Array;
      continue;
    }
    const dot = k.indexOf(".");
    const group = dot < 0 ? "" : k.slice(0, dot);
    const rest = dot < 0 ? k : k.slice(dot + 1);
    if (!stateDicts.has(group)) stateDicts.set(group, new Map());
    stateDicts.get(group)!.set(rest, t);
  }
  const epochValue = checkpointEntry(ck, "epoch");
  return { stateDicts, optimizerState, epoch: typeof epochValue === "number" ? epochValue : typeof epochValue === "bigint" ? Number(epochValue) : null };
}
