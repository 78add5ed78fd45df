/**
 * The demo benchmark: a small synthetic stand-in for ImagiNet, generated locally (no downloads) and
 * deterministically from a seed, in ImagiNet's annotation format. Real images come from a simulated
 * camera, synthetic ones from eight simulated generators (one decoder family per ImagiNet group), all
 * drawing their content from the same procedural scenes. See docs/demo-benchmark.md.
 *
 *   const r = await generateBenchmark({ root: "demo-data", seed: 1, size: "fast" });
 *   r.files.train  // ROOT/annotations/train_annotations.txt
 */
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Worker } from "node:worker_threads";
import { writeFileAtomic } from "../../util/fs.js";
import { startWorker } from "../../util/worker.js";
import { encodeImage } from "./encode.js";
import { annotationFiles, planItems, PRESETS, type Counts, type Item, type Split } from "./plan.js";
import { renderItem, type Rendered } from "./render.js";
import { InputError } from "../../util/errors.js";

export { GENERATORS } from "./generators.js";
export { annotationFiles, FORMAT_MIX, planItems, PRESETS, QUALITY, SIZES, type Counts, type Format, type Item, type Split } from "./plan.js";
export { renderItem, type Rendered } from "./render.js";

/** Bumped whenever generation changes what is written: an existing root with another version is regenerated. */
export const DEMO_VERSION = 1;
export const MANIFEST_NAME = "demo-manifest.json";

export type GroupFileName = "gan" | "sd" | "midjourney" | "dalle3";

export interface GenerateOptions {
  /** dataset root to write into (created if missing) */
  root: string;
  seed?: number;
  /** a preset or explicit counts; default "fast" */
  size?: "fast" | "full" | Counts;
  /** rendering threads; 1 renders on the calling thread; default: available parallelism (at most 8) */
  concurrency?: number;
  /** regenerate even when the root's manifest matches */
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface BenchmarkFiles {
  train: string;
  test: string;
  calibration: string;
  groups: Record<GroupFileName, string>;
  manifest: string;
}

export interface BenchmarkResult {
  root: string;
  seed: number;
  counts: Counts;
  /** images per split and class */
  summary: Record<Split, { real: number; synthetic: number }>;
  images: number;
  files: BenchmarkFiles;
  /** true when an existing root matched and nothing was written */
  skipped: boolean;
  seconds: number;
}

interface Manifest {
  generator: "imaginet demo benchmark";
  version: number;
  seed: number;
  counts: Counts;
  images: number;
  summary: BenchmarkResult["summary"];
}

function resolveCounts(size: GenerateOptions["size"]): Counts {
  const c = size === undefined ? PRESETS.fast : typeof size === "string" ? PRESETS[size] : size;
  if (!c) throw new Error(`unknown demo size ${JSON.stringify(size)}: expected "fast", "full" or counts`);
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`demo size: ${k} must be a non-negative integer (got ${v})`);
  }
  if (c.trainPerSpecific < 1 || c.testPerSpecific < 1 || c.calibrationPerClass < 1) throw new Error("demo size: every split needs at least one image (per generator for train and test)");
  return { trainPerSpecific: c.trainPerSpecific, testPerSpecific: c.testPerSpecific, calibrationPerClass: c.calibrationPerClass };
}

function filesOf(root: string): BenchmarkFiles {
  const a = (name: string): string => path.join(root, "annotations", name);
  return {
    train: a("train_annotations.txt"),
    test: a("test_annotations.txt"),
    calibration: a("test_calibration.txt"),
    groups: { gan: a("test_annotations_gan.txt"), sd: a("test_annotations_sd.txt"), midjourney: a("test_annotations_midjourney.txt"), dalle3: a("test_annotations_dalle3.txt") },
    manifest: path.join(root, MANIFEST_NAME),
  };
}

function summarise(items: Item[]): BenchmarkResult["summary"] {
  const s: BenchmarkResult["summary"] = { train: { real: 0, synthetic: 0 }, test: { real: 0, synthetic: 0 }, calibration: { real: 0, synthetic: 0 } };
  for (const it of items) s[it.split][it.origin === 0 ? "real" : "synthetic"]++;
  return s;
}

async function readManifest(file: string): Promise<Manifest | null> {
  try {
    const m = JSON.parse(await fsp.readFile(file, "utf8")) as Manifest;
    return m.generator === "imaginet demo benchmark" ? m : null;
  } catch {
    return null;
  }
}

async function allPresent(root: string, items: Item[], files: BenchmarkFiles): Promise<boolean> {
  const paths = [files.train, files.test, files.calibration, ...Object.values(files.groups), ...items.map((it) => path.join(root, it.rel))];
  for (const p of paths) {
    try {
      const st = await fsp.stat(p);
      if (!st.isFile() || st.size === 0) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Renders items on worker threads; `onImage` gets each rendered image (in completion order). */
async function renderOnWorkers(seed: number, items: Item[], threads: number, onImage: (i: number, img: Rendered) => Promise<void>): Promise<void> {
  const workers: Worker[] = [];
  const pending: Promise<void>[] = [];
  let next = 0;
  let failed: Error | null = null;
  try {
    await Promise.all(
      Array.from(
        { length: threads },
        () =>
          new Promise<void>((resolve, reject) => {
            const w = startWorker(new URL("./worker.js", import.meta.url), { seed });
            workers.push(w);
            let inFlight = 0;
            const feed = (): void => {
              // two in flight per worker: it renders the next while we take the last
              while (inFlight < 2 && next < items.length && !failed) {
                const i = next++;
                inFlight++;
                w.postMessage({ index: i, item: items[i] });
              }
              if (inFlight === 0) resolve();
            };
            w.on("message", (m: { index: number; width: number; height: number; rgb: Uint8Array }) => {
              inFlight--;
              pending.push(
                onImage(m.index, { width: m.width, height: m.height, rgb: m.rgb }).catch((err: unknown) => {
                  failed ??= err instanceof Error ? err : new Error(String(err));
                }),
              );
              feed();
            });
            w.on("error", (err) => reject(err));
            w.on("exit", (code) => {
              if (inFlight > 0 || next < items.length) reject(new Error(`demo generator worker exited (code ${code}) before finishing`));
            });
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  await Promise.all(pending);
  if (failed) throw failed;
}

/**
 * Generates (or finds up to date) the demo benchmark under `root`: images in
 * `{train,test,calibration}/{content}/{generator|real}/NNNNN.{jpg,png,webp}` and the ImagiNet
 * annotation files in `annotations/`. An existing root whose manifest has the same version, seed and
 * counts, with every file present, is left as it is (`skipped: true`).
 */
export async function generateBenchmark(opts: GenerateOptions): Promise<BenchmarkResult> {
  const t0 = performance.now();
  const root = path.resolve(opts.root);
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new InputError(`demo seed must be an integer (got ${seed})`);
  const counts = resolveCounts(opts.size);
  const items = planItems(seed, counts);
  const files = filesOf(root);
  const summary = summarise(items);
  const result = (skipped: boolean): BenchmarkResult => ({ root, seed, counts, summary, images: items.length, files, skipped, seconds: (performance.now() - t0) / 1000 });

  const old = await readManifest(files.manifest);
  if (!opts.force && old && old.version === DEMO_VERSION && old.seed === seed && JSON.stringify(old.counts) === JSON.stringify(counts) && (await allPresent(root, items, files))) {
    opts.onProgress?.(items.length, items.length);
    return result(true);
  }
  if (old) {
    // our own earlier output with other parameters: clear it so no stale images stay behind
    await fsp.rm(files.manifest, { force: true });
    for (const d of ["train", "test", "calibration", "annotations"]) await fsp.rm(path.join(root, d), { recursive: true, force: true });
  }

  let done = 0;
  const total = items.length;
  const save = async (i: number, img: Rendered): Promise<void> => {
    const it = items[i]!;
    await writeFileAtomic(path.join(root, it.rel), await encodeImage(it, img));
    opts.onProgress?.(++done, total);
  };
  const threads = Math.max(1, Math.min(opts.concurrency ?? Math.min(8, os.availableParallelism()), items.length));
  if (threads <= 1) {
    // render here; encoding and writing (sharp's thread pool, async I/O) overlap the next render
    const inFlight = new Set<Promise<void>>();
    let failed: unknown = null;
    for (let i = 0; i < items.length && failed === null; i++) {
      const p: Promise<void> = save(i, renderItem(seed, items[i]!))
        .catch((err: unknown) => {
          failed ??= err;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failed !== null) throw failed;
  } else {
    await renderOnWorkers(seed, items, threads, save);
  }

  for (const [name, lines] of Object.entries(annotationFiles(items))) await writeFileAtomic(path.join(root, "annotations", name), `${lines.join("\n")}\n`);
  const manifest: Manifest = { generator: "imaginet demo benchmark", version: DEMO_VERSION, seed, counts, images: items.length, summary };
  await writeFileAtomic(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return result(false);
}
