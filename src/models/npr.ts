/**
 * NPR (Tan et al., CVPR 2024, "Rethinking the Up-Sampling Operations in CNN-based Generative
 * Network for Generalizable Deepfake Detection"), as chuangchuangtan/NPR-DeepfakeDetection's
 * networks/resnet.py: the image's neighbouring-pixel residual x − up₂(down₂(x)) (nearest), scaled by
 * 2/3, through a truncated ResNet-50 (3×3 stride-2 stem, maxpool, layer1 and layer2 only), global
 * average pool, fc1 → one logit. Parameter names are upstream's (conv1, bn1, layer1.0.conv1, …, fc1).
 */
import { type AttentionOps, type Ops, Scope, linear } from "./ops.js";
import { IMAGE_INPUT, resnetStages, resnetStem, stageChannels } from "./resnet.js";

export interface NprConfig {
  /** Bottleneck blocks of layer1 and layer2: [3, 4], ResNet-50's */
  layers: readonly [number, number];
  /** channel multiplier on the stem's 64 (1 upstream; smaller in tests) */
  width: number;
}

export const NPR_RESNET50: NprConfig = { layers: [3, 4], width: 1 };

/** The ops NPR uses: the basic set and three of AttentionOps. */
export type NprOps<T> = Ops<T> & Pick<AttentionOps<T>, "scale" | "downsampleNearest2d" | "upsampleNearest2d">;

/**
 * Upstream's residual: x − interpolate(interpolate(x, 0.5), 2), nearest with recompute_scale_factor,
 * i.e. each pixel minus the top-left pixel of its 2×2 block. Like upstream it needs even H and W:
 * an odd side loses a row in the round trip and the subtraction fails on the mismatched shapes.
 */
function neighbouringPixelResidual<T>(ops: NprOps<T>, x: T): T {
  const reconstructed = ops.upsampleNearest2d(ops.downsampleNearest2d(x, 2), 2);
  return ops.add(x, ops.scale(reconstructed, -1));
}

/** NPR: output "logit" [N, 1] (upstream: sigmoid(logit) > 0.5 is fake). */
export function npr<T>(ops: NprOps<T>, cfg: NprConfig = NPR_RESNET50, prefix = ""): void {
  const s = new Scope(ops, prefix);
  const x = ops.input(IMAGE_INPUT, ["batch", 3, "height", "width"]);
  // upstream writes NPR*2.0/3.0
  const stemIn = ops.scale(neighbouringPixelResidual(ops, x), 2 / 3);
  const stem = resnetStem(s, stemIn, cfg.width, { kernel: 3, stride: 2, poolStride: 2 });
  const f = resnetStages(s, stem, { layers: cfg.layers, width: cfg.width, shortcutName: "downsample" });
  const c = stageChannels(cfg.layers.length, cfg.width);
  ops.output("logit", linear(s.sub("fc1"), ops.mean(f, [2, 3], false), c, 1));
}
