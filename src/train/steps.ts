/**
 * One training step per stage on the libtorch engine, as upstream's loops do it per batch
 * (docs/training-upstream.md):
 *
 * - representation, SelfCon: ConResNet in train mode → features [n, 2, d] (view 0 = sub-network,
 *   view 1 = backbone) → MultiLabelLossImagiNet (or ConLoss on origin) → backward → SGD step;
 * - representation, CE: LinResNet in train mode → CrossEntropy on the group column → SGD step;
 * - linear stage: the encoder (ConResNet, or the CE variant's LinResNet) under noGrad with its BatchNorm in TRAIN mode (batch
 *   statistics, running stats updated), the classifier in train mode (BN1d, dropout), BCE on
 *   origin → Adam step on the classifier's parameters only.
 *
 * A TrainModel is a spec plus a ParamStore with upstream's state-dict keys (buffers included,
 * num_batches_tracked int64); each step runs inside tidy and returns the loss as a number.
 */
import type { LazyTensor } from "../checkpoint/index.js";
import {
  allGather,
  Adam,
  SGD,
  defaultInit,
  isBuffer,
  keep,
  loadParams,
  nn,
  noGrad,
  storeToHost,
  tensor,
  tidy,
  trainableParams,
  EagerOps,
  autocast,
  type DType,
  type HostArray,
  type Optimizer,
  type ParamStore,
  type Tensor,
} from "../engine/index.js";
import { trace, type ParamSpec } from "../onnx/trace.js";
import { Scope } from "../models/ops.js";
import {
  LINEAR_CLASSIFIER_PREFIX,
  LINEAR_MODEL_PREFIX,
  classifierForward,
  conResNet,
  conResNetForward,
  inferClassifierConfig,
  inferConResNetConfig,
  inferLinResNetConfig,
  inferLinearEncoder,
  linResNet,
  linResNetForward,
  linearEncoderFeature,
  type ConResNetConfig,
  type LinResNetConfig,
  type LinearStageConfig,
  type Shaped,
} from "../models/selfcon.js";
import { GROUP, ORIGIN, bceWithLogitsLoss, conLoss, crossEntropyLoss, imaginetMultiLabelLoss } from "./losses.js";
import { InputError } from "../util/errors.js";
import { averageGradients, broadcastBuffers, gatherWithLocalGrad, meanOverRanks, type DataParallel } from "./distributed.js";

/** What is trained: the SelfCon ConResNet, the CE LinResNet, or the linear stage (either of them under "model." + "classifier."). */
export type TrainSpec = { kind: "selfcon"; cfg: ConResNetConfig; prefix: string } | { kind: "ce"; cfg: LinResNetConfig; prefix: string } | { kind: "linear"; cfg: LinearStageConfig };

export interface TrainModel {
  spec: TrainSpec;
  /** state-dict key → tensor (kept; parameters require grad when trained) */
  params: ParamStore;
  device: string;
  /** fp32, or bf16: forward and loss under autocast (bfloat16 needs no loss scaling, so no fp16 here) */
  precision: TrainPrecision;
}

export type TrainPrecision = "fp32" | "bf16";

/** Reads a spec off a state dict's keys and shapes (linear: keys "model.*" and "classifier.*"). */
export function inferSpec(kind: TrainSpec["kind"], sd: ReadonlyMap<string, Shaped>, prefix = ""): TrainSpec {
  if (kind === "selfcon") return { kind, cfg: inferConResNetConfig(sd, prefix), prefix };
  if (kind === "ce") return { kind, cfg: inferLinResNetConfig(sd, prefix), prefix };
  return { kind, cfg: { encoder: inferLinearEncoder(sd, LINEAR_MODEL_PREFIX), classifier: inferClassifierConfig(sd) } };
}

/**
 * Every state-dict entry of the spec's model, in PyTorch's registration order, with shapes:
 * parameters and buffers, num_batches_tracked (shape []) after each running_var. The linear stage
 * holds the whole representation model (heads included, saved back untouched) and the classifier.
 */
export function stateDictSpec(spec: TrainSpec): ParamSpec[] {
  const traced: ParamSpec[] = [];
  if (spec.kind === "selfcon") traced.push(...trace((ops) => conResNet(ops, spec.cfg, spec.prefix)).params);
  else if (spec.kind === "ce") traced.push(...trace((ops) => linResNet(ops, spec.cfg, spec.prefix)).params);
  else {
    const enc = spec.cfg.encoder;
    traced.push(...trace((ops) => (enc.kind === "selfcon" ? conResNet(ops, enc.cfg, LINEAR_MODEL_PREFIX) : linResNet(ops, enc.cfg, LINEAR_MODEL_PREFIX))).params);
    const c = spec.cfg.classifier;
    traced.push(...trace((ops) => void classifierForward(new Scope(ops, LINEAR_CLASSIFIER_PREFIX), ops.input("feature", ["batch", c.features]), c)).params);
  }
  const out: ParamSpec[] = [];
  for (const p of traced) {
    out.push(p);
    if (p.name.endsWith(".running_var")) out.push({ name: `${p.name.slice(0, -"running_var".length)}num_batches_tracked`, shape: [] });
  }
  return out;
}

/** Whether the key is trained: every parameter, except in the linear stage, where only the classifier's. */
function trains(spec: TrainSpec, key: string): boolean {
  if (isBuffer(key)) return false;
  return spec.kind !== "linear" || key.startsWith(`${LINEAR_CLASSIFIER_PREFIX}.`);
}

export interface CreateModelOptions {
  /** initial values by state-dict key (a checkpoint's stateDict, torchvisionToEncoder(...)) */
  from?: ReadonlyMap<string, LazyTensor>;
  /**
   * with `from`: keys it lacks are initialised fresh instead of being an error (ImageNet-initialised
   * encoder with random heads; a SelfCon checkpoint with a fresh classifier). num_batches_tracked
   * may always be absent (0).
   */
  partial?: boolean;
  /** seed of the fresh initialisation (each tensor's values depend on the seed and its key only); default 0 */
  seed?: number;
  device?: string;
  precision?: TrainPrecision;
}

/**
 * The model's parameter store: values from `from`, the rest initialised as upstream (convs
 * kaiming_normal fan_out/relu, BN weight 1 bias 0, running stats 0/1, Linear PyTorch's default).
 * Keys of `from` the model does not have are an error.
 */
export async function createModel(spec: TrainSpec, opts: CreateModelOptions = {}): Promise<TrainModel> {
  const device = opts.device ?? "cpu";
  const want = stateDictSpec(spec);
  const from = opts.from ?? new Map<string, LazyTensor>();
  const wanted = new Set(want.map((p) => p.name));
  const unexpected = [...from.keys()].filter((k) => !wanted.has(k));
  const missing = opts.from && !opts.partial ? want.filter((p) => !from.has(p.name) && !p.name.endsWith(".num_batches_tracked")).map((p) => p.name) : [];
  const misShaped = want
    .filter((p) => from.has(p.name) && from.get(p.name)!.shape.join(",") !== p.shape.join(","))
    .map((p) => `${p.name}: given [${from.get(p.name)!.shape.join(", ")}], model [${p.shape.join(", ")}]`);
  if (unexpected.length + missing.length + misShaped.length > 0) {
    const list = (title: string, xs: string[]) => (xs.length ? [`${title} (${xs.length}): ${xs.slice(0, 20).join(", ")}${xs.length > 20 ? ", …" : ""}`] : []);
    throw new InputError([`the state dict does not match the ${spec.kind} model:`, ...list("missing", missing), ...list("unexpected", unexpected), ...list("mis-shaped", misShaped)].join("\n"));
  }
  const loaded = await loadParams(from, { device });
  const init = defaultInit({ seed: opts.seed ?? 0, conv: "torchvision-resnet", device });
  const params: ParamStore = new Map();
  for (const p of want) {
    let t = loaded.get(p.name);
    if (t) {
      const dtype: DType = p.name.endsWith(".num_batches_tracked") ? "int64" : "float32";
      if (t.dtype !== dtype) {
        const c = keep(t.to(dtype));
        t.dispose();
        t = c;
      }
    } else {
      t = keep(init(p.name, p.shape, params));
    }
    t.requiresGrad = trains(spec, p.name);
    params.set(p.name, t);
  }
  return { spec, params, device, precision: opts.precision ?? "fp32" };
}

/** Frees the model's tensors. */
export function disposeModel(model: TrainModel): void {
  for (const t of model.params.values()) t.dispose();
}

export interface HostTensor {
  data: HostArray;
  shape: number[];
  dtype: DType;
}

/**
 * The state dict on the host (PyTorch key names, buffers included, num_batches_tracked int64);
 * with `under` ("model", "classifier") only the keys below that prefix, the prefix removed (a
 * linear-stage checkpoint is {'model': …, 'classifier': …}).
 */
export function exportStateDict(model: TrainModel, under?: string): Map<string, HostTensor> {
  const all = storeToHost(model.params);
  if (under === undefined || under === "") return all;
  const p = `${under}.`;
  const out = new Map<string, HostTensor>();
  for (const [k, v] of all) if (k.startsWith(p)) out.set(k.slice(p.length), v);
  return out;
}

// ---- optimizers ----

export type OptimizerConfig =
  | { name: "sgd"; lr: number; momentum?: number; weightDecay?: number }
  | { name: "adam"; lr: number; weightDecay?: number; betas?: readonly [number, number]; eps?: number };

/**
 * One parameter group over every trained tensor of the model (the linear stage: the classifier
 * only), weight decay on all of them (BN and biases too), as upstream. Defaults: SGD momentum 0.9,
 * weight decay 1e-4 (representation: set_optimizer); Adam weight decay 1e-3 for the linear stage,
 * 1e-4 otherwise; betas (0.9, 0.999), eps 1e-8.
 */
export function makeOptimizer(model: TrainModel, cfg: OptimizerConfig): Optimizer {
  const ps = trainableParams(model.params);
  if (cfg.name === "sgd") return new SGD(ps, { lr: cfg.lr, momentum: cfg.momentum ?? 0.9, weightDecay: cfg.weightDecay ?? 1e-4 });
  const wd = cfg.weightDecay ?? (model.spec.kind === "linear" ? 1e-3 : 1e-4);
  return new Adam(ps, { lr: cfg.lr, weightDecay: wd, betas: cfg.betas ?? [0.9, 0.999], eps: cfg.eps ?? 1e-8 });
}

// ---- steps ----

export interface StepBatch {
  /** normalised NCHW float32 images */
  x: Float32Array;
  shape: readonly [number, number, number, number];
  /** [n, 4] row-major label rows (origin, content, group, specific) */
  labels: Int32Array;
}

/** Sees the step's intermediate tensors (inside its tidy scope: copy what you keep, e.g. toArray()). */
export type StepObserver = (name: string, t: Tensor) => void;

export type SelfConLoss = "multilabel" | "origin" | "group";

export interface RepresentationStepOptions {
  /**
   * SelfCon criterion: "multilabel" = upstream's MultiLabelLossImagiNet (default); "origin" = ConLoss
   * on origin only; "group" = ConLoss on the group column over all images (real is group 4, so
   * real and each generator family are one class each)
   */
  loss?: SelfConLoss;
  /** ConLoss temperature (= base temperature); default 0.07 */
  temperature?: number;
  /** CE: the label column of the target; default 2 (group, upstream's --dataset imaginet) */
  ceColumn?: number;
  /** names: encoder_sub, encoder_feat, sub_feat, feat, features, loss_origin, loss_group (SelfCon); encoder_feat, logits (CE) */
  observe?: StepObserver;
  /** data-parallel: this rank's share of the global batch (src/train/distributed.ts) */
  dp?: DataParallel;
}

function batchTensors(model: TrainModel, b: StepBatch): { x: Tensor; labels: Tensor } {
  const [n] = b.shape;
  if (b.x.length !== b.shape.reduce((a, c) => a * c, 1)) throw new Error(`batch: ${b.x.length} values for shape [${b.shape.join(", ")}]`);
  if (b.labels.length !== n * 4) throw new Error(`batch: ${b.labels.length} label values for ${n} images (want [${n}, 4])`);
  let x = tensor(b.x, b.shape);
  let labels = tensor(b.labels, [n, 4]);
  if (model.device !== "cpu") {
    x = x.to(model.device);
    labels = labels.to(model.device);
  }
  return { x, labels };
}

/**
 * One representation step (SelfCon or CE): zero grads, train-mode forward (BN batch stats, running
 * stats and num_batches_tracked updated), loss, backward, optimizer.step(). Returns the loss.
 */
export function representationStep(model: TrainModel, opt: Optimizer, batch: StepBatch, o: RepresentationStepOptions = {}): number {
  const spec = model.spec;
  if (spec.kind === "linear") throw new Error("representationStep: the linear stage has linearStep");
  const see = o.observe ?? (() => {});
  const dp = o.dp;
  return tidy(() => {
    opt.zeroGrad();
    if (dp) broadcastBuffers(model.params);
    const { x, labels: localLabels } = batchTensors(model, batch);
    // SelfCon's loss is over the global batch: every rank's features and labels, rank by rank
    const labels = dp && spec.kind === "selfcon" ? allGather(localLabels) : localLabels;
    const ops = new EagerOps(model.params, {}, { training: true });
    const s = new Scope(ops, spec.prefix);
    const loss = autocast(model.device, model.precision, (): Tensor => {
      if (spec.kind === "selfcon") {
        const out = conResNetForward(s, x, spec.cfg);
        const localFeatures = nn.stack([out.subFeat, out.feat], 1);
        const features = dp ? gatherWithLocalGrad(localFeatures, dp) : localFeatures;
        see("encoder_sub", out.encoderSub);
        see("encoder_feat", out.encoderFeat);
        see("sub_feat", out.subFeat);
        see("feat", out.feat);
        see("features", features);
        const T = o.temperature ?? 0.07;
        if ((o.loss ?? "multilabel") === "multilabel") {
          const l = imaginetMultiLabelLoss(features, labels, T);
          see("loss_origin", l.origin);
          if (l.group) see("loss_group", l.group);
          return l.loss;
        }
        return conLoss(features, labels.select(1, o.loss === "group" ? GROUP : ORIGIN), T, T);
      } else {
        const out = linResNetForward(s, x, spec.cfg);
        see("encoder_feat", out.encoderFeat);
        see("logits", out.logits);
        return crossEntropyLoss(out.logits, labels.select(1, o.ceColumn ?? GROUP));
      }
    });
    if (!dp) {
      loss.backward();
      opt.step();
      return loss.item();
    }
    // the gathered SelfCon loss is the global one on every rank: ×W undoes the averaging of the gradients
    (spec.kind === "selfcon" ? loss.mul(dp.size) : loss).backward();
    averageGradients(trainableParams(model.params));
    opt.step();
    return spec.kind === "selfcon" ? loss.item() : meanOverRanks(loss.item(), dp);
  });
}

export interface LinearStepOptions {
  /**
   * stands for classifier.3 (Dropout) on the hidden activations; default nn.dropout(h, p, true)
   * with the global generator (manualSeed). A test passes a recorded mask: (h) => h.mul(mask).
   */
  dropout?: (hidden: Tensor) => Tensor;
  /** names: encoder_feat, bn_out, hidden, logits */
  observe?: StepObserver;
  /**
   * "origin" (default): one logit, BCE on real/synthetic, as upstream; "group": generator
   * identification, cross-entropy on the group column (the batch should hold synthetic images only)
   */
  target?: "origin" | "group";
  /** data-parallel: this rank's share of the global batch (src/train/distributed.ts) */
  dp?: DataParallel;
}

/**
 * One linear-stage step (train_linear_classifier_selfcon.py): encoder under noGrad with BatchNorm
 * in train mode (running stats of model.encoder.* updated as upstream), classifier in train mode,
 * BCEWithLogits(out.squeeze(1), origin), zero grads, backward, Adam step. Returns the loss.
 */
export function linearStep(model: TrainModel, opt: Optimizer, batch: StepBatch, o: LinearStepOptions = {}): number {
  const spec = model.spec;
  if (spec.kind !== "linear") throw new Error("linearStep is for the linear stage");
  const see = o.observe ?? (() => {});
  const c = spec.cfg.classifier;
  const dropout = o.dropout ?? ((h: Tensor) => nn.dropout(h, c.dropout, true));
  const dp = o.dp;
  return tidy(() => {
    if (dp) broadcastBuffers(model.params);
    const { x, labels } = batchTensors(model, batch);
    const ops = new EagerOps(model.params, {}, { training: true });
    const loss = autocast(model.device, model.precision, () => {
      const feat = noGrad(() => linearEncoderFeature(new Scope(ops, `${LINEAR_MODEL_PREFIX}.encoder`), x, spec.cfg.encoder));
      see("encoder_feat", feat);
      const out = classifierForward(new Scope(ops, LINEAR_CLASSIFIER_PREFIX), feat, c, dropout);
      see("bn_out", out.bnOut);
      see("hidden", out.hidden);
      see("logits", out.logits.ndim === 2 && out.logits.shape[1] === 1 ? out.logits.squeeze(1) : out.logits);
      return (o.target ?? "origin") === "group" ? crossEntropyLoss(out.logits, labels.select(1, GROUP)) : bceWithLogitsLoss(out.logits, labels.select(1, ORIGIN));
    });
    opt.zeroGrad();
    loss.backward();
    if (dp) averageGradients(trainableParams(model.params));
    opt.step();
    return dp ? meanOverRanks(loss.item(), dp) : loss.item();
  });
}

/** The stage's step for the model's kind. */
export function trainStep(model: TrainModel, opt: Optimizer, batch: StepBatch, o: RepresentationStepOptions & LinearStepOptions = {}): number {
  return model.spec.kind === "linear" ? linearStep(model, opt, batch, o) : representationStep(model, opt, batch, o);
}
