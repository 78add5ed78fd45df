/**
 * CLIP's VisionTransformer image tower (openai/CLIP `clip/model.py`), parameter names as OpenAI's
 * state dict under `visual.`: conv1 (patch embedding, no bias), class_embedding, positional_embedding,
 * ln_pre, transformer.resblocks.{i}.{ln_1, attn.{in_proj_weight, in_proj_bias, out_proj}, ln_2,
 * mlp.{c_fc, c_proj}}, ln_post on the class token, then `x @ proj`. Pre-norm residual blocks,
 * QuickGELU (x·σ(1.702x)), LayerNorm eps 1e-5 in float32. ViT-L/14: width 1024, 24 layers, 16 heads,
 * patch 14, 224 input, 768 out.
 */
import { linear, type AttentionOps, type Scope } from "./ops.js";
import { InputError } from "../util/errors.js";

export interface ClipVitConfig {
  width: number;
  layers: number;
  /** CLIP's rule: width / 64 */
  heads: number;
  patchSize: number;
  /** input side: patchSize · grid, where grid² + 1 is the positional embedding's token count */
  resolution: number;
  /** the projected feature (proj's second dim) */
  outputDim: number;
}

export const VIT_L14: ClipVitConfig = { width: 1024, layers: 24, heads: 16, patchSize: 14, resolution: 224, outputDim: 768 };

const LN_EPS = 1e-5;

type HasShape = { readonly shape: readonly number[] };

/** Reads the tower's sizes off a state dict as CLIP's build_model does (prefix e.g. "visual"). */
export function inferClipVitConfig(sd: ReadonlyMap<string, HasShape>, prefix = "visual"): ClipVitConfig {
  const need = (k: string, dims: number): readonly number[] => {
    const t = sd.get(`${prefix}.${k}`);
    if (!t) throw new InputError(`${prefix}.${k} is missing: not a CLIP ViT image tower`);
    if (t.shape.length !== dims) throw new InputError(`${prefix}.${k} has shape [${t.shape.join(", ")}], expected ${dims} dims`);
    return t.shape;
  };
  const [width, , patchSize] = need("conv1.weight", 4) as [number, number, number, number];
  const [tokens] = need("positional_embedding", 2) as [number, number];
  const [, outputDim] = need("proj", 2) as [number, number];
  const grid = Math.round(Math.sqrt(tokens - 1));
  if (grid * grid + 1 !== tokens) throw new InputError(`${prefix}.positional_embedding has ${tokens} tokens, not a square grid plus the class token`);
  const block = new RegExp(`^${prefix.replace(/\./g, "\\.")}\\.transformer\\.resblocks\\.(\\d+)\\.attn\\.in_proj_weight$`);
  let layers = 0;
  for (const k of sd.keys()) if (block.test(k)) layers++;
  if (layers === 0) throw new InputError(`no ${prefix}.transformer.resblocks.*.attn.in_proj_weight: not a CLIP ViT image tower`);
  if (width % 64 !== 0) throw new InputError(`${prefix}.conv1.weight: width ${width} is not a multiple of CLIP's 64 channels per head`);
  return { width, layers, heads: width / 64, patchSize, resolution: grid * patchSize, outputDim };
}

function layerNorm<T>(s: Scope<T>, x: T, c: number): T {
  return (s.ops as AttentionOps<T>).layerNorm(x, s.param("weight", [c]), s.param("bias", [c]), LN_EPS);
}

/** nn.MultiheadAttention (batch_first=False in CLIP, the same maths) self-attention over [N, L, C] tokens. */
function selfAttention<T>(s: Scope<T>, x: T, cfg: ClipVitConfig, tokens: number): T {
  const ops = s.ops as AttentionOps<T>;
  const c = cfg.width;
  const h = cfg.heads;
  const d = c / h;
  const qkv = ops.linear(ops.reshape(x, [-1, c]), s.param("in_proj_weight", [3 * c, c]), s.param("in_proj_bias", [3 * c])); // [N·L, 3C]
  const split = (i: number, perm: readonly number[]) => ops.transpose(ops.reshape(ops.slice(qkv, 1, i * c, (i + 1) * c), [-1, tokens, h, d]), perm);
  const q = ops.scale(split(0, [0, 2, 1, 3]), 1 / Math.sqrt(d)); // [N, h, L, d]
  const k = split(1, [0, 2, 3, 1]); // [N, h, d, L]
  const v = split(2, [0, 2, 1, 3]); // [N, h, L, d]
  const att = ops.softmax(ops.matmul(q, k), 3); // [N, h, L, L]
  const o = ops.reshape(ops.transpose(ops.matmul(att, v), [0, 2, 1, 3]), [-1, c]); // [N·L, C]
  return ops.reshape(linear(s.sub("out_proj"), o, c, c), [-1, tokens, c]);
}

function mlp<T>(s: Scope<T>, x: T, c: number, tokens: number): T {
  const ops = s.ops as AttentionOps<T>;
  const y = linear(s.sub("c_fc"), ops.reshape(x, [-1, c]), c, 4 * c);
  const gelu = ops.mul(y, ops.sigmoid(ops.scale(y, 1.702))); // QuickGELU
  return ops.reshape(linear(s.sub("c_proj"), gelu, 4 * c, c), [-1, tokens, c]);
}

/** The image tower: NCHW image at cfg.resolution → [N, outputDim] (x @ proj, not normalised). */
export function clipVisionTransformer<T>(s: Scope<T>, x: T, cfg: ClipVitConfig): T {
  const ops = s.ops as AttentionOps<T>;
  const c = cfg.width;
  const grid = cfg.resolution / cfg.patchSize;
  const tokens = grid * grid + 1;
  const patches = ops.conv2d(x, s.param("conv1.weight", [c, 3, cfg.patchSize, cfg.patchSize]), null, { stride: cfg.patchSize });
  const seq = ops.transpose(ops.reshape(patches, [0, c, grid * grid]), [0, 2, 1]); // [N, grid², C]
  const cls = ops.expandAs(ops.reshape(s.param("class_embedding", [c]), [1, 1, c]), ops.slice(seq, 1, 0, 1));
  let t = ops.add(ops.concat([cls, seq], 1), s.param("positional_embedding", [tokens, c]));
  t = layerNorm(s.sub("ln_pre"), t, c);
  const blocks = s.sub("transformer").sub("resblocks");
  for (let i = 0; i < cfg.layers; i++) {
    const b = blocks.sub(i);
    t = ops.add(t, selfAttention(b.sub("attn"), layerNorm(b.sub("ln_1"), t, c), cfg, tokens));
    t = ops.add(t, mlp(b.sub("mlp"), layerNorm(b.sub("ln_2"), t, c), c, tokens));
  }
  const first = ops.reshape(ops.slice(t, 1, 0, 1), [-1, c]); // the class token
  return ops.matmul(layerNorm(s.sub("ln_post"), first, c), s.param("proj", [c, cfg.outputDim]));
}
