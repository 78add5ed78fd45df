/** The set of image paths a dataset root must hold, gathered from one or more annotation files. */
import { existsSync } from "node:fs";
import * as path from "node:path";
import { readAnnotationFile, type AnnotationFile } from "./annotations.js";
import { InputError } from "../util/errors.js";

/** Annotation files that reference source images, looked for in `<root>/annotations/` when none are given (upstream's `delete_not_needed.py` uses train + test). */
export const DEFAULT_ANNOTATION_FILES = ["train_annotations.txt", "calibration.txt", "test_annotations.txt"];

export interface References {
  files: AnnotationFile[];
  /** every referenced path, once */
  paths: Set<string>;
  /** lines that repeat an earlier line of their file (same path and labels), over all files */
  repeatedLines: number;
}

export function defaultAnnotationFiles(root: string): string[] {
  const found = DEFAULT_ANNOTATION_FILES.map((f) => path.join(root, "annotations", f)).filter((f) => existsSync(f));
  if (found.length === 0) {
    throw new InputError(
      `no annotation files given and none of ${DEFAULT_ANNOTATION_FILES.join(", ")} found in ${path.join(root, "annotations")}: pass annotation files, or fetch them with \`imaginet dataset download annotations --root ${root}\``,
    );
  }
  return found;
}

export async function loadReferences(files: readonly string[]): Promise<References> {
  const parsed = await Promise.all(files.map((f) => readAnnotationFile(f)));
  const paths = new Set<string>();
  for (const af of parsed) for (const r of af.records) paths.add(r.path);
  return { files: parsed, paths, repeatedLines: parsed.reduce((n, af) => n + af.repeats.length, 0) };
}
