/**
 * `imaginet demo`: the whole system on a generated benchmark, with no download —
 * generate → perturbed test set → representation training (cross-entropy, or SelfCon) → linear stages (detection, identification) →
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
import type { Recipe } from "../image/recipe.js";
import { recipeHash } from "../image/recipe-hash.js";
import { jpegSweep, TESTSET, TESTSET_COMPRESSION } from "../image/recipes.js";
import { buildFromCheckpoints } from "../detectors/build.js";
import { IMAGINET, IMAGINET_ID } from "../detectors/imaginet.js";
import type { DetectorModule } from "../detectors/types.js";
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
  /** the representation's objective, on the nodown trunk: SelfCon (upstream's) or cross-entropy on the group column */
  method: "selfcon" | "ce";
  trunk: TrunkSize;
  featDim: number;
  crop: number;
  batch: number;
  representEpochs: number;
  representLr: number;
  /** epochs of the detection head */
  classifierEpochs: number;
  /** epochs of the identification head */
  identifyEpochs: number;
  classifierLr: number;
  /** synthetic test images per generator group in each JPEG-sweep severity */
  sweepPerGroup: number;
}

export const PLANS: Record<"fast" | "full", DemoPlan> = {
  full: {
    size: "full",
    method: "ce",
    trunk: { layers: [1, 1, 1, 1], width: 1 / 16 },
    featDim: 32,
    crop: 48,
    batch: 64,
    representEpochs: 40,
    representLr: 3e-3,
    classifierEpochs: 2,
    identifyEpochs: 6,
    classifierLr: 1e-3,
    sweepPerGroup: 25,
  },
  fast: {
    size: "fast",
    method: "ce",
    trunk: { layers: [1, 1, 1, 1], width: 1 / 16 },
    featDim: 16,
    crop: 48,
    batch: 32,
    representEpochs: 20,
    representLr: 3e-3,
    classifierEpochs: 3,
    identifyEpochs: 3,
    classifierLr: 1e-3,
    sweepPerGroup: 2,
  },
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
  /** the representation's objective in place of the plan's */
  method?: DemoPlan["method"];
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
/**
 * The demo's detection and identification modules. Both heads sit on the representation's nodown
 * trunk, which the training records in their checkpoints (buildFromCheckpoints reads it back).
 */
function demoDetectors(method: DemoPlan["method"]): { detector: DetectorModule; identifier: DetectorModule } {
  const name = method === "selfcon" ? "SelfCon" : "cross-entropy";
  return {
    detector: { ...IMAGINET, name: "demo", title: `Demo detector (${name})`, weights: [] },
    identifier: { ...IMAGINET_ID, name: "demo-id", title: `Demo identification (${name})`, weights: [] },
  };
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const demo = await startDemo(o);
  await generateStage(demo);
  await testsetStage(demo);
  const encoder = await representStage(demo);
  const detector = await classifierStage(demo, "classifier", encoder);
  const identifier = await classifierStage(demo, "identify", encoder);
  await evaluateStage(demo, detector, identifier);
  const evaluations = await evaluateRuns(demo.runs, { seed: o.seed, resamples: o.fast ? 50 : 1000 });
  for (const [i, e] of evaluations.entries()) await writeMetrics(demo.runs[i]!, e);
  const markdown = await reportStage(demo, evaluations);
  const timing = stageTiming(demo.stages.used);
  await writeFileAtomic(demo.dir("timing.json"), `${JSON.stringify(timing, null, 2)}\n`);
  return { out: o.out, evaluations, markdown, report: path.join(demo.reportDir, "report.html"), stages: demo.stages.used, timing };
}

const GROUPS = ["gan", "sd", "midjourney", "dalle3"] as const;

/** A demo's settings, paths and stages, shared by its stage functions. */
interface Demo {
  o: DemoOptions;
  plan: DemoPlan;
  /** the detection and identification modules for the plan's representation */
  modules: { detector: DetectorModule; identifier: DetectorModule };
  workers: number;
  stages: StageRunner;
  /** a path under OUT */
  dir: (...p: string[]) => string;
  /** the generated benchmark's root */
  data: string;
  /** an annotation file of the generated benchmark */
  annotations: (file: string) => string;
  /** the perturbed test set and its list per generator group */
  testset: string;
  lists: string[];
  /** the evaluation runs: detector, identification */
  runs: string[];
  reportDir: string;
}

async function startDemo(o: DemoOptions): Promise<Demo> {
  const plan: DemoPlan = {
    ...(o.fast ? PLANS.fast : PLANS.full),
    ...(o.epochs ? { representEpochs: o.epochs } : {}),
    ...(o.method ? { method: o.method } : {}),
  };
  const dir = (...p: string[]) => path.join(o.out, ...p);
  const data = dir("data");
  const testset = dir("testset");
  return {
    o,
    plan,
    modules: demoDetectors(plan.method),
    workers: o.workers ?? defaultWorkers(),
    stages: await StageRunner.open(o),
    dir,
    data,
    annotations: (f) => path.join(data, "annotations", f),
    testset,
    lists: GROUPS.map((g) => path.join(testset, builtListName(g))),
    runs: [dir("runs", "detector"), dir("runs", "identify")],
    reportDir: dir("report"),
  };
}

type StageOutcome = { outputs: string[]; info?: Record<string, unknown> };

/**
 * Runs the stages in their order, each unless its record in OUT/stages.json matches (same key)
 * and its outputs exist. A stage's key: its own parameters and every earlier stage's key.
 */
class StageRunner {
  readonly used: DemoResult["stages"] = {};
  private upstreamKey: string;

  private constructor(
    private readonly o: DemoOptions,
    private readonly records: Record<string, StageRecord>,
  ) {
    this.upstreamKey = `seed=${o.seed}`;
  }

  static async open(o: DemoOptions): Promise<StageRunner> {
    const records = JSON.parse(await fsp.readFile(path.join(o.out, "stages.json"), "utf8").catch(() => "{}")) as Record<string, StageRecord>;
    return new StageRunner(o, records);
  }

  async run(name: StageName, params: unknown, fn: () => Promise<StageOutcome>): Promise<StageRecord> {
    const log = this.o.log ?? (() => {});
    const fromIndex = this.o.from ? STAGES.indexOf(this.o.from) : STAGES.length;
    const key = `${this.upstreamKey}|${name}:${JSON.stringify(params)}`;
    const prev = this.records[name];
    const reusable = STAGES.indexOf(name) < fromIndex && prev?.key === key && prev.outputs.every((f) => existsSync(f));
    if (reusable) {
      log(`${name}: reused (${prev.outputs.map((f) => path.relative(this.o.out, f)).join(", ")})`);
      this.used[name] = { ...prev, reused: true };
    } else {
      log(`${name}: running`);
      const t0 = performance.now();
      const r = await fn();
      const record: StageRecord = { key, seconds: (performance.now() - t0) / 1000, outputs: r.outputs, ...(r.info ? { info: r.info } : {}) };
      this.records[name] = record;
      await writeFileAtomic(path.join(this.o.out, "stages.json"), `${JSON.stringify(this.records, null, 2)}\n`);
      this.used[name] = { ...record, reused: false };
      log(`${name}: done in ${record.seconds.toFixed(1)} s`);
    }
    this.upstreamKey = key;
    return this.used[name]!;
  }
}

/** 1. the benchmark */
async function generateStage(demo: Demo): Promise<void> {
  await demo.stages.run("generate", { size: demo.plan.size }, async () => {
    const bench = await generateBenchmark({ root: demo.data, seed: demo.o.seed, size: demo.plan.size, force: true });
    return { outputs: [bench.files.manifest, bench.files.train, ...Object.values(bench.files.groups), bench.files.calibration], info: { images: bench.images, summary: bench.summary } };
  });
}

/** 2. the perturbed test set, through the same builder as ImagiNet's */
async function testsetStage(demo: Demo): Promise<void> {
  await demo.stages.run("testset", { recipe: recipeHash(TESTSET) }, async () => {
    const files = GROUPS.map((g) => demo.annotations(`test_annotations_${g}.txt`));
    const r = await buildTestset({ root: demo.data, out: demo.testset, files, recipe: TESTSET, seed: demo.o.seed, workers: demo.workers, maxPixels: 1 << 26, progress: false });
    if (r.failed.length > 0) throw new Error(`the test set builder failed on ${r.failed.length} image(s), e.g. ${r.failed[0]!.source}: ${r.failed[0]!.error}`);
    return { outputs: demo.lists, info: { images: r.total } };
  });
}

/** What the three training stages share. */
function trainingCommon(demo: Demo) {
  const { o, plan } = demo;
  return {
    root: demo.data,
    batchSize: plan.batch,
    crop: plan.crop,
    seed: o.seed,
    workers: demo.workers,
    ...(o.threads ? { threads: o.threads } : {}),
    resume: false,
    recipe: demoTrainRecipe(plan.crop),
  };
}

/** Runs a training stage in a worker thread, into a fresh output folder. */
async function train<R>(demo: Demo, name: StageName, req: Parameters<typeof startTraining>[0]): Promise<R> {
  await fsp.rm(req.options.out, { recursive: true, force: true });
  return startTraining<R>(req, { onEvent: (e) => demo.o.onTrainEvent?.(name, e) }).result;
}

/** 3. the representation (cross-entropy on the group column, or SelfCon); returns its checkpoint */
async function representStage(demo: Demo): Promise<string> {
  const { plan } = demo;
  const options: RepresentOptions = {
    ...trainingCommon(demo),
    annotations: [demo.annotations("train_annotations.txt")],
    out: demo.dir("train", "represent"),
    epochs: plan.representEpochs,
    lr: plan.representLr,
    warm: 0,
    optimizer: "adam",
    loss: "group",
    saveEvery: plan.representEpochs,
    method: plan.method,
    nodown: true,
    size: plan.trunk,
    featDim: plan.featDim,
  };
  const r = await demo.stages.run("represent", trainingKey(options), async () => {
    const t = await train<{ lastCheckpoint: string }>(demo, "represent", { stage: "represent", options });
    return { outputs: [t.lastCheckpoint], info: await trainingThroughput(options.out) };
  });
  return r.outputs[0]!;
}

/** 4-5. the linear stages on the encoder: detection ("classifier") and identification ("identify"); returns the detector checkpoint */
async function classifierStage(demo: Demo, name: "classifier" | "identify", encoder: string): Promise<string> {
  const { plan } = demo;
  const detection = name === "classifier";
  const base: ClassifierOptions = {
    ...trainingCommon(demo),
    annotations: [demo.annotations("train_annotations.txt")],
    out: demo.dir("train", detection ? "detector" : "identify"),
    epochs: detection ? plan.classifierEpochs : plan.identifyEpochs,
    lr: plan.classifierLr,
    saveEvery: detection ? plan.classifierEpochs : plan.identifyEpochs,
    encoder,
    target: detection ? "origin" : "group",
  };
  // the families are 3:3:1:1 among the synthetic images: identification draws each equally often
  const options: ClassifierOptions = detection ? base : { ...base, balance: "group" };
  const r = await demo.stages.run(name, trainingKey(options), async () => {
    const t = await train<{ detector: string }>(demo, name, { stage: "classifier", options });
    return { outputs: [t.detector], info: await trainingThroughput(options.out) };
  });
  return r.outputs[0]!;
}

/** 6. evaluation: both tracks, calibration on the calibration split (perturbed as the test set is), a JPEG sweep */
async function evaluateStage(demo: Demo, detector: string, identifier: string): Promise<void> {
  await demo.stages.run("evaluate", { sweepPerGroup: demo.plan.sweepPerGroup }, async () => {
    const testPaths = await annotatedPaths(demo.lists);
    const detection = await detectionRun(demo, detector, testPaths);
    const identifyMsPerImage = await identificationRun(demo, identifier, testPaths, detection.rows);
    return { outputs: demo.runs.map((r) => path.join(r, "run.json")), info: { detectorMsPerImage: detection.msPerImage, identifyMsPerImage } };
  });
}

/** The detector's run: the test set's images and, for calibration, the calibration split's. */
async function detectionRun(demo: Demo, weights: string, testPaths: string[]): Promise<{ rows: PredictionRow[]; msPerImage: number }> {
  const calibrationFile = demo.annotations("test_calibration.txt");
  const calPaths = await annotatedPaths([calibrationFile]);
  const spec = demo.modules.detector;
  const model = (await buildFromCheckpoints(spec, weights)).onnx;
  // the calibration images get the test set's perturbation on the fly, drawn from the seed and their annotation path
  const items = [...testPaths.map((p) => ({ root: demo.testset, path: p })), ...calPaths.map((p) => ({ root: demo.data, path: p, recipe: TESTSET, key: `${demo.o.seed}/${p}` }))];
  const t0 = performance.now();
  const scores = await scoreItems(spec, model, items, { workers: demo.workers, batchSize: BATCH });
  const msPerImage = (performance.now() - t0) / items.length;
  const rows = await joinScores(scoresOf(spec.name, items.slice(0, testPaths.length), scores), demo.lists);
  const calibration = await joinScores(scoresOf(spec.name, items.slice(testPaths.length), scores.slice(testPaths.length)), [calibrationFile]);
  await writeDemoRun({ dir: demo.runs[0]!, spec, weights, lists: demo.lists, predictions: rows, calibration, seed: demo.o.seed, msPerImage });
  return { rows, msPerImage };
}

/**
 * The identification run: the test set's images, then upstream's JPEG sweep (synthetic images,
 * q = 40…100 on a 256 centre crop) on a sample of the detector's rows. Returns ms per image.
 */
async function identificationRun(demo: Demo, weights: string, testPaths: string[], detectorRows: readonly PredictionRow[]): Promise<number> {
  const spec = demo.modules.identifier;
  const model = (await buildFromCheckpoints(spec, weights)).onnx;
  const sample = GROUPS.flatMap((g) =>
    detectorRows
      .filter((r) => r.labels[0] === 1 && r.split === g)
      .slice(0, demo.plan.sweepPerGroup)
      .map((r) => r.path),
  );
  const sweepItems = jpegSweep().flatMap(({ recipe, severity }) => sample.map((p) => ({ root: demo.testset, path: p, recipe, severity })));
  const items = [...testPaths.map((p) => ({ root: demo.testset, path: p })), ...sweepItems];
  const t0 = performance.now();
  const scores = await scoreItems(spec, model, items, { workers: demo.workers, batchSize: BATCH });
  const msPerImage = (performance.now() - t0) / items.length;
  const rows = await joinScores(scoresOf(spec.name, items.slice(0, testPaths.length), scores), demo.lists);
  const rowOf = new Map(rows.filter((r) => r.labels[0] === 1).map((r) => [r.path, r]));
  sweepItems.forEach((it, k) => rows.push({ ...rowOf.get(it.path)!, logits: scores[testPaths.length + k] as number[], perturbation: "jpeg", severity: it.severity }));
  await writeDemoRun({ dir: demo.runs[1]!, spec, weights, lists: demo.lists, predictions: rows, calibration: null, seed: demo.o.seed, msPerImage });
  return msPerImage;
}

/** 7. the report; returns its markdown */
async function reportStage(demo: Demo, evaluations: Evaluation[]): Promise<string> {
  let markdown = "";
  await demo.stages.run("report", {}, async () => {
    const r = await writeReport(evaluations, demo.reportDir);
    markdown = r.markdown;
    return { outputs: [path.join(demo.reportDir, "report.md"), path.join(demo.reportDir, "report.html")] };
  });
  return markdown === "" ? fsp.readFile(path.join(demo.reportDir, "report.md"), "utf8") : markdown;
}

/** Each stage's time and what it did. */
function stageTiming(used: DemoResult["stages"]): DemoResult["timing"] {
  return STAGES.map((s) => {
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

/** What a demo run's folder gets: its detector, the lists scored, the rows and how long they took. */
interface DemoRunFiles {
  dir: string;
  spec: DetectorModule;
  weights: string;
  lists: readonly string[];
  predictions: PredictionRow[];
  calibration: PredictionRow[] | null;
  seed: number;
  msPerImage: number;
}

/** The run folder (run.json, predictions, calibration rows), as `imaginet eval detect` writes one. */
async function writeDemoRun({ dir, spec, weights, lists, predictions, calibration, seed, msPerImage }: DemoRunFiles): Promise<void> {
  const manifest = await makeManifest({
    detector: spec.title,
    weights: [weights],
    annotations: lists,
    recipeHash: recipeHash(spec.preprocess.recipe),
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
  const lines = (await fsp.readFile(path.join(runDir, "metrics.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as TrainEvent);
  const epochs = lines.filter((e): e is Extract<TrainEvent, { type: "epoch" }> => e.type === "epoch");
  const ips = epochs.reduce((a, e) => a + e.imagesPerSecond, 0) / Math.max(epochs.length, 1);
  return { epochs: epochs.length, imagesPerSecond: ips, finalLoss: epochs.at(-1)?.loss ?? null };
}
