/** Running a registered detector on image files: decode, the detector's preprocessing, ORT, scores. */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { sigmoid } from "../eval/calibration.js";
import { decodeRgb } from "../image/decode.js";
import { applyRecipe } from "../image/recipe.js";
import type { RgbImage } from "../image/types.js";
import { buildFromCheckpoint } from "../models/load.js";
import type { DetectorSpec } from "../models/registry.js";
import { GROUPS } from "../data/labels.js";
import { Rng } from "../util/rng.js";
import { DetectorSession, type SessionOptions } from "./session.js";

export const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|avif|tiff?|gif)$/i;

/** Files as given, and the images below any folders, in a stable order. */
export async function expandInputs(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const st = await fsp.stat(input).catch(() => null);
    if (st?.isDirectory()) {
      const entries = await fsp.readdir(input, { recursive: true, withFileTypes: true });
      out.push(...entries.filter((e) => e.isFile() && IMAGE_EXTENSIONS.test(e.name)).map((e) => path.join(e.parentPath, e.name)).sort());
    } else out.push(input);
  }
  return out;
}

/** An ONNX model from a `.onnx` file, or built from a PyTorch checkpoint for the detector. */
export async function loadModel(spec: DetectorSpec, weights: string): Promise<Uint8Array> {
  if (weights.endsWith(".onnx")) return new Uint8Array(await fsp.readFile(weights));
  return (await buildFromCheckpoint(spec.arch, weights, { nodown: spec.nodown })).onnx;
}

/** p = sigmoid(a·score + b): from a JSON file with {a, b}, or a run's metrics.json (its "calibration"). */
export async function readCalibration(file: string): Promise<{ a: number; b: number }> {
  const v = JSON.parse(await fsp.readFile(file, "utf8")) as { a?: unknown; b?: unknown; calibration?: { a?: unknown; b?: unknown } };
  const c = v.calibration ?? v;
  if (typeof c.a !== "number" || typeof c.b !== "number") throw new Error(`${file}: expected {"a": number, "b": number} or a metrics.json with a "calibration"`);
  return { a: c.a, b: c.b };
}

type Prepared = { file: string; image: RgbImage } | { file: string; error: string };

export type Detection =
  | { file: string; score: number; p: number; calibrated: boolean; verdict: "synthetic" | "real" }
  | { file: string; logits: number[]; group: string }
  | { file: string; error: string };

export interface DetectOptions extends SessionOptions {
  calibration?: { a: number; b: number };
  onImage?: () => void;
}

export async function detect(spec: DetectorSpec, model: Uint8Array, files: readonly string[], opts: DetectOptions = {}): Promise<Detection[]> {
  const session = await DetectorSession.create(model, opts);
  const out: Detection[] = [];
  try {
    const chunk = session.batchSize;
    for (let i = 0; i < files.length; i += chunk) {
      const part = files.slice(i, i + chunk);
      const prepared: Prepared[] = await Promise.all(
        part.map(async (file): Promise<Prepared> => {
          try {
            const img = await decodeRgb(file);
            return { file, image: (await applyRecipe(img, spec.preprocess, new Rng(0, file))).image };
          } catch (err) {
            return { file, error: err instanceof Error ? err.message : String(err) };
          }
        }),
      );
      const images = prepared.flatMap((x) => ("image" in x ? [x.image] : []));
      const results = images.length > 0 ? await session.runImages(images) : {};
      const logits = results[session.outputNames.includes("logit") ? "logit" : (session.outputNames[0] ?? "")];
      let k = 0;
      for (const x of prepared) {
        if ("error" in x) out.push({ file: x.file, error: x.error });
        else if (logits) {
          const per = logits.data.length / (logits.dims[0] ?? 1);
          const row = Array.from(logits.data.subarray(k * per, (k + 1) * per));
          k++;
          if (spec.output === "groups") out.push({ file: x.file, logits: row, group: GROUPS[row.indexOf(Math.max(...row))]! });
          else {
            const score = row[0]!;
            const p = opts.calibration ? sigmoid(opts.calibration.a * score + opts.calibration.b) : sigmoid(score);
            out.push({ file: x.file, score, p, calibrated: opts.calibration !== undefined, verdict: p >= 0.5 ? "synthetic" : "real" });
          }
        }
        opts.onImage?.();
      }
    }
  } finally {
    await session.release();
  }
  return out;
}
