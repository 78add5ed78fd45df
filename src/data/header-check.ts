/**
 * Header checks for many files. The reads happen in worker threads with synchronous calls: per file
 * one open, one 16-byte read and one close, with no promise or thread-pool round trip in between,
 * which is several times faster than fs.promises on 200k small files. The workers only read bytes;
 * classification happens here.
 */
import * as os from "node:os";
import { Worker } from "node:worker_threads";
import { sniffImageFormat, SNIFF_BYTES, type ImageFormat } from "../image/format.js";

export type HeaderStatus = "present" | "missing" | "unreadable" | "not-image";

export interface HeaderResult {
  status: HeaderStatus;
  format?: ImageFormat;
  reason?: string;
}

/** Worker body: plain JS with no imports of ours, so it runs the same from source (tsx) and from dist. */
const WORKER_SOURCE = `
const { openSync, readSync, closeSync } = require("node:fs");
const { join } = require("node:path");
const { parentPort } = require("node:worker_threads");
parentPort.on("message", ({ id, root, paths, bytes }) => {
  const heads = Buffer.alloc(paths.length * bytes);
  const lengths = new Int32Array(paths.length);
  const errors = new Array(paths.length).fill(null);
  for (let i = 0; i < paths.length; i++) {
    let fd;
    try {
      fd = openSync(join(root, paths[i]), "r");
    } catch (e) {
      errors[i] = e.code || String(e);
      continue;
    }
    try {
      lengths[i] = readSync(fd, heads, i * bytes, bytes, 0);
    } catch (e) {
      errors[i] = e.code || String(e);
    } finally {
      closeSync(fd);
    }
  }
  parentPort.postMessage({ id, heads, lengths, errors }, [heads.buffer, lengths.buffer]);
});
`;

interface ChunkResult {
  id: number;
  heads: Uint8Array;
  lengths: Int32Array;
  errors: (string | null)[];
}

function classify(head: Uint8Array, error: string | null): HeaderResult {
  if (error === "ENOENT" || error === "ENOTDIR") return { status: "missing" };
  if (error === "EISDIR") return { status: "unreadable", reason: "is a directory" };
  if (error !== null) return { status: "unreadable", reason: error };
  const format = sniffImageFormat(head);
  if (!format) return { status: "not-image", reason: head.length === 0 ? "empty file" : "no known image signature" };
  return { status: "present", format };
}

/**
 * Checks the headers of `paths` (relative to `root`) with `workers` threads, calling `onChunk` as
 * chunks finish. Results are in input order.
 */
export async function checkHeaders(root: string, paths: readonly string[], opts: { workers?: number; onChunk?: (done: number) => void } = {}): Promise<HeaderResult[]> {
  const CHUNK = 2000;
  const starts: number[] = [];
  for (let i = 0; i < paths.length; i += CHUNK) starts.push(i);
  const results = new Array<HeaderResult>(paths.length);
  const nWorkers = Math.max(1, Math.min(opts.workers ?? os.availableParallelism(), starts.length));
  let next = 0;
  const runWorker = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      const feed = (): void => {
        if (next >= starts.length) {
          void w.terminate().then(() => resolve(), reject);
          return;
        }
        const id = next++;
        const from = starts[id]!;
        w.postMessage({ id, root, paths: paths.slice(from, from + CHUNK), bytes: SNIFF_BYTES });
      };
      w.on("message", (m: ChunkResult) => {
        const from = starts[m.id]!;
        for (let i = 0; i < m.lengths.length; i++) {
          results[from + i] = classify(m.heads.subarray(i * SNIFF_BYTES, i * SNIFF_BYTES + m.lengths[i]!), m.errors[i]!);
        }
        opts.onChunk?.(m.lengths.length);
        feed();
      });
      w.on("error", reject);
      w.on("online", feed);
    });
  await Promise.all(Array.from({ length: nWorkers }, runWorker));
  return results;
}
