/**
 * The weights cache: `<cache>/<name>/<file>` (a zip source: `<cache>/<name>/<member>` for each of its
 * members) and the lock file `<cache>/weights.lock.json`, which records each file's size and sha256
 * when it is first downloaded (no publisher but OpenAI gives checksums: trust on first use). Every
 * later use checks the files against it: cheaply when size and mtime are as recorded, by a full
 * sha256 otherwise; `imaginet weights verify` always hashes in full.
 */
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { WeightsSource } from "../detectors/types.js";
import { hashFile } from "../data/download/http.js";
import { InputError } from "../util/errors.js";
import { resolveInside, writeFileAtomic } from "../util/fs.js";

export const LOCK_FILE = "weights.lock.json";

/** `$IMAGINET_HOME/weights`, else `$XDG_CACHE_HOME/imaginet/weights`, else `~/.cache/imaginet/weights`. */
export function weightsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IMAGINET_HOME) return path.resolve(env.IMAGINET_HOME, "weights");
  // the XDG spec: a relative XDG_CACHE_HOME is invalid and ignored
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) return path.join(env.XDG_CACHE_HOME, "imaginet", "weights");
  return path.join(os.homedir(), ".cache", "imaginet", "weights");
}

export interface LockedFile {
  /** relative to the cache folder, with `/` */
  path: string;
  size: number;
  sha256: string;
  /** its mtime in whole milliseconds when it was recorded: a file with the same size and mtime is taken as unchanged without hashing it */
  mtimeMs: number;
}

export interface LockEntry {
  /** the URL, or `drive:ID` */
  source: string;
  /** a zip source: the downloaded archive (a later download must match it) */
  archive?: { file: string; size: number; sha256: string };
  /** the checkpoint files, in the source's order */
  files: LockedFile[];
  recordedAt: string;
}

export interface WeightsLock {
  version: 1;
  weights: Record<string, LockEntry>;
}

export function lockPath(cacheDir: string): string {
  return path.join(cacheDir, LOCK_FILE);
}

export async function readLock(cacheDir: string): Promise<WeightsLock> {
  const file = lockPath(cacheDir);
  const text = await fsp.readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (text === undefined) return { version: 1, weights: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)}); remove it and download the weights again`);
  }
  if (!isLock(value)) throw new InputError(`${file}: not a weights lock file (expected {"version": 1, "weights": {NAME: {source, files: [{path, size, sha256, mtimeMs}]}}})`);
  return value;
}

function isLock(v: unknown): v is WeightsLock {
  if (typeof v !== "object" || v === null) return false;
  const lock = v as { version?: unknown; weights?: unknown };
  if (lock.version !== 1 || typeof lock.weights !== "object" || lock.weights === null) return false;
  return Object.values(lock.weights).every((e: Partial<LockEntry>) => typeof e?.source === "string" && Array.isArray(e.files) && e.files.every(isLockedFile));
}

function isLockedFile(f: Partial<LockedFile>): boolean {
  return typeof f?.path === "string" && typeof f.size === "number" && typeof f.sha256 === "string" && /^[0-9a-f]{64}$/.test(f.sha256) && typeof f.mtimeMs === "number";
}

/** Reads the lock afresh, changes it, writes it atomically (entries sorted by name). */
export async function updateLock(cacheDir: string, change: (weights: Record<string, LockEntry>) => void): Promise<void> {
  const lock = await readLock(cacheDir);
  change(lock.weights);
  const sorted = Object.fromEntries(Object.entries(lock.weights).sort(([a], [b]) => a.localeCompare(b)));
  await writeFileAtomic(lockPath(cacheDir), `${JSON.stringify({ version: 1, weights: sorted }, null, 2)}\n`);
}

/** The checkpoint files of a source, relative to the cache folder: its file, or a zip's members. */
export function checkpointPaths(source: WeightsSource): string[] {
  return source.members ? source.members.map((m) => `${source.name}/${m}`) : [`${source.name}/${source.file}`];
}

/** A cache-relative path as an absolute one; a lock entry that points outside the cache is refused. */
export function cachePath(cacheDir: string, rel: string): string {
  const abs = resolveInside(cacheDir, rel);
  if (!abs) throw new InputError(`${lockPath(cacheDir)}: the path "${rel}" leads outside the cache folder`);
  return abs;
}

export function downloadCommand(names: readonly string[]): string {
  return `imaginet weights download ${names.join(" ")}`;
}

/** Why the files of a source cannot be used as they are: "missing" (not downloaded, or removed), or a sha256 mismatch message. */
export type FileProblem = { kind: "missing"; file: string } | { kind: "changed"; file: string; message: string };

/**
 * Checks one source's files against its lock entry. `full`: hash every file; otherwise only those
 * whose size or mtime differ from the recorded ones.
 */
export async function checkFiles(cacheDir: string, source: WeightsSource, entry: LockEntry | undefined, full: boolean): Promise<FileProblem[]> {
  const problems: FileProblem[] = [];
  for (const rel of checkpointPaths(source)) {
    const file = cachePath(cacheDir, rel);
    const locked = entry?.files.find((f) => f.path === rel);
    const st = await fsp.stat(file).catch(() => undefined);
    if (!locked || !st?.isFile()) {
      problems.push({ kind: "missing", file });
      continue;
    }
    if (!full && st.size === locked.size && Math.floor(st.mtimeMs) === locked.mtimeMs) continue;
    const { sha256 } = await hashFile(file, ["sha256"]);
    if (sha256 !== locked.sha256) problems.push({ kind: "changed", file, message: mismatchMessage(cacheDir, source.name, file, locked.sha256, sha256) });
  }
  return problems;
}

export function mismatchMessage(cacheDir: string, name: string, file: string, recorded: string, actual: string): string {
  return `${file}: sha256 ${actual} differs from ${recorded}, recorded in ${lockPath(cacheDir)} when it was downloaded: the file has changed; run \`${downloadCommand([name])}\` to fetch it again`;
}

/**
 * The checkpoint files of these sources (a detector's `weights`), in order, each checked against the
 * lock (cheap check: see the module comment). Throws an InputError whose message holds the command
 * that downloads what is missing, or that names a changed file with both sha256.
 */
export async function weightsFiles(sources: readonly WeightsSource[], opts: { cacheDir?: string } = {}): Promise<string[]> {
  const cacheDir = opts.cacheDir ?? weightsCacheDir();
  const lock = await readLock(cacheDir);
  const missing: string[] = [];
  const files: string[] = [];
  for (const source of sources) {
    const problems = await checkFiles(cacheDir, source, lock.weights[source.name], false);
    if (problems.some((p) => p.kind === "missing")) missing.push(source.name);
    const changed = problems.find((p) => p.kind === "changed");
    if (changed) throw new InputError(changed.message);
    files.push(...checkpointPaths(source).map((rel) => cachePath(cacheDir, rel)));
  }
  if (missing.length > 0) {
    const what = missing.length === 1 ? `the weights "${missing[0]}" are` : `the weights ${missing.map((n) => `"${n}"`).join(", ")} are`;
    throw new InputError(`${what} not downloaded (cache: ${cacheDir}): run \`${downloadCommand(missing)}\``);
  }
  return files;
}
