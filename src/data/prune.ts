/**
 * `imaginet dataset prune`: removes files under the dataset root that no annotation references.
 * Never follows a symlink and never touches anything outside the root. A symlink that stands where a
 * referenced folder should be (a source linked in from another disk) is left alone, and so is what
 * it points to; any other unreferenced symlink is removed as a link, never its target. imaginet's
 * own files (fetched annotations, download state) are kept.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { mapPool } from "../util/pool.js";
import { Progress } from "../util/progress.js";

/** Root-level entries prune never removes: fetched annotation files and imaginet's download state. */
export function isProtected(rel: string): boolean {
  const top = rel.split("/", 1)[0]!;
  return top === "annotations" || top.startsWith(".imaginet-");
}

export interface PruneEntry {
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

/** Lists every file and symlink under `root` as POSIX paths relative to it, without following symlinks. */
export async function walkFiles(root: string, onFile?: () => void): Promise<{ files: string[]; links: Set<string> }> {
  const out: string[] = [];
  const links = new Set<string>();
  const stack: string[] = [""];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const entries = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      const child = rel === "" ? e.name : `${rel}/${e.name}`;
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

function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let d = path.posix.dirname(p); d !== "."; d = path.posix.dirname(d)) out.push(d);
  return out;
}

export async function planPrune(rootArg: string, referenced: ReadonlySet<string>, opts: { progress?: boolean } = {}): Promise<PrunePlan> {
  const root = await fsp.realpath(rootArg);
  const progress = new Progress("scanning", { unit: "files", enabled: opts.progress });
  const { files, links } = await walkFiles(root, () => progress.tick());
  progress.finish();
  const present = new Set(files);
  const referencedDirs = new Set<string>();
  for (const p of referenced) for (const d of ancestors(p)) referencedDirs.add(d);
  const keptLinks = [...links].filter((l) => referencedDirs.has(l)).sort();
  const keptLinkSet = new Set(keptLinks);
  const behindKeptLink = (p: string): boolean => ancestors(p).some((d) => keptLinkSet.has(d));
  const unrefPaths = files.filter((f) => !referenced.has(f) && !keptLinkSet.has(f) && !isProtected(f)).sort();
  const unreferenced = await mapPool(unrefPaths, 64, async (p) => ({ path: p, bytes: (await fsp.lstat(path.join(root, p))).size }));
  const missing = [...referenced].filter((p) => !present.has(p) && !behindKeptLink(p));
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
    keptLinks,
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

/** Deletes the plan's unreferenced files, then the folders that pruning left empty. */
export async function applyPrune(plan: PrunePlan, opts: { progress?: boolean } = {}): Promise<PruneResult> {
  const root = plan.root;
  const progress = new Progress("deleting", { total: plan.unreferenced.length, unit: "files", enabled: opts.progress });
  const touchedDirs = new Set<string>();
  let bytes = 0;
  for (const u of plan.unreferenced) {
    const abs = path.join(root, u.path);
    if (!abs.startsWith(root + path.sep)) throw new Error(`refusing to delete ${abs}: outside ${root}`);
    const st = await fsp.lstat(abs);
    if (st.isDirectory()) throw new Error(`refusing to delete ${abs}: it became a folder since the scan`);
    await fsp.unlink(abs);
    bytes += u.bytes;
    for (const d of ancestors(u.path)) touchedDirs.add(d);
    progress.tick();
  }
  progress.finish();
  let removedDirs = 0;
  // deepest first, so a parent is tried after its children
  for (const d of [...touchedDirs].sort((a, b) => b.split("/").length - a.split("/").length)) {
    try {
      await fsp.rmdir(path.join(root, d));
      removedDirs++;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") throw err;
    }
  }
  return { deleted: plan.unreferenced.length, bytes, removedDirs };
}
