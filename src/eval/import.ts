/**
 * Turning any detector's per-image scores into a run: a CSV with a header, the image path first and
 * then either one score column or one column per class (logits), joined with annotation files.
 */
import { promises as fsp } from "node:fs";
import { normaliseAnnotationPath, readAnnotationFile, type ImagiNetRecord } from "../data/annotations.js";
import { GROUPS } from "../data/labels.js";
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

/** Joins scores with annotation files; every annotated image must have a score. */
export async function joinScores(scores: Scores, annotationFiles: readonly string[]): Promise<PredictionRow[]> {
  const rows: PredictionRow[] = [];
  for (const file of annotationFiles) {
    const af = await readAnnotationFile(file, { format: "imaginet" });
    const records = af.records as ImagiNetRecord[];
    const split = splitOf(records);
    const missing: string[] = [];
    for (const r of records) {
      const s = scores.byPath.get(r.path);
      if (s === undefined) {
        missing.push(r.path);
        continue;
      }
      rows.push({
        path: r.path,
        labels: [r.origin, r.content, r.group, r.specific],
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
