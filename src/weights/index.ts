/** Published detector weights by name, in a cache folder: list, download, verify, locate, remove. */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import type { WeightsSource } from "../detectors/types.js";
import { cachePath, checkFiles, checkpointPaths, downloadCommand, readLock, updateLock, weightsCacheDir } from "./cache.js";

export { weightsCatalog, findWeights } from "./catalog.js";
export { weightsCacheDir, weightsFiles, readLock, lockPath, checkpointPaths, LOCK_FILE, type LockEntry, type LockedFile, type WeightsLock } from "./cache.js";
export { downloadWeights, type WeightsDownloadOptions, type WeightsDownloadReport } from "./download.js";

export interface WeightsVerifyResult {
  name: string;
  ok: boolean;
  files: string[];
  /** one message per missing or changed file */
  problems: string[];
}

/** Hashes every file of each source in full and compares it with the lock. */
export async function verifyWeights(sources: readonly WeightsSource[], opts: { cacheDir?: string } = {}): Promise<WeightsVerifyResult[]> {
  const cacheDir = path.resolve(opts.cacheDir ?? weightsCacheDir());
  const lock = await readLock(cacheDir);
  const results: WeightsVerifyResult[] = [];
  for (const source of sources) {
    const entry = lock.weights[source.name];
    const files = checkpointPaths(source).map((rel) => cachePath(cacheDir, rel));
    const found = await checkFiles(cacheDir, source, entry, true);
    const problems = !entry
      ? [`not downloaded: run \`${downloadCommand([source.name])}\``]
      : found.map((p) => (p.kind === "missing" ? `${p.file}: missing; run \`${downloadCommand([source.name])}\` to fetch it again` : p.message));
    results.push({ name: source.name, ok: problems.length === 0, files, problems });
  }
  return results;
}

/** Deletes a source's files and its lock entry (its recorded sha256 is forgotten). Returns whether there was anything to remove. */
export async function removeWeights(source: WeightsSource, opts: { cacheDir?: string } = {}): Promise<boolean> {
  const cacheDir = path.resolve(opts.cacheDir ?? weightsCacheDir());
  const dir = cachePath(cacheDir, source.name);
  const had = (await readLock(cacheDir)).weights[source.name] !== undefined || (await fsp.lstat(dir).catch(() => undefined)) !== undefined;
  await fsp.rm(dir, { recursive: true, force: true });
  if (had) {
    await updateLock(cacheDir, (weights) => {
      delete weights[source.name];
    });
  }
  return had;
}

/** Whether a source's files are all in the cache with a lock entry (nothing hashed). */
export async function isDownloaded(source: WeightsSource, opts: { cacheDir?: string } = {}): Promise<boolean> {
  const cacheDir = path.resolve(opts.cacheDir ?? weightsCacheDir());
  const entry = (await readLock(cacheDir)).weights[source.name];
  if (!entry) return false;
  const present = await Promise.all(
    checkpointPaths(source).map((rel) =>
      fsp.stat(cachePath(cacheDir, rel)).then(
        (st) => st.isFile() && entry.files.some((f) => f.path === rel),
        () => false,
      ),
    ),
  );
  return present.every(Boolean);
}
