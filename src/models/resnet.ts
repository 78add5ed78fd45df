/**
 * ResNet (Bottleneck) trunks and the detectors built on them, written once against Ops.
 * Parameter names are torchvision's (conv1, bn1, layer1.0.conv1, …, layerK.0.downsample.{0,1});
 * SupContrast-style encoders name the projection shortcut `shortcut` instead of `downsample`.
 */
import { Scope, batchNorm, conv2d, linear, linearAsConv1x1, type AttentionOps, type Ops } from "./ops.js";

export interface ResNetConfig {
  /** Bottleneck blocks per stage; ResNet-50 is [3, 4, 6, 3] */
  layers: readonly [number, number, number, number];
  /** channel multiplier on torchvision's widths (64·w stem, planes 64·w … 512·w); 1 for ResNet-50 */
  width: number;
  /** "nodown": stem conv stride 1 and maxpool stride 1 (8× total downsampling); otherwise torchvision's 32× */
  nodown: boolean;
  /** the projection-shortcut module's name: "downsample" (torchvision) or "shortcut" (SupContrast / SelfCon) */
  shortcutName: "downsample" | "shortcut";
}

export const RESNET50_NODOWN: ResNetConfig = { layers: [3, 4, 6, 3], width: 1, nodown: true, shortcutName: "downsample" };

const EXPANSION = 4;

function ch(base: number, width: number): number {
  const c = Math.round(base * width);
  if (c < 1) throw new Error(`width ${width} leaves no channels`);
  return c;
}

/** Output channels of stage `stage` (1…4: layer1…layer4) at a width: 256·2^(stage−1)·width. */
export function stageChannels(stage: number, width: number): number {
  return ch(64 * 2 ** (stage - 1), width) * EXPANSION;
}

/** Output channels of the trunk (2048 for ResNet-50). */
export function resnetFeatures(cfg: ResNetConfig): number {
  return stageChannels(4, cfg.width);
}

function bottleneck<T>(s: Scope<T>, x: T, cin: number, planes: number, stride: number, shortcutName: ResNetConfig["shortcutName"]): T {
  const ops = s.ops;
  const cout = planes * EXPANSION;
  let y = ops.relu(batchNorm(s.sub("bn1"), conv2d(s.sub("conv1"), x, cin, planes, 1), planes));
  // torchvision ≥ 0.4 (ResNet v1.5): the stride sits on the 3×3 conv
  y = ops.relu(batchNorm(s.sub("bn2"), conv2d(s.sub("conv2"), y, planes, planes, 3, { stride, padding: 1 }), planes));
  y = batchNorm(s.sub("bn3"), conv2d(s.sub("conv3"), y, planes, cout, 1), cout);
  let idn = x;
  if (stride !== 1 || cin !== cout) {
    const sc = s.sub(shortcutName);
    idn = batchNorm(sc.sub(1), conv2d(sc.sub(0), x, cin, cout, 1, { stride }), cout);
  }
  return ops.relu(ops.add(y, idn));
}

/** Optional observers of the trunk's intermediate values (the tracing backend ignores them unless the model outputs them). */
export interface TrunkHooks<T> {
  /** called with each stage's output, stage = 1…4 (layer1…layer4), as the trunk builds it */
  onStage?: (stage: number, y: T) => void;
}

/** The stem: conv1 (k×k, stride, padding (k−1)/2, no bias) → bn1 → ReLU → maxpool 3 (padding 1). Output ch(64, width) channels. */
export function resnetStem<T>(s: Scope<T>, x: T, width: number, stem: { kernel: number; stride: number; poolStride: number }): T {
  const c = ch(64, width);
  const y = conv2d(s.sub("conv1"), x, 3, c, stem.kernel, { stride: stem.stride, padding: (stem.kernel - 1) / 2 });
  return s.ops.maxPool2d(s.ops.relu(batchNorm(s.sub("bn1"), y, c)), 3, stem.poolStride, 1);
}

/** What the Bottleneck stages need: blocks per stage for layer1…layerK (K = layers.length ≤ 4), width, shortcut name. */
export type StagesConfig = Pick<ResNetConfig, "width" | "shortcutName"> & { layers: readonly number[] };

/** Stages layer1…layerK on the stem's output (ch(64, width) channels); output stageChannels(K, width) channels. */
export function resnetStages<T>(s: Scope<T>, x: T, cfg: StagesConfig, hooks: TrunkHooks<T> = {}): T {
  let y = x;
  let cin = ch(64, cfg.width);
  cfg.layers.forEach((n, li) => {
    const planes = ch(64 * 2 ** li, cfg.width);
    const layer = s.sub(`layer${li + 1}`);
    for (let b = 0; b < n; b++) {
      y = bottleneck(layer.sub(b), y, cin, planes, b === 0 && li > 0 ? 2 : 1, cfg.shortcutName);
      cin = planes * EXPANSION;
    }
    hooks.onStage?.(li + 1, y);
  });
  return y;
}

/** The trunk up to layer4: NCHW image → NCHW features (resnetFeatures(cfg) channels). */
export function resnetTrunk<T>(s: Scope<T>, x: T, cfg: ResNetConfig, hooks: TrunkHooks<T> = {}): T {
  const stride = cfg.nodown ? 1 : 2;
  return resnetStages(s, resnetStem(s, x, cfg.width, { kernel: 7, stride, poolStride: stride }), cfg, hooks);
}

export const IMAGE_INPUT = "image";

/** Grag2021: trunk → global average pool → fc(C→1). Output "logit" [N, 1]. */
export function grag2021<T>(ops: Ops<T>, cfg: ResNetConfig = RESNET50_NODOWN, prefix = ""): void {
  const s = new Scope(ops, prefix);
  const x = ops.input(IMAGE_INPUT, ["batch", 3, "height", "width"]);
  const f = ops.mean(resnetTrunk(s, x, cfg), [2, 3], false);
  ops.output("logit", linear(s.sub("fc"), f, resnetFeatures(cfg), 1));
}

function corviLogitMap<T>(s: Scope<T>, x: T, cfg: ResNetConfig): T {
  return linearAsConv1x1(s.sub("fc"), resnetTrunk(s, x, cfg), resnetFeatures(cfg), 1);
}

/** Corvi2022: fc applied at every position (1×1 conv) → logit map; score = its spatial mean. Outputs "logit" [N,1], "logit_map" [N,1,h,w]. */
export function corvi2022<T>(ops: Ops<T>, cfg: ResNetConfig = RESNET50_NODOWN, prefix = ""): void {
  const x = ops.input(IMAGE_INPUT, ["batch", 3, "height", "width"]);
  const map = corviLogitMap(new Scope(ops, prefix), x, cfg);
  ops.output("logit_map", map);
  ops.output("logit", ops.mean(map, [2, 3], false));
}

/**
 * Upstream's Corvi2022 score: two models (trained on ProGAN and on latent diffusion) on the same
 * image, logit maps averaged, then the spatial mean. Each model's keys sit under its own prefix.
 */
export function corvi2022Average<T>(ops: AttentionOps<T>, members: readonly { trunk: ResNetConfig; prefix: string }[]): void {
  const x = ops.input(IMAGE_INPUT, ["batch", 3, "height", "width"]);
  const maps = members.map((m) => corviLogitMap(new Scope(ops, m.prefix), x, m.trunk));
  const map = ops.scale(
    maps.reduce((a, b) => ops.add(a, b)),
    1 / maps.length,
  );
  ops.output("logit_map", map);
  ops.output("logit", ops.mean(map, [2, 3], false));
}

/** The two classifier heads found in ImagiNet checkpoints. */
export type ImagiNetHead =
  /** BN1d(C) → Linear(C, C/2) → ReLU → Dropout → Linear(C/2, k): keys classifier.{0,1,4} */
  | "bn"
  /** L2Norm → Linear(C, C/2) → ReLU → Linear(C/2, k): keys classifier.{1,3} */
  | "l2norm";

export interface ImagiNetConfig {
  trunk: ResNetConfig;
  head: ImagiNetHead;
  /** hidden width of the classifier (1024 for ResNet-50) */
  hidden: number;
  /** classes: 1 for detection (a logit), 4 for identification */
  classes: number;
}

export const IMAGINET_DETECTION: ImagiNetConfig = {
  trunk: { ...RESNET50_NODOWN, shortcutName: "shortcut" },
  head: "bn",
  hidden: 1024,
  classes: 1,
};

/** ImagiNet (SelfCon ConResNet): encoder `model.encoder.*` → spatial mean of layer4 → classifier. Output "logit" [N, classes]. */
export function imaginet<T>(ops: Ops<T>, cfg: ImagiNetConfig = IMAGINET_DETECTION): void {
  const enc = new Scope(ops, "model.encoder");
  const cls = new Scope(ops, "classifier");
  const x = ops.input(IMAGE_INPUT, ["batch", 3, "height", "width"]);
  const c = resnetFeatures(cfg.trunk);
  let f = ops.mean(resnetTrunk(enc, x, cfg.trunk), [2, 3], false);
  if (cfg.head === "bn") {
    f = batchNorm(cls.sub(0), f, c);
    f = ops.relu(linear(cls.sub(1), f, c, cfg.hidden));
    // classifier.3 is Dropout: the identity at inference
    f = linear(cls.sub(4), f, cfg.hidden, cfg.classes);
  } else {
    f = ops.l2normalize(f, 1);
    f = ops.relu(linear(cls.sub(1), f, c, cfg.hidden));
    f = linear(cls.sub(3), f, cfg.hidden, cfg.classes);
  }
  ops.output("logit", f);
}
