/**
 * `imaginet dataset verify`: which referenced files are present, missing, unreadable, not an image
 * (header check) or, with `deep`, corrupt (full decode), per source.
 */
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { sniffImageFormat, SNIFF_BYTES, type ImageFormat } from "../image/format.js";
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
  /** parallel file checks (header mode); default 64 */
  concurrency?: number;
  /** how many example paths per problem kind and source to keep; default 5 */
  examples?: number;
  progress?: boolean;
}

interface Check {
  status: FileStatus;
  format?: ImageFormat;
  reason?: string;
}

async function checkHeader(abs: string): Promise<Check> {
  const buf = Buffer.allocUnsafe(SNIFF_BYTES);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(abs, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { status: "missing" };
    return { status: "unreadable", reason: code ?? String(err) };
  }
  try {
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    const format = sniffImageFormat(buf.subarray(0, bytesRead));
    if (!format) return { status: "not-image", reason: bytesRead === 0 ? "empty file" : "no known image signature" };
    return { status: "present", format };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { status: "unreadable", reason: code === "EISDIR" ? "is a directory" : (code ?? String(err)) };
  } finally {
    await fh.close();
  }
}

async function decode(abs: string): Promise<string | null> {
  try {
    // failOn "truncated": a cut-off JPEG/PNG/WebP fails here (upstream's PIL LOAD_TRUNCATED_IMAGES would hide it)
    await sharp(abs, { failOn: "truncated", limitInputPixels: false }).raw().toBuffer();
    return null;
  } catch (err) {
    return (err as Error).message.split("\n")[0] ?? "decode failed";
  }
}

let recheckQueue: Promise<unknown> = Promise.resolve();

async function checkDecode(abs: string): Promise<Check | null> {
  if ((await decode(abs)) === null) return null;
  // libvips keeps one error buffer for all threads, so concurrent failures can garble the message:
  // decode a failed file again, alone, for a reliable verdict and reason
  const again = recheckQueue.then(() => decode(abs));
  recheckQueue = again;
  const reason = await again;
  return reason === null ? null : { status: "corrupt", reason };
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
    progress.tick();
  };

  const concurrency = opts.deep ? os.availableParallelism() : (opts.concurrency ?? 64);
  await mapPool(list, concurrency, async (rel) => {
    const abs = path.join(root, rel);
    let check = await checkHeader(abs);
    if (opts.deep && check.status === "present") check = (await checkDecode(abs)) ?? check;
    record(rel, check);
  });
  progress.finish();

  const sources = [...bySource.values()].sort((a, b) => a.source.localeCompare(b.source));
  // checks finish in any order: keep the first few problems of each kind by path, so reports are reproducible
  for (const s of sources) {
    s.examples.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    s.examples = PROBLEM_STATUSES.flatMap((st) => s.examples.filter((e) => e.status === st).slice(0, maxExamples));
  }
  const ok = sources.every((s) => s.missing + s.unreadable + s.notImage + s.corrupt === 0);
  return { root, annotationFiles, deep: Boolean(opts.deep), referenced: list.length, ok, sources, seconds: (performance.now() - started) / 1000 };
}
