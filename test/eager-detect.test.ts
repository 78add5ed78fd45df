/**
 * `--engine libtorch`: detectors' own definitions run eagerly on the libtorch addon score images as
 * the onnxruntime path does (same decoding, preprocessing and outputs), within float32's bound for a
 * forward pass of the checkpoint's network. IMAGINET_TEST_DEVICE=cuda runs them on the GPU
 * (bench/gpu-check.sh); the default is the CPU. Skips only when the addon is not built.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { findDetector } from "../src/detectors/index.js";
import { autocast, cpuHasBf16, nativeAvailable, nn, noGrad, randn, setAllowTF32, tidy } from "../src/engine/index.js";
import { loadSharp } from "../src/image/sharp.js";
import { detect, expandInputs, loadEagerModel, loadModel, type Detection } from "../src/runtime/detect.js";
import type { Precision } from "../src/engine/index.js";
import { cli, jsonLines, REPO, tmpDir } from "./helpers.js";
import { f32Tolerance, forwardOperations, relErr } from "./support/tolerance.js";

const MODELS = path.join(REPO, "test", "fixtures", "models");
const DEVICE = process.env.IMAGINET_TEST_DEVICE ?? "cpu";
const built = nativeAvailable();
const skip = built ? false : "the libtorch addon is not built (node scripts/build-native.mjs)";
if (!built) console.log(`# skipping libtorch engine detection tests: ${skip}`);
// float32 parity on CUDA needs TF32 off (PyTorch's default lets cuDNN convolutions use it)
if (built && DEVICE !== "cpu") setAllowTF32(false);
const bf16Skip = skip || (DEVICE === "cpu" && cpuHasBf16() === false ? "this CPU has neither AVX-512 BF16 nor AMX" : false);

/** float32's bound for a forward pass of these checkpoints' networks on images of `pixels` pixels */
async function forwardTolerance(files: readonly string[], pixels: number): Promise<number> {
  const shapes: number[][] = [];
  for (const f of files) for (const [k, t] of stateDict(await readTorchCheckpoint(f))) if (k.endsWith(".weight")) shapes.push([...t.shape]);
  return f32Tolerance(forwardOperations(shapes, pixels));
}

/** every image's score (binary) or logits (groups), in order */
function values(ds: readonly Detection[]): number[] {
  return ds.flatMap((d) => ("score" in d ? [d.score] : "logits" in d ? d.logits : assert.fail(`${d.file}: ${"error" in d ? d.error : "no score"}`)));
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe("detectors on the libtorch engine", { skip }, () => {
  let dir = "";
  let images: string[] = [];
  before(async () => {
    dir = tmpDir();
    const sharp = await loadSharp();
    mkdirSync(path.join(dir, "imgs"), { recursive: true });
    mkdirSync(path.join(dir, "anchors"), { recursive: true });
    const px = (w: number, h: number, k: number): Buffer => Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * k + (i >> 7) + ((i * i) >> 11)) & 255));
    // 256×256 as it is, 300×200 padded and cropped, a JPEG: the detectors' recipes all run
    await sharp(px(256, 256, 7), { raw: { width: 256, height: 256, channels: 3 } })
      .png()
      .toFile(path.join(dir, "imgs", "a.png"));
    await sharp(px(300, 200, 13), { raw: { width: 300, height: 200, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(path.join(dir, "imgs", "b.jpg"));
    await sharp(px(256, 256, 29), { raw: { width: 256, height: 256, channels: 3 } })
      .png()
      .toFile(path.join(dir, "imgs", "c.png"));
    for (const k of [3, 5]) {
      await sharp(px(224, 224, k), { raw: { width: 224, height: 224, channels: 3 } })
        .png()
        .toFile(path.join(dir, "anchors", `${k}.png`));
    }
    images = await expandInputs([path.join(dir, "imgs")]);
  });

  // side: the model's input size after the detector's recipe
  const CASES: { detector: string; files: string[]; side: number; anchors?: boolean }[] = [
    { detector: "grag2021", files: ["grag_tiny.pth"], side: 256 },
    { detector: "corvi2022", files: ["corvi_tiny.pth", "corvi_tiny_b.pth"], side: 256 },
    { detector: "imaginet-id", files: ["imaginet_id_tiny.pth"], side: 256 },
    { detector: "cnndetection", files: ["cnndetection_tiny.pth"], side: 224 },
    { detector: "wu2023", files: ["lasted_448.pth"], side: 448, anchors: true },
  ];
  for (const c of CASES) {
    test(`${c.detector}: the same scores as onnxruntime, on ${DEVICE}`, async () => {
      const d = findDetector(c.detector);
      const files = c.files.map((f) => path.join(MODELS, f));
      const anchors = c.anchors ? await expandInputs([path.join(dir, "anchors")]) : undefined;
      const load = anchors ? { anchors } : {};
      const ort = values(await detect(d, await loadModel(d, files, load), images, { batchSize: 2 }));
      const eager = values(await detect(d, await loadEagerModel(d, files, { ...load, device: DEVICE }), images, { batchSize: 2 }));
      const tol = await forwardTolerance(files, c.side * c.side);
      const e = relErr(eager, ort);
      console.log(`# ${c.detector} libtorch (${DEVICE}) vs onnxruntime: max relative error ${e.toExponential(2)} (bound ${tol.toExponential(1)})`);
      assert.equal(eager.length, ort.length);
      assert.ok(e <= tol, `${c.detector}: relative error ${e} > ${tol}`);
    });
  }

  test("channels-last gives the same scores (within float32's bound)", async () => {
    const d = findDetector("grag2021");
    const files = [path.join(MODELS, "grag_tiny.pth")];
    const plain = values(await detect(d, await loadEagerModel(d, files, { device: DEVICE }), images));
    const nhwc = values(await detect(d, await loadEagerModel(d, files, { device: DEVICE, channelsLast: true }), images));
    const tol = await forwardTolerance(files, 256 * 256);
    assert.ok(relErr(nhwc, plain) <= tol, `channels-last error ${relErr(nhwc, plain)}`);
  });

  test("bf16 autocast: runs the convolutions in bfloat16 and reports its score difference to fp32", { skip: bf16Skip }, async () => {
    // autocast is scoped: a convolution is bfloat16 inside and float32 after
    tidy(() =>
      noGrad(() => {
        const x = randn([1, 3, 8, 8], { seed: 1, device: DEVICE });
        const w = randn([4, 3, 3, 3], { seed: 2, device: DEVICE });
        assert.equal(
          autocast(DEVICE, "bf16", () => nn.conv2d(x, w).dtype),
          "bfloat16",
        );
        assert.equal(nn.conv2d(x, w).dtype, "float32");
      }),
    );
    const d = findDetector("grag2021");
    const files = [path.join(MODELS, "grag_tiny.pth")];
    const run = async (precision: Precision) => values(await detect(d, await loadEagerModel(d, files, { device: DEVICE, precision }), images));
    const fp32 = await run("fp32");
    const bf16 = await run("bf16");
    const dp = Math.max(...fp32.map((s, i) => Math.abs(sigmoid(s) - sigmoid(bf16[i]!))));
    console.log(`# grag_tiny bf16 vs fp32 on ${DEVICE}: max |Δp| ${dp.toExponential(2)}, max relative score error ${relErr(bf16, fp32).toExponential(2)}`);
    assert.notDeepEqual(bf16, fp32, "bf16 scores equal fp32's bit for bit: autocast did not engage");
    assert.ok(bf16.every(Number.isFinite));
  });

  test("imaginet detect --engine libtorch prints the onnxruntime path's scores", async () => {
    const args = ["detect", "--detector", "grag2021", "--weights", path.join(MODELS, "grag_tiny.pth"), "--json", path.join(dir, "imgs")];
    const ort = cli(args);
    const eager = cli([...args, "--engine", "libtorch", "--device", DEVICE]);
    assert.equal(ort.code, 0, ort.stderr);
    assert.equal(eager.code, 0, eager.stderr);
    const scores = (out: string) => jsonLines(out).map((r) => (r as { score: number }).score);
    const a = scores(ort.stdout);
    const b = scores(eager.stdout);
    assert.equal(b.length, 3);
    assert.deepEqual(
      jsonLines(eager.stdout).map((r) => (r as { file: string }).file),
      jsonLines(ort.stdout).map((r) => (r as { file: string }).file),
    );
    const tol = await forwardTolerance([path.join(MODELS, "grag_tiny.pth")], 256 * 256);
    assert.ok(relErr(b, a) <= tol, `relative error ${relErr(b, a)} > ${tol}`);
  });

  test("refusals: engine-only options without --engine libtorch, an .onnx on libtorch, fp16 on the CPU", () => {
    const w = path.join(MODELS, "grag_tiny.pth");
    const img = path.join(dir, "imgs", "a.png");
    const noEngine = cli(["detect", "--detector", "grag2021", "--weights", w, "--precision", "bf16", img]);
    assert.equal(noEngine.code, 2);
    assert.match(noEngine.stderr, /--precision and --channels-last need --engine libtorch/);
    const onnx = cli(["detect", "--detector", "grag2021", "--weights", path.join(dir, "m.onnx"), "--engine", "libtorch", img]);
    assert.equal(onnx.code, 2);
    assert.match(onnx.stderr, /an \.onnx file runs on onnxruntime/);
    const fp16 = cli(["detect", "--detector", "grag2021", "--weights", w, "--engine", "libtorch", "--precision", "fp16", img]);
    assert.equal(fp16.code, 2);
    assert.match(fp16.stderr, /--precision fp16 needs --device cuda/);
  });
});
