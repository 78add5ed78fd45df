/**
 * `imaginet testset build`: ImagiNet's perturbed test set, reproducibly. Each image's random draws
 * come from (seed, its number and source path) alone, so 1 or N workers give byte-identical images
 * and manifest. Resumable: finished images are recognised by the checksum the manifest recorded;
 * images are written to a temp name and renamed, so a killed run leaves no partial file behind.
 */
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createRequire } from "node:module";
import type { Recipe } from "../../image/recipe.js";
import { recipeHash } from "../../image/recipe-hash.js";
import { loadSharp } from "../../image/sharp.js";
import { sha256OfFile, writeFileAtomic } from "../../util/fs.js";
import { Progress } from "../../util/progress.js";
import { startWorker } from "../../util/worker.js";
import { walkFiles } from "../prune.js";
import { builtListName, listLine, makePlan, type PlanItem } from "./plan.js";
import type { Job, JobResult, WorkerSetup } from "./worker.js";
import { InputError } from "../../util/errors.js";
import { type Shard, shardRange } from "../../util/shard.js";

export const MANIFEST = "manifest.jsonl";
export const PARTIAL = "manifest.partial.jsonl";
export const ERRORS = "errors.jsonl";
export const CONFIG = "testset.json";

export interface BuildOptions {
  /** dataset root the annotation paths are relative to */
  root: string;
  out: string;
  files: string[];
  recipe: Recipe;
  seed: number;
  workers?: number;
  maxPixels: number;
  /** lossless WebP effort 0-6: same pixels, smaller files, slower (default 0) */
  webpEffort?: number;
  progress?: boolean;
  /** build only this shard's contiguous range of the plan (docs/scale-out.md; `testset merge` joins the shards) */
  shard?: Pick<Shard, "index" | "count">;
}

export interface ManifestEntry {
  k: number;
  source: string;
  output: string;
  list: string;
  labels: [number, number, number, number];
  seed: number;
  id: string;
  sourceSize: [number, number];
  trace: unknown[];
  sha256: string;
  bytes: number;
}

export interface BuildReport {
  out: string;
  total: number;
  built: number;
  skipped: number;
  failed: { k: number; source: string; error: string }[];
  recipeHash: string;
  seconds: number;
}

async function sha256File(file: string): Promise<string | null> {
  return sha256OfFile(file).catch(() => null);
}

async function readJsonl<T>(file: string): Promise<T[]> {
  const text = await fsp.readFile(file, "utf8").catch(() => "");
  const out: T[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a line cut off by a kill: that image is simply built again
    }
  }
  return out;
}

async function fileSha(files: string[]): Promise<{ file: string; sha256: string }[]> {
  return Promise.all(files.map(async (f) => ({ file: path.basename(f), sha256: (await sha256File(f)) ?? "" })));
}

async function softwareVersions(): Promise<Record<string, string>> {
  const sharp = await loadSharp();
  const pkg = createRequire(import.meta.url)("../../../package.json") as { version: string };
  return { imaginet: pkg.version, node: process.version, sharp: sharp.versions.sharp ?? "", libvips: sharp.versions.vips, webp: sharp.versions.webp ?? "" };
}

/** What identifies a build: a rerun into the same folder must agree on all of it. */
interface BuildIdentity {
  seed: number;
  recipeHash: string;
  webpEffort: number;
  annotations: { file: string; sha256: string }[];
  /** a shard's part of the plan: items [start, end) of total (absent when the whole plan is built) */
  shard?: ShardPart;
}

export interface ShardPart {
  index: number;
  count: number;
  items: [number, number];
  total: number;
}

async function checkIdentity(out: string, identity: BuildIdentity): Promise<void> {
  const text = await fsp.readFile(path.join(out, CONFIG), "utf8").catch(() => null);
  if (text === null) return;
  const prev = JSON.parse(text) as BuildIdentity;
  const same =
    prev.seed === identity.seed &&
    prev.recipeHash === identity.recipeHash &&
    prev.webpEffort === identity.webpEffort &&
    JSON.stringify(prev.annotations) === JSON.stringify(identity.annotations) &&
    JSON.stringify(prev.shard) === JSON.stringify(identity.shard);
  if (!same) {
    throw new InputError(
      `${out} holds a test set built with other settings (seed ${prev.seed}, recipe ${prev.recipeHash.slice(0, 12)}, WebP effort ${prev.webpEffort}, annotations ${prev.annotations.map((a) => a.file).join(", ")}${prev.shard ? `, shard ${prev.shard.index}/${prev.shard.count}` : ""}): choose another --out, or remove it`,
    );
  }
}

export async function buildTestset(opts: BuildOptions): Promise<BuildReport> {
  const started = performance.now();
  const plan = await makePlan(opts.files);
  const hash = recipeHash(opts.recipe);
  const range = opts.shard ? shardRange(plan.items.length, opts.shard) : ([0, plan.items.length] as [number, number]);
  const shard: ShardPart | undefined = opts.shard && { index: opts.shard.index, count: opts.shard.count, items: range, total: plan.items.length };
  const identity: BuildIdentity = { seed: opts.seed, recipeHash: hash, webpEffort: opts.webpEffort ?? 0, annotations: await fileSha(opts.files), ...(shard ? { shard } : {}) };
  const items = plan.items.slice(...range);
  await fsp.mkdir(opts.out, { recursive: true });
  await checkIdentity(opts.out, identity);
  await writeFileAtomic(path.join(opts.out, CONFIG), `${JSON.stringify({ ...identity, recipe: opts.recipe, software: await softwareVersions() }, null, 2)}\n`);

  // finished images: recorded by an earlier run, and still on disk with the recorded checksum
  const previous = [...(await readJsonl<ManifestEntry>(path.join(opts.out, MANIFEST))), ...(await readJsonl<ManifestEntry>(path.join(opts.out, PARTIAL)))];
  const byK = new Map<number, ManifestEntry>();
  for (const e of previous) {
    const item = e.k >= range[0] && e.k < range[1] ? plan.items[e.k] : undefined;
    if (item && item.output === e.output && item.source === e.source) byK.set(e.k, e);
  }
  const done = new Map<number, ManifestEntry>();
  await Promise.all(
    [...byK.values()].map(async (e) => {
      if ((await sha256File(path.join(opts.out, e.output))) === e.sha256) done.set(e.k, e);
    }),
  );
  await removeStaleTemps(opts.out);
  const pending = items.filter((it) => !done.has(it.k));
  const progress = new Progress("building", { total: pending.length, unit: "img", enabled: opts.progress });
  const partial = await fsp.open(path.join(opts.out, PARTIAL), "a");
  const failed: BuildReport["failed"] = [];
  try {
    await runPool(pending, opts, async (item, r) => {
      if (r.ok) {
        const entry: ManifestEntry = {
          k: item.k,
          source: item.source,
          output: item.output,
          list: item.list,
          labels: [item.record.origin, item.record.content, item.record.group, item.record.specific],
          seed: opts.seed,
          id: itemId(item),
          sourceSize: r.sourceSize,
          trace: r.trace,
          sha256: r.sha256,
          bytes: r.bytes,
        };
        done.set(item.k, entry);
        await partial.appendFile(`${JSON.stringify(entry)}\n`);
      } else failed.push({ k: item.k, source: item.source, error: r.error });
      progress.tick();
    });
  } finally {
    await partial.close();
    progress.finish();
  }

  failed.sort((a, b) => a.k - b.k);
  const entries = [...done.values()].sort((a, b) => a.k - b.k);
  await writeFileAtomic(path.join(opts.out, MANIFEST), entries.map((e) => `${JSON.stringify(e)}\n`).join(""));
  if (failed.length > 0) await writeFileAtomic(path.join(opts.out, ERRORS), failed.map((f) => `${JSON.stringify(f)}\n`).join(""));
  else await fsp.rm(path.join(opts.out, ERRORS), { force: true });
  for (const list of plan.lists) {
    const lines = plan.items.filter((it) => it.list === list && done.has(it.k)).map(listLine);
    await writeFileAtomic(path.join(opts.out, builtListName(list)), lines.map((l) => `${l}\n`).join(""));
  }
  await fsp.rm(path.join(opts.out, PARTIAL), { force: true });
  return {
    out: opts.out,
    total: items.length,
    built: pending.length - failed.length,
    skipped: items.length - pending.length,
    failed,
    recipeHash: hash,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Temp files a killed run left behind (images are written as `NAME.webp.RANDOM.tmp`, then renamed). */
async function removeStaleTemps(out: string): Promise<void> {
  const dir = path.join(out, "testset");
  const { files } = await walkFiles(dir).catch(() => ({ files: [] as string[] }));
  await Promise.all(files.filter((f) => f.endsWith(".tmp")).map((f) => fsp.rm(path.join(dir, f), { force: true })));
}

/** The per-image random stream id: its number and source path (repeated source lines get different draws). */
function itemId(item: PlanItem): string {
  return `${item.k}:${item.source}`;
}

async function runPool(items: PlanItem[], opts: BuildOptions, onResult: (item: PlanItem, r: JobResult) => Promise<void>): Promise<void> {
  if (items.length === 0) return;
  const setup: WorkerSetup = { recipe: opts.recipe, seed: opts.seed, maxPixels: opts.maxPixels, webpEffort: opts.webpEffort ?? 0 };
  const nWorkers = Math.max(1, Math.min(opts.workers ?? os.availableParallelism(), items.length));
  let next = 0;
  const byK = new Map(items.map((it) => [it.k, it]));
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = startWorker(new URL("./worker.js", import.meta.url), { kind: "testset", setup });
      let chain = Promise.resolve();
      const feed = (): void => {
        if (next >= items.length) {
          void chain.then(() => w.terminate()).then(() => resolve(), reject);
          return;
        }
        const it = items[next++]!;
        const job: Job = { k: it.k, id: itemId(it), src: path.join(opts.root, it.source), dest: path.join(opts.out, it.output) };
        w.postMessage(job);
      };
      w.on("message", (m: JobResult | { ready: true }) => {
        if ("ready" in m) return feed();
        chain = chain.then(() => onResult(byK.get(m.k)!, m));
        feed();
      });
      w.on("error", reject);
      w.on("exit", (code) => {
        if (code !== 0 && code !== 1) reject(new Error(`test-set worker exited with code ${code}`));
      });
    });
  await Promise.all(Array.from({ length: nWorkers }, one));
}
