/**
 * src/models + src/onnx + src/runtime against PyTorch: the fixtures under test/fixtures/models/
 * were made by scripts/fixtures/make_model_fixtures.py (PyTorch 1.13, random weights, BN with
 * non-trivial running stats, eval mode). Each checkpoint is read with our reader, exported to ONNX
 * from the one TS model definition, run with onnxruntime-node on the same uint8 images, and must
 * match PyTorch's outputs within float32's bound for the network (test/support/tolerance.ts:
 * λ·u·√K relative to each output's max, K from the layer count and the widest reduction).
 */
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { LazyTensor, readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { buildDetector, buildFromCheckpoints, configureDetector } from "../src/detectors/build.js";
import { CNNDETECTION } from "../src/detectors/cnndetection.js";
import { CORVI2022 } from "../src/detectors/corvi2022.js";
import { GRAG2021, type TrunkAt } from "../src/detectors/grag2021.js";
import { IMAGINET, IMAGINET_ID } from "../src/detectors/imaginet.js";
import { IMAGENET_NORMALIZATION, type DetectorModule } from "../src/detectors/types.js";
import { WU2023 } from "../src/detectors/wu2023.js";
import type { ImagiNetConfig } from "../src/models/resnet.js";
import { DetectorSession, normalizeBatch, normalizeImage, writeOnnxModel } from "../src/runtime/session.js";
import type { RgbImage } from "../src/image/types.js";
import { encodeModel, ProtoWriter } from "../src/onnx/proto.js";
import { computeAnchor } from "../src/runtime/anchor.js";
import { REPO, tmpDir } from "./helpers.js";
import { f32Tolerance, forwardOperations, relErr } from "./support/tolerance.js";

const FIX = path.join(REPO, "test", "fixtures", "models");

async function loadIo(name: string): Promise<{ images: RgbImage[]; outputs: Map<string, { data: Float32Array; shape: readonly number[] }> }> {
  const sd = stateDict(await readTorchCheckpoint(path.join(FIX, `${name}_io.pth`)));
  const img = sd.get("image");
  assert.ok(img instanceof LazyTensor);
  const [n, h, w, c] = img.shape as [number, number, number, number];
  assert.equal(c, 3);
  const bytes = (await img.read()) as Uint8Array;
  const images: RgbImage[] = [];
  for (let i = 0; i < n; i++) images.push({ data: bytes.slice(i * h * w * 3, (i + 1) * h * w * 3), width: w, height: h });
  const outputs = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [k, t] of sd) if (k !== "image") outputs.set(k, { data: (await t.read()) as Float32Array, shape: t.shape });
  return { images, outputs };
}

/** float32's bound for a forward pass of the checkpoint's network on these images */
async function forwardTolerance(checkpoint: string, images: readonly RgbImage[]): Promise<number> {
  const sd = stateDict(await readTorchCheckpoint(path.join(FIX, checkpoint)));
  const weights = [...sd].filter(([k]) => k.endsWith(".weight")).map(([, t]) => t.shape);
  return f32Tolerance(forwardOperations(weights, images[0]!.width * images[0]!.height));
}

const CASES: { name: string; detector: DetectorModule; layers: number[]; head?: string; nodown?: boolean }[] = [
  { name: "grag_tiny", detector: GRAG2021, layers: [1, 1, 1, 1] },
  { name: "grag_r50w16", detector: GRAG2021, layers: [3, 4, 6, 3] },
  { name: "corvi_tiny", detector: CORVI2022, layers: [1, 1, 1, 1] },
  { name: "imaginet_bn_tiny", detector: IMAGINET, layers: [1, 1, 1, 1], head: "bn" },
  { name: "imaginet_l2_tiny", detector: IMAGINET, layers: [1, 1, 1, 1], head: "l2norm" },
  // identification: strided (32×) trunk, 4 classes
  { name: "imaginet_id_tiny", detector: IMAGINET_ID, layers: [1, 1, 1, 1], head: "l2norm", nodown: false },
  // a float16 checkpoint (weights widened to float32 on load)
  { name: "grag_tiny_half", detector: GRAG2021, layers: [1, 1, 1, 1] },
  // CNNDetection: torchvision's strided trunk, 72×72 input
  { name: "cnndetection_tiny", detector: CNNDETECTION, layers: [1, 1, 1, 1], nodown: false },
];

describe("models match PyTorch through ONNX", () => {
  for (const c of CASES) {
    test(`${c.name} (${c.detector.name})`, async () => {
      const built = await buildFromCheckpoints(c.detector, path.join(FIX, `${c.name}.pth`));
      const imaginet = c.detector.define === IMAGINET.define;
      const cfg = imaginet ? (built.config as ImagiNetConfig) : c.detector === CORVI2022 ? (built.config as TrunkAt[])[0]! : (built.config as TrunkAt);
      const trunk = cfg.trunk;
      assert.deepEqual(trunk.layers, c.layers);
      assert.equal(trunk.width, 1 / 16);
      assert.equal(trunk.nodown, c.nodown ?? true);
      if ("head" in cfg) {
        assert.equal(cfg.head, c.head);
        assert.equal(trunk.shortcutName, "shortcut");
        assert.ok(built.ignored.some((k) => k.startsWith("model.head.")) && built.ignored.includes("model.encoder.selfcon_layer.1.weight"));
      } else {
        assert.equal(cfg.prefix, "model");
      }
      const { images, outputs } = await loadIo(c.name);
      const tol = await forwardTolerance(`${c.name}.pth`, images);
      // batch size 1 exercises batching + concatenation; the dynamic batch dim is used either way
      const session = await DetectorSession.create(built.onnx, { batchSize: 1, intraOpNumThreads: 2 });
      try {
        const got = await session.runImages(images);
        for (const [k, want] of outputs) {
          const g = got[k];
          assert.ok(g, `output ${k}`);
          assert.deepEqual([...g.dims], [...want.shape], `${k} dims`);
          const e = relErr(g.data, want.data);
          console.log(`# ${c.name} ${k}: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
          assert.ok(e <= tol, `${c.name} ${k}: relative error ${e} > ${tol}`);
        }
        const scores = await session.scores(images);
        assert.equal(scores.length, images.length);
        // a whole batch at once gives the same logits (other kernels for the batch size: the same bound)
        const whole = await DetectorSession.create(built.onnx, { batchSize: 16 });
        const all = await whole.runImages(images);
        assert.ok(relErr(all.logit!.data, got.logit!.data) <= tol);
        await whole.release();
      } finally {
        await session.release();
      }
    });
  }
});

describe("Wu2023 / LASTED (CLIP ModifiedResNet tower, attention pooling, anchor)", () => {
  test("features, anchor and scores match PyTorch", async () => {
    const { images, outputs } = await loadIo("lasted_tiny");
    const tol = await forwardTolerance("lasted_tiny.pth", images);
    const sd = stateDict(await readTorchCheckpoint(path.join(FIX, "lasted_tiny.pth")));
    const plain = await buildDetector(WU2023, sd);
    assert.deepEqual(plain.config, { cfg: { layers: [1, 1, 1, 1], width: 4, resolution: 64, outputDim: 24 }, prefix: "clip_model.visual", anchored: false });
    // the text tower stand-ins and LASTED's training head are ignored by rule
    assert.ok(plain.ignored.includes("clip_model.token_embedding.weight") && plain.ignored.includes("fc.weight"));
    const s = await DetectorSession.create(plain.onnx, { batchSize: 2 });
    const feats = (await s.runImages(images)).feature!;
    await s.release();
    const ef = relErr(feats.data, outputs.get("feature")!.data);
    console.log(`# lasted_tiny feature: max relative error ${ef.toExponential(2)} (bound ${tol.toExponential(1)})`);
    assert.ok(ef <= tol, `feature error ${ef}`);
    // images 2-4 are the anchors, as in the fixture script
    const anchor = await computeAnchor(
      plain.onnx,
      images.slice(2).map((im) => normalizeImage(im)),
    );
    const ea = relErr(anchor, outputs.get("anchor")!.data);
    assert.ok(ea <= tol, `anchor error ${ea}`);
    const anchored = await buildDetector(WU2023, sd, { anchor });
    const s2 = await DetectorSession.create(anchored.onnx);
    const logit = (await s2.runImages(images.slice(0, 2))).logit!;
    await s2.release();
    assert.deepEqual([...logit.dims], [2, 1]);
    const el = relErr(logit.data, outputs.get("logit")!.data);
    console.log(`# lasted_tiny logit: max relative error ${el.toExponential(2)}`);
    assert.ok(el <= tol, `logit error ${el}`);
  });

  test("an input of the wrong size is refused by the positional embedding's fixed token count", async () => {
    const sd = stateDict(await readTorchCheckpoint(path.join(FIX, "lasted_tiny.pth")));
    const s = await DetectorSession.create((await buildDetector(WU2023, sd)).onnx);
    await assert.rejects(s.runTensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]));
    await s.release();
  });
});

describe("Corvi2022 two-model average", () => {
  test("logit maps averaged, then the spatial mean, as upstream's corvi_model.py", async () => {
    const { images, outputs } = await loadIo("corvi_pair");
    const tol = await forwardTolerance("corvi_tiny.pth", images);
    const sds = await Promise.all(["corvi_tiny", "corvi_tiny_b"].map(async (n) => stateDict(await readTorchCheckpoint(path.join(FIX, `${n}.pth`)))));
    const built = await buildDetector(CORVI2022, sds);
    assert.equal((built.config as TrunkAt[]).length, 2);
    const s = await DetectorSession.create(built.onnx);
    const got = await s.runImages(images);
    await s.release();
    for (const k of ["logit", "logit_map"]) {
      const e = relErr(got[k]!.data, outputs.get(k)!.data);
      console.log(`# corvi_pair ${k}: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
      assert.ok(e <= tol, `${k}: ${e}`);
    }
    await assert.rejects(buildDetector(CORVI2022, [...sds, sds[0]!]), /Corvi2022 is built from 1 to 2 checkpoint file\(s\), got 3/);
  });
});

describe("ONNX external data", () => {
  test("weights in a side file load and give the same outputs", async () => {
    const dir = tmpDir();
    const sd = stateDict(await readTorchCheckpoint(path.join(FIX, "grag_tiny.pth")));
    const inline = await buildDetector(GRAG2021, sd);
    const external = await buildDetector(GRAG2021, sd, { externalData: "g.onnx.data" });
    assert.equal(inline.onnx.external, undefined);
    assert.equal(external.onnx.external?.location, "g.onnx.data");
    const file = await writeOnnxModel(path.join(dir, "g.onnx"), external.onnx);
    const dataBytes = statSync(path.join(dir, "g.onnx.data")).size;
    // every weight of 1 KiB or more moved out; the model file keeps the graph and the small tensors
    assert.equal(
      dataBytes,
      external.onnx.external!.chunks.reduce((a, c) => a + c.length, 0),
    );
    assert.ok(statSync(file).size < inline.onnx.model.length - dataBytes + 4096);
    const { images, outputs } = await loadIo("grag_tiny");
    const tol = await forwardTolerance("grag_tiny.pth", images);
    for (const src of [file, external.onnx]) {
      const s = await DetectorSession.create(src);
      const got = await s.runImages(images);
      await s.release();
      assert.ok(relErr(got.logit!.data, outputs.get("logit")!.data) <= tol);
    }
  });
});

describe("checkpoint mismatches are listed", () => {
  test("missing, unexpected and mis-shaped keys", async () => {
    const sd = new Map(stateDict(await readTorchCheckpoint(path.join(FIX, "grag_tiny.pth"))));
    const fc = sd.get("model.fc.weight")!;
    sd.delete("model.layer1.0.bn2.running_var");
    sd.set("model.extra.weight", fc);
    sd.set("model.fc.bias", fc); // [1, 128] where [1] is wanted
    await assert.rejects(buildDetector(GRAG2021, sd), (err: Error) => {
      assert.match(err.message, /missing keys \(1\):\n {2}model\.layer1\.0\.bn2\.running_var/);
      assert.match(err.message, /unexpected keys \(1\):\n {2}model\.extra\.weight/);
      assert.match(err.message, /mis-shaped keys \(1\):\n {2}model\.fc\.bias: checkpoint \[1, 128\], model \[1\]/);
      return true;
    });
  });

  test("an ImagiNet checkpoint without a known head is refused", async () => {
    const sd = new Map(stateDict(await readTorchCheckpoint(path.join(FIX, "imaginet_bn_tiny.pth"))));
    sd.delete("classifier.4.weight");
    assert.throws(() => configureDetector(IMAGINET, sd), /neither classifier\.4\.weight/);
  });

  test("a Grag checkpoint loaded as ImagiNet fails clearly", async () => {
    await assert.rejects(buildFromCheckpoints(IMAGINET, path.join(FIX, "grag_tiny.pth")), /model\.encoder\.conv1\.weight is missing/);
  });
});

describe("preprocessing and encoding", () => {
  test("ImageNet normalisation, NCHW", () => {
    const img: RgbImage = { data: Uint8Array.from([0, 128, 255, 255, 0, 128]), width: 2, height: 1 };
    const { data, dims } = normalizeBatch([img]);
    assert.deepEqual(dims, [1, 3, 1, 2]);
    const want = [0, 255, 128, 0, 255, 128].map((v, i) => {
      const c = Math.floor(i / 2);
      return (v / 255 - IMAGENET_NORMALIZATION.mean[c]!) / IMAGENET_NORMALIZATION.std[c]!;
    });
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(data[i]! - want[i]!) < 1e-6);
    assert.throws(() => normalizeBatch([img, { data: new Uint8Array(3), width: 1, height: 1 }]), /mixes/);
  });

  test("protobuf varints", () => {
    const w = new ProtoWriter();
    w.varint(1)
      .varint(300)
      .varint(2 ** 40)
      .varint(-1);
    assert.deepEqual([...w.finish()], [0x01, 0xac, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  test("a hand-made graph runs in onnxruntime (dynamic batch)", async () => {
    const bytes = encodeModel({
      irVersion: 8,
      opsetImports: [{ domain: "", version: 17 }],
      graph: {
        name: "g",
        nodes: [{ opType: "Relu", inputs: ["x"], outputs: ["y"] }],
        inputs: [{ name: "x", elemType: 1, shape: ["batch", 2] }],
        outputs: [{ name: "y", elemType: 1, shape: ["batch", 2] }],
        initializers: [],
      },
    });
    const s = await DetectorSession.create(bytes);
    const out = await s.runTensor(Float32Array.from([-1, 2, 3, -4, 5, -6]), [3, 2]);
    assert.deepEqual([...out.y!.data], [0, 2, 3, 0, 5, 0]);
    await s.release();
  });
});
