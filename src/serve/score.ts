/**
 * POST /v1/detect's work on the images a request brought: decode (with the pixel limit), each
 * detector's preprocessing, a place in its batch, and the result as the API states it.
 */
import { performance } from "node:perf_hooks";
import { decodeRgb, ImageDecodeError } from "../image/decode.js";
import { loadSharp } from "../image/sharp.js";
import { readProvenance, type Provenance } from "../provenance/index.js";
import { preprocessImage } from "../image/preprocess.js";
import { scoreVerdict } from "../eval/calibration.js";
import type { NormalizedImage, OutputTensor } from "../runtime/session.js";
import { Rng } from "../util/rng.js";
import type { BatchResult } from "./batcher.js";
import { ID_GROUPS, sha256, type ServedDetector } from "./detectors.js";
import { HttpError, overloaded } from "./errors.js";

export interface ImageInput {
  name: string;
  bytes: Uint8Array;
}

export interface ScoreOptions {
  maxPixels: number;
  heatmap: boolean;
  signal: AbortSignal;
}

export type ImageError = { name: string; sha256: string; error: { code: string; message: string } };

export interface ImageResult {
  name: string;
  sha256: string;
  width: number;
  height: number;
  results: Record<string, unknown>[];
  provenance: Provenance;
}

/** A decoded image prepared for each detector. */
interface Ready {
  name: string;
  sha256: string;
  width: number;
  height: number;
  bytes: Uint8Array;
  inputs: { image: NormalizedImage; decodeMs: number }[];
}

export async function scoreImages(images: readonly ImageInput[], detectors: readonly ServedDetector[], opts: ScoreOptions): Promise<(ImageResult | ImageError)[]> {
  const prepared = await Promise.all(images.map((im) => prepare(im, detectors, opts.maxPixels)));
  const ready = prepared.filter((p): p is Ready => "inputs" in p);
  // admission is all or nothing, and synchronous with the submissions below
  for (const d of detectors) if (!d.batcher.admit(ready.length)) throw overloaded(d.module.name);
  const runs = ready.map((r) => detectors.map((d, i) => d.batcher.run(r.inputs[i]!.image, opts.signal)));
  return Promise.all(
    prepared.map(async (p) => {
      if (!("inputs" in p)) return p;
      const k = ready.indexOf(p);
      const outs = await Promise.all(runs[k]!);
      const results = await Promise.all(detectors.map((d, i) => detectorResult(d, outs[i]!, p.inputs[i]!.decodeMs, opts.heatmap)));
      return { name: p.name, sha256: p.sha256, width: p.width, height: p.height, results, provenance: await readProvenance(p.bytes) };
    }),
  );
}

async function prepare(im: ImageInput, detectors: readonly ServedDetector[], maxPixels: number): Promise<Ready | ImageError> {
  const hash = sha256(im.bytes);
  const start = performance.now();
  try {
    const img = await decodeRgb(im.bytes, { maxPixels, name: im.name });
    const decodedMs = performance.now() - start;
    const inputs = await Promise.all(
      detectors.map(async (d) => {
        const t = performance.now();
        // the random stream is named after the image, as `detect` names it after the file (the served recipes draw nothing)
        const image = await preprocessImage(img, d.module.preprocess, new Rng(0, im.name));
        return { image, decodeMs: decodedMs + performance.now() - t };
      }),
    );
    return { name: im.name, sha256: hash, width: img.width, height: img.height, bytes: im.bytes, inputs };
  } catch (err) {
    if (!(err instanceof ImageDecodeError)) throw err;
    return { name: im.name, sha256: hash, error: { code: err.reason === "too_many_pixels" ? "too_many_pixels" : "unsupported_image", message: err.message } };
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

async function detectorResult(d: ServedDetector, r: BatchResult, decodeMs: number, heatmap: boolean): Promise<Record<string, unknown>> {
  const logit = r.outputs.logit ?? r.outputs[d.session.outputNames[0] ?? ""];
  if (!logit) throw new Error(`${d.module.name}: the model has no logit output`);
  const row = Array.from(logit.data);
  const timings = { decodeMs: round(decodeMs), queueMs: round(r.queueMs), inferenceMs: round(r.inferenceMs), batchSize: r.batchSize };
  const preprocessing = d.module.preprocess.recipe.description;
  if (d.module.output === "groups") {
    const probs = softmax(row);
    const groups = Object.fromEntries(ID_GROUPS.slice(0, row.length).map((g, i) => [g, probs[i]!]));
    return { detector: d.module.name, logits: row, group: ID_GROUPS[row.indexOf(Math.max(...row))], groups, preprocessing, timings };
  }
  const map = heatmap ? r.outputs.logit_map : undefined;
  return {
    detector: d.module.name,
    ...scoreVerdict(row[0]!, d.calibration, d.module.needsCalibration),
    threshold: 0.5,
    ...(map ? { heatmap: await heatmapPng(map) } : {}),
    preprocessing,
    timings,
  };
}

function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** A logit map [1, h, w] as an 8-bit grey PNG: 0 at its min, 255 at its max (linear), with both stated. */
export async function heatmapPng(map: OutputTensor): Promise<{ png: string; width: number; height: number; min: number; max: number }> {
  const height = map.dims.at(-2) ?? 1;
  const width = map.dims.at(-1) ?? 1;
  let min = Infinity;
  let max = -Infinity;
  for (const v of map.data) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const span = max - min || 1;
  const grey = Buffer.alloc(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.round(((map.data[i]! - min) / span) * 255);
  const sharp = await loadSharp();
  const png = await sharp(grey, { raw: { width, height, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
  return { png: png.toString("base64"), width, height, min, max };
}

/** The status of a request none of whose images could be read: the first image's error. */
export function allUnreadable(errors: readonly ImageError[]): HttpError {
  const first = errors[0]!;
  const status = first.error.code === "too_many_pixels" ? 413 : 415;
  const message = errors.length === 1 ? first.error.message : `none of the ${errors.length} images could be read: ${first.error.message}, …`;
  return new HttpError(status, first.error.code, message);
}
