/**
 * `imaginet dataset download`: fetches a registry source into the dataset root (archives are kept in
 * `<root>/.imaginet-downloads/` until they are extracted), and the upstream annotation files.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { FFHQ_FILE_LIST, type FetchSpec, type Source } from "../sources.js";
import { resolveInside, writeFileAtomic } from "../../util/fs.js";
import { mapPool } from "../../util/pool.js";
import { Progress } from "../../util/progress.js";
import { huggingFaceAuthHeaders, kaggleAuthHeaders, kaggleCompetitionUrl, type Env } from "./credentials.js";
import { downloadDriveFile, driveUrl } from "./drive.js";
import { extractArchive } from "./extract.js";
import { downloadFfhq, parseFfhqList, type FfhqResult } from "./ffhq.js";
import { ChecksumMismatchError, downloadFile, hashFile, HttpStatusError, type DownloadOptions, type DownloadStatus } from "./http.js";
import { InputError } from "../../util/errors.js";

export { MissingCredentialsError } from "./credentials.js";
export { ChecksumMismatchError, DownloadError, HtmlPageError, HttpStatusError } from "./http.js";
export { UnsafeArchiveEntryError } from "./extract.js";

export const DOWNLOADS_DIR = ".imaginet-downloads";

type ArchiveSpec = Exclude<FetchSpec, { kind: "ffhq-list" }>;

export interface TransferOptions {
  /** parallel downloads (default 4; FFHQ images: default 8) */
  jobs?: number;
  /** retries per file after the first attempt (default 5) */
  retries?: number;
  /** first retry delay, doubling per retry (default 1000 ms) */
  baseDelayMs?: number;
  maxDelayMs?: number;
  stallTimeoutMs?: number;
  /** applied to every URL before it is requested (a mirror, or a test server) */
  rewriteUrl?: (url: string) => string;
  /** replaces https://drive.usercontent.google.com/download */
  driveBase?: string;
  /** progress bars on stderr: true = always, false = never, default = when stderr is a TTY */
  progress?: boolean;
  signal?: AbortSignal;
  /** downloadSource: ignore the done-marker; downloadAnnotations: fetch again even if present */
  force?: boolean;
}

export interface DownloadSourceOptions extends TransferOptions {
  root: string;
  /** for credentials (default process.env) */
  env?: Env;
  /** for ~/.kaggle/kaggle.json and the Hugging Face token file (default os.homedir()) */
  homeDir?: string;
  /** replaces https://www.kaggle.com/api/v1 */
  kaggleBase?: string;
  /** keep archives in .imaginet-downloads after extracting them (default false) */
  keepArchives?: boolean;
  /** FFHQ: re-check the pixel md5 of images already present */
  verifyExisting?: boolean;
}

export interface FetchedFile {
  file: string;
  url: string;
  bytes: number;
  sha256: string | undefined;
  status: DownloadStatus;
}

export interface SourceDownloadReport {
  source: string;
  /** the done-marker was found (and `force` not set): nothing was done */
  alreadyDone: boolean;
  /** every file fetched and placed; false when FFHQ images failed (no marker is written then) */
  complete: boolean;
  files: FetchedFile[];
  /** root-relative folders that received files */
  placed: string[];
  ffhq?: FfhqResult;
}

interface DoneMarker {
  source: string;
  completedAt: string;
  files: { file: string; url: string; bytes: number; sha256: string | undefined }[];
  placed: string[];
  ffhq?: { downloaded: number; skipped: number };
}

export function markerPath(root: string, sourceId: string): string {
  return path.join(path.resolve(root), DOWNLOADS_DIR, `${sourceId}.done.json`);
}

export async function downloadSource(source: Source, opts: DownloadSourceOptions): Promise<SourceDownloadReport> {
  const root = path.resolve(opts.root);
  const marker = markerPath(root, source.id);
  if (!opts.force) {
    const done = await readMarker(marker);
    if (done) return { source: source.id, alreadyDone: true, complete: true, files: done.files.map((f) => ({ ...f, status: "skipped-present" })), placed: done.placed };
  }
  if (source.fetch.length === 0) {
    throw new InputError(`${source.title} cannot be downloaded automatically: get it from ${source.homepage}${source.note ? ` (${source.note})` : ""}`);
  }
  const archives = source.fetch.filter((s): s is ArchiveSpec => s.kind !== "ffhq-list");
  const format = source.archive;
  if (archives.length > 0 && !format) {
    throw new Error(`source "${source.id}" lists files to fetch but no archive format to extract them with`);
  }
  const headers = await authHeaders(source, opts);
  const report: SourceDownloadReport = { source: source.id, alreadyDone: false, complete: true, files: [], placed: [] };
  report.files = await mapPool(archives, opts.jobs ?? 4, (spec) => fetchArchive(source, spec, headers, root, opts));
  for (const f of report.files) {
    if (!format) break;
    const placed = await extractArchive(archivePath(root, f.file), format, root, source.folders);
    report.placed.push(...placed.filter((p) => !report.placed.includes(p)));
    if (!opts.keepArchives) await fsp.rm(archivePath(root, f.file), { force: true });
  }
  if (source.fetch.some((s) => s.kind === "ffhq-list")) await fetchFfhq(source, root, opts, report);
  if (report.complete) await writeMarker(marker, report);
  return report;
}

async function fetchArchive(source: Source, spec: ArchiveSpec, headers: Record<string, string>, root: string, opts: DownloadSourceOptions): Promise<FetchedFile> {
  const dest = archivePath(root, spec.file);
  const rewrite = opts.rewriteUrl ?? ((u: string) => u);
  const bar = transferProgress(spec.file, opts.progress);
  const common = { ...transferOptions(opts), dest, headers, onProgress: bar.onProgress };
  let url: string;
  try {
    if (spec.kind === "drive") {
      url = rewrite(driveUrl(spec.id, opts.driveBase));
      const r = await downloadDriveFile({ ...common, id: spec.id, driveBase: opts.driveBase, rewriteUrl: opts.rewriteUrl, size: spec.size, sha256: spec.sha256 });
      return await fetched(spec.file, url, r);
    }
    const sized = spec.kind === "url" ? { size: spec.size, sha256: spec.sha256 } : {};
    url = rewrite(spec.kind === "url" ? spec.url : kaggleCompetitionUrl(spec.competition, opts.kaggleBase));
    return await fetched(spec.file, url, await downloadFile({ ...common, ...sized, url }));
  } catch (err) {
    throw withCredentialsHelp(err, source);
  } finally {
    bar.finish();
  }
}

async function fetched(file: string, url: string, r: { bytes: number; sha256: string | undefined; status: DownloadStatus; path: string }): Promise<FetchedFile> {
  // An archive kept from an interrupted run was not hashed when it was skipped; the marker records it.
  const sha256 = r.sha256 ?? (await hashFile(r.path, ["sha256"])).sha256;
  return { file, url, bytes: r.bytes, sha256, status: r.status };
}

async function fetchFfhq(source: Source, root: string, opts: DownloadSourceOptions, report: SourceDownloadReport): Promise<void> {
  const listPath = archivePath(root, FFHQ_FILE_LIST.file);
  const url = (opts.rewriteUrl ?? ((u: string) => u))(FFHQ_FILE_LIST.url);
  const list = await downloadFile({ ...transferOptions(opts), url, dest: listPath, sha256: FFHQ_FILE_LIST.sha256, size: FFHQ_FILE_LIST.size });
  report.files.push(await fetched(FFHQ_FILE_LIST.file, url, list));
  const entries = parseFfhqList(await fsp.readFile(listPath, "utf8"), listPath);
  const bar = new Progress("ffhq", { total: entries.length, unit: "files", enabled: opts.progress });
  const folder = source.folders[0] ?? "ffhq";
  const result = await downloadFfhq(entries, {
    ...transferOptions(opts),
    dir: path.join(root, folder),
    jobs: opts.jobs ?? 8,
    verifyExisting: opts.verifyExisting,
    driveBase: opts.driveBase,
    rewriteUrl: opts.rewriteUrl,
    onFile: () => bar.tick(),
  });
  bar.finish();
  report.ffhq = result;
  report.complete = result.failed.length === 0;
  if (!report.placed.includes(folder)) report.placed.push(folder);
}

async function authHeaders(source: Source, opts: DownloadSourceOptions): Promise<Record<string, string>> {
  const ctx = { env: opts.env, homeDir: opts.homeDir, help: source.credentials?.help };
  if (source.fetch.some((s) => s.kind === "kaggle-competition")) return kaggleAuthHeaders(ctx);
  if (source.fetch.some((s) => s.kind === "url" && s.auth === "huggingface")) return huggingFaceAuthHeaders(ctx);
  return {};
}

function withCredentialsHelp(err: unknown, source: Source): unknown {
  if (err instanceof HttpStatusError && (err.status === 401 || err.status === 403) && source.credentials) {
    return new InputError(`${err.message}. ${source.credentials.help}`, { cause: err });
  }
  return err;
}

function archivePath(root: string, file: string): string {
  const p = resolveInside(path.join(root, DOWNLOADS_DIR), file);
  if (!p) throw new Error(`invalid download file name "${file}"`);
  return p;
}

export function transferOptions(opts: TransferOptions): Pick<DownloadOptions, "retries" | "baseDelayMs" | "maxDelayMs" | "stallTimeoutMs" | "signal"> {
  return { retries: opts.retries, baseDelayMs: opts.baseDelayMs, maxDelayMs: opts.maxDelayMs, stallTimeoutMs: opts.stallTimeoutMs, signal: opts.signal };
}

/** A byte progress bar fed by downloadFile's cumulative `onProgress`. */
export function transferProgress(label: string, enabled: boolean | undefined): { onProgress: NonNullable<DownloadOptions["onProgress"]>; finish(): void } {
  const bar = new Progress(label, { unit: "B", enabled });
  let last = 0;
  let total: number | undefined;
  return {
    onProgress: (received, newTotal) => {
      if (newTotal !== undefined && newTotal !== total) bar.setTotal((total = newTotal));
      bar.tick(received - last);
      last = received;
    },
    finish: () => bar.finish(),
  };
}

async function readMarker(file: string): Promise<DoneMarker | undefined> {
  const text = await fsp.readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const m = JSON.parse(text) as DoneMarker;
    return Array.isArray(m.files) && Array.isArray(m.placed) ? m : undefined;
  } catch {
    return undefined; // a damaged marker only means the source is fetched again
  }
}

async function writeMarker(file: string, report: SourceDownloadReport): Promise<void> {
  const marker: DoneMarker = {
    source: report.source,
    completedAt: new Date().toISOString(),
    files: report.files.map(({ file: f, url, bytes, sha256 }) => ({ file: f, url, bytes, sha256 })),
    placed: report.placed,
    ...(report.ffhq ? { ffhq: { downloaded: report.ffhq.downloaded, skipped: report.ffhq.skipped } } : {}),
  };
  await writeFileAtomic(file, `${JSON.stringify(marker, null, 2)}\n`);
}

export interface AnnotationEntry {
  file: string;
  url: string;
  sha256?: string;
  size?: number;
}

export interface AnnotationsReport {
  files: FetchedFile[];
  /** one per file that had no published checksum and whose sha256 was recorded now */
  warnings: string[];
}

export const CHECKSUMS_FILE = "checksums.json";

/**
 * Fetches annotation files into `dir`. Files without a published checksum are trusted on first use:
 * their sha256 goes to `<dir>/checksums.json` and later downloads must match it.
 */
export async function downloadAnnotations(dir: string, entries: readonly AnnotationEntry[], opts: TransferOptions = {}): Promise<AnnotationsReport> {
  const checksumsPath = path.join(dir, CHECKSUMS_FILE);
  const recorded = await readChecksums(checksumsPath);
  const report: AnnotationsReport = { files: [], warnings: [] };
  const failures: string[] = [];
  let changed = false;
  await mapPool(entries, opts.jobs ?? 4, async (entry) => {
    try {
      const { file, firstUse } = await fetchAnnotation(dir, entry, recorded[entry.file], opts);
      report.files.push(file);
      if (firstUse && file.sha256) {
        recorded[entry.file] = file.sha256;
        changed = true;
        report.warnings.push(`${entry.file}: upstream publishes no checksum; recorded its sha256 ${file.sha256} in ${checksumsPath} (trust on first use), later downloads must match it`);
      }
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      failures.push(err instanceof Error ? err.message : String(err));
    }
  });
  if (changed) await writeFileAtomic(checksumsPath, `${JSON.stringify(sortKeys(recorded), null, 2)}\n`);
  if (failures.length > 0) throw new Error(`${failures.length} annotation file(s) failed:\n  ${failures.join("\n  ")}`);
  // transfers finish in any order; report in file order
  report.files.sort((a, b) => a.file.localeCompare(b.file));
  report.warnings.sort();
  return report;
}

async function fetchAnnotation(dir: string, entry: AnnotationEntry, recordedSha: string | undefined, opts: TransferOptions): Promise<{ file: FetchedFile; firstUse: boolean }> {
  const dest = resolveInside(dir, entry.file);
  if (!dest) throw new Error(`invalid annotation file name "${entry.file}"`);
  const url = (opts.rewriteUrl ?? ((u: string) => u))(entry.url);
  const sha256 = entry.sha256 ?? recordedSha;
  try {
    const r = await downloadFile({ ...transferOptions(opts), url, dest, sha256, size: entry.size, force: opts.force });
    return { file: await fetched(entry.file, url, r), firstUse: sha256 === undefined };
  } catch (err) {
    if (err instanceof ChecksumMismatchError && !entry.sha256 && recordedSha) {
      throw new Error(
        `${err.message}; the expected value is the one recorded in ${path.join(dir, CHECKSUMS_FILE)} when the file was first downloaded: if upstream changed the file on purpose, remove its entry there and download again`,
        { cause: err },
      );
    }
    throw err;
  }
}

async function readChecksums(file: string): Promise<Record<string, string>> {
  const text = await fsp.readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof value !== "object" || value === null || Object.values(value).some((v) => typeof v !== "string" || !/^[0-9a-f]{64}$/i.test(v))) {
    throw new InputError(`${file}: expected an object mapping file names to sha256 hex strings`);
  }
  return { ...(value as Record<string, string>) };
}

function sortKeys(obj: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => a.localeCompare(b)));
}
