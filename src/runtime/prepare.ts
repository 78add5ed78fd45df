/**
 * Decoding and a detector's preprocessing (its recipe, then ImageNet normalisation into CHW float32),
 * in worker threads so that the next batch is prepared while onnxruntime runs the current one.
 * With `workers: 0` everything runs on the calling thread (small jobs, tests).
 */
import type { Worker } from "node:worker_threads";
import { decodeRgb } from "../image/decode.js";
import { applyRecipe, type Recipe } from "../image/recipe.js";
import { Rng } from "../util/rng.js";
import { startWorker } from "../util/worker.js";
import { normalizeImage } from "./session.js";

export type Prepared = { file: string; chw: Float32Array; width: number; height: number } | { file: string; error: string };

/**
 * One image: decode, the recipe, normalise. The recipe's random draws come from (seed, key) alone —
 * the key defaults to the file name — so results don't depend on which worker ran it.
 */
export async function prepareImage(file: string, recipe: Recipe, seed = 0, key = file): Promise<Prepared> {
  try {
    const img = (await applyRecipe(await decodeRgb(file), recipe, new Rng(seed, key))).image;
    return { file, ...normalizeImage(img) };
  } catch (err) {
    return { file, error: err instanceof Error ? err.message : String(err) };
  }
}

interface Pending {
  file: string;
  resolve: (p: Prepared) => void;
}

export class Preparer {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private turn = 0;

  constructor(
    private readonly recipe: Recipe,
    workers: number,
    private readonly seed = 0,
  ) {
    for (let i = 0; i < workers; i++) {
      const w = startWorker(new URL("./prepare-worker.js", import.meta.url), { recipe, seed });
      w.on("message", (m: { k: number; prepared: Prepared }) => {
        const p = this.pending.get(m.k);
        this.pending.delete(m.k);
        p?.resolve(m.prepared);
      });
      w.on("error", (err) => {
        for (const p of this.pending.values()) p.resolve({ file: p.file, error: `preprocessing worker failed: ${err.message}` });
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  /** `key` names the image's random stream (default: the file name). */
  prepare(file: string, key = file): Promise<Prepared> {
    if (this.workers.length === 0) return prepareImage(file, this.recipe, this.seed, key);
    const k = this.next++;
    const w = this.workers[this.turn++ % this.workers.length]!;
    return new Promise<Prepared>((resolve) => {
      this.pending.set(k, { file, resolve });
      w.postMessage({ k, file, key });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
