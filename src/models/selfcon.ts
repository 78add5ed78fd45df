/**
 * The training-time models of upstream's ImagiNet (delyan-boychev/imaginet training_utils/networks/
 * resnet_big.py), written once against Ops with PyTorch's state-dict names (see
 * docs/training-upstream.md):
 *
 * - ConResNet (SelfCon): nodown Bottleneck trunk `encoder.*` (projection shortcut named `shortcut`),
 *   the sub-network `encoder.selfcon_layer.{i}` = Linear(mean_hw(stage i+1 output)), the MLP heads
 *   `head.{0,2}` and `sub_heads.0.{0,2}`; projections L2-normalised.
 * - LinResNet (the CE variant): strided trunk `encoder.*` → mean → `fc.{0,2}`.
 * - The linear stage's classifier `classifier.{0,1,4}`: BN1d → Linear → ReLU → Dropout → Linear.
 *
 * Dropout is not an Ops operation: the classifier takes an optional function applied at index 3,
 * which training passes (random, or a recorded mask) and tracing leaves out (the identity, as at
 * inference).
 */
import { inferResNetConfig, type HasShape } from "./infer.js";
import { Scope, batchNorm, linear, type Ops } from "./ops.js";
import { IMAGE_INPUT, resnetFeatures, resnetTrunk, type ResNetConfig } from "./resnet.js";
import { InputError } from "../util/errors.js";

/** Anything with a shape: a LazyTensor of a checkpoint or an engine Tensor. */
export type Shaped = HasShape;

export interface ConResNetConfig {
  /** the encoder trunk; upstream: ResNet-50 nodown, `shortcut` naming */
  trunk: ResNetConfig;
  /** which stage's output (1…3) feeds the SelfCon sub-network; upstream selfcon_pos [F, T, F] = 2 */
  selfconStage: number;
  /** hidden width of head / sub_heads (upstream: the feature width, 2048) */
  hidden: number;
  /** projection dim (upstream feat_dim 128) */
  featDim: number;
}

export const SELFCON_RESNET50: ConResNetConfig = {
  trunk: { layers: [3, 4, 6, 3], width: 1, nodown: true, shortcutName: "shortcut" },
  selfconStage: 2,
  hidden: 2048,
  featDim: 128,
};

export interface LinResNetConfig {
  /** upstream: torchvision-strided ResNet-50 with `shortcut` naming */
  trunk: ResNetConfig;
  /** fc hidden width (upstream 1024) */
  hidden: number;
  /** classes (imaginet: 5 groups, real = 4) */
  classes: number;
}

export const CE_RESNET50: LinResNetConfig = {
  trunk: { layers: [3, 4, 6, 3], width: 1, nodown: false, shortcutName: "shortcut" },
  hidden: 1024,
  classes: 5,
};

export interface ClassifierConfig {
  /** input width (the encoder feature, 2048) */
  features: number;
  /** hidden width (1024) */
  hidden: number;
  /** outputs (1: a detection logit) */
  classes: number;
  /** dropout probability at index 3 (upstream 0.2); used only by training */
  dropout: number;
}

const EXPANSION = 4;

/** Output channels of a trunk stage (1…4): 256·w, 512·w, 1024·w, 2048·w. */
export function stageChannels(trunk: ResNetConfig, stage: number): number {
  return Math.round(64 * 2 ** (stage - 1) * trunk.width) * EXPANSION;
}

function join(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

/** nn.Sequential(Linear(d, h), ReLU, Linear(h, k)) → keys {0,2} */
function mlp<T>(s: Scope<T>, x: T, d: number, h: number, k: number): T {
  return linear(s.sub(2), s.ops.relu(linear(s.sub(0), x, d, h)), h, k);
}

export interface ConEncoderOutputs<T> {
  /** selfcon_layer output [N, C] (un-normalised) */
  sub: T;
  /** spatial mean of layer4 [N, C] (un-normalised): what the classifier gets */
  feat: T;
}

/** upstream's encoder forward (ResNetNoDown with selfcon_size 'fc'), under scope `s` (e.g. "encoder"). */
export function conEncoder<T>(s: Scope<T>, x: T, cfg: ConResNetConfig): ConEncoderOutputs<T> {
  const ops = s.ops;
  let tap: T | undefined;
  const y = resnetTrunk(s, x, cfg.trunk, {
    onStage: (stage, out) => {
      if (stage === cfg.selfconStage) tap = out;
    },
  });
  if (tap === undefined) throw new Error(`selfconStage ${cfg.selfconStage} is not a stage of the trunk`);
  const feat = ops.mean(y, [2, 3], false);
  // created after the trunk, so a fresh store lists keys in upstream's registration order
  const sub = linear(s.sub("selfcon_layer").sub(cfg.selfconStage - 1), ops.mean(tap, [2, 3], false), stageChannels(cfg.trunk, cfg.selfconStage), resnetFeatures(cfg.trunk));
  return { sub, feat };
}

export interface ConResNetOutputs<T> {
  encoderSub: T;
  encoderFeat: T;
  /** normalize(sub_heads.0(sub)) [N, featDim]: SelfCon view 0 */
  subFeat: T;
  /** normalize(head(feat)) [N, featDim]: SelfCon view 1 */
  feat: T;
}

/** ConResNet's forward under scope `s` (its keys: encoder.*, head.*, sub_heads.0.*). */
export function conResNetForward<T>(s: Scope<T>, x: T, cfg: ConResNetConfig): ConResNetOutputs<T> {
  const ops = s.ops;
  const c = resnetFeatures(cfg.trunk);
  const enc = conEncoder(s.sub("encoder"), x, cfg);
  const feat = ops.l2normalize(mlp(s.sub("head"), enc.feat, c, cfg.hidden, cfg.featDim), 1);
  const subFeat = ops.l2normalize(mlp(s.sub("sub_heads").sub(0), enc.sub, c, cfg.hidden, cfg.featDim), 1);
  return { encoderSub: enc.sub, encoderFeat: enc.feat, subFeat, feat };
}

/** ConResNet as a model: input "image"; outputs "sub_feat", "feat", "encoder_sub", "encoder_feat". */
export function conResNet<T>(ops: Ops<T>, cfg: ConResNetConfig = SELFCON_RESNET50, prefix = ""): void {
  const x = ops.input(IMAGE_INPUT, ["batch", 3, "height", "width"]);
  const o = conResNetForward(new Scope(ops, prefix), x, cfg);
  ops.output("sub_feat", o.subFeat);
  ops.output("feat", o.feat);
  ops.output("encoder_sub", o.encoderSub);
  ops.output("encoder_feat", o.encoderFeat);
}

/** LinResNet's forward under scope `s` (keys encoder.*, fc.{0,2}). */
export function linResNetForward<T>(s: Scope<T>, x: T, cfg: LinResNetConfig): { encoderFeat: T; logits: T } {
  const ops = s.ops;
  const c = resnetFeatures(cfg.trunk);
  const encoderFeat = ops.mean(resnetTrunk(s.sub("encoder"), x, cfg.trunk), [2, 3], false);
  return { encoderFeat, logits: mlp(s.sub("fc"), encoderFeat, c, cfg.hidden, cfg.classes) };
}

/** LinResNet as a model: input "image"; outputs "logits" [N, classes], "encoder_feat". */
export function linResNet<T>(ops: Ops<T>, cfg: LinResNetConfig = CE_RESNET50, prefix = ""): void {
  const x = ops.input(IMAGE_INPUT, ["batch", 3, "height", "width"]);
  const o = linResNetForward(new Scope(ops, prefix), x, cfg);
  ops.output("logits", o.logits);
  ops.output("encoder_feat", o.encoderFeat);
}

export interface ClassifierOutputs<T> {
  /** classifier.0 (BN1d) output */
  bnOut: T;
  /** ReLU(classifier.1(bnOut)), before dropout */
  hidden: T;
  /** [N, classes] */
  logits: T;
}

/**
 * The linear stage's head under scope `s` (e.g. "classifier"): BN1d → Linear → ReLU → Dropout →
 * Linear, keys {0,1,4}, the same as the `imaginet` detector's "bn" head. `dropout` stands for
 * classifier.3; without it, the identity (inference, tracing).
 */
export function classifierForward<T>(s: Scope<T>, f: T, cfg: ClassifierConfig, dropout?: (x: T) => T): ClassifierOutputs<T> {
  const ops = s.ops;
  const bnOut = batchNorm(s.sub(0), f, cfg.features);
  const hidden = ops.relu(linear(s.sub(1), bnOut, cfg.features, cfg.hidden));
  const logits = linear(s.sub(4), dropout ? dropout(hidden) : hidden, cfg.hidden, cfg.classes);
  return { bnOut, hidden, logits };
}

/** The linear stage's frozen encoder: a SelfCon ConResNet, or the CE variant's LinResNet (strided trunk, fc head). */
export type LinearEncoder = { kind: "selfcon"; cfg: ConResNetConfig } | { kind: "ce"; cfg: LinResNetConfig };

export interface LinearStageConfig {
  encoder: LinearEncoder;
  classifier: ClassifierConfig;
}

/** The ConResNet's state-dict prefix and the classifier's in a linear-stage checkpoint ({'model', 'classifier'}). */
export const LINEAR_MODEL_PREFIX = "model";
export const LINEAR_CLASSIFIER_PREFIX = "classifier";

/** What the linear stage's classifier gets: the spatial mean of layer4 of the encoder under `s` (e.g. "model.encoder"). */
export function linearEncoderFeature<T>(s: Scope<T>, x: T, enc: LinearEncoder): T {
  if (enc.kind === "selfcon") return conEncoder(s, x, enc.cfg).feat;
  return s.ops.mean(resnetTrunk(s, x, enc.cfg.trunk), [2, 3], false);
}

/**
 * The linear-stage model: the encoder under "model.encoder" → spatial mean of layer4 →
 * classifier. Outputs "logit" [N, classes] and "encoder_feat". (Inference: the `imaginet` detector
 * in resnet.ts is the same graph.) Declares only the parameters it uses; the representation's heads
 * (head / sub_heads, or the CE variant's fc) stay in the training store untouched.
 */
export function linearStage<T>(ops: Ops<T>, cfg: LinearStageConfig, dropout?: (x: T) => T): void {
  const x = ops.input(IMAGE_INPUT, ["batch", 3, "height", "width"]);
  const feat = linearEncoderFeature(new Scope(ops, join(LINEAR_MODEL_PREFIX, "encoder")), x, cfg.encoder);
  const o = classifierForward(new Scope(ops, LINEAR_CLASSIFIER_PREFIX), feat, cfg.classifier, dropout);
  ops.output("logit", o.logits);
  ops.output("encoder_feat", feat);
}

// ---- configurations read off state-dict sizes ----

function shapeAt(sd: ReadonlyMap<string, Shaped>, key: string, ndim: number): readonly number[] {
  const t = sd.get(key);
  if (!t) throw new InputError(`${key} is missing`);
  if (t.shape.length !== ndim) throw new InputError(`${key}: shape [${t.shape.join(", ")}] is not ${ndim}-D`);
  return t.shape;
}

/** Blocks per stage, width and shortcut name of the trunk under `prefix` ("encoder", "model.encoder"). */
export function inferTrunk(sd: ReadonlyMap<string, Shaped>, prefix: string, nodown: boolean): ResNetConfig {
  return inferResNetConfig(sd, prefix === "" ? "" : `${prefix}.`, nodown);
}

/** A ConResNet's configuration from its keys under `prefix` ("" or "model"). */
export function inferConResNetConfig(sd: ReadonlyMap<string, Shaped>, prefix = "", nodown = true): ConResNetConfig {
  const p = prefix === "" ? "" : `${prefix}.`;
  const trunk = inferTrunk(sd, `${p}encoder`, nodown);
  const re = new RegExp(`^${p.replace(/\./g, "\\.")}encoder\\.selfcon_layer\\.(\\d+)\\.weight$`);
  const positions = [...sd.keys()].flatMap((k) => (re.exec(k) ? [Number(re.exec(k)![1])] : []));
  if (positions.length !== 1) throw new InputError(`expected one ${p}encoder.selfcon_layer.*, found ${positions.length}`);
  const head0 = shapeAt(sd, `${p}head.0.weight`, 2);
  const head2 = shapeAt(sd, `${p}head.2.weight`, 2);
  return { trunk, selfconStage: positions[0]! + 1, hidden: head0[0]!, featDim: head2[0]! };
}

/** A LinResNet's configuration from its keys under `prefix`. */
export function inferLinResNetConfig(sd: ReadonlyMap<string, Shaped>, prefix = "", nodown = false): LinResNetConfig {
  const p = prefix === "" ? "" : `${prefix}.`;
  return { trunk: inferTrunk(sd, `${p}encoder`, nodown), hidden: shapeAt(sd, `${p}fc.0.weight`, 2)[0]!, classes: shapeAt(sd, `${p}fc.2.weight`, 2)[0]! };
}

/**
 * The encoder of a representation checkpoint from its keys under `prefix` ("" or "model"): the CE
 * variant's LinResNet when it has its fc head, otherwise a SelfCon ConResNet.
 */
export function inferLinearEncoder(sd: ReadonlyMap<string, Shaped>, prefix = "", nodown?: boolean): LinearEncoder {
  const p = prefix === "" ? "" : `${prefix}.`;
  if (sd.has(`${p}fc.0.weight`)) return { kind: "ce", cfg: inferLinResNetConfig(sd, prefix, nodown ?? false) };
  return { kind: "selfcon", cfg: inferConResNetConfig(sd, prefix, nodown ?? true) };
}

/** The classifier's configuration from its keys under `prefix` ("classifier"); dropout is not in a state dict. */
export function inferClassifierConfig(sd: ReadonlyMap<string, Shaped>, prefix = LINEAR_CLASSIFIER_PREFIX, dropout = 0.2): ClassifierConfig {
  const p = prefix === "" ? "" : `${prefix}.`;
  const w1 = shapeAt(sd, `${p}1.weight`, 2);
  return { features: w1[1]!, hidden: w1[0]!, classes: shapeAt(sd, `${p}4.weight`, 2)[0]!, dropout };
}

/**
 * torchvision ResNet keys (conv1, bn1, layerK.B.*, layerK.0.downsample.{0,1}) as SelfCon encoder
 * keys (`${prefix}.layerK.0.shortcut.{0,1}`), fc dropped: upstream's --pretrained_imagenet copy.
 */
export function torchvisionToEncoder<V>(sd: ReadonlyMap<string, V>, prefix = "encoder"): Map<string, V> {
  const out = new Map<string, V>();
  for (const [k, v] of sd) {
    if (k.startsWith("fc.")) continue;
    out.set(join(prefix, k.replace(/\.downsample\./, ".shortcut.")), v);
  }
  return out;
}
