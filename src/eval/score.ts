/**
 * Scoring annotated images with a detector, as `calibrate`, `eval detect` and the demo do: one detect
 * run over the images, a score (binary) or logits (groups) per image, and an incomplete result is an
 * error: a run or a calibration needs every image.
 */
import { createRequire } from "node:module";
import * as path from "node:path";
import { readAnnotationFile } from "../data/annotations.js";
import type { DetectorModule } from "../detectors/types.js";
import { detect, type DetectOptions, type PerFile } from "../runtime/detect.js";
import type { ModelSource } from "../runtime/session.js";
import { ProblemsError } from "../util/errors.js";
import type { Scores } from "./import.js";

/** An image to score: its path as the annotation files give it, under `root`. */
export interface ToScore extends PerFile {
  root: string;
  path: string;
}

/** The distinct image paths of annotation files, in order (normalised as the parser gives them). */
export async function annotatedPaths(files: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const f of files) for (const r of (await readAnnotationFile(f, { format: "imaginet" })).records) out.add(r.path);
  return [...out];
}

/** Scores (binary) or logits (groups) of the items, in their order; a ProblemsError naming the images that could not be read. */
export async function scoreItems(spec: DetectorModule, model: ModelSource, items: readonly ToScore[], opts: Omit<DetectOptions, "perFile" | "calibration"> = {}): Promise<(number | number[])[]> {
  const results = await detect(
    spec,
    model,
    items.map((i) => path.join(i.root, i.path)),
    { ...opts, perFile: items },
  );
  const failed = results.flatMap((r) => ("error" in r ? [`${r.file}: ${r.error}`] : []));
  if (failed.length > 0) throw new ProblemsError(`${failed.length} image(s) could not be read, so the result would be incomplete:\n  ${failed.slice(0, 10).join("\n  ")}`);
  return results.map((r) => ("logits" in r ? r.logits : "score" in r ? r.score : NaN));
}

/** The items' values by their annotation path, to join with annotation files (eval/import.ts joinScores). */
export function scoresOf(name: string, items: readonly ToScore[], values: readonly (number | number[])[]): Scores {
  return { file: name, byPath: new Map(items.map((it, i) => [it.path, values[i]!])), columns: [] };
}

/** The manifest's software entry for runs scored here. */
export function inferenceSoftware(): Record<string, string> {
  return { "onnxruntime-node": (createRequire(import.meta.url)("onnxruntime-node/package.json") as { version: string }).version };
}
