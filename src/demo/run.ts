/**
 * `imaginet demo`: the whole system on a generated benchmark, with no download —
 * generate → perturbed test set → SelfCon training → linear stages (detection, identification) →
 * evaluation (both tracks, calibration, a JPEG robustness sweep) → report → timing.
 * Every stage leaves its outputs under OUT and a record in OUT/stages.json; a later run reuses a
 * stage whose inputs are unchanged (same key) and whose outputs still exist, unless `from` names
 * it or an earlier stage.
 */
import { existsSync, promises as fsp } from "node:fs";
import * as path from "node:path";
import { buildTestset } from "../data/testset/build.js";
import { builtListName } from "../data/testset/plan.js";
import { evaluateRuns, writeMetrics, type Evaluation } from "../eval/evaluate.js";
import { joinScores } from "../eval/import.js";
import { makeManifest, writeRun, type PredictionRow } from "../eval/results.js";
import { annotatedPaths, inferenceSoftware, scoreItems, scoresOf } from "../eval/score.js";
import { recipeHash, type Recipe } from "../image/recipe.js";
import { CENTER256, jpegSweep, TESTSET, TESTSET_COMPRESSION } from "../image/recipes.js";
import { buildFromCheckpoint } from "../models/load.js";
import type { DetectorSpec } from "../models/registry.js";
import { writeReport } from "../report/build.js";
import { defaultWorkers } from "../runtime/detect.js";
import type { TrainEvent } from "../train/loop.js";
import type { ClassifierOptions, RepresentOptions, TrunkSize } from "../train/train.js";
import { startTraining } from "../train/worker.js";
import { writeFileAtomic } from "../util/fs.js";
import { generateBenchmark } from "./generate/index.js";

export const STAGES = ["generate", "testset", "represent", "classifier", "identify", "evaluate", "report"] as const;
export type StageName = (typeof STAGES)[number];

/** Sizes and training settings of a demo run. */
export interface DemoPlan {
  size: "fast" | "full";
  trunk: TrunkSize;
  featDim: number;
  crop: number;
  batch: number;
  representEpochs: number;
  representLr: number;
  classifierEpochs: number;
  classifierLr: number;
  /** synthetic test images per generator group in each JPEG-sweep severity */
  sweepPerGroup: number;
}

export const PLANS: Record<"fast" | "full", DemoPlan> = {
  full: { size: "full", trunk: { layers: [1, 1, 1, 1], width: 1 / 16 }, featDim: 32, crop: 48, batch: 64, representEpochs: 14, representLr: 3e-3, classifierEpochs: 2, classifierLr: 1e-3, sweepPerGroup: 25 },
  fast: { size: "fast", trunk: { layers: [1, 1, 1, 1], width: 1 / 16 }, featDim: 16, crop: 48, batch: 32, representEpochs: 10, representLr: 3e-3, classifierEpochs: 3, classifierLr: 1e-3, sweepPerGroup: 2 },
};

/**
 * The demo's training augmentation: a random crop, then the test set's compression (p=0.75 JPEG or
 * WebP, q 60-100). Upstream also blurs, adds noise, rotates and flips (TRAIN); those invariances
 * cost more training than the demo's budget has, and the demo's test set applies none of them.
 */
export function demoTrainRecipe(crop: number): Recipe {
  return {
    name: `demo-train-${crop}`,
    description: `reflect-pad to ${crop}, random ${crop} crop, then with p=0.75 JPEG or WebP at q in [60, 100] (the test set's compression)`,
    steps: [{ op: "pad_if_needed", size: crop }, { op: "random_crop", size: crop }, TESTSET_COMPRESSION],
  };
}

export interface DemoOptions {
  out: string;
  seed: number;
  fast: boolean;
  /** rerun this stage and every later one */
  from?: StageName;
  /** representation epochs in place of the plan's */
  epochs?: number;
  workers?: number;
  threads?: number;
  /** progress lines (stage starts, epochs) */
  log?: (line: string) => void;
  onTrainEvent?: (stage: StageName, e: TrainEvent) => void;
}

interface StageRecord {
  key: string;
  seconds: number;
  outputs: string[];
  info?: Record<string, unknown>;
}

export interface DemoResult {
  out: string;
  evaluations: Evaluation[];
  markdown: string;
  report: string;
  stages: Record<string, StageRecord & { reused: boolean }>;
  timing: { stage: string; seconds: number; reused: boolean; note: string }[];
}

/** images per inference batch in the evaluation */
const BATCH = 16;
const DETECTOR: DetectorSpec = { name: "demo", title: "Demo detector (SelfCon)", arch: "imaginet", nodown: true, output: "binary", preprocess: CENTER256 };
const IDENTIFIER: DetectorSpec = { name: "demo-id", title: "Demo identification (SelfCon)", arch: "imaginet", nodown: true, output: "groups", preprocess: CENTER256 };

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const plan = { ...(o.fast ? PLANS.fast : PLANS.full), ...(o.epochs ? { representEpochs: o.epochs } : {}) };
  const log = o.log ?? (() => {});
  const workers = o.workers ?? defaultWorkers();
  const dir = (...p: string[]) => path.join(o.out, ...p);
  const recordFile = dir("stages.json");
  const records: Record<string, StageRecord> = JSON.parse(await fsp.readFile(recordFile, "utf8").catch(() => "{}")) as Record<string, StageRecord>;
  const used: DemoResult["stages"] = {};
  const fromIndex = o.from ? STAGES.indexOf(o.from) : STAGES.length;
  // a stage's key: its own parameters and every earlier stage's key
  let upstreamKey = `seed=${o.seed}`;

  /** Runs a stage unless its record matches (same inputs) and its outputs exist. */
  async function stage(name: StageName, params: unknown, fn: () => Promise<{ outputs: string[]; info?: Record<string, unknown> }>): Promise<StageRecord> {
    const key = `${upstreamKey}|${name}:${JSON.stringify(params)}`;
    const prev = records[name];
    const reusable = STAGES.indexOf(name) < fromIndex && prev?.key === key && prev.outputs.every((f) => existsSync(f));
    if (reusable) {
      log(`${name}: reused (${prev.outputs.map((f) => path.relative(o.out, f)).join(", ")})`);
      used[name] = { ...prev, reused: true };
    } else {
      log(`${name}: running`);
      const t0 = performance.now();
      const r = await fn();
      records[name] = { key, seconds: (performance.now() - t0) / 1000, outputs: r.outputs, ...(r.info ? { info: r.info } : {}) };
      await writeFileAtomic(recordFile, `${JSON.stringify(records, null, 2)}\n`);
      used[name] = { ...records[name]!, reused: false };
      log(`${name}: done in ${records[name]!.seconds.toFixed(1)} s`);
    }
    upstreamKey = key;
    return used[name]!;
  }

  // 1. the benchmark
  const data = dir("data");
  const annotations = (f: string) => path.join(data, "annotations", f);
  const groupNames = ["gan", "sd", "midjourney", "dalle3"] as const;
  await stage("generate", { size: plan.size }, async () => {
    const bench = await generateBenchmark({ root: data, seed: o.seed, size: plan.size, force: true });
    return { outputs: [bench.files.manifest, bench.files.train, ...Object.values(bench.files.groups), bench.files.calibration], info: { images: bench.images, summary: bench.summary } };
  });

  // 2. the perturbed test set, through the same builder as ImagiNet's
  const testset = dir("testset");
  const lists = groupNames.map((g) => path.join(testset, builtListName(g)));
  await stage("testset", { recipe: recipeHash(TESTSET) }, async () => {
    const r = await buildTestset({ root: data, out: testset, files: groupNames.map((g) => annotations(`test_annotations_${g}.txt`)), recipe: TESTSET, seed: o.seed, workers, maxPixels: 1 << 26, progress: false });
    if (r.failed.length > 0) throw new Error(`the test set builder failed on ${r.failed.length} image(s), e.g. ${r.failed[0]!.source}: ${r.failed[0]!.error}`);
    return { outputs: lists, info: { images: r.total } };
  });

  // 3-5. training, each stage in a worker thread
  const common = { root: data, batchSize: plan.batch, crop: plan.crop, seed: o.seed, workers, ...(o.threads ? { threads: o.threads } : {}), resume: false, recipe: demoTrainRecipe(plan.crop) };
  const train = async <R>(name: StageName, req: Parameters<typeof startTraining>[0]): Promise<R> => {
    await fsp.rm(req.options.out, { recursive: true, force: true });
    return startTraining<R>(req, { onEvent: (e) => o.onTrainEvent?.(name, e) }).result;
  };
  const representOptions: RepresentOptions = { ...common, annotations: [annotations("train_annotations.txt")], out: dir("train", "represent"), epochs: plan.representEpochs, lr: plan.representLr, warm: 0, optimizer: "adam", loss: "group", saveEvery: plan.representEpochs, method: "selfcon", size: plan.trunk, featDim: plan.featDim };
  const represent = await stage("represent", trainingKey(representOptions), async () => {
    const r = await train<{ lastCheckpoint: string }>("represent", { stage: "represent", options: representOptions });
    return { outputs: [r.lastCheckpoint], info: await trainingThroughput(representOptions.out) };
  });
  const classifierOptions = (out: string, target: "origin" | "group"): ClassifierOptions => ({
    ...common,
    annotations: [annotations("train_annotations.txt")],
    out,
    epochs: plan.classifierEpochs,
    lr: plan.classifierLr,
    saveEvery: plan.classifierEpochs,
    encoder: represent.outputs[0]!,
    target,
  });
  const classifierStage = (name: "classifier" | "identify", options: ClassifierOptions) =>
    stage(name, trainingKey(options), async () => {
      const r = await train<{ detector: string }>(name, { stage: "classifier", options });
      return { outputs: [r.detector], info: await trainingThroughput(options.out) };
    });
  const detectorStage = await classifierStage("classifier", classifierOptions(dir("train", "detector"), "origin"));
  // the families are 3:3:1:1 among the synthetic images: draw each equally often
  const identifyStage = await classifierStage("identify", { ...classifierOptions(dir("train", "identify"), "group"), balance: "group" });

  // 6. evaluation: both tracks, calibration on the calibration split (perturbed as the test set is), a JPEG sweep
  const runs = [dir("runs", "detector"), dir("runs", "identify")];
  const evaluate = await stage("evaluate", { sweepPerGroup: plan.sweepPerGroup }, async () => {
    const timing: Record<string, number> = {};
    const detWeights = detectorStage.outputs[0]!;
    const idWeights = identifyStage.outputs[0]!;
    const testPaths = await annotatedPaths(lists);
    const calPaths = await annotatedPaths([annotations("test_calibration.txt")]);
    const detModel = (await buildFromCheckpoint("imaginet", detWeights, { nodown: true })).onnx;
    // the calibration images get the test set's perturbation on the fly, drawn from the seed and their annotation path
    const detItems = [...testPaths.map((p) => ({ root: testset, path: p })), ...calPaths.map((p) => ({ root: data, path: p, recipe: TESTSET, key: `${o.seed}/${p}` }))];
    const t0 = performance.now();
    const detScores = await scoreItems(DETECTOR, detModel, detItems, { workers, batchSize: BATCH });
    timing.detectorMsPerImage = (performance.now() - t0) / detItems.length;
    const det = scoresOf(DETECTOR.name, detItems.slice(0, testPaths.length), detScores);
    const cal = scoresOf(DETECTOR.name, detItems.slice(testPaths.length), detScores.slice(testPaths.length));
    const detRows = await joinScores(det, lists);
    await writeDemoRun(runs[0]!, DETECTOR, detWeights, lists, detRows, await joinScores(cal, [annotations("test_calibration.txt")]), o.seed, timing.detectorMsPerImage);

    // identification, then upstream's JPEG sweep (synthetic images, q = 40…100 on a 256 centre crop), in one run
    const idModel = (await buildFromCheckpoint("imaginet", idWeights, { nodown: true })).onnx;
    const sample = groupNames.flatMap((g) => detRows.filter((r) => r.labels[0] === 1 && r.split === g).slice(0, plan.sweepPerGroup).map((r) => r.path));
    const sweepItems = jpegSweep().flatMap(({ recipe, severity }) => sample.map((p) => ({ root: testset, path: p, recipe, severity })));
    const idItems = [...testPaths.map((p) => ({ root: testset, path: p })), ...sweepItems];
    const t1 = performance.now();
    const idScores = await scoreItems(IDENTIFIER, idModel, idItems, { workers, batchSize: BATCH });
    timing.identifyMsPerImage = (performance.now() - t1) / idItems.length;
    const rows = await joinScores(scoresOf(IDENTIFIER.name, idItems.slice(0, testPaths.length), idScores), lists);
    const rowOf = new Map(rows.filter((r) => r.labels[0] === 1).map((r) => [r.path, r]));
    sweepItems.forEach((it, k) => rows.push({ ...rowOf.get(it.path)!, logits: idScores[testPaths.length + k] as number[], perturbation: "jpeg", severity: it.severity }));
    await writeDemoRun(runs[1]!, IDENTIFIER, idWeights, lists, rows, null, o.seed, timing.identifyMsPerImage);
    return { outputs: runs.map((r) => path.join(r, "run.json")), info: timing };
  });

  const evaluations = await evaluateRuns(runs, { seed: o.seed, resamples: o.fast ? 50 : 1000 });
  for (const [i, e] of evaluations.entries()) await writeMetrics(runs[i]!, e);

  // 7. report
  const reportDir = dir("report");
  let markdown = "";
  await stage("report", {}, async () => {
    const r = await writeReport(evaluations, reportDir);
    markdown = r.markdown;
    return { outputs: [path.join(reportDir, "report.md"), path.join(reportDir, "report.html")] };
  });
  if (markdown === "") markdown = await fsp.readFile(path.join(reportDir, "report.md"), "utf8");

  const timing = STAGES.map((s) => {
    const r = used[s]!;
    const info = r.info ?? {};
    const note =
      s === "generate"
        ? `${String(info.images ?? "")} images`
        : s === "represent" || s === "classifier" || s === "identify"
          ? `${Number(info.imagesPerSecond ?? 0).toFixed(0)} img/s training (${Number(info.epochs ?? 0)} epochs)`
          : s === "evaluate"
            ? `inference ${Number(info.detectorMsPerImage ?? 0).toFixed(1)} ms/img (detector), ${Number(info.identifyMsPerImage ?? 0).toFixed(1)} ms/img (identification), decoding included`
            : s === "testset"
              ? `${String(info.images ?? "")} images`
              : "";
    return { stage: s, seconds: r.seconds, reused: r.reused, note };
  });
  await writeFileAtomic(dir("timing.json"), `${JSON.stringify(timing, null, 2)}\n`);
  return { out: o.out, evaluations, markdown, report: path.join(reportDir, "report.html"), stages: used, timing };
}

/**
 * What a training stage's outputs depend on: its options without where they are read from and
 * written to or how many threads run them (the encoder is an earlier stage's output, in the chained
 * key already), with the recipe as its hash.
 */
function trainingKey(o: RepresentOptions | ClassifierOptions): Record<string, unknown> {
  const { root: _root, out: _out, annotations: _annotations, workers: _workers, threads: _threads, recipe, ...rest } = o;
  const key: Record<string, unknown> = { ...rest, ...(recipe ? { recipe: recipeHash(recipe) } : {}) };
  delete key.encoder;
  return key;
}

async function writeDemoRun(dir: string, spec: DetectorSpec, weights: string, lists: readonly string[], predictions: PredictionRow[], calibration: PredictionRow[] | null, seed: number, msPerImage: number): Promise<void> {
  const manifest = await makeManifest({
    detector: spec.title,
    weights: [weights],
    annotations: lists,
    recipeHash: recipeHash(spec.preprocess),
    seed,
    software: inferenceSoftware(),
    batchSize: BATCH,
    precision: "fp32",
    wallSeconds: (msPerImage * predictions.length) / 1000,
  });
  await writeRun(dir, manifest, predictions, calibration);
}

/** Mean training throughput and epochs from a stage's metrics.jsonl. */
async function trainingThroughput(runDir: string): Promise<Record<string, unknown>> {
  const lines = (await fsp.readFile(path.join(runDir, "metrics.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as TrainEvent);
  const epochs = lines.filter((e): e is Extract<TrainEvent, { type: "epoch" }> => e.type === "epoch");
  const ips = epochs.reduce((a, e) => a + e.imagesPerSecond, 0) / Math.max(epochs.length, 1);
  return { epochs: epochs.length, imagesPerSecond: ips, finalLoss: epochs.at(-1)?.loss ?? null };
}
