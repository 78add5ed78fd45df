/**
 * `imaginet dataset prune`: removes files under the dataset root that no annotation references.
 * Never deletes through a symlink and never touches anything outside the root. A referenced path is
 * followed through the symlinks under the root, and every link it passes and the file it reaches count
 * as referenced (a referenced link's in-root target is kept). A symlink that stands where a referenced
 * folder should be (a source linked in from another disk) is left alone, and so is what it points to;
 * any other unreferenced symlink is removed as a link, never its target. imaginet's own files (fetched
 * annotations, download state) are kept. Names that are not valid UTF-8 are read as bytes and shown
 * escaped (see escapeFileName).
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { ProblemsError } from "../util/errors.js";
import { escapeFileName, fileNameBytes } from "../util/fs.js";
import { mapPool } from "../util/pool.js";
import { Progress } from "../util/progress.js";

/** Root-level entries prune never removes: fetched annotation files and imaginet's download state. */
export function isProtected(rel: string): boolean {
  const top = rel.split("/", 1)[0]!;
  return top === "annotations" || top.startsWith(".imaginet-");
}

export interface PruneEntry {
  /** root-relative, escaped by escapeFileName where the name is not plain UTF-8 */
  path: string;
  bytes: number;
}

export interface PrunePlan {
  root: string;
  referenced: number;
  present: number;
  missing: string[];
  /** symlinks standing for referenced folders: not scanned, not removed */
  keptLinks: string[];
  unreferenced: PruneEntry[];
  bytes: number;
  /** unreferenced files and bytes per top-level folder */
  byFolder: { folder: string; files: number; bytes: number }[];
}

/**
 * Lists every file and symlink under `root` as POSIX paths relative to it, without following symlinks.
 * Names are read as bytes and escaped by escapeFileName: a name that is not valid UTF-8 would otherwise
 * come back altered and then not be found.
 */
export async function walkFiles(root: string, onFile?: () => void): Promise<{ files: string[]; links: Set<string> }> {
  const out: string[] = [];
  const links = new Set<string>();
  const stack: string[] = [""];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const entries = await fsp.readdir(onDisk(root, rel), { withFileTypes: true, encoding: "buffer" });
    for (const e of entries) {
      const name = escapeFileName(e.name);
      const child = rel === "" ? name : `${rel}/${name}`;
      if (e.isDirectory()) stack.push(child);
      else {
        if (e.isSymbolicLink()) links.add(child);
        out.push(child);
        onFile?.();
      }
    }
  }
  return { files: out, links };
}

/** Where a root-relative path from walkFiles is on disk: as bytes when it holds an escaped name. */
function onDisk(root: string, rel: string): string | Buffer {
  if (rel === "") return root;
  return rel.includes("\\") ? Buffer.concat([Buffer.from(root + path.sep), fileNameBytes(rel)]) : path.join(root, rel);
}

function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let d = path.posix.dirname(p); d !== "."; d = path.posix.dirname(d)) out.push(d);
  return out;
}

const MAX_LINK_HOPS = 40;

interface Followed {
  /** every root-relative path the reference depends on: each link passed, then the path reached */
  uses: string[];
  /** the links passed as folders (a source linked in) */
  folderLinks: string[];
  /** the path reached inside the root; undefined when it leads out of the root or loops */
  reached?: string;
  outside: boolean;
}

/**
 * Follows `rel` through the symlinks under the root one component at a time. `links` comes from the
 * walk; the path resolved so far never holds a link, so `..` in a link's target is resolved by name.
 * An absolute target counts as inside when it starts with the root's real path.
 */
async function followLinks(root: string, rel: string, links: ReadonlySet<string>, readLink: (rel: string) => Promise<string>): Promise<Followed> {
  const uses: string[] = [];
  const folderLinks: string[] = [];
  let done: string[] = [];
  let todo = rel.split("/");
  for (let hops = 0; todo.length > 0; ) {
    const name = todo.shift()!;
    if (name === "" || name === ".") continue;
    if (name === "..") {
      if (done.length === 0) return { uses, folderLinks, outside: true };
      done.pop();
      continue;
    }
    const p = [...done, name].join("/");
    if (!links.has(p)) {
      done.push(name);
      continue;
    }
    if (++hops > MAX_LINK_HOPS) return { uses, folderLinks, outside: false };
    uses.push(p);
    if (todo.length > 0) folderLinks.push(p);
    const target = await readLink(p);
    if (target.startsWith("/")) {
      const fromRoot = path.posix.relative(escapeFileName(Buffer.from(root)), target);
      if (fromRoot === ".." || fromRoot.startsWith("../")) return { uses, folderLinks, outside: true };
      done = [];
      todo = [...fromRoot.split("/"), ...todo];
    } else {
      todo = [...target.split("/"), ...todo];
    }
  }
  const reached = done.join("/");
  uses.push(reached);
  return { uses, folderLinks, reached, outside: false };
}

export async function planPrune(rootArg: string, referenced: ReadonlySet<string>, opts: { progress?: boolean } = {}): Promise<PrunePlan> {
  const root = await fsp.realpath(rootArg);
  const progress = new Progress("scanning", { unit: "files", enabled: opts.progress });
  const { files, links } = await walkFiles(root, () => progress.tick());
  progress.finish();
  const present = new Set(files);
  const isFile = (p: string): boolean => present.has(p) && !links.has(p);
  const targets = new Map<string, Promise<string>>();
  const readLink = (rel: string): Promise<string> => {
    const known = targets.get(rel);
    if (known) return known;
    const target = fsp.readlink(onDisk(root, rel), { encoding: "buffer" }).then(escapeFileName);
    targets.set(rel, target);
    return target;
  };
  const kept = new Set(referenced);
  const folderLinks = new Set<string>();
  const missing: string[] = [];
  for (const ref of referenced) {
    if (isFile(ref)) continue; // the walk only descends real folders: nothing on the way is a link
    const f = await followLinks(root, ref, links, readLink);
    for (const u of f.uses) kept.add(u);
    for (const l of f.folderLinks) folderLinks.add(l);
    if (!f.outside && (f.reached === undefined || !isFile(f.reached))) missing.push(ref);
  }
  const unrefPaths = files.filter((f) => !kept.has(f) && !isProtected(f)).sort();
  const unreferenced = await mapPool(unrefPaths, 64, async (p) => ({ path: p, bytes: (await fsp.lstat(onDisk(root, p))).size }));
  const folders = new Map<string, { folder: string; files: number; bytes: number }>();
  for (const u of unreferenced) {
    const top = u.path.includes("/") ? u.path.slice(0, u.path.indexOf("/")) : ".";
    const f = folders.get(top) ?? { folder: top, files: 0, bytes: 0 };
    f.files++;
    f.bytes += u.bytes;
    folders.set(top, f);
  }
  return {
    root,
    referenced: referenced.size,
    present: referenced.size - missing.length,
    missing,
    keptLinks: [...folderLinks].sort(),
    unreferenced,
    bytes: unreferenced.reduce((a, u) => a + u.bytes, 0),
    byFolder: [...folders.values()].sort((a, b) => a.folder.localeCompare(b.folder)),
  };
}

export interface PruneResult {
  deleted: number;
  bytes: number;
  removedDirs: number;
}

/**
 * Deletes the plan's unreferenced files, then the folders that pruning left empty. Just before each
 * delete, every folder from the root down is checked with lstat to still be a real folder: one swapped
 * for a symlink since the scan stops the run there, so nothing outside the root is ever deleted.
 */
export async function applyPrune(plan: PrunePlan, opts: { progress?: boolean } = {}): Promise<PruneResult> {
  const root = plan.root;
  const progress = new Progress("deleting", { total: plan.unreferenced.length, unit: "files", enabled: opts.progress });
  const touchedDirs = new Set<string>();
  let deleted = 0;
  let bytes = 0;
  for (const u of plan.unreferenced) {
    const abs = path.join(root, u.path);
    if (!abs.startsWith(root + path.sep)) throw new Error(`refusing to delete ${abs}: outside ${root}`);
    await checkFoldersOnTheWay(root, u.path, deleted);
    const st = await fsp.lstat(onDisk(root, u.path));
    if (st.isDirectory()) throw new Error(`refusing to delete ${abs}: it became a folder since the scan`);
    await fsp.unlink(onDisk(root, u.path));
    deleted++;
    bytes += u.bytes;
    for (const d of ancestors(u.path)) touchedDirs.add(d);
    progress.tick();
  }
  progress.finish();
  let removedDirs = 0;
  // deepest first, so a parent is tried after its children
  for (const d of [...touchedDirs].sort((a, b) => b.split("/").length - a.split("/").length)) {
    await checkFoldersOnTheWay(root, d, deleted);
    try {
      await fsp.rmdir(onDisk(root, d));
      removedDirs++;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT" && code !== "ENOTDIR") throw err;
    }
  }
  return { deleted, bytes, removedDirs };
}

/** Throws unless the root and every folder above `rel` are still real folders, not symlinks. */
async function checkFoldersOnTheWay(root: string, rel: string, deleted: number): Promise<void> {
  for (const dir of ["", ...ancestors(rel).reverse()]) {
    const st = await fsp.lstat(onDisk(root, dir)).catch(() => undefined);
    if (st?.isDirectory()) continue;
    const now = st?.isSymbolicLink() ? "a symbolic link" : st ? "a file" : "gone";
    throw new ProblemsError(
      `stopped after deleting ${deleted} files: ${path.join(root, dir)} changed since the scan (it is now ${now}, not a folder), so ${rel} and the files after it were not deleted; run prune again`,
    );
  }
}
