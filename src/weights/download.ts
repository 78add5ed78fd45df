/**
 * Fetches a weights source into the cache through the project's downloader (resumable, retried,
 * verified, renamed into place only when complete; Google Drive's confirmation page; safe zip
 * extraction), and records its files in the lock.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import type { WeightsSource } from "../detectors/types.js";
import { transferOptions, transferProgress, type TransferOptions } from "../data/download/index.js";
import { downloadDriveFile } from "../data/download/drive.js";
import { extractToStaging } from "../data/download/extract.js";
import { downloadFile, hashFile, type DownloadResult } from "../data/download/http.js";
import { InputError } from "../util/errors.js";
import { resolveInside } from "../util/fs.js";
import { cachePath, checkFiles, checkpointPaths, lockPath, readLock, updateLock, weightsCacheDir, type LockEntry, type LockedFile } from "./cache.js";

export type WeightsDownloadOptions = Pick<TransferOptions, "retries" | "baseDelayMs" | "maxDelayMs" | "stallTimeoutMs" | "rewriteUrl" | "driveBase" | "progress" | "signal"> & {
  cacheDir?: string;
  /** the sha256 the downloaded file (a zip source: the archive) must have */
  sha256?: string;
};

export interface WeightsDownloadReport {
  name: string;
  /** downloaded: fetched now; present: already in the cache, every file's sha256 as recorded */
  status: "downloaded" | "present";
  /** the checkpoint files, absolute, in the source's order */
  files: string[];
  /** bytes fetched now (0 when present) */
  bytes: number;
  /** the lock entry had no record of this source before: its sha256 was recorded now */
  recorded: boolean;
  lock: string;
}

export async function downloadWeights(source: WeightsSource, opts: WeightsDownloadOptions = {}): Promise<WeightsDownloadReport> {
  const cacheDir = path.resolve(opts.cacheDir ?? weightsCacheDir());
  const entry = (await readLock(cacheDir)).weights[source.name];
  const expected = expectedSha256(source, entry, opts.sha256, lockPath(cacheDir));
  const files = checkpointPaths(source).map((rel) => cachePath(cacheDir, rel));
  const report = { name: source.name, files, lock: lockPath(cacheDir) };
  if (entry && (await checkFiles(cacheDir, source, entry, true)).length === 0) return { ...report, status: "present", bytes: 0, recorded: false };

  const dir = cachePath(cacheDir, source.name);
  const dest = path.join(dir, source.file);
  try {
    const fetched = await fetch(source, dest, expected, opts);
    const locked = source.members ? await placeMembers(source, dest, cacheDir) : [await lockedFile(cacheDir, dest, fetched.sha256)];
    const archive = source.members ? { file: source.file, size: fetched.bytes, sha256: fetched.sha256 } : undefined;
    const next: LockEntry = { source: source.url ?? `drive:${source.drive}`, ...(archive ? { archive } : {}), files: locked, recordedAt: new Date().toISOString() };
    await updateLock(cacheDir, (weights) => {
      weights[source.name] = next;
    });
    return { ...report, status: "downloaded", bytes: fetched.bytes, recorded: entry === undefined };
  } catch (err) {
    if (source.members) await fsp.rm(dest, { force: true });
    await fsp.rmdir(dir).catch(() => {}); // only when empty: nothing is left of a refused download
    throw err;
  }
}

/** The one sha256 the download must have: the pinned, the published and the recorded one must agree. */
function expectedSha256(source: WeightsSource, entry: LockEntry | undefined, pinned: string | undefined, lock: string): string | undefined {
  const recorded = entry ? (entry.archive?.sha256 ?? (source.members ? undefined : entry.files[0]?.sha256)) : undefined;
  const known = [
    { what: "--sha256", value: pinned?.toLowerCase() },
    { what: `the sha256 ${source.homepage} publishes`, value: source.sha256 },
    { what: `the sha256 recorded in ${lock}`, value: recorded },
  ].filter((k): k is { what: string; value: string } => k.value !== undefined);
  const first = known[0];
  const other = known.find((k) => k.value !== first?.value);
  if (first && other) {
    throw new InputError(`${first.what} is ${first.value} but ${other.what} is ${other.value}; nothing was downloaded`);
  }
  return first?.value;
}

async function fetch(source: WeightsSource, dest: string, sha256: string | undefined, opts: WeightsDownloadOptions): Promise<DownloadResult & { sha256: string }> {
  const bar = transferProgress(source.name, opts.progress);
  // force: a file already at dest without a lock entry is not trusted; it is replaced by a verified download
  const common = { ...transferOptions(opts), dest, sha256, force: true, onProgress: bar.onProgress };
  try {
    const r = source.drive
      ? await downloadDriveFile({ ...common, id: source.drive, driveBase: opts.driveBase, rewriteUrl: opts.rewriteUrl })
      : await downloadFile({ ...common, url: (opts.rewriteUrl ?? ((u: string) => u))(requireUrl(source)) });
    return { ...r, sha256: r.sha256 ?? (await hashFile(r.path, ["sha256"])).sha256 };
  } finally {
    bar.finish();
  }
}

function requireUrl(source: WeightsSource): string {
  if (!source.url) throw new Error(`weights source "${source.name}" has neither url nor drive`);
  return source.url;
}

/** Extracts a zip source's members next to the archive (`<cache>/<name>/<member>`), then removes the archive. */
async function placeMembers(source: WeightsSource, archive: string, cacheDir: string): Promise<LockedFile[]> {
  const staging = await extractToStaging(archive, "zip", cacheDir);
  try {
    const locked: LockedFile[] = [];
    for (const [i, member] of (source.members ?? []).entries()) {
      const from = resolveInside(staging, member);
      const st = from ? await fsp.lstat(from).catch(() => undefined) : undefined;
      if (!from || !st?.isFile()) throw new InputError(`${source.file} (${source.name}) holds no file "${member}"${await archiveListing(staging)}`);
      const to = cachePath(cacheDir, checkpointPaths(source)[i] as string);
      await fsp.mkdir(path.dirname(to), { recursive: true });
      await fsp.rename(from, to);
      locked.push(await lockedFile(cacheDir, to));
    }
    await fsp.rm(archive, { force: true });
    return locked;
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
}

async function archiveListing(staging: string): Promise<string> {
  const entries = await fsp.readdir(staging, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => path.relative(staging, path.join(e.parentPath, e.name)).split(path.sep).join("/"));
  return files.length === 0 ? ": it holds no files" : `; it holds ${files.sort().slice(0, 10).join(", ")}${files.length > 10 ? ", …" : ""}`;
}

async function lockedFile(cacheDir: string, file: string, sha256?: string): Promise<LockedFile> {
  const st = await fsp.stat(file);
  const hash = sha256 ?? (await hashFile(file, ["sha256"])).sha256;
  return { path: path.relative(cacheDir, file).split(path.sep).join("/"), size: st.size, sha256: hash, mtimeMs: Math.floor(st.mtimeMs) };
}
