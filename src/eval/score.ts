/**
 * Scoring annotated images with a detector, as `calibrate`, `eval detect` and the demo do: one detect
 * run over the images, a score (binary) or logits (groups) per image, and an incomplete result is an
 * error: a run or a calibration needs every image.
 */
import { createRequire } from "node:module";
import * as path from "node:path";
import { readAnnotationFile } from "../data/annotations.js";
import type { DetectorModule } from "../detectors/types.js";
import { detect, type DetectOptions, type DetectorModel, type PerFile } from "../runtime/detect.js";
import { TRACK_TITLES, trackRecipe, type TrackName } from "../data/tracks.js";
import type { Recipe } from "../image/recipe.js";
import { InputError, ProblemsError } from "../util/errors.js";
import type { Scores } from "./import.js";

/** An image to score: its path as the annotation files give it, under `root`. */
export interface ToScore extends PerFile {
  root: string;
  path: string;
}

/** The distinct image paths of annotation files, in order (normalised as the parser gives them). */
export async function annotatedPaths(files: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const f of files) for (const r of (await readAnnotationFile(f)).records) out.add(r.path);
  return [...out];
}

/** Scores (binary) or logits (groups) of the items, in their order; a ProblemsError naming the images that could not be read. */
export async function scoreItems(spec: DetectorModule, model: DetectorModel, items: readonly ToScore[], opts: Omit<DetectOptions, "perFile" | "calibration"> = {}): Promise<(number | number[])[]> {
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

/**
 * What a run on `track` needs beyond the detector: its geometric recipe there (see trackRecipe), and
 * for an anchored detector (LASTED) the track's own anchor list, as upstream takes
 * anchor_lasted_{corvi,practical}.txt on those tracks rather than ImagiNet's.
 */
export function trackSetup(track: TrackName, spec: DetectorModule, anchors: string | undefined): { recipe: Recipe } {
  if (track !== "imaginet" && spec.anchors && !anchors) {
    throw new InputError(`${spec.title} on the ${TRACK_TITLES[track]} takes that set's real anchor images, as upstream: pass --anchors anchor_lasted_${track}.txt (paths under --root)`);
  }
  return { recipe: trackRecipe(track, spec.preprocess.recipe) };
}

/** The manifest's software entry for runs scored here. */
export function inferenceSoftware(): Record<string, string> {
  return { "onnxruntime-node": (createRequire(import.meta.url)("onnxruntime-node/package.json") as { version: string }).version };
}
