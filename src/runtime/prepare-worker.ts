/** Worker side of Preparer: one image at a time, the float32 result transferred back. */
import { parentPort, workerData } from "node:worker_threads";
import type { Recipe } from "../image/recipe.js";
import { loadSharp } from "../image/sharp.js";
import type { Preprocessing } from "../detectors/types.js";
import { DecodeCache, prepareImage } from "./prepare.js";

const { prep, seed, cacheBytes } = (workerData as { data: { prep: Preprocessing; seed: number; cacheBytes: number } }).data;
const cache = cacheBytes > 0 ? new DecodeCache(cacheBytes) : undefined;
// one libvips thread per decode: the parallelism is the worker count, and onnxruntime's threads need the other cores
void loadSharp().then((sharp) => sharp.concurrency(1));
const port = parentPort!;
port.on("message", (m: { k: number; file: string; key: string; recipe?: Recipe }) => {
  void prepareImage(m.file, m.recipe ? { ...prep, recipe: m.recipe } : prep, seed, m.key, cache).then((prepared) =>
    port.postMessage({ k: m.k, prepared }, "chw" in prepared ? [prepared.chw.buffer as ArrayBuffer] : []),
  );
});
