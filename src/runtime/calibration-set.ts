/** The images a model is quantized on: chosen from a folder or list file, prepared as the detector prepares them, and identified by a hash. */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import type { NormalizedImage } from "../image/preprocess.js";
import type { Preprocessing } from "../detectors/types.js";
import { InputError } from "../util/errors.js";
import { sha256OfFile } from "../util/fs.js";
import { readImageList } from "./detect.js";
import { Preparer } from "./prepare.js";

export interface CalibrationSet {
  images: NormalizedImage[];
  /** the chosen files, in the order used */
  files: string[];
  /** sha256 over "path\tsha256 of its bytes\n" per chosen file, paths relative to the list's root (or the folder given) */
  sha256: string;
}

/** `count` indices spread evenly over `n` (all of them when count ≥ n): an annotation file sorted by class still gives both classes. */
export function spreadIndices(n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
}

/** Reads up to `count` calibration images from a folder or list/annotation file (its paths relative to `root`, default its folder). */
export async function readCalibrationSet(listOrDir: string, prep: Preprocessing, count: number, opts: { workers?: number; root?: string } = {}): Promise<CalibrationSet> {
  const all = await readImageList(listOrDir, opts.root);
  if (all.length === 0) throw new InputError(`${listOrDir}: no calibration images (expected a folder of images or a list/annotation file)`);
  const files = spreadIndices(all.length, count).map((i) => all[i]!);
  const base = (await fsp.stat(listOrDir)).isDirectory() ? listOrDir : (opts.root ?? path.dirname(listOrDir));
  const preparer = new Preparer(prep, opts.workers ?? 0);
  let prepared: Awaited<ReturnType<Preparer["prepare"]>>[];
  try {
    prepared = await Promise.all(files.map((f) => preparer.prepare(f)));
  } finally {
    await preparer.close();
  }
  const bad = prepared.filter((p) => "error" in p);
  if (bad.length > 0) throw new InputError(`calibration image ${bad[0]!.file}: ${"error" in bad[0]! ? bad[0].error : ""}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ""}`);
  const h = createHash("sha256");
  for (const f of files) h.update(`${path.relative(base, f).split(path.sep).join("/")}\t${await sha256OfFile(f)}\n`);
  return { images: prepared as NormalizedImage[], files, sha256: h.digest("hex") };
}
