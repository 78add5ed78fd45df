/** The detectors a server runs: each one's ONNX session, its batcher, and what the API says about it. */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import type { DetectorModule } from "../detectors/types.js";
import { GROUPS } from "../data/labels.js";
import { sha256OfFile } from "../util/fs.js";
import type { Step } from "../image/recipe.js";
import { DetectorSession, type ModelSource, type SessionOptions } from "../runtime/session.js";
import { Batcher, type BatchOptions } from "./batcher.js";

/** A detector as the command resolved it: its module, its model, the weights files it came from. */
export interface DetectorInput {
  module: DetectorModule;
  model: ModelSource;
  /** the files the model was built from (a .onnx, or the checkpoints), hashed for /v1/detectors */
  weights: readonly string[];
  calibration?: { a: number; b: number };
}

export interface ServedDetector {
  module: DetectorModule;
  session: DetectorSession;
  batcher: Batcher;
  calibration: { a: number; b: number } | undefined;
  weightsSha256: string[];
  /** the exact ONNX bytes the session runs; null for a model whose weights live in a side file (past 2 GB) */
  onnx: Uint8Array | null;
  onnxSha256: string | null;
}

export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** The model as bytes where it is one file, so that the session runs exactly the bytes the API serves. */
async function modelBytes(model: ModelSource): Promise<Uint8Array | null> {
  if (model instanceof Uint8Array) return model;
  if (typeof model === "string") return new Uint8Array(await fsp.readFile(model));
  return model.external ? null : model.model;
}

export async function loadServedDetector(d: DetectorInput, batch: BatchOptions, session: SessionOptions, onBatch: (name: string, size: number) => void): Promise<ServedDetector> {
  const onnx = await modelBytes(d.model);
  const s = await DetectorSession.create(onnx ?? d.model, { ...session, batchSize: batch.maxBatch });
  return {
    module: d.module,
    session: s,
    batcher: new Batcher(s, batch, (n) => onBatch(d.module.name, n)),
    calibration: d.calibration,
    weightsSha256: await Promise.all(d.weights.map(sha256OfFile)),
    onnx,
    onnxSha256: onnx ? sha256(onnx) : null,
  };
}

/** The side of the square a recipe ends with (its last crop or resize), if it fixes one. */
function inputSize(steps: readonly Step[]): number | undefined {
  const last = [...steps].reverse().find((s) => "size" in s);
  return last && "size" in last ? last.size : undefined;
}

/** A generator group per logit of an identification model (GROUPS without "real"). */
export const ID_GROUPS = GROUPS.filter((g) => g !== "real");

/** A detector as GET /v1/detectors describes it. */
export function describeDetector(d: ServedDetector): Record<string, unknown> {
  const { recipe, normalization } = d.module.preprocess;
  const size = inputSize(recipe.steps);
  return {
    name: d.module.name,
    title: d.module.title,
    output: d.module.output,
    inputs: { recipe, normalization, ...(size !== undefined ? { size } : {}) },
    calibration: d.calibration ?? null,
    needsCalibration: d.module.needsCalibration ?? null,
    weightsSha256: d.weightsSha256,
    model: d.onnx ? `/v1/detectors/${encodeURIComponent(d.module.name)}/model.onnx` : null,
    ...(d.onnxSha256 ? { modelSha256: d.onnxSha256 } : {}),
    ...(d.module.output === "groups" ? { groups: ID_GROUPS } : {}),
  };
}
