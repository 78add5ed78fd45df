/**
 * Header checks for many files. The reads happen in worker threads (./header-worker.ts) with
 * synchronous calls, which is several times faster than fs.promises on 200k small files. The
 * workers only read bytes; classification happens here.
 */
import * as os from "node:os";
import { sniffImageFormat, SNIFF_BYTES, type ImageFormat } from "../image/format.js";
import { startWorker } from "../util/worker.js";
import type { HeaderChunk, HeaderJob } from "./header-worker.js";

export type HeaderStatus = "present" | "missing" | "unreadable" | "not-image";

export interface HeaderResult {
  status: HeaderStatus;
  format?: ImageFormat;
  reason?: string;
}

function classify(head: Uint8Array, error: string | null): HeaderResult {
  if (error === "ENOENT" || error === "ENOTDIR") return { status: "missing" };
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
      const w = startWorker(new URL("./header-worker.js", import.meta.url), null);
      const feed = (): void => {
        if (next >= starts.length) {
          void w.terminate().then(() => resolve(), reject);
          return;
        }
        const id = next++;
        const from = starts[id]!;
        const job: HeaderJob = { id, root, paths: paths.slice(from, from + CHUNK), bytes: SNIFF_BYTES };
        w.postMessage(job);
      };
      w.on("message", (m: HeaderChunk | { ready: true }) => {
        if ("ready" in m) return feed();
        const from = starts[m.id]!;
        for (let i = 0; i < m.lengths.length; i++) {
          results[from + i] = classify(m.heads.subarray(i * SNIFF_BYTES, i * SNIFF_BYTES + m.lengths[i]!), m.errors[i]!);
        }
        opts.onChunk?.(m.lengths.length);
        feed();
      });
      w.on("error", reject);
    });
  await Promise.all(Array.from({ length: nWorkers }, runWorker));
  return results;
}
