/**
 * The training stages behind `imaginet train`: representation (SelfCon or cross-entropy) and the
 * linear classifier on the frozen encoder. Each reads annotation files, builds or resumes its model,
 * runs the shared epoch loop (src/train/loop.ts) and leaves checkpoints in its run folder:
 *   represent  → OUT/checkpoints/ckpt_epoch_N.pth  {model: ConResNet or LinResNet state dict, epoch, …}
 *   classifier → OUT/checkpoints/…, and OUT/detector.pth {model, classifier}: ImagiNet's detector
 *                checkpoint as upstream saves it (`imaginet detect --detector imaginet` loads it).
 */
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readAnnotationFile, type ImagiNetRecord } from "../data/annotations.js";
import type { TorchValue } from "../checkpoint/index.js";
import { readTorchCheckpoint, recordedNodown, stateDict, type LazyTensor } from "../checkpoint/index.js";
import { setNumThreads, type ParamStore } from "../engine/index.js";
import { TRAIN } from "../image/recipes.js";
import type { Recipe } from "../image/recipe.js";
import { inferLinearEncoder, SELFCON_RESNET50, torchvisionToEncoder, type ConResNetConfig } from "../models/selfcon.js";
import { resnetFeatures, type ResNetConfig } from "../models/resnet.js";
import { writeFileAtomic } from "../util/fs.js";
import { latestCheckpoint, loadTrainCheckpoint, saveTrainCheckpoint } from "./checkpoint.js";
import { balanceClasses, itemsFromRecords, TrainLoader, type Balance, type Batch, type TrainItem } from "./data.js";
import { trainLoop, type LoopResult, type TrainEvent } from "./loop.js";
import { InputError } from "../util/errors.js";
import { anyRank, broadcastStore, checkBatchSplit, DEFAULT_DIST_TIMEOUT_S, joinProcessGroup, launchEnv, type DataParallel } from "./distributed.js";
import { destroyProcessGroup } from "../engine/index.js";
import { createModel, disposeModel, makeOptimizer, trainStep, type SelfConLoss, type TrainModel, type TrainPrecision, type TrainSpec } from "./steps.js";

/** The trunk's size: upstream's ResNet-50 ([3,4,6,3], width 1) or something smaller for quick runs. */
export interface TrunkSize {
  layers: [number, number, number, number];
  width: number;
}

export const RESNET50_SIZE: TrunkSize = { layers: [3, 4, 6, 3], width: 1 };

export interface CommonOptions {
  /** dataset root the annotation paths are relative to */
  root: string;
  annotations: string[];
  out: string;
  epochs: number;
  batchSize: number;
  lr: number;
  /** random crop after the augmentation (upstream trains on 256; smaller is much faster on a CPU) */
  crop: number;
  seed: number;
  workers: number;
  /** libtorch threads (default: every core; libtorch itself would start with 1 here) */
  threads?: number;
  saveEvery: number;
  resume: boolean;
  device?: string;
  /** fp32, or bf16 autocast (CUDA, or a CPU with AVX-512 BF16 / AMX) */
  precision?: TrainPrecision;
  balance?: Balance;
  /** the augmentation before the crop (default: upstream's TRAIN recipe) */
  recipe?: Recipe;
  /** decoded images kept in memory, in MiB (default DEFAULT_CACHE_MB; 0: decode every epoch) */
  cacheMb?: number;
  /** data-parallel runs (launch variables set): seconds a rank waits for the others before it fails (default DEFAULT_DIST_TIMEOUT_S) */
  distTimeout?: number;
}

export const DEFAULT_CACHE_MB = 1024;

export interface RepresentOptions extends CommonOptions {
  method: "selfcon" | "ce";
  size: TrunkSize;
  /** SelfCon's projection size (upstream 128) */
  featDim?: number;
  /** warm-up epochs before the cosine (upstream 10) */
  warm: number;
  /** SelfCon's temperature (upstream 0.07) */
  temperature?: number;
  /** SelfCon's criterion (upstream: "multilabel") */
  loss?: SelfConLoss;
  /** a torchvision ResNet-50 state dict to start the encoder from (ImageNet weights) */
  init?: string;
  /** "sgd" (upstream: momentum 0.9, weight decay 1e-4) or "adam" (weight decay 1e-4) */
  optimizer?: "sgd" | "adam";
  /** cross-entropy on the nodown trunk instead of torchvision's strided one (SelfCon always uses nodown) */
  nodown?: boolean;
}

export interface ClassifierOptions extends CommonOptions {
  /** the representation checkpoint whose encoder is frozen */
  encoder: string;
  /** "origin": the detection head (1 logit, BCE), "group": generator identification (4 classes, synthetic images only) */
  target: "origin" | "group";
  hidden?: number;
}

export interface StageHooks {
  onEvent?: (e: TrainEvent) => void;
  shouldStop?: () => boolean;
  onStart?: (info: { startEpoch: number; epochs: number; batchesPerEpoch: number; images: number; unused: number; resumedFrom: string | null }) => void;
}

async function readItems(files: readonly string[]): Promise<TrainItem[]> {
  const items: TrainItem[] = [];
  for (const f of files) items.push(...itemsFromRecords((await readAnnotationFile(f, { format: "imaginet", keepRepeats: true })).records as ImagiNetRecord[]));
  return items;
}

function prefixed(sd: ReadonlyMap<string, LazyTensor>, prefix: string): Map<string, LazyTensor> {
  return new Map([...sd].map(([k, v]) => [`${prefix}.${k}`, v]));
}

interface ResumeState {
  from: Map<string, LazyTensor>;
  optimizer: Uint8Array | null;
  epoch: number;
  file: string;
}

/** The newest checkpoint of the run folder `out`, which `--resume` needs. */
export async function checkpointToResume(out: string): Promise<{ file: string; epoch: number }> {
  const last = await latestCheckpoint(path.join(out, "checkpoints"));
  if (!last) throw new InputError(`--resume: no checkpoint in ${path.join(out, "checkpoints")}`);
  return last;
}

/** Where a run continues from: the newest checkpoint's state and epoch, when resuming. */
async function resumeState(o: CommonOptions): Promise<ResumeState | null> {
  if (!o.resume) return null;
  const last = await checkpointToResume(o.out);
  const c = await loadTrainCheckpoint(last.file);
  const from = new Map<string, LazyTensor>();
  for (const [group, sd] of c.stateDicts) if (group === "model" || group === "classifier") for (const [k, v] of sd) from.set(`${group}.${k}`, v);
  return { from, optimizer: c.optimizerState, epoch: c.epoch ?? last.epoch, file: last.file };
}

/** What a stage trains, and how, beside the common options. */
interface StageRun {
  model: TrainModel;
  items: TrainItem[];
  /** each step's options (the SelfCon loss, the linear stage's target) */
  step: Parameters<typeof trainStep>[3];
  /** warm-up epochs (the representation's schedule) */
  warm: number;
  optimizer: "sgd" | "adam";
  resumed: ResumeState | null;
  /** what the checkpoints record besides the weights */
  meta: Record<string, TorchValue>;
  hooks: StageHooks;
  dp: DataParallel | null;
}

/**
 * Joins the data-parallel run the launch variables describe (null when they are not set): the
 * device is cuda:LOCAL_RANK for --device cuda, and the global batch must split over the ranks.
 */
function dataParallel(o: CommonOptions): { dp: DataParallel | null; device: string | undefined } {
  const e = launchEnv();
  if (!e) return { dp: null, device: o.device };
  checkBatchSplit(o.batchSize, e.worldSize);
  const device = o.device === "cuda" ? `cuda:${e.localRank}` : (o.device ?? "cpu");
  return { dp: joinProcessGroup(e, { device, timeoutS: o.distTimeout ?? DEFAULT_DIST_TIMEOUT_S }), device };
}

async function runStage(o: CommonOptions, { model, items, step: stepOptions, warm, optimizer: optimizerName, resumed, meta, hooks, dp }: StageRun): Promise<LoopResult> {
  // every rank starts from rank 0's weights, as DDP's constructor (they agree already when seeded or resumed alike)
  if (dp) broadcastStore(model.params);
  const optimizer = makeOptimizer(model, { name: optimizerName, lr: o.lr });
  if (resumed?.optimizer) optimizer.loadState(resumed.optimizer);
  const loader = new TrainLoader({
    root: o.root,
    items,
    recipe: o.recipe ?? TRAIN,
    crop: o.crop,
    views: 1,
    batchSize: o.batchSize,
    seed: o.seed,
    workers: o.workers,
    cacheBytes: (o.cacheMb ?? DEFAULT_CACHE_MB) * 2 ** 20,
    dropLast: items.length > o.batchSize,
    ...(o.balance ? { balanceBy: o.balance } : {}),
    ...(dp ? { rank: dp } : {}),
  });
  const startEpoch = (resumed?.epoch ?? 0) + 1;
  if (dp && dp.rank !== 0) hooks = { ...(hooks.shouldStop ? { shouldStop: hooks.shouldStop } : {}) };
  const shouldStop = hooks.shouldStop;
  const unused = o.balance ? balanceClasses(items, o.balance).excluded.length : 0;
  hooks.onStart?.({ startEpoch, epochs: o.epochs, batchesPerEpoch: loader.batchesPerEpoch(), images: items.length, unused, resumedFrom: resumed?.file ?? null });
  const stores = model.spec.kind === "linear" ? splitStores(model) : { model: model.params };
  try {
    return await trainLoop({
      dir: o.out,
      stage: {
        step: (b: Batch) => trainStep(model, optimizer, { x: b.views[0]!, shape: [b.size, 3, b.height, b.width], labels: b.labels }, { ...stepOptions, ...(dp ? { dp } : {}) }),
        optimizer,
        stores,
      },
      loader,
      schedule: model.spec.kind === "linear" ? { lr: o.lr, epochs: o.epochs, warm: 0, floor: 1 } : { lr: o.lr, epochs: o.epochs, warm },
      seed: o.seed,
      startEpoch,
      saveEvery: o.saveEvery,
      meta,
      ...(resumed ? { resumedFrom: resumed.file } : {}),
      ...(hooks.onEvent ? { onEvent: hooks.onEvent } : {}),
      // a stop asked of any rank ends every rank after the same step
      ...(dp ? { shouldStop: () => anyRank(shouldStop?.() ?? false, dp), primary: dp.rank === 0 } : shouldStop ? { shouldStop } : {}),
    });
  } finally {
    await loader.close();
    optimizer.dispose();
  }
}

/** {model, classifier} stores of a linear-stage model, keys without their prefix (upstream's checkpoint layout). */
function splitStores(model: TrainModel): Record<string, ParamStore> {
  const out: Record<string, ParamStore> = { model: new Map(), classifier: new Map() };
  for (const [k, t] of model.params) {
    const dot = k.indexOf(".");
    out[k.slice(0, dot)]?.set(k.slice(dot + 1), t);
  }
  return out;
}

function meta(stage: string, o: CommonOptions, extra: Record<string, TorchValue>): Record<string, TorchValue> {
  return { stage, seed: o.seed, lr: o.lr, epochs: o.epochs, batch_size: o.batchSize, crop: o.crop, ...extra };
}

/** Runs a stage alone, or as this process's rank of a data-parallel run (then the process group is released after it). */
async function onThisRank<O extends CommonOptions, R>(o: O, stage: (o: O, dp: DataParallel | null) => Promise<R>): Promise<R> {
  setNumThreads(o.threads ?? os.availableParallelism());
  const { dp, device } = dataParallel(o);
  try {
    return await stage({ ...o, ...(device ? { device } : {}) }, dp);
  } finally {
    if (dp) destroyProcessGroup();
  }
}

export function trainRepresentation(o: RepresentOptions, hooks: StageHooks = {}): Promise<LoopResult & { checkpoint: string | null }> {
  return onThisRank(o, (x, dp) => representation(x, hooks, dp));
}

async function representation(o: RepresentOptions, hooks: StageHooks, dp: DataParallel | null): Promise<LoopResult & { checkpoint: string | null }> {
  const trunk: ResNetConfig = { layers: o.size.layers, width: o.size.width, nodown: o.method === "selfcon" || Boolean(o.nodown), shortcutName: "shortcut" };
  const features = Math.round(512 * o.size.width) * 4;
  const cfg: ConResNetConfig = { ...SELFCON_RESNET50, trunk, hidden: features, featDim: o.featDim ?? SELFCON_RESNET50.featDim };
  const spec: TrainSpec = o.method === "selfcon" ? { kind: "selfcon", cfg, prefix: "" } : { kind: "ce", cfg: { trunk, hidden: features / 2, classes: 5 }, prefix: "" };
  const resumed = await resumeState(o);
  let model: TrainModel;
  if (resumed)
    model = await createModel(spec, {
      from: new Map([...resumed.from].filter(([k]) => k.startsWith("model.")).map(([k, v]) => [k.slice(6), v])),
      seed: o.seed,
      ...(o.device ? { device: o.device } : {}),
      ...(o.precision ? { precision: o.precision } : {}),
    });
  else if (o.init)
    model = await createModel(spec, {
      from: torchvisionToEncoder(stateDict(await readTorchCheckpoint(o.init))),
      partial: true,
      seed: o.seed,
      ...(o.device ? { device: o.device } : {}),
      ...(o.precision ? { precision: o.precision } : {}),
    });
  else model = await createModel(spec, { seed: o.seed, ...(o.device ? { device: o.device } : {}), ...(o.precision ? { precision: o.precision } : {}) });
  try {
    const items = await readItems(o.annotations);
    const r = await runStage(o, {
      model,
      items,
      step: o.method === "selfcon" ? { loss: o.loss ?? "multilabel", ...(o.temperature ? { temperature: o.temperature } : {}) } : {},
      warm: o.warm,
      optimizer: o.optimizer ?? "sgd",
      resumed,
      meta: meta("represent", o, {
        method: o.method,
        nodown: trunk.nodown,
        layers: [...o.size.layers],
        width: o.size.width,
        temperature: o.temperature ?? 0.07,
        loss: o.loss ?? "multilabel",
        optimizer: o.optimizer ?? "sgd",
      }),
      hooks,
      dp,
    });
    return { ...r, checkpoint: r.lastCheckpoint };
  } finally {
    disposeModel(model);
  }
}

export const DETECTOR_FILE = "detector.pth";

export function trainClassifier(o: ClassifierOptions, hooks: StageHooks = {}): Promise<LoopResult & { detector: string | null }> {
  return onThisRank(o, (x, dp) => classifier(x, hooks, dp));
}

async function classifier(o: ClassifierOptions, hooks: StageHooks, dp: DataParallel | null): Promise<LoopResult & { detector: string | null }> {
  const ck = await readTorchCheckpoint(o.encoder);
  const enc = stateDict(ck);
  const encModel = new Map([...enc].filter(([k]) => k.startsWith("model.")).map(([k, v]) => [k.slice(6), v]));
  if (encModel.size === 0) throw new InputError(`${o.encoder}: no "model" state dict (expected a checkpoint of \`imaginet train represent\` or upstream's main_represent.py)`);
  // our representation checkpoints record the trunk (upstream's do not: SelfCon nodown, CE strided)
  const encoder = inferLinearEncoder(encModel, "", recordedNodown(ck));
  const features = resnetFeatures(encoder.cfg.trunk);
  const classes = o.target === "group" ? 4 : 1;
  const spec: TrainSpec = { kind: "linear", cfg: { encoder, classifier: { features, hidden: o.hidden ?? features / 2, classes, dropout: 0.2 } } };
  const resumed = await resumeState(o);
  const from = resumed ? resumed.from : prefixed(encModel, "model");
  const model = await createModel(spec, { from, partial: !resumed, seed: o.seed, ...(o.device ? { device: o.device } : {}), ...(o.precision ? { precision: o.precision } : {}) });
  try {
    let items = await readItems(o.annotations);
    if (o.target === "group") items = items.filter((it) => it.labels[0] === 1);
    const r = await runStage(o, {
      model,
      items,
      step: { target: o.target },
      warm: 0,
      optimizer: "adam",
      resumed,
      meta: meta("classifier", o, { target: o.target, encoder: path.basename(o.encoder) }),
      hooks,
      dp,
    });
    let detector: string | null = null;
    if (!r.stopped && r.lastCheckpoint && (!dp || dp.rank === 0)) {
      detector = path.join(o.out, DETECTOR_FILE);
      await saveTrainCheckpoint(detector, { stores: splitStores(model), epoch: r.lastEpoch, meta: { stage: "detector", target: o.target, nodown: encoder.cfg.trunk.nodown } });
    }
    return { ...r, detector };
  } finally {
    disposeModel(model);
  }
}

/** Records a run's options beside its checkpoints (what `--resume` must be given again). */
export async function writeRunConfig(out: string, config: unknown): Promise<void> {
  await fsp.mkdir(out, { recursive: true });
  await writeFileAtomic(path.join(out, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
}
