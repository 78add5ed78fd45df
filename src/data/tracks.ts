/** Splits of ImagiNet records by one of their labels; upstream's three test tracks. */
import type { Recipe } from "../image/recipe.js";
import { CENTER256, CENTER448 } from "../image/recipes.js";
import type { AnnotationFormat, ImagiNetRecord } from "./annotations.js";

export type SplitKey = "origin" | "content" | "group" | "specific";

/** Partitions records by one label (real images fall under group 4 / specific 8). Keys in ascending order. */
export function splitBy(records: readonly ImagiNetRecord[], key: SplitKey): Map<number, ImagiNetRecord[]> {
  const parts = new Map<number, ImagiNetRecord[]>();
  for (const r of records) {
    const k = r[key];
    let list = parts.get(k);
    if (!list) parts.set(k, (list = []));
    list.push(r);
  }
  return new Map([...parts.entries()].sort((a, b) => a[0] - b[0]));
}

/** Counts of records per value of `key`. */
export function countBy(records: readonly ImagiNetRecord[], key: SplitKey): Map<number, number> {
  return new Map([...splitBy(records, key)].map(([k, v]) => [k, v.length]));
}

// ---------------------------------------------------------------- upstream's three test tracks

/**
 * Upstream evaluates every detector on three test sets (testing_utils/testing/{ImagiNet*,Corvi,
 * PracticalTestset}/); each has its own annotation format, which names the track (see docs/tracks.md).
 */
export type TrackName = AnnotationFormat;
export const TRACK_NAMES: readonly TrackName[] = ["imaginet", "corvi", "practical"];

export const TRACK_TITLES: Record<TrackName, string> = {
  imaginet: "ImagiNet test set",
  corvi: "Corvi test set",
  practical: "Practical test set",
};

/**
 * The Practical set's subsets, one per upstream list `Test_<subset>_num<N>.txt`, in the order of
 * upstream's `files` list (PracticalTestset/*_model.py), which is also its CSVs' row order.
 */
export const PRACTICAL_SUBSETS = ["DreamBooth", "MidjourneyV4", "MidjourneyV5", "NightCafe", "StableAI", "YiJian"] as const;

/** Row labels as upstream's Practical CSVs spell them (its `models` list misspells MidjourneyV4). */
export const PRACTICAL_CSV_LABELS: Readonly<Record<string, string>> = { MidjourneyV4: "MidjoruneyV4" };

/** The subset a Practical list stands for: `<subset>` of `Test_<subset>_num<N>.txt`, else the file's name without extension. */
export function practicalSubset(file: string): string {
  const base = file.split(/[\\/]/).at(-1)!;
  return /^Test_(.+)_num\d+\.txt$/.exec(base)?.[1] ?? base.replace(/\.[^.]*$/, "");
}

/** Upstream's Corvi set: the images as they are (`CorviTestset` applies no geometric transform), already 256×256 after the README's preprocessing. */
export const AS_IS: Recipe = { name: "as-is", description: "the image as it is (no pad, crop or resize)", steps: [] };

/** The dataset-level preprocessing of each track (what upstream's Dataset class does before the model's own transform). */
const TRACK_PREPROCESSING: Record<Exclude<TrackName, "imaginet">, Recipe> = {
  corvi: AS_IS,
  // PracticalTestset.albu_default: PadIfNeeded(448, 448) + CenterCrop(448, 448), for every detector
  practical: CENTER448,
};

const sameSteps = (a: Recipe, b: Recipe): boolean => JSON.stringify(a.steps) === JSON.stringify(b.steps);

/**
 * The geometric recipe a detector's images get on a track. ImagiNet's own test transform (pad + centre
 * crop 256, the recipe of grag2021, corvi2022, imaginet and npr) belongs to the ImagiNet set, not to the
 * model: on the Corvi and Practical tracks upstream feeds those detectors the track's images instead
 * (as they are; pad + crop 448). Any other recipe is the model's own (LASTED_Load's pad + crop 448,
 * UnivFD's CenterCrop 224) and follows the track's. The ImagiNet track keeps the detector's recipe.
 */
export function trackRecipe(track: TrackName, own: Recipe): Recipe {
  if (track === "imaginet") return own;
  const dataset = TRACK_PREPROCESSING[track];
  if (own.name === CENTER256.name || sameSteps(own, dataset)) return dataset;
  if (dataset.steps.length === 0) return own;
  return { name: `${dataset.name}+${own.name}`, description: `${dataset.description}, then ${own.description}`, steps: [...dataset.steps, ...own.steps] };
}
