/** Test-set builder worker: decode → recipe → lossless WebP → temp file → rename, one item at a time. */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { encodeLosslessWebp, openImage } from "../../image/decode.js";
import { applyRecipeToEncode, type Recipe, type TraceEntry } from "../../image/recipe.js";
import { oneSharpThread } from "../../image/sharp.js";
import { Rng } from "../../util/rng.js";

export interface WorkerSetup {
  recipe: Recipe;
  seed: number;
  maxPixels: number;
  webpEffort: number;
}

export interface Job {
  k: number;
  /** the per-image random stream's id: with the seed, the only input to its random draws */
  id: string;
  src: string;
  dest: string;
}

export type JobResult = { k: number; ok: true; sha256: string; bytes: number; sourceSize: [number, number]; trace: TraceEntry[] } | { k: number; ok: false; error: string };

export async function runJob(job: Job, setup: WorkerSetup): Promise<JobResult> {
  try {
    // opened, not decoded: the recipe's crop takes only the pixels it keeps from the decoder (on
    // this worker's thread with the codec addon: the worker count is the builder's parallelism)
    const img = await openImage(job.src, { maxPixels: setup.maxPixels, blockingJpeg: true });
    const { image, trace } = await applyRecipeToEncode(img, setup.recipe, new Rng(setup.seed, job.id));
    const webp = await encodeLosslessWebp(image, setup.webpEffort);
    // synchronous on this worker's thread: three asynchronous file operations cost about as much CPU as the resize
    mkdirSync(path.dirname(job.dest), { recursive: true });
    const tmp = `${job.dest}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, webp);
    renameSync(tmp, job.dest);
    return { k: job.k, ok: true, sha256: createHash("sha256").update(webp).digest("hex"), bytes: webp.length, sourceSize: [img.width, img.height], trace };
  } catch (err) {
    return { k: job.k, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

if (parentPort && (workerData as { data?: { kind?: string } } | null)?.data?.kind === "testset") {
  const setup = (workerData as { data: { setup: WorkerSetup } }).data.setup;
  const port = parentPort;
  // one libvips thread per worker: the builder's parallelism is its worker count
  oneSharpThread();
  port.on("message", (job: Job) => {
    void runJob(job, setup).then((r) => port.postMessage(r));
  });
  port.postMessage({ ready: true });
}
