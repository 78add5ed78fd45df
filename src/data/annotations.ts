/**
 * Parsers for every upstream annotation format, with errors that name the file and line.
 *
 * - imaginet:  `./relpath,origin,content,group,specific`  (ImagiNet train/test/calibration, LASTED anchors)
 * - corvi:     `path,origin,gen` or `path,origin`         (Corvi set, its calibration and anchor lists)
 * - practical: `path label`, space separated               (Practical set = LASTED's AIDraw subsets)
 *
 * Paths may contain commas (the Corvi set has DALL·E 2 prompts as file names), so labels are split
 * off from the right, as upstream's `rsplit` does.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { InputError } from "../util/errors.js";
import {
  CONTENTS,
  CORVI_GENERATORS,
  GROUPS,
  ORIGINS,
  REAL_GROUP,
  REAL_SPECIFIC,
  SPECIFICS,
  SPECIFIC_GROUP,
  type ContentName,
  type CorviGeneratorName,
  type GroupName,
  type OriginName,
  type SpecificName,
} from "./labels.js";

export type AnnotationFormat = "imaginet" | "corvi" | "practical";

export class AnnotationError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
  }
  override name = "AnnotationError";
}

interface RecordBase {
  /** normalised POSIX path relative to the dataset root, without a leading `./` */
  path: string;
  /** 1-based line number in its file */
  line: number;
  origin: 0 | 1;
  originName: OriginName;
}

export interface ImagiNetRecord extends RecordBase {
  format: "imaginet";
  content: number;
  contentName: ContentName;
  group: number;
  groupName: GroupName;
  specific: number;
  specificName: SpecificName;
}

export interface CorviRecord extends RecordBase {
  format: "corvi";
  /** generator id, or null in the two-field variant (`path,origin`) */
  gen: number | null;
  /** generator name for synthetic images; null for real ones and the two-field variant */
  genName: CorviGeneratorName | null;
}

export interface PracticalRecord extends RecordBase {
  format: "practical";
}

export type AnnotationRecord = ImagiNetRecord | CorviRecord | PracticalRecord;

/** A line that repeats an earlier line's path with the same labels. */
export interface Repeat {
  path: string;
  /** 1-based line numbers of the repeat and of the path's first line */
  line: number;
  firstLine: number;
}

export interface AnnotationFile<R extends AnnotationRecord = AnnotationRecord> {
  file: string;
  format: R["format"];
  /** one per path, unless parsed with `keepRepeats` */
  records: R[];
  /** identical repeats, in file order (upstream's `test_annotations_{gan,sd,dalle3}.txt` have some) */
  repeats: Repeat[];
}

const SHAPES: Record<AnnotationFormat | "corvi2", { re: RegExp; expected: string }> = {
  imaginet: { re: /^(.*),(\d+),(\d+),(\d+),(\d+)$/, expected: '"path,origin,content,group,specific" (ImagiNet format)' },
  corvi: { re: /^(.*),(\d+),(\d+)$/, expected: '"path,origin,gen" (Corvi format)' },
  corvi2: { re: /^(.*),(\d+)$/, expected: '"path,origin" (two-field Corvi format)' },
  practical: { re: /^(.*) (\d+)$/, expected: '"path label" (Practical format, space separated)' },
};

function detectShape(line: string): keyof typeof SHAPES | null {
  if (SHAPES.imaginet.re.test(line)) return "imaginet";
  if (SHAPES.corvi.re.test(line)) return "corvi";
  if (SHAPES.corvi2.re.test(line)) return "corvi2";
  if (SHAPES.practical.re.test(line)) return "practical";
  return null;
}

/** The path of a list line in any annotation format (labels split off from the right), or the whole line when it carries no labels. */
export function listLinePath(line: string): string {
  const shape = detectShape(line);
  return shape === null ? line : SHAPES[shape].re.exec(line)![1]!;
}

function describeLine(line: string): string {
  const shown = line.length > 80 ? `${line.slice(0, 77)}...` : line;
  return JSON.stringify(shown);
}

/** backslashes, empty segments, or "." / ".." segments */
const NEEDS_NORMALISING = /\\|\/\/|(^|\/)\.{1,2}(\/|$)/;

/** Normalises an annotation path; returns an error message, naming `root` (what the path is relative to), when it is unusable. */
export function normaliseAnnotationPath(raw: string, root = "the dataset root"): { path: string } | { error: string } {
  if (raw.length === 0) return { error: "empty path" };
  if (raw.includes("\0")) return { error: "path contains a NUL byte" };
  if (raw.startsWith("/") || raw.startsWith("\\") || /^[A-Za-z]:/.test(raw)) {
    return { error: `absolute path ${JSON.stringify(raw)}: paths must be relative to ${root}` };
  }
  // fast path: most paths only carry a leading "./"
  const rest = raw.startsWith("./") ? raw.slice(2) : raw;
  const normal = NEEDS_NORMALISING.test(rest) ? path.posix.normalize(rest.replace(/\\/g, "/")) : rest;
  if (normal === ".." || normal.startsWith("../")) {
    return { error: `path ${JSON.stringify(raw)} escapes ${root}` };
  }
  if (normal === "." || normal.endsWith("/")) return { error: `path ${JSON.stringify(raw)} names a folder, not a file` };
  return { path: normal };
}

function idInRange(file: string, lineNo: number, what: string, value: string, names: readonly string[]): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n >= names.length) {
    throw new AnnotationError(file, lineNo, `${what} id ${value} out of range: expected 0-${names.length - 1} (${names.map((nm, i) => `${i} ${nm}`).join(", ")})`);
  }
  return n;
}

export interface ParseOptions {
  /** force a format instead of detecting it from the first line */
  format?: AnnotationFormat;
  /**
   * Keep a line that repeats an earlier one (same path, same labels) as a record of its own, where each
   * line stands for one image to make (upstream's group test files repeat some real images, and each
   * line becomes one perturbed test image). By default a repeat is merged into the first line's record.
   * Either way it is listed in `repeats`; a repeat with other labels is always an error.
   */
  keepRepeats?: boolean;
}

/** Parses annotation text. `file` is used in error messages only. */
export function parseAnnotations(text: string, file: string, opts: ParseOptions = {}): AnnotationFile {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  let last = lines.length;
  while (last > 0 && lines[last - 1]!.trim() === "") last--;
  if (last === 0) throw new AnnotationError(file, 1, "empty annotation file: expected at least one line");

  let shape: keyof typeof SHAPES | null = opts.format ?? null;
  if (shape === "corvi") shape = SHAPES.corvi.re.test(lines[0]!) ? "corvi" : "corvi2";
  shape ??= detectShape(lines[0]!);
  if (shape === null) {
    throw new AnnotationError(
      file,
      1,
      `unrecognised line ${describeLine(lines[0]!)}: expected one of ${Object.values(SHAPES)
        .map((s) => s.expected)
        .join(", ")}`,
    );
  }
  const { re, expected } = SHAPES[shape];
  const format: AnnotationFormat = shape === "corvi2" ? "corvi" : shape;

  const records: AnnotationRecord[] = [];
  const repeats: Repeat[] = [];
  const seen = new Map<string, number>(); // path → index of its first record
  for (let i = 0; i < last; i++) {
    const lineNo = i + 1;
    const line = lines[i]!;
    if (line.trim() === "") throw new AnnotationError(file, lineNo, `blank line: expected ${expected}`);
    const m = re.exec(line);
    if (!m) {
      const commas = line.split(",").length;
      throw new AnnotationError(file, lineNo, `malformed line ${describeLine(line)}: expected ${expected}${format !== "practical" ? `, found ${commas} comma-separated fields` : ""}`);
    }
    const p = normaliseAnnotationPath(m[1]!);
    if ("error" in p) throw new AnnotationError(file, lineNo, p.error);
    const prevIndex = seen.get(p.path);
    if (prevIndex !== undefined) {
      const prev = records[prevIndex]!;
      if (labelsOf(lines[prev.line - 1]!, re) !== m.slice(2).join(",")) {
        throw new AnnotationError(file, lineNo, `duplicate path ${JSON.stringify(p.path)} with other labels than ${file}:${prev.line}`);
      }
      repeats.push({ path: p.path, line: lineNo, firstLine: prev.line });
      if (!opts.keepRepeats) continue;
    } else seen.set(p.path, records.length);

    const origin = idInRange(file, lineNo, "origin", m[2]!, ORIGINS) as 0 | 1;
    const base = { path: p.path, line: lineNo, origin, originName: ORIGINS[origin] };
    if (format === "imaginet") {
      const content = idInRange(file, lineNo, "content", m[3]!, CONTENTS);
      const group = idInRange(file, lineNo, "group", m[4]!, GROUPS);
      const specific = idInRange(file, lineNo, "specific model", m[5]!, SPECIFICS);
      checkImagiNetConsistency(file, lineNo, origin, group, specific);
      records.push({
        format,
        ...base,
        content,
        contentName: CONTENTS[content]!,
        group,
        groupName: GROUPS[group]!,
        specific,
        specificName: SPECIFICS[specific]!,
      });
    } else if (format === "corvi") {
      const gen = m[3] === undefined ? null : idInRange(file, lineNo, "generator", m[3], CORVI_GENERATORS);
      records.push({ format, ...base, gen, genName: gen !== null && origin === 1 ? CORVI_GENERATORS[gen]! : null });
    } else {
      records.push({ format, ...base });
    }
  }
  return { file, format, records, repeats };
}

/** The warning a file with identical repeats deserves, or null: how many, and where the first is. */
export function repeatsWarning(af: AnnotationFile): string | null {
  const first = af.repeats[0];
  if (!first) return null;
  const n = af.repeats.length;
  return `${af.file}: ${n} line${n === 1 ? "" : "s"} repeat${n === 1 ? "s" : ""} an earlier line with the same path and labels and ${n === 1 ? "was" : "were"} counted once (first: ${af.file}:${first.line}, repeating line ${first.firstLine})`;
}

function labelsOf(line: string, re: RegExp): string {
  return re.exec(line)!.slice(2).join(",");
}

function checkImagiNetConsistency(file: string, lineNo: number, origin: number, group: number, specific: number): void {
  if (origin === 0 && (group !== REAL_GROUP || specific !== REAL_SPECIFIC)) {
    throw new AnnotationError(
      file,
      lineNo,
      `a real image (origin 0) must have group ${REAL_GROUP} (real) and specific model ${REAL_SPECIFIC} (real), got group ${group} and specific model ${specific}`,
    );
  }
  if (origin === 1 && (group === REAL_GROUP || specific === REAL_SPECIFIC)) {
    throw new AnnotationError(file, lineNo, `a synthetic image (origin 1) must have a generator group 0-3 and specific model 0-7, got group ${group} and specific model ${specific}`);
  }
  if (SPECIFIC_GROUP[specific] !== group) {
    throw new AnnotationError(
      file,
      lineNo,
      `specific model ${specific} (${SPECIFICS[specific]}) belongs to group ${SPECIFIC_GROUP[specific]} (${GROUPS[SPECIFIC_GROUP[specific]!]}), not to group ${group} (${GROUPS[group]})`,
    );
  }
}

export async function readAnnotationFile(file: string, opts: ParseOptions = {}): Promise<AnnotationFile> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InputError(`${file}: cannot read annotation file (${e.code ?? e.message})`);
  }
  return parseAnnotations(text, file, opts);
}

/** Reads an ImagiNet-format file and fails (with the file name) if it is in another format. */
export async function readImagiNetFile(file: string, opts: Omit<ParseOptions, "format"> = {}): Promise<AnnotationFile<ImagiNetRecord>> {
  const parsed = await readAnnotationFile(file, { ...opts, format: "imaginet" });
  return parsed as AnnotationFile<ImagiNetRecord>;
}

/** LASTED anchor lists hold real images only (upstream uses 100 of them). */
export async function readAnchorList(file: string): Promise<AnnotationFile> {
  const parsed = await readAnnotationFile(file);
  for (const r of parsed.records) {
    if (r.origin !== 0) throw new AnnotationError(file, r.line, `anchor images must be real (label 0), got ${r.origin}`);
  }
  return parsed;
}
