/**
 * `imaginet dataset verify`: which referenced files are present, missing, unreadable, not an image
 * (header check) or, with `deep`, corrupt (full decode), per source.
 */
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_MAX_PIXELS } from "../image/decode.js";
import { inputOptions, loadSharp } from "../image/sharp.js";
import type { ImageFormat } from "../image/format.js";
import { checkHeaders } from "./header-check.js";
import { mapPool } from "../util/pool.js";
import { Progress } from "../util/progress.js";
import { sourceOfPath, UNKNOWN_SOURCE } from "./sources.js";

export type FileStatus = "present" | "missing" | "unreadable" | "not-image" | "corrupt";
export const PROBLEM_STATUSES: FileStatus[] = ["missing", "unreadable", "not-image", "corrupt"];

export interface SourceSummary {
  source: string;
  referenced: number;
  present: number;
  missing: number;
  unreadable: number;
  notImage: number;
  corrupt: number;
  formats: Partial<Record<ImageFormat, number>>;
  /** the first few problem paths of each kind, with the reason */
  examples: { status: FileStatus; path: string; reason: string }[];
}

export interface VerifyReport {
  root: string;
  annotationFiles: string[];
  deep: boolean;
  referenced: number;
  ok: boolean;
  sources: SourceSummary[];
  seconds: number;
}

export interface VerifyOptions {
  deep?: boolean;
  /** with `deep`: images with more pixels are corrupt (default DEFAULT_MAX_PIXELS) */
  maxPixels?: number;
  /** worker threads for header checks; default: one per core */
  workers?: number;
  /** how many example paths per problem kind and source to keep; default 5 */
  examples?: number;
  progress?: boolean;
}

interface Check {
  status: FileStatus;
  format?: ImageFormat;
  reason?: string;
}

/** Decodes a file the header check found to be a regular file with an image signature. */
async function decode(abs: string, maxPixels: number): Promise<string | null> {
  try {
    // inputOptions: a cut-off or corrupt JPEG/PNG/WebP fails here (upstream's PIL LOAD_TRUNCATED_IMAGES would hide a cut-off one)
    const sharp = await loadSharp();
    sharp.cache(false); // each file is decoded once; caching 200k decodes would only hold memory
    await sharp(abs, inputOptions(maxPixels)).raw().toBuffer();
    return null;
  } catch (err) {
    return (err as Error).message.split("\n")[0] ?? "decode failed";
  }
}

function emptySummary(source: string): SourceSummary {
  return { source, referenced: 0, present: 0, missing: 0, unreadable: 0, notImage: 0, corrupt: 0, formats: {}, examples: [] };
}

const COUNTER: Record<FileStatus, keyof Pick<SourceSummary, "present" | "missing" | "unreadable" | "notImage" | "corrupt">> = {
  present: "present",
  missing: "missing",
  unreadable: "unreadable",
  "not-image": "notImage",
  corrupt: "corrupt",
};

/** The sources by name, each keeping the first `maxExamples` problems of each kind by path. */
function sortedSources(bySource: ReadonlyMap<string, SourceSummary>, maxExamples: number): SourceSummary[] {
  const sources = [...bySource.values()].sort((a, b) => a.source.localeCompare(b.source));
  for (const s of sources) {
    s.examples.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    s.examples = PROBLEM_STATUSES.flatMap((st) => s.examples.filter((e) => e.status === st).slice(0, maxExamples));
  }
  return sources;
}

export async function verifyDataset(root: string, annotationFiles: string[], paths: Iterable<string>, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  const list = [...paths];
  const maxExamples = opts.examples ?? 5;
  const bySource = new Map<string, SourceSummary>();
  const progress = new Progress(opts.deep ? "decoding" : "checking", { total: list.length, unit: "files", enabled: opts.progress });

  const record = (rel: string, check: Check): void => {
    const id = sourceOfPath(rel)?.id ?? UNKNOWN_SOURCE;
    let s = bySource.get(id);
    if (!s) bySource.set(id, (s = emptySummary(id)));
    s.referenced++;
    s[COUNTER[check.status]]++;
    if (check.format) s.formats[check.format] = (s.formats[check.format] ?? 0) + 1;
    if (check.status !== "present") s.examples.push({ status: check.status, path: rel, reason: check.reason ?? check.status });
  };

  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const headers = await checkHeaders(root, list, { workers: opts.workers, onChunk: opts.deep ? undefined : (n) => progress.tick(n) });
  if (opts.deep) {
    const failed: number[] = [];
    await mapPool(list, os.availableParallelism(), async (rel, i) => {
      if (headers[i]!.status === "present" && (await decode(path.join(root, rel), maxPixels)) !== null) failed.push(i);
      progress.tick();
    });
    // libvips keeps one error buffer for all its threads, so concurrent failures can garble each
    // other's message: decode the failed files again one at a time, with nothing else in flight
    const corrupt = new Map<number, Check>();
    for (const i of failed.sort((x, y) => x - y)) {
      const reason = await decode(path.join(root, list[i]!), maxPixels);
      if (reason !== null) corrupt.set(i, { status: "corrupt", reason });
    }
    list.forEach((rel, i) => record(rel, corrupt.get(i) ?? headers[i]!));
  } else list.forEach((rel, i) => record(rel, headers[i]!));
  progress.finish();

  // checks finish in any order: keep the first few problems of each kind by path, so reports are reproducible
  const sources = sortedSources(bySource, maxExamples);
  const ok = sources.every((s) => s.missing + s.unreadable + s.notImage + s.corrupt === 0);
  return { root, annotationFiles, deep: Boolean(opts.deep), referenced: list.length, ok, sources, seconds: (performance.now() - started) / 1000 };
}

/**
 * The report of all the paths from the reports of consecutive parts of them, in order (the shards of
 * `dataset verify --shard K/N`): counts add up, formats keep the order they first appear in, the
 * examples are again the first few by path; `seconds` is the parts' sum.
 */
export function mergeVerifyReports(parts: readonly VerifyReport[], maxExamples: number): VerifyReport {
  const bySource = new Map<string, SourceSummary>();
  for (const part of parts) {
    for (const p of part.sources) {
      let s = bySource.get(p.source);
      if (!s) bySource.set(p.source, (s = emptySummary(p.source)));
      for (const k of Object.values(COUNTER)) s[k] += p[k];
      s.referenced += p.referenced;
      for (const [f, n] of Object.entries(p.formats) as [ImageFormat, number][]) s.formats[f] = (s.formats[f] ?? 0) + n;
      s.examples.push(...p.examples);
    }
  }
  const sources = sortedSources(bySource, maxExamples);
  const first = parts[0]!;
  return {
    root: first.root,
    annotationFiles: first.annotationFiles,
    deep: first.deep,
    referenced: parts.reduce((a, p) => a + p.referenced, 0),
    ok: parts.every((p) => p.ok),
    sources,
    seconds: parts.reduce((a, p) => a + p.seconds, 0),
  };
}
