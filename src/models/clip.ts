/**
 * CLIP's ModifiedResNet image tower (openai/CLIP `model.py`) and Wu2023 / LASTED built on it.
 * Parameter names are CLIP's: a 3-conv stem (conv1-3, bn1-3) + 2×2 avg-pool; Bottlenecks that
 * stride by avg-pooling after the 3×3 conv (shortcut `downsample.{0,1}` after a pool `-1` with no
 * weights); and `attnpool` (positional_embedding, {q,k,v,c}_proj), multi-head attention of the
 * mean token over all tokens. RN50x64: layers [3, 15, 36, 10], width 128, 448 input, 1024 out.
 */
import { ANCHOR_PARAM, Scope, batchNorm, conv2d, linear, type AttentionOps } from "./ops.js";

export interface ClipResNetConfig {
  layers: readonly [number, number, number, number];
  /** stem width (128 for RN50x64); stage planes are width·2^i, the trunk ends at width·32 channels */
  width: number;
  /** input side; the positional embedding fixes it: (side/32)² + 1 tokens */
  resolution: number;
  /** attention-pool output (1024 for RN50x64) */
  outputDim: number;
}

export const RN50X64: ClipResNetConfig = { layers: [3, 15, 36, 10], width: 128, resolution: 448, outputDim: 1024 };

/** CLIP's head count: width·32/64 (64 channels per head). */
export function clipHeads(cfg: ClipResNetConfig): number {
  return (cfg.width * 32) / 64;
}

function bottleneck<T>(s: Scope<T>, x: T, cin: number, planes: number, stride: number): T {
  const ops = s.ops as AttentionOps<T>;
  const cout = planes * 4;
  let y = ops.relu(batchNorm(s.sub("bn1"), conv2d(s.sub("conv1"), x, cin, planes, 1), planes));
  y = ops.relu(batchNorm(s.sub("bn2"), conv2d(s.sub("conv2"), y, planes, planes, 3, { padding: 1 }), planes));
  if (stride > 1) y = ops.avgPool2d(y, stride);
  y = batchNorm(s.sub("bn3"), conv2d(s.sub("conv3"), y, planes, cout, 1), cout);
  let idn = x;
  if (stride > 1 || cin !== cout) {
    const ds = s.sub("downsample");
    idn = stride > 1 ? ops.avgPool2d(x, stride) : x;
    idn = batchNorm(ds.sub(1), conv2d(ds.sub(0), idn, cin, cout, 1), cout);
  }
  return ops.relu(ops.add(y, idn));
}

/** Multi-head attention of the mean token (query) over [mean token, every position] (keys/values), as CLIP's AttentionPool2d. */
function attentionPool<T>(s: Scope<T>, x: T, cfg: ClipResNetConfig): T {
  const ops = s.ops as AttentionOps<T>;
  const c = cfg.width * 32;
  const side = cfg.resolution / 32;
  const tokens = side * side + 1;
  const heads = clipHeads(cfg);
  const d = c / heads;
  let t = ops.transpose(ops.reshape(x, [0, c, tokens - 1]), [0, 2, 1]); // [N, HW, C]
  t = ops.concat([ops.mean(t, [1], true), t], 1);
  t = ops.add(t, s.param("positional_embedding", [tokens, c])); // [N, L, C]
  const flat = ops.reshape(t, [-1, c]);
  const k = ops.transpose(ops.reshape(linear(s.sub("k_proj"), flat, c, c), [-1, tokens, heads, d]), [0, 2, 3, 1]); // [N, h, d, L]
  const v = ops.transpose(ops.reshape(linear(s.sub("v_proj"), flat, c, c), [-1, tokens, heads, d]), [0, 2, 1, 3]); // [N, h, L, d]
  const q0 = ops.reshape(ops.slice(t, 1, 0, 1), [-1, c]);
  const q = ops.reshape(ops.scale(linear(s.sub("q_proj"), q0, c, c), 1 / Math.sqrt(d)), [-1, heads, 1, d]);
  const att = ops.softmax(ops.matmul(q, k), 3); // [N, h, 1, L]
  const o = ops.reshape(ops.matmul(att, v), [-1, c]);
  return linear(s.sub("c_proj"), o, c, cfg.outputDim);
}

/** The image tower: NCHW image at cfg.resolution → [N, outputDim] (not normalised). */
export function clipImageTower<T>(s: Scope<T>, x: T, cfg: ClipResNetConfig): T {
  const ops = s.ops as AttentionOps<T>;
  const w = cfg.width;
  let y = ops.relu(batchNorm(s.sub("bn1"), conv2d(s.sub("conv1"), x, 3, w / 2, 3, { stride: 2, padding: 1 }), w / 2));
  y = ops.relu(batchNorm(s.sub("bn2"), conv2d(s.sub("conv2"), y, w / 2, w / 2, 3, { padding: 1 }), w / 2));
  y = ops.relu(batchNorm(s.sub("bn3"), conv2d(s.sub("conv3"), y, w / 2, w, 3, { padding: 1 }), w));
  y = ops.avgPool2d(y, 2);
  let cin = w;
  cfg.layers.forEach((n, li) => {
    const planes = w * 2 ** li;
    const layer = s.sub(`layer${li + 1}`);
    for (let b = 0; b < n; b++) {
      y = bottleneck(layer.sub(b), y, cin, planes, b === 0 && li > 0 ? 2 : 1);
      cin = planes * 4;
    }
  });
  return attentionPool(s.sub("attnpool"), y, cfg);
}

/**
 * Wu2023 / LASTED at inference (`isTrain=False`): feature = encode_image(x) / ‖·‖, output "feature"
 * [N, outputDim]. With an anchor (the mean feature of real anchor images, a parameter named
 * "anchor" of shape [outputDim, 1]), also "logit" = feature · anchor [N, 1], upstream's score.
 */
export function lasted<T>(ops: AttentionOps<T>, cfg: ClipResNetConfig = RN50X64, withAnchor = true, prefix = "clip_model.visual"): void {
  const x = ops.input("image", ["batch", 3, cfg.resolution, cfg.resolution]);
  const f = ops.l2normalize(clipImageTower(new Scope(ops, prefix), x, cfg), 1);
  ops.output("feature", f);
  if (withAnchor) ops.output("logit", ops.matmul(f, ops.param(ANCHOR_PARAM, [cfg.outputDim, 1])));
}
