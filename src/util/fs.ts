import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

/** Writes a file atomically: a temp file beside it, then rename, so a crash never leaves a half-written file under the final name. */
export async function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Resolves `rel` (a POSIX relative path from an annotation file or archive entry) under `root`,
 * or returns null when it is absolute or would land outside `root`.
 */
export function resolveInside(root: string, rel: string): string | null {
  if (rel.length === 0 || path.posix.isAbsolute(rel) || path.win32.isAbsolute(rel) || rel.includes("\0")) return null;
  const normal = path.posix.normalize(rel.replace(/\\/g, "/"));
  if (normal === ".." || normal.startsWith("../")) return null;
  const abs = path.resolve(root, normal);
  const base = path.resolve(root);
  if (abs !== base && !abs.startsWith(base + path.sep)) return null;
  return abs;
}
