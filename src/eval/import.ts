/**
 * Turning any detector's per-image scores into a run: a CSV with a header, the image path first and
 * then either one score column or one column per class (logits), joined with annotation files.
 */
import { promises as fsp } from "node:fs";
import { AnnotationError, normaliseAnnotationPath, readAnnotationFile, type AnnotationRecord, type ImagiNetRecord } from "../data/annotations.js";
import { GROUPS } from "../data/labels.js";
import { practicalSubset, TRACK_TITLES, type TrackName } from "../data/tracks.js";
import { parseCsv } from "../util/csv.js";
import { InputError } from "../util/errors.js";
import type { PredictionRow } from "./results.js";

export interface Scores {
  file: string;
  /** normalised path (as annotation paths are) → score or logits */
  byPath: Map<string, number | number[]>;
  columns: string[];
}

export async function readScores(file: string): Promise<Scores> {
  const text = await fsp.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`${file}: cannot read scores (${e.code ?? e.message})`);
  });
  const rows = parseCsv(text);
  const header = rows[0];
  if (!header || header.length < 2) throw new InputError(`${file}:1: expected a header "path,score" or "path,<class 1>,<class 2>,…"`);
  const byPath = new Map<string, number | number[]>();
  for (let i = 1; i < rows.length; i++) {
    const r = rows[i]!;
    if (r.length !== header.length) throw new InputError(`${file}:${i + 1}: expected ${header.length} fields as in the header, found ${r.length}`);
    const values = r.slice(1).map(Number);
    const bad = values.findIndex((v, j) => !Number.isFinite(v) || r[j + 1]!.trim() === "");
    if (bad >= 0) throw new InputError(`${file}:${i + 1}: ${header[bad + 1]} must be a finite number, got "${r[bad + 1]}"`);
    const p = normaliseAnnotationPath(r[0]!);
    if ("error" in p) throw new InputError(`${file}:${i + 1}: ${p.error}`);
    const key = p.path;
    if (byPath.has(key)) throw new InputError(`${file}:${i + 1}: duplicate path "${key}"`);
    byPath.set(key, values.length === 1 ? values[0]! : values);
  }
  return { file, byPath, columns: header.slice(1) };
}

/** The split an annotation file stands for: the one generator group of its synthetic images, if there is one. */
function splitOf(records: readonly ImagiNetRecord[]): string | undefined {
  const groups = new Set(records.filter((r) => r.origin === 1).map((r) => r.group));
  return groups.size === 1 ? GROUPS[[...groups][0]!] : undefined;
}

/**
 * The track of annotation files (test lists, then the calibration list): the format of their lines
 * (ImagiNet `path,origin,content,group,specific`; Corvi `path,origin,gen`; Practical `path label`).
 * Files in different formats are an error that names them.
 */
export async function trackOfLists(files: readonly string[]): Promise<TrackName> {
  const parsed = await Promise.all(files.map((f) => readAnnotationFile(f)));
  const track = parsed[0]?.format ?? "imaginet";
  const other = parsed.find((af) => af.format !== track);
  if (other) {
    throw new InputError(
      `${other.file} is in the ${TRACK_TITLES[other.format]}'s format but ${parsed[0]!.file} in the ${TRACK_TITLES[track]}'s: the test lists and the calibration list of a run must belong to one track`,
    );
  }
  return track;
}

/** The labels and split a row keeps from its annotation record (see PredictionRow). */
function rowLabels(r: AnnotationRecord, file: string, calibration: boolean): Pick<PredictionRow, "labels" | "split"> {
  if (r.format === "imaginet") return { labels: [r.origin, r.content, r.group, r.specific] };
  if (r.format === "practical") return { labels: [r.origin], split: practicalSubset(file) };
  if (r.gen === null && !calibration)
    throw new AnnotationError(file, r.line, 'a Corvi test list needs "path,origin,gen" (the generator makes the table row); "path,origin" serves as a calibration list');
  return { labels: r.gen === null ? [r.origin] : [r.origin, r.gen] };
}

/**
 * Joins scores with annotation files of one track; every annotated image must have a score.
 * `calibration`: the files are a calibration list (a Corvi one may omit the generator).
 */
export async function joinScores(scores: Scores, annotationFiles: readonly string[], calibration = false): Promise<PredictionRow[]> {
  await trackOfLists(annotationFiles);
  const rows: PredictionRow[] = [];
  for (const file of annotationFiles) {
    const af = await readAnnotationFile(file);
    const split = af.format === "imaginet" ? splitOf(af.records as ImagiNetRecord[]) : undefined;
    const missing: string[] = [];
    for (const r of af.records) {
      const s = scores.byPath.get(r.path);
      if (s === undefined) {
        missing.push(r.path);
        continue;
      }
      rows.push({
        path: r.path,
        ...rowLabels(r, file, calibration),
        ...(split ? { split } : {}),
        ...(typeof s === "number" ? { score: s } : { logits: s }),
      });
    }
    if (missing.length > 0) {
      throw new InputError(
        `${scores.file}: no score for ${missing.length} image(s) of ${file}, e.g. ${missing
          .slice(0, 3)
          .map((m) => JSON.stringify(m))
          .join(", ")}`,
      );
    }
  }
  return rows;
}
