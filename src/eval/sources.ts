/**
 * The side file that says where each image came from: `annotations/sources.csv` as `dataset import`
 * writes it (`path,source,generator,group,content`, RFC 4180, `path` as in the annotations without
 * `./`). Evaluation by source and leave-one-source-out read it.
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { normaliseAnnotationPath } from "../data/annotations.js";
import { CONTENTS } from "../data/labels.js";
import { parseCsvRecords } from "../util/csv.js";
import { InputError } from "../util/errors.js";

export const SOURCES_HEADER = ["path", "source", "generator", "group", "content"] as const;

export interface SourceEntry {
  source: string;
  generator: string;
}

export interface SourceTable {
  file: string;
  sha256: string;
  /** by normalised annotation path */
  byPath: Map<string, SourceEntry>;
}

/** Reads a sources.csv; every record must have the five fields, a path and a source, and no path twice. */
export async function readSources(file: string): Promise<SourceTable> {
  const bytes = await fsp.readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`${file}: cannot read the sources file (${e.code ?? e.message})`);
  });
  const [header, ...records] = parseCsvRecords(bytes.toString("utf8"), file);
  if (!header || header.fields.join(",") !== SOURCES_HEADER.join(",")) {
    throw new InputError(`${file}:1: expected the header ${SOURCES_HEADER.join(",")} (as \`imaginet dataset import\` writes it)`);
  }
  const byPath = new Map<string, SourceEntry>();
  for (const r of records) {
    const [raw = "", source = "", generator = ""] = r.fields;
    if (r.fields.length !== SOURCES_HEADER.length) throw new InputError(`${file}:${r.line}: expected ${SOURCES_HEADER.length} fields, got ${r.fields.length}`);
    const p = normaliseAnnotationPath(raw);
    if ("error" in p) throw new InputError(`${file}:${r.line}: ${p.error}`);
    if (source === "") throw new InputError(`${file}:${r.line}: empty source`);
    if (byPath.has(p.path)) throw new InputError(`${file}:${r.line}: ${JSON.stringify(p.path)} is listed twice`);
    byPath.set(p.path, { source, generator });
  }
  return { file, sha256: createHash("sha256").update(bytes).digest("hex"), byPath };
}

/** A content type's name as tables show it: `Photos`, `Uncategorised`. */
export function contentTitle(content: number): string {
  const c = CONTENTS[content] ?? `content ${content}`;
  return c === "uncategorized" ? "Uncategorised" : c[0]!.toUpperCase() + c.slice(1);
}
