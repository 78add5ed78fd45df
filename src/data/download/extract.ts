/**
 * Safe archive extraction: every entry is checked before it is written (no absolute paths, no `..`, no
 * symbolic links at all), the archive is unpacked into a fresh staging folder under the root, and only a
 * fully extracted archive is moved into place, without following any link under the root.
 *
 * Symbolic link entries are refused whatever they point to: a relative link that stays inside the
 * staging folder can point outside once it is moved up into the root (`wrapper/dalle3/up -> ../..`
 * becomes `dalle3/up -> ../..`), and a later archive would then write through it. Dataset archives
 * hold images, not links, so refusing them all is the simplest rule that is safe.
 */
import { createWriteStream, promises as fsp } from "node:fs";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import yauzl from "yauzl";
import { x as tarExtract, type ReadEntry } from "tar";
import type { ArchiveFormat } from "../sources.js";
import { resolveInside } from "../../util/fs.js";
import { hashFile } from "./http.js";
import { InputError } from "../../util/errors.js";

export class UnsafeArchiveEntryError extends InputError {
  constructor(
    readonly archive: string,
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`${archive}: refusing to extract entry "${entry}": ${reason}; nothing was extracted`);
    this.name = "UnsafeArchiveEntryError";
  }
}

export const STAGING_PREFIX = ".imaginet-staging-";

/**
 * Extracts `archive` under `root` and places it into the source's `folders` (see placeExtracted).
 * Returns the root-relative folders that received files.
 */
export async function extractArchive(archive: string, format: ArchiveFormat, rootDir: string, folders: string[]): Promise<string[]> {
  const root = path.resolve(rootDir);
  const staging = await extractToStaging(archive, format, root);
  try {
    return await placeExtracted(staging, root, folders);
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
}

/**
 * Extracts `archive` (every entry checked) into a fresh staging folder under `parentDir` and returns
 * it: the caller moves out what it needs and removes the folder. Nothing is left on a failure.
 */
export async function extractToStaging(archive: string, format: ArchiveFormat, parentDir: string): Promise<string> {
  await fsp.mkdir(parentDir, { recursive: true });
  const staging = await fsp.mkdtemp(path.join(parentDir, STAGING_PREFIX));
  try {
    const guard = new EntryGuard(archive, staging);
    if (format === "zip") await extractZip(archive, guard);
    else await extractTar(archive, guard);
    return staging;
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Checks the entries of one archive and rejects those that could write outside the staging folder. */
class EntryGuard {
  constructor(
    readonly archive: string,
    readonly staging: string,
  ) {}

  /** The absolute path of an entry, or undefined for an entry naming the root itself (`./`). */
  target(name: string): string | undefined {
    const rel = name.replace(/\\/g, "/").replace(/\/+$/, "");
    if (rel.split("/").includes("..")) this.fail(name, "it contains a '..' path segment");
    if (rel === "" || rel === ".") {
      if (name.startsWith("/")) this.fail(name, "it is an absolute path");
      return undefined;
    }
    const abs = resolveInside(this.staging, rel);
    if (!abs) this.fail(name, "it is an absolute path or leads outside the target folder");
    return abs;
  }

  symlink(name: string, linkTarget: string): never {
    this.fail(name, `it is a symbolic link (to "${linkTarget}"), and archives may not hold links`);
  }

  /** A hard link is a second name for a file extracted before it; with no symlinks, a target inside is inside for real. */
  hardlink(name: string, linkTarget: string): void {
    if (!resolveInside(this.staging, linkTarget.replace(/\/+$/, ""))) this.fail(name, `it is a hard link to "${linkTarget}", outside the target folder`);
  }

  fail(entry: string, reason: string): never {
    throw new UnsafeArchiveEntryError(path.basename(this.archive), entry, reason);
  }
}

async function extractZip(archive: string, guard: EntryGuard): Promise<void> {
  // decodeStrings: false so that entry names are validated here, with our error, not yauzl's.
  const zip = await yauzl.openPromise(archive, { lazyEntries: true, decodeStrings: false, autoClose: false, validateEntrySizes: true });
  try {
    for await (const entry of zip.eachEntry()) {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      await extractZipEntry(zip, entry, name, guard);
    }
  } finally {
    zip.close();
  }
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

async function extractZipEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, name: string, guard: EntryGuard): Promise<void> {
  const abs = guard.target(name);
  if (abs === undefined) return;
  if (name.endsWith("/")) {
    await fsp.mkdir(abs, { recursive: true });
    return;
  }
  if (entry.isEncrypted()) guard.fail(name, "it is encrypted");
  await fsp.mkdir(path.dirname(abs), { recursive: true });
  const stream = await zip.openReadStreamPromise(entry);
  const isUnix = entry.versionMadeBy >> 8 === 3;
  if (isUnix && ((entry.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK) {
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    guard.symlink(name, Buffer.concat(chunks).toString("utf8"));
  }
  try {
    // "wx": an entry never replaces what an earlier one created.
    await pipeline(stream, createWriteStream(abs, { flags: "wx" }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") guard.fail(name, "the archive holds this name twice");
    throw err;
  }
}

const TAR_TYPES = new Set(["File", "OldFile", "ContiguousFile", "Directory", "SymbolicLink", "Link"]);

async function extractTar(archive: string, guard: EntryGuard): Promise<void> {
  let rejected: unknown;
  const filter = (name: string, entry: ReadEntry | import("node:fs").Stats): boolean => {
    if (rejected !== undefined || !("type" in entry)) return false;
    if (!TAR_TYPES.has(entry.type)) return false; // devices and FIFOs are not dataset content
    try {
      const abs = guard.target(name);
      if (abs === undefined) return false;
      if (entry.type === "SymbolicLink") guard.symlink(name, entry.linkpath ?? "");
      if (entry.type === "Link") guard.hardlink(name, entry.linkpath ?? "");
      return true;
    } catch (err) {
      // node-tar offers no clean way to stop from a filter: skip everything from here on and fail after.
      rejected = err;
      return false;
    }
  };
  await tarExtract({ file: archive, cwd: guard.staging, strict: true, preserveOwner: false, filter });
  if (rejected !== undefined) throw rejected;
}

/** Names that archivers add at the top and that belong to no dataset. */
const IGNORED = new Set(["__MACOSX", ".DS_Store", "Thumbs.db"]);
const MAX_CONFLICTS_LISTED = 10;

interface Move {
  from: string;
  /** root-relative destination folder */
  to: string;
}

/**
 * Moves the extracted tree from `staging` into `root`:
 * 1. every top-level entry is one of `folders` → each goes to `root/<name>`;
 * 2. a single top-level folder and one target folder → it becomes `root/<folders[0]>` (JourneyDB's `000/`);
 * 3. a single top-level folder → descend into it and start over;
 * 4. one target folder → everything goes into `root/<folders[0]>` (ImageNet's `ILSVRC/` and CSV files);
 * otherwise it fails, naming what was found. Existing folders are merged into; a file already there
 * with different content, or a symbolic link anywhere on the way (placement never follows one, even a
 * source folder linked in from another disk), makes it fail before anything moves.
 * Returns the root-relative folders that received files.
 */
export async function placeExtracted(staging: string, root: string, folders: string[]): Promise<string[]> {
  const moves = await choosePlacement(staging, staging, folders);
  const plan: MergePlan = { renames: [], conflicts: [], links: [] };
  for (const m of moves) {
    const dest = resolveInside(root, m.to);
    if (!dest) throw new Error(`invalid target folder "${m.to}"`);
    await planMove(m.from, dest, root, plan);
  }
  if (plan.links.length > 0) {
    throw new Error(
      `cannot place the extracted files under ${root}: ${listed(plan.links)} ${plan.links.length === 1 ? "is a symbolic link" : "are symbolic links"}, and a download never writes through a link (replace the link with the folder it points to, or download into that folder's own root)`,
    );
  }
  if (plan.conflicts.length > 0) {
    throw new Error(`cannot merge into the existing folders under ${root}: these files already exist with different content: ${listed(plan.conflicts)} (move them away, then retry)`);
  }
  for (const [from, to] of plan.renames) await moveInto(from, to);
  return [...new Set(moves.map((m) => m.to))];
}

function listed(paths: string[]): string {
  return `${paths.join(", ")}${paths.length >= MAX_CONFLICTS_LISTED ? ", …" : ""}`;
}

async function choosePlacement(dir: string, staging: string, folders: string[]): Promise<Move[]> {
  const all = await fsp.readdir(dir, { withFileTypes: true });
  for (const e of all) if (IGNORED.has(e.name)) await fsp.rm(path.join(dir, e.name), { recursive: true, force: true });
  const entries = all.filter((e) => !IGNORED.has(e.name));
  const only = entries.length === 1 ? entries[0] : undefined;
  const single = only?.isDirectory() ? only.name : undefined;
  if (entries.length === 0) throw new Error(`the archive holds no files${dir === staging ? "" : ` under ${path.relative(staging, dir)}/`}`);
  if (entries.every((e) => folders.includes(e.name))) return entries.map((e) => ({ from: path.join(dir, e.name), to: e.name }));
  if (single !== undefined && folders.length === 1) return [{ from: path.join(dir, single), to: folders[0] as string }];
  if (single !== undefined) return choosePlacement(path.join(dir, single), staging, folders);
  if (folders.length === 1) return [{ from: dir, to: folders[0] as string }];
  const where = dir === staging ? "at the top of the archive" : `in ${path.relative(staging, dir)}/`;
  throw new Error(`cannot place the extracted files: found ${entries.map((e) => e.name + (e.isDirectory() ? "/" : "")).join(", ")} ${where}, expected some of ${folders.join(", ")}`);
}

interface MergePlan {
  renames: [string, string][];
  conflicts: string[];
  /** root-relative destinations that are symbolic links */
  links: string[];
}

async function planMove(from: string, to: string, root: string, plan: MergePlan): Promise<void> {
  if (plan.conflicts.length + plan.links.length >= MAX_CONFLICTS_LISTED) return;
  const dst = await fsp.lstat(to).catch(() => undefined);
  if (!dst) {
    plan.renames.push([from, to]);
    return;
  }
  if (dst.isSymbolicLink()) {
    plan.links.push(path.relative(root, to));
    return;
  }
  const src = await fsp.lstat(from);
  if (src.isDirectory() && dst.isDirectory()) {
    for (const child of await fsp.readdir(from)) await planMove(path.join(from, child), path.join(to, child), root, plan);
    return;
  }
  if (src.isFile() && dst.isFile() && (await sameContent(from, to, src.size, dst.size))) return;
  plan.conflicts.push(path.relative(root, to));
}

async function sameContent(a: string, b: string, sizeA: number, sizeB: number): Promise<boolean> {
  if (sizeA !== sizeB) return false;
  const [ha, hb] = await Promise.all([hashFile(a, ["sha256"]), hashFile(b, ["sha256"])]);
  return ha.sha256 === hb.sha256;
}

async function moveInto(from: string, to: string): Promise<void> {
  await fsp.mkdir(path.dirname(to), { recursive: true });
  try {
    await fsp.rename(from, to);
  } catch (err) {
    // a target folder that is a mount point of another file system
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await fsp.cp(from, to, { recursive: true, errorOnExist: true, force: false, verbatimSymlinks: true });
    await fsp.rm(from, { recursive: true, force: true });
  }
}
