/** Worker side of Preparer: one image at a time, the float32 result transferred back. */
import { parentPort, workerData } from "node:worker_threads";
import type { Recipe } from "../image/recipe.js";
import { prepareImage } from "./prepare.js";

const { recipe, seed } = (workerData as { data: { recipe: Recipe; seed: number } }).data;
const port = parentPort!;
port.on("message", (m: { k: number; file: string; key: string }) => {
  void prepareImage(m.file, recipe, seed, m.key).then((prepared) => port.postMessage({ k: m.k, prepared }, "chw" in prepared ? [prepared.chw.buffer as ArrayBuffer] : []));
});
