/**
 * NPR (src/detectors/npr.ts, src/models/npr.ts) against PyTorch: test/fixtures/models/npr_tiny*.pth
 * were made by scripts/fixtures/make_npr_fixtures.py (upstream's networks/resnet.py at width 1/16,
 * random weights, BN with non-trivial running stats, eval mode). The one model definition runs
 * traced to ONNX (onnxruntime-node) and eagerly on libtorch (skipped when the addon is not built);
 * both must match PyTorch's logits within float32's bound for the network (test/support/tolerance.ts).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, test } from "node:test";
import { LazyTensor, readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { buildDetector } from "../src/detectors/build.js";
import { configureNpr, NPR } from "../src/detectors/npr.js";
import type { StateDict } from "../src/detectors/types.js";
import * as E from "../src/engine/index.js";
import type { RgbImage } from "../src/image/types.js";
import { npr, type NprConfig } from "../src/models/npr.js";
import type { OnnxModel } from "../src/onnx/trace.js";
import { DetectorSession, normalizeBatch } from "../src/runtime/session.js";
import { REPO } from "./helpers.js";
import { f32Tolerance, forwardOperations, relErr } from "./support/tolerance.js";

const FIX = path.join(REPO, "test", "fixtures", "models");
const eagerSkip = E.nativeAvailable() ? false : "the libtorch addon is not built (node scripts/build-native.mjs)";

async function checkpoint(): Promise<StateDict> {
  return stateDict(await readTorchCheckpoint(path.join(FIX, "npr_tiny.pth")));
}

/** The fixture's image sets: suffix → uint8 NHWC images and PyTorch's logits. */
async function loadIo(): Promise<Map<string, { images: RgbImage[]; logit: Float32Array }>> {
  const sd = stateDict(await readTorchCheckpoint(path.join(FIX, "npr_tiny_io.pth")));
  const sets = new Map<string, { images: RgbImage[]; logit: Float32Array }>();
  for (const suffix of ["", "_rect"]) {
    const img = sd.get(`image${suffix}`);
    assert.ok(img instanceof LazyTensor);
    const [n, h, w] = img.shape as [number, number, number, number];
    const bytes = (await img.read()) as Uint8Array;
    const images = Array.from({ length: n }, (_, i) => ({ data: bytes.slice(i * h * w * 3, (i + 1) * h * w * 3), width: w, height: h }));
    sets.set(suffix, { images, logit: (await sd.get(`logit${suffix}`)!.read()) as Float32Array });
  }
  return sets;
}

/**
 * float32's bound for a forward pass: the conv/BN/linear layers, plus the residual's subtraction and
 * its 2/3 scaling (one rounding each), reducing over at most the widest fan-in or the pixel count.
 */
function tolerance(sd: StateDict, pixels: number): number {
  const weights = [...sd].filter(([k]) => k.endsWith(".weight") && !k.startsWith("fc.")).map(([, t]) => t.shape);
  return f32Tolerance(forwardOperations(weights, pixels) + 2);
}

/** ONNX through the generic builder: configure → define (traced) → weights; every other key must be ignorable. */
async function exportOnnx(sd: StateDict): Promise<OnnxModel> {
  return (await buildDetector(NPR, sd)).onnx;
}

/** The model on EagerOps (which has NPR's ops; runModel takes a definition against the basic Ops). */
function runNpr(params: E.ParamStore, cfg: NprConfig, image: E.Tensor): E.Tensor {
  const ops = new E.EagerOps(params, { image });
  npr(ops, cfg);
  return ops.outputs.get("logit")!;
}

describe("NPR: configuration from the checkpoint", () => {
  test("widths and blocks are read off the keys, under any prefix", async () => {
    const sd = await checkpoint();
    assert.deepEqual(configureNpr(sd), { npr: { layers: [3, 4], width: 1 / 16 }, prefix: "" });
    const wrapped = new Map([...sd].map(([k, t]) => [`model.module.${k}`, t]));
    assert.deepEqual(configureNpr(wrapped), { npr: { layers: [3, 4], width: 1 / 16 }, prefix: "model.module" });
    const cfg = configureNpr(sd);
    assert.ok(NPR.ignorable!("fc.weight", cfg) && NPR.ignorable!("layer1.0.bn1.num_batches_tracked", cfg));
    assert.ok(!NPR.ignorable!("fc1.weight", cfg));
  });

  test("checkpoints of other shapes are refused with the reason", async () => {
    const sd = await checkpoint();
    const conv = sd.get("layer1.0.conv1.weight")!;
    assert.throws(() => configureNpr(new Map([...sd, ["layer3.0.conv1.weight", conv]])), /layer3 is present/);
    assert.throws(() => configureNpr(new Map([...sd, ["conv1.weight", conv]])), /conv1\.weight: shape \[4, 4, 1, 1\]/);
    assert.throws(() => configureNpr(new Map([...sd].filter(([k]) => !k.startsWith("fc1.")))), /no conv1\.weight beside fc1\.weight/);
  });
});

describe("NPR matches PyTorch through ONNX (onnxruntime)", () => {
  test("square 64×64 and 42×54 images", async () => {
    const sd = await checkpoint();
    const session = await DetectorSession.create(await exportOnnx(sd));
    try {
      for (const [suffix, { images, logit }] of await loadIo()) {
        const got = (await session.runImages(images)).logit!;
        assert.deepEqual([...got.dims], [images.length, 1]);
        const tol = tolerance(sd, images[0]!.width * images[0]!.height);
        const e = relErr(got.data, logit);
        console.log(`# npr_tiny${suffix} onnx logit: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
        assert.ok(e <= tol, `relative error ${e} > ${tol}`);
      }
    } finally {
      await session.release();
    }
  });

  test("an odd side is refused, as upstream's subtraction refuses it", async () => {
    const session = await DetectorSession.create(await exportOnnx(await checkpoint()));
    try {
      // 63 rows: the nearest round trip gives 62, and x − x_re cannot broadcast 63 against 62
      await assert.rejects(session.runTensor(new Float32Array(3 * 63 * 64), [1, 3, 63, 64]), /63 by 62|62 by 63/);
    } finally {
      await session.release();
    }
  });
});

describe("NPR matches PyTorch eagerly (libtorch)", { skip: eagerSkip }, () => {
  test("square 64×64 and 42×54 images", async () => {
    const sd = await checkpoint();
    const cfg = configureNpr(sd);
    const params = await E.loadParams(sd);
    for (const [suffix, { images, logit }] of await loadIo()) {
      const { data, dims } = normalizeBatch(images);
      const got = E.tidy(() => E.noGrad(() => runNpr(params, cfg.npr, E.tensor(data, dims)).toArray()));
      const tol = tolerance(sd, images[0]!.width * images[0]!.height);
      const e = relErr(got as Float32Array, logit);
      console.log(`# npr_tiny${suffix} eager logit: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
      assert.ok(e <= tol, `relative error ${e} > ${tol}`);
    }
  });

  test("an odd side is refused with libtorch's (= PyTorch's) shape error", async () => {
    const sd = await checkpoint();
    const params = await E.loadParams(sd);
    const image = E.zeros([1, 3, 63, 64]);
    assert.throws(() => E.tidy(() => runNpr(params, configureNpr(sd).npr, image)), /size of tensor a \(63\) must match the size of tensor b \(62\)/);
  });

  test("nearest down/up-sampling picks upstream's pixels", () => {
    const x = E.tensor(
      Float32Array.from({ length: 5 * 6 }, (_, i) => i),
      [1, 1, 5, 6],
    );
    // F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True): rows 0, 2; columns 0, 2, 4
    const down = E.nn.downsampleNearest2d(x, 2);
    assert.deepEqual(down.shape, [1, 1, 2, 3]);
    assert.deepEqual([...(down.contiguous().toArray() as Float32Array)], [0, 2, 4, 12, 14, 16]);
    const up = E.nn.upsampleNearest2d(down, 2);
    assert.deepEqual(up.shape, [1, 1, 4, 6]);
    assert.deepEqual([...(up.contiguous().toArray() as Float32Array)].slice(0, 12), [0, 0, 2, 2, 4, 4, 0, 0, 2, 2, 4, 4]);
  });
});
