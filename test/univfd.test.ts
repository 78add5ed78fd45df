/**
 * UnivFD (CLIP ViT image tower + linear probe) against PyTorch, on both backends of the one model
 * definition: traced to ONNX and run by onnxruntime-node, and run eagerly on libtorch (EagerOps).
 * Fixtures: scripts/fixtures/make_univfd_fixtures.py (a float16 CLIP checkpoint with OpenAI's key
 * names, width 64, 2 layers, patch 8, input 32; the probe as UnivFD's fc_weights.pth). Also the
 * eager attention ops on the LASTED fixture (CLIP's ModifiedResNet with attention pooling), and
 * torchvision's CenterCrop as UnivFD's recipe uses it.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, test } from "node:test";
import { LazyTensor, readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { buildDetector, mergeStateDicts } from "../src/detectors/build.js";
import { UNIVFD, type UnivFdConfig } from "../src/detectors/univfd.js";
import type { Normalization, StateDict } from "../src/detectors/types.js";
import * as E from "../src/engine/index.js";
import { applyRecipe } from "../src/image/recipe.js";
import { CENTER224_TORCHVISION } from "../src/image/recipes.js";
import { torchvisionCenterCrop } from "../src/image/geometry.js";
import type { RgbImage } from "../src/image/types.js";
import { lasted } from "../src/models/clip.js";
import { Scope, type AttentionOps } from "../src/models/ops.js";
import { clipVisionTransformer } from "../src/models/vit.js";
import { toOnnx, trace } from "../src/onnx/trace.js";
import { DetectorSession } from "../src/runtime/session.js";
import { CLIP_NORMALIZATION, IMAGENET_NORMALIZATION } from "../src/detectors/types.js";
import { Rng } from "../src/util/rng.js";
import { REPO } from "./helpers.js";
import { f32Tolerance, forwardOperations, relErr } from "./support/tolerance.js";

const FIX = path.join(REPO, "test", "fixtures", "models");
const haveEngine = E.nativeAvailable();
const noEngine = haveEngine ? false : "the libtorch addon is not built (node scripts/build-native.mjs)";

async function load(name: string): Promise<StateDict> {
  return stateDict(await readTorchCheckpoint(path.join(FIX, name)));
}

async function floats(t: LazyTensor | undefined): Promise<Float32Array> {
  assert.ok(t instanceof LazyTensor);
  return (await t.read()) as Float32Array;
}

/** The io fixture's uint8 NHWC images as ToTensor + Normalize would give them (float32 steps), NCHW. */
async function normalisedImages(io: StateDict, norm: Normalization): Promise<{ data: Float32Array; dims: number[] }> {
  const img = io.get("image");
  assert.ok(img instanceof LazyTensor);
  const [n, h, w] = img.shape as [number, number, number, number];
  const bytes = (await img.read()) as Uint8Array;
  const data = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < h * w; p++) {
        const v = Math.fround(bytes[(i * h * w + p) * 3 + c]! / 255);
        data[(i * 3 + c) * h * w + p] = Math.fround(Math.fround(v - norm.mean[c]!) / Math.fround(norm.std[c]!));
      }
    }
  }
  return { data, dims: [n, 3, h, w] };
}

async function univfdFixture(): Promise<{ sd: StateDict; cfg: UnivFdConfig; io: StateDict }> {
  const sd = UNIVFD.merge!([await load("univfd_clip_tiny.pth"), await load("univfd_probe_tiny.pth")]);
  return { sd, cfg: UNIVFD.configure(sd, {}), io: await load("univfd_tiny_io.pth") };
}

/**
 * float32's bound for the tower + probe: each parameterised layer (conv1, the LayerNorms, the
 * in/out projections, the MLP, proj, the probe) and each attention product (q·k over d, att·v
 * over the L tokens) is one layer of K; the widest reduction is the largest fan-in or LayerNorm's width.
 */
function vitTolerance(sd: StateDict, cfg: UnivFdConfig): number {
  const { vit } = cfg;
  const shapes = [...sd].filter(([k]) => k.startsWith("visual.") && k.endsWith("weight")).map(([, t]) => t.shape);
  const tokens = (vit.resolution / vit.patchSize) ** 2 + 1;
  for (let i = 0; i < vit.layers; i++) shapes.push([1, vit.width / vit.heads], [1, tokens]);
  shapes.push([vit.outputDim, vit.width], [1, vit.outputDim]); // proj (x @ proj reduces over width), the probe
  return f32Tolerance(forwardOperations(shapes, vit.width));
}

/** Traces a definition and exports it with the state dict's weights, refusing keys neither used nor ignorable. */
async function onnxFor(define: (ops: AttentionOps<string>) => void, sd: StateDict): Promise<Uint8Array> {
  const g = trace(define);
  const weights = new Map<string, Float32Array>();
  for (const p of g.params) {
    const t = sd.get(p.name);
    assert.ok(t, `missing ${p.name}`);
    assert.deepEqual(t.shape, p.shape, p.name);
    weights.set(p.name, (await t.read({ halfToFloat32: true })) as Float32Array);
  }
  return toOnnx(g, weights).model;
}

function towerOnly<T>(cfg: UnivFdConfig, heads: number) {
  return (ops: AttentionOps<T>) => {
    const vit = { ...cfg.vit, heads };
    const x = ops.input("image", ["batch", 3, vit.resolution, vit.resolution]);
    ops.output("feature", clipVisionTransformer(new Scope(ops, "visual"), x, vit));
  };
}

describe("UnivFD: CLIP ViT tower + probe", () => {
  test("checkpoints merge, configure and ignore as OpenAI's and UnivFD's files are laid out", async () => {
    const { sd, cfg } = await univfdFixture();
    assert.deepEqual(cfg, { vit: { width: 64, layers: 2, heads: 1, patchSize: 8, resolution: 32, outputDim: 24 } });
    const used = new Set(trace((ops) => UNIVFD.define(ops, cfg)).params.map((p) => p.name));
    assert.ok(used.has("fc.weight") && used.has("fc.bias") && used.has("visual.transformer.resblocks.1.attn.in_proj_weight"));
    const rest = [...sd.keys()].filter((k) => !used.has(k));
    assert.deepEqual(
      rest.filter((k) => !UNIVFD.ignorable!(k, cfg)),
      [],
    );
    // the text tower and the archive's scalars are what is left
    for (const k of ["transformer.resblocks.0.attn.in_proj_weight", "token_embedding.weight", "ln_final.weight", "text_projection", "logit_scale", "input_resolution"]) {
      assert.ok(rest.includes(k), k);
    }
    assert.equal(UNIVFD.ignorable!("visual.ln_post.weight", cfg), false);

    const clip = await load("univfd_clip_tiny.pth");
    const probe = await load("univfd_probe_tiny.pth");
    assert.throws(() => mergeStateDicts(UNIVFD, [clip]), /UnivFD is built from 2 checkpoint file\(s\), got 1/);
    assert.throws(() => UNIVFD.merge!([clip, new Map([...probe, ["extra", probe.get("bias")!]])]), /key extra/);
    assert.throws(() => UNIVFD.configure(clip, {}), /fc\.weight is missing/);
    const wrongProbe = new Map([["weight", clip.get("visual.proj")!]]);
    assert.throws(() => UNIVFD.configure(UNIVFD.merge!([clip, wrongProbe]), {}), /fc\.weight has shape \[64, 24\], expected \[1, 24\]/);
    assert.throws(() => UNIVFD.configure(probe, {}), /visual\.conv1\.weight is missing/);
  });

  test("ONNX (onnxruntime) matches PyTorch: features (1 and 4 heads) and the logit", async () => {
    const { sd, cfg, io } = await univfdFixture();
    const tol = vitTolerance(sd, cfg);
    const { data, dims } = await normalisedImages(io, CLIP_NORMALIZATION);
    const cases: [string, Uint8Array, string][] = [
      ["logit", await onnxFor((ops) => UNIVFD.define(ops, cfg), sd), "logit"],
      ["feature", await onnxFor(towerOnly(cfg, 1), sd), "feature"],
      ["feature", await onnxFor(towerOnly(cfg, 4), sd), "feature_heads4"],
    ];
    for (const [out, model, want] of cases) {
      const s = await DetectorSession.create(model, { intraOpNumThreads: 2 });
      const got = (await s.runTensor(data, dims))[out]!;
      await s.release();
      const w = io.get(want)!;
      assert.deepEqual([...got.dims], [...w.shape], `${want} dims`);
      const e = relErr(got.data, await floats(w));
      console.log(`# univfd ONNX ${want}: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
      assert.ok(e <= tol, `${want}: ${e} > ${tol}`);
    }
  });

  test("from OpenAI's format: a traced TorchScript archive of float16 weights builds the same model through the generic builder", async () => {
    const { sd, cfg, io } = await univfdFixture();
    const archive = await readTorchCheckpoint(path.join(FIX, "univfd_clip_tiny_jit.pt"));
    assert.equal(archive.format, "torchscript");
    const jit = stateDict(archive);
    // the archive holds the state dict's tensors (not the three scalars the .pth adds), as float16
    assert.deepEqual([...jit.keys()].sort(), [...(await load("univfd_clip_tiny.pth")).keys()].filter((k) => !["input_resolution", "context_length", "vocab_size"].includes(k)).sort());
    assert.equal(jit.get("visual.proj")!.dtype, "f16");
    const built = await buildDetector(UNIVFD, [jit, await load("univfd_probe_tiny.pth")]);
    const { data, dims } = await normalisedImages(io, CLIP_NORMALIZATION);
    const s = await DetectorSession.create(built.onnx, { intraOpNumThreads: 2 });
    const got = (await s.runTensor(data, dims)).logit!;
    await s.release();
    const e = relErr(got.data, await floats(io.get("logit")));
    const tol = vitTolerance(sd, cfg);
    console.log(`# univfd from TorchScript logit: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
    assert.ok(e <= tol, `${e} > ${tol}`);
  });

  test("eager (libtorch, EagerOps) matches PyTorch: features (1 and 4 heads) and the logit", { skip: noEngine }, async () => {
    const { sd, cfg, io } = await univfdFixture();
    const tol = vitTolerance(sd, cfg);
    const params = await E.loadParams(new Map([...sd].filter(([k]) => !UNIVFD.ignorable!(k, cfg))));
    const { data, dims } = await normalisedImages(io, CLIP_NORMALIZATION);
    const cases: [(ops: AttentionOps<E.Tensor>) => void, string, string][] = [
      [(ops) => UNIVFD.define(ops, cfg), "logit", "logit"],
      [towerOnly(cfg, 1), "feature", "feature"],
      [towerOnly(cfg, 4), "feature", "feature_heads4"],
    ];
    for (const [define, out, want] of cases) {
      const got = E.tidy(() =>
        E.noGrad(() =>
          E.runModel(define, params, { image: E.tensor(data, dims) })
            .get(out)!
            .toArray(),
        ),
      );
      const e = relErr(got as Float32Array, await floats(io.get(want)));
      console.log(`# univfd eager ${want}: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
      assert.ok(e <= tol, `${want}: ${e} > ${tol}`);
    }
    E.dispose(params);
  });
});

describe("EagerOps' attention ops on LASTED (CLIP ModifiedResNet, attention pooling)", { skip: noEngine }, () => {
  test("the LASTED feature matches PyTorch", async () => {
    const sd = await load("lasted_tiny.pth");
    const io = await load("lasted_tiny_io.pth");
    // (stateDict has dropped DataParallel's `module.` prefix)
    const visual = new Map([...sd].filter(([k]) => k.startsWith("clip_model.visual.")));
    const params = await E.loadParams(visual);
    const cfg = { layers: [1, 1, 1, 1], width: 4, resolution: 64, outputDim: 24 } as const;
    const { data, dims } = await normalisedImages(io, IMAGENET_NORMALIZATION);
    const got = E.tidy(() =>
      E.noGrad(() =>
        E.runModel((ops) => lasted(ops, cfg, false), params, { image: E.tensor(data, dims) })
          .get("feature")!
          .toArray(),
      ),
    );
    const weights = [...visual].filter(([k]) => k.endsWith(".weight")).map(([, t]) => t.shape);
    const tol = f32Tolerance(forwardOperations(weights, 64 * 64));
    const e = relErr(got as Float32Array, await floats(io.get("feature")));
    console.log(`# lasted_tiny eager feature: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
    assert.ok(e <= tol, `feature: ${e} > ${tol}`);
    E.dispose(params);
  });
});

describe("torchvision CenterCrop (UnivFD's test transform)", () => {
  /** an image whose pixel (x, y) holds (x, y, 7) */
  const coords = (width: number, height: number): RgbImage => {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([x, y, 7], (y * width + x) * 3);
    return { data, width, height };
  };
  const at = (img: RgbImage, x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];

  test("offsets are round((size − crop) / 2), halves to even", () => {
    // 5 − 2 = 3 → round(1.5) = 2; 7 − 2 = 5 → round(2.5) = 2 (albumentations floors both: 1, 2)
    assert.deepEqual(at(torchvisionCenterCrop(coords(5, 7), 2), 0, 0), [2, 2, 7]);
    // 4 − 2 = 2 → 1; 3 − 2 = 1 → round(0.5) = 0
    assert.deepEqual(at(torchvisionCenterCrop(coords(4, 3), 2), 0, 0), [1, 0, 7]);
  });

  test("a side shorter than the crop is zero-padded, the smaller half first", () => {
    // width 3 → 6: pad 1 left, 2 right; height 9 → 6: offset round(1.5) = 2
    const out = torchvisionCenterCrop(coords(3, 9), 6);
    assert.deepEqual([out.width, out.height], [6, 6]);
    assert.deepEqual(at(out, 0, 0), [0, 0, 0]);
    assert.deepEqual(at(out, 1, 0), [0, 2, 7]);
    assert.deepEqual(at(out, 3, 5), [2, 7, 7]);
    assert.deepEqual(at(out, 4, 5), [0, 0, 0]);
    assert.deepEqual(at(out, 5, 3), [0, 0, 0]);
  });

  test("UnivFD's recipe crops to 224", async () => {
    const { image, trace: steps } = await applyRecipe(coords(250, 200), UNIVFD.preprocess.recipe, new Rng(1, "univfd"));
    assert.equal(UNIVFD.preprocess.recipe, CENTER224_TORCHVISION);
    assert.deepEqual([image.width, image.height], [224, 224]);
    // x offset round(13) = 13; height padded 12 above
    assert.deepEqual(at(image, 0, 12), [13, 0, 7]);
    assert.deepEqual(at(image, 0, 11), [0, 0, 0]);
    assert.equal(steps.length, 1);
  });
});
