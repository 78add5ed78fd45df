/** Worker thread of the demo generator: renders the items it is sent and posts the pixels back. */
import { parentPort, workerData } from "node:worker_threads";
import type { Item } from "./plan.js";
import { renderItem } from "./render.js";

const { seed } = (workerData as { data: { seed: number } }).data;

parentPort!.on("message", (m: { index: number; item: Item }) => {
  const img = renderItem(seed, m.item);
  parentPort!.postMessage({ index: m.index, width: img.width, height: img.height, rgb: img.rgb }, [img.rgb.buffer as ArrayBuffer]);
});
