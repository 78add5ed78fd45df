/**
 * Header-check worker: per file one stat (non-regular files are refused before any open), one open,
 * one 16-byte read and one close, all synchronous: no promise or thread-pool round trip in between.
 * It only reads bytes; ./header-check.ts classifies them.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";
import { NotRegularFileError, statRegularFileSync } from "../util/fs.js";

export interface HeaderJob {
  id: number;
  root: string;
  paths: string[];
  bytes: number;
}

export interface HeaderChunk {
  id: number;
  heads: Uint8Array;
  lengths: Int32Array;
  /** per file: null, an errno code (ENOENT …) or a NotRegularFileError's reason */
  errors: (string | null)[];
}

function readHead(file: string, into: Uint8Array, at: number, bytes: number): number {
  statRegularFileSync(file);
  const fd = openSync(file, "r");
  try {
    return readSync(fd, into, at, bytes, 0);
  } finally {
    closeSync(fd);
  }
}

const port = parentPort!;
port.on("message", ({ id, root, paths, bytes }: HeaderJob) => {
  const heads = new Uint8Array(paths.length * bytes);
  const lengths = new Int32Array(paths.length);
  const errors = new Array<string | null>(paths.length).fill(null);
  for (let i = 0; i < paths.length; i++) {
    try {
      lengths[i] = readHead(join(root, paths[i]!), heads, i * bytes, bytes);
    } catch (e) {
      errors[i] = e instanceof NotRegularFileError ? e.reason : ((e as NodeJS.ErrnoException).code ?? String(e));
    }
  }
  const chunk: HeaderChunk = { id, heads, lengths, errors };
  port.postMessage(chunk, [heads.buffer, lengths.buffer]);
});
port.postMessage({ ready: true });
