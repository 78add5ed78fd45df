import { createReadStream, promises as fsp, statSync, type Stats } from "node:fs";
import * as path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { InputError } from "./errors.js";

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

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A file name read as bytes (readdir with `encoding: "buffer"`), as text: valid UTF-8 as it is, except
 * that each byte that is not part of valid UTF-8, each control character and each backslash is written
 * `\xNN` (a backslash as `\x5c`). Reversible with fileNameBytes, so an escaped name still opens its file.
 * `/` is never escaped, so a path of such names escapes as a whole.
 */
export function escapeFileName(bytes: Buffer): string {
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const len = utf8SequenceLength(bytes, i);
    const ch = len === 0 ? "" : UTF8.decode(bytes.subarray(i, i + len));
    const plain = len > 1 || (len === 1 && bytes[i]! >= 0x20 && bytes[i]! !== 0x7f && bytes[i]! !== 0x5c);
    out += plain ? ch : `\\x${bytes[i]!.toString(16).padStart(2, "0")}`;
    i += plain ? len : 1;
  }
  return out;
}

/** The length of the valid UTF-8 sequence starting at `i`, or 0 where none does. */
function utf8SequenceLength(bytes: Buffer, i: number): number {
  const b = bytes[i]!;
  const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  if (len <= 1) return len;
  if (i + len > bytes.length) return 0;
  try {
    UTF8.decode(bytes.subarray(i, i + len));
    return len;
  } catch {
    return 0; // a bad continuation byte, an overlong form or a surrogate
  }
}

/** The bytes of a name escaped by escapeFileName. */
export function fileNameBytes(name: string): Buffer {
  const parts = name.split(/\\x([0-9a-f]{2})/);
  return Buffer.concat(parts.map((p, i) => (i % 2 === 1 ? Buffer.from([Number.parseInt(p, 16)]) : Buffer.from(p, "utf8"))));
}

/** What a non-regular file is, for messages. */
function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "not a file";
}

/** A listed or input file that is a FIFO, socket, device or directory. */
export class NotRegularFileError extends InputError {
  /** "not a regular file (a FIFO)": the message without the file */
  readonly reason: string;

  constructor(file: string, st: Stats) {
    const reason = `not a regular file (${fileKind(st)})`;
    super(`${file}: ${reason}`);
    this.reason = reason;
  }
}

/**
 * `st` when it describes a regular file; otherwise a NotRegularFileError "FILE: not a regular file (a FIFO)".
 * Check before opening any listed or input file: opening a FIFO for reading blocks until a writer
 * comes (forever), and a device never ends.
 */
export function checkRegularFile(file: string, st: Stats): Stats {
  if (!st.isFile()) throw new NotRegularFileError(file, st);
  return st;
}

/** stat (symlinks followed, so a link to a FIFO is refused too) + {@link checkRegularFile}. */
export async function statRegularFile(file: string): Promise<Stats> {
  return checkRegularFile(file, await fsp.stat(file));
}

/** The synchronous {@link statRegularFile}, for the header-check workers. */
export function statRegularFileSync(file: string): Stats {
  return checkRegularFile(file, statSync(file));
}

/** A file's sha256, streamed (weights files run to gigabytes). */
export async function sha256OfFile(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}
