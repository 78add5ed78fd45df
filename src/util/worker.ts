/**
 * Worker threads that run a module of ours, from source (under tsx) or from dist alike: a tiny
 * bootstrap registers tsx in the worker when this file itself runs as TypeScript.
 */
import { Worker } from "node:worker_threads";

const RUNNING_TS = import.meta.url.endsWith(".ts");
const TSX_API = RUNNING_TS ? import.meta.resolve("tsx/esm/api") : null;

const BOOT = `
const { workerData } = require("node:worker_threads");
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})();
`;

/** `entry` is a module URL next to the caller, written with a `.js` extension as imports are. */
export function startWorker(entry: URL, data: unknown): Worker {
  const href = RUNNING_TS ? entry.href.replace(/\.js$/, ".ts") : entry.href;
  return new Worker(BOOT, { eval: true, workerData: { tsx: TSX_API, entry: href, data } });
}
