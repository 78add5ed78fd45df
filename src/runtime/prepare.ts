/**
 * Decoding and a detector's preprocessing (its recipe, then its normalisation into CHW float32),
 * in worker threads so that the next batch is prepared while onnxruntime runs the current one.
 * With `workers: 0` everything runs on the calling thread (small jobs, tests).
 */
import type { Worker } from "node:worker_threads";
import { decodeRgb } from "../image/decode.js";
import type { RgbImage } from "../image/types.js";
import { applyRecipe, type Recipe } from "../image/recipe.js";
import { fnv1a, Rng } from "../util/rng.js";
import { startWorker } from "../util/worker.js";
import { normalizeImage, type NormalizedImage } from "./session.js";
import type { Preprocessing } from "../detectors/types.js";

export type Prepared = { file: string; chw: Float32Array; width: number; height: number } | { file: string; error: string };

/**
 * Decoded images kept in memory up to a byte budget, for training, which decodes the same files
 * every epoch. The first files to arrive are kept and none is evicted: with an epoch-long cyclic
 * scan, evicting (LRU) would miss on every file once the set outgrows the budget.
 */
export class DecodeCache {
  private readonly images = new Map<string, RgbImage>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The decoded file (a copy, so the caller may change it). */
  async get(file: string): Promise<RgbImage> {
    const hit = this.images.get(file);
    if (hit) return { ...hit, data: hit.data.slice() };
    const img = await decodeRgb(file);
    if (this.bytes + img.data.length <= this.maxBytes) {
      this.images.set(file, { ...img, data: img.data.slice() });
      this.bytes += img.data.length;
    }
    return img;
  }
}

/**
 * One image: decode, the recipe, normalise. The recipe's random draws come from (seed, key) alone —
 * the key defaults to the file name — so results don't depend on which worker ran it.
 */
export async function prepareImage(file: string, prep: Preprocessing, seed = 0, key = file, cache?: DecodeCache): Promise<Prepared> {
  try {
    return { file, ...(await preprocessDecoded(await (cache ? cache.get(file) : decodeRgb(file)), prep, new Rng(seed, key))) };
  } catch (err) {
    return { file, error: err instanceof Error ? err.message : String(err) };
  }
}

/** A decoded image through the detector's recipe (its random draws from `rng`) and normalisation: everything after decoding. */
export async function preprocessDecoded(img: RgbImage, prep: Preprocessing, rng: Rng): Promise<NormalizedImage> {
  return normalizeImage((await applyRecipe(img, prep.recipe, rng)).image, prep.normalization);
}

interface Pending {
  file: string;
  resolve: (p: Prepared) => void;
}

export class Preparer {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly cache: DecodeCache | undefined;
  private next = 0;
  private turn = 0;

  /**
   * `cacheBytes` > 0 keeps decoded images in memory (split between the workers; each file always
   * goes to the same worker, so it is decoded once).
   */
  constructor(
    private readonly prep: Preprocessing,
    workers: number,
    private readonly seed = 0,
    private readonly cacheBytes = 0,
  ) {
    if (cacheBytes > 0 && workers === 0) this.cache = new DecodeCache(cacheBytes);
    for (let i = 0; i < workers; i++) {
      const w = startWorker(new URL("./prepare-worker.js", import.meta.url), { prep, seed, cacheBytes: Math.floor(cacheBytes / workers) });
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

  /** `key` names the image's random stream (default: the file name); `recipe` replaces the preparer's geometric recipe for this image. */
  prepare(file: string, key = file, recipe?: Recipe): Promise<Prepared> {
    if (this.workers.length === 0) return prepareImage(file, recipe ? { ...this.prep, recipe } : this.prep, this.seed, key, this.cache);
    const k = this.next++;
    const w = this.workers[(this.cacheBytes > 0 ? fnv1a(file) : this.turn++) % this.workers.length]!;
    return new Promise<Prepared>((resolve) => {
      this.pending.set(k, { file, resolve });
      w.postMessage({ k, file, key, ...(recipe ? { recipe } : {}) });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
