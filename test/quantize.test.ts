/**
 * `imaginet convert --quantize int8` and src/onnx/quantize.ts: the written model is valid ONNX that
 * onnxruntime loads and runs with its int8 kernels (QLinearConv in the optimised graph), has
 * per-channel weight scales, records its calibration set, is byte-identical for the same inputs,
 * and scores within a bound derived from the quantization steps.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import type { NormalizedImage } from "../src/image/preprocess.js";
import { conv2d, linear, Scope } from "../src/models/ops.js";
import { decodeModel } from "../src/onnx/decode.js";
import { encodeModel, type ModelProto, type TensorProto } from "../src/onnx/proto.js";
import { activationParams, quantizeModel } from "../src/onnx/quantize.js";
import { toOnnx, trace } from "../src/onnx/trace.js";
import { DetectorSession } from "../src/runtime/session.js";
import { cli, REPO, tmpDir } from "./helpers.js";
import { f32Tolerance } from "./support/tolerance.js";

const models = path.join(REPO, "test", "fixtures", "models");

/** a deterministic generator in [0, 1) */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const floatsOf = (t: TensorProto) => new Float32Array(t.raw.slice().buffer);
const opCounts = (m: ModelProto) => m.graph.nodes.reduce((a, n) => a.set(n.opType, (a.get(n.opType) ?? 0) + 1), new Map<string, number>());

/** The node types onnxruntime runs after its graph optimisations (its optimised-model dump). */
async function optimizedOps(model: Uint8Array | string, dir: string): Promise<Map<string, number>> {
  const file = path.join(dir, `optimized-${Math.random().toString(36).slice(2)}.onnx`);
  const s = await ort.InferenceSession.create(model as string, { graphOptimizationLevel: "all", optimizedModelFilePath: file, logSeverityLevel: 3 });
  await s.release();
  return opCounts(decodeModel(readFileSync(file)));
}

describe("the ONNX decoder", () => {
  test("reads back what the encoder writes", () => {
    const g = trace((ops) => {
      const x = ops.input("image", ["batch", 3, "h", "w"]);
      ops.output("logit", ops.mean(conv2d(new Scope(ops, "c"), x, 3, 4, 3, { padding: 1 }), [2, 3], false));
    });
    const w = new Map(g.params.map((p) => [p.name, Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, (_, i) => i / 7)]));
    const bytes = toOnnx(g, w, { metadata: { k: "v" } }).model;
    assert.deepEqual(encodeModel(decodeModel(bytes)), bytes);
  });
});

describe("int8 quantization of a Conv → ReLU → mean → Linear model", () => {
  // Conv 3→C (3×3, bias) → ReLU → global mean → Linear C→1; the Linear is the head and stays float
  const C = 8;
  const K = 3 * 3 * 3;
  const g = trace((ops) => {
    const s = new Scope(ops, "");
    const x = ops.input("image", ["batch", 3, "height", "width"]);
    const r = ops.relu(conv2d(s.sub("conv"), x, 3, C, 3, { padding: 1, bias: true }));
    ops.output("logit", linear(s.sub("fc"), ops.mean(r, [2, 3], false), C, 1));
  });
  const rnd = lcg(7);
  const weights = new Map(g.params.map((p) => [p.name, Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => rnd() * 2 - 1)]));
  const images: NormalizedImage[] = Array.from({ length: 6 }, () => ({ width: 16, height: 16, chw: Float32Array.from({ length: 3 * 16 * 16 }, () => rnd() * 4 - 2) }));
  const fp32 = toOnnx(g, weights).model;

  test("scores stay within the bound the quantization steps give", async () => {
    const q = await quantizeModel(fp32, images);
    const m = decodeModel(q);
    const init = new Map(m.graph.initializers.map((t) => [t.name, t]));
    const conv = m.graph.nodes.find((n) => n.opType === "Conv")!;
    const sx = floatsOf(init.get("image.scale")!)[0]!;
    const sw = floatsOf(init.get(`${conv.name}.weight.scale`)!);
    const sr = floatsOf(init.get(`${conv.outputs[0]}.scale`)!)[0]!;
    assert.equal(sw.length, C, "one weight scale per output channel");
    const w = weights.get("conv.weight")!;
    const b = weights.get("conv.bias")!;
    const v = weights.get("fc.weight")!;
    const X = Math.max(...images.map((im) => Math.max(...im.chw.map(Math.abs)))) + sx / 2;
    // Per channel c, the conv output's error is at most ‖w_c‖₁·s_x/2 (input rounding) + K·X·s_w,c/2
    // (weight rounding, |x̂| ≤ X) + s_x·s_w,c/2 (int32 bias rounding); ReLU, the Q clamp (the true
    // value lies in the calibrated range) and the mean do not grow it; requantizing adds s_r/2. The
    // float head sums |v_c| times that. Float32 rounding of both models adds f32Tolerance(K + C)
    // relative to the size of the sums (Σ|v_c|·(‖w_c‖₁·X + |b_c|)).
    let bound = 0;
    let size = 0;
    for (let c = 0; c < C; c++) {
      let l1 = 0;
      for (let k = 0; k < K; k++) l1 += Math.abs(w[c * K + k]!);
      bound += Math.abs(v[c]!) * ((l1 * sx) / 2 + (K * X * sw[c]!) / 2 + (sx * sw[c]!) / 2 + sr / 2);
      size += Math.abs(v[c]!) * (l1 * X + Math.abs(b[c]!));
    }
    bound += f32Tolerance(K + C) * size;
    const a = await DetectorSession.create(fp32);
    const z = await DetectorSession.create(q);
    const want = (await a.runNormalized(images)).logit!.data;
    const got = (await z.runNormalized(images)).logit!.data;
    await a.release();
    await z.release();
    const err = Math.max(...want.map((x, i) => Math.abs(x - got[i]!)));
    assert.ok(err > 0 && err <= bound, `max |Δscore| ${err} vs bound ${bound}`);
  });

  test("activation parameters: zero is exact, and a ReLU's range gives zero point 0", () => {
    assert.deepEqual(activationParams([0, 2.55]), { scale: Math.fround(0.01), zeroPoint: 0 });
    const p = activationParams([-1, 3]);
    assert.equal(p.zeroPoint, 64);
    assert.equal(activationParams([1, 2]).zeroPoint, 0, "the range is widened to include 0");
  });
});

describe("imaginet convert --quantize int8", () => {
  const dir = tmpDir();
  const imgs = path.join(dir, "imgs");
  const pth = path.join(models, "grag_tiny.pth");

  before(async () => {
    mkdirSync(imgs, { recursive: true });
    const rnd = lcg(3);
    for (let i = 0; i < 4; i++) {
      const px = Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, j) => ((j * (i + 3)) % 251) ^ Math.floor(rnd() * 64)));
      await sharp(px, { raw: { width: 64, height: 64, channels: 3 } })
        .png()
        .toFile(path.join(imgs, `${i}.png`));
    }
  });

  test("writes a QDQ model that onnxruntime runs with int8 kernels, records its calibration set, and is reproducible", async () => {
    const out = path.join(dir, "q.onnx");
    const r = cli(["convert", "--detector", "grag2021", "--weights", pth, "--quantize", "int8", "--calibration-images", imgs, "-o", out, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.quantized, "int8");
    assert.equal(summary.calibration.count, 4);
    const bytes = readFileSync(out);
    const m = decodeModel(bytes);
    assert.equal(m.metadata?.["quantization.calibration.count"], "4");
    assert.equal(m.metadata?.["quantization.calibration.sha256"], summary.calibration.sha256);
    assert.match(m.metadata?.["quantization.calibration.sha256"] ?? "", /^[0-9a-f]{64}$/);
    assert.equal(m.metadata?.["quantization.calibration.method"], "minmax");
    assert.equal(m.metadata?.architecture, "grag2021");
    const ops = opCounts(m);
    assert.ok((ops.get("QuantizeLinear") ?? 0) > 0 && (ops.get("DequantizeLinear") ?? 0) > 0);
    assert.equal(ops.get("BatchNormalization"), undefined, "BN is folded into the convs");
    // every Conv weight is int8 with one scale per output channel (axis 0)
    const init = new Map(m.graph.initializers.map((t) => [t.name, t]));
    for (const n of m.graph.nodes.filter((x) => x.opType === "Conv")) {
      const wdq = m.graph.nodes.find((x) => x.outputs[0] === n.inputs[1])!;
      assert.equal(wdq.opType, "DequantizeLinear");
      assert.deepEqual(wdq.attributes?.axis, { kind: "int", value: 0 });
      const q = init.get(wdq.inputs[0]!)!;
      assert.equal(q.dataType, 3, "int8 weight");
      assert.deepEqual(init.get(wdq.inputs[1]!)!.dims, [q.dims[0]]);
    }
    // input and output names are kept; onnxruntime fuses every Conv into QLinearConv
    const s = await DetectorSession.create(out);
    assert.deepEqual([s.inputName, ...s.outputNames], ["image", "logit"]);
    await s.release();
    const fused = await optimizedOps(out, dir);
    assert.equal(fused.get("QLinearConv"), ops.get("Conv"));
    assert.equal(fused.get("Conv") ?? 0, 0);
    // the same inputs give the same bytes
    mkdirSync(path.join(dir, "again"));
    const again = path.join(dir, "again", "q.onnx"); // the graph is named after the file
    assert.equal(cli(["convert", "--detector", "grag2021", "--weights", pth, "--quantize", "int8", "--calibration-images", imgs, "-o", again]).code, 0);
    assert.deepEqual(readFileSync(again), bytes);
    // scores follow the float model's (sign and order here: four images)
    const fp = path.join(dir, "fp.onnx");
    assert.equal(cli(["convert", "--detector", "grag2021", "--weights", pth, "-o", fp]).code, 0);
    const d = (w: string) => JSON.parse(`[${cli(["detect", imgs, "--detector", "grag2021", "--weights", w, "--json"]).stdout.trim().split("\n").join(",")}]`);
    const [a, b] = [d(fp), d(out)];
    assert.equal(b.length, 4);
    assert.deepEqual(
      b.map((x: { verdict: string }) => x.verdict),
      a.map((x: { verdict: string }) => x.verdict),
    );
  });

  test("a list file picks images spread over it; its hash names the chosen files", () => {
    const list = path.join(imgs, "list.txt");
    writeFileSync(list, "0.png 0\n1.png 0\n2.png 1\n3.png 1\n");
    const out = path.join(dir, "l.onnx");
    const r = cli(["convert", "--detector", "grag2021", "--weights", pth, "--quantize", "int8", "--calibration-images", list, "--calibration-count", "2", "-o", out, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).calibration.count, 2);
    assert.equal(decodeModel(readFileSync(out)).metadata?.["quantization.calibration.source"], "list.txt");
  });

  test("usage errors say what is missing", () => {
    const out = path.join(dir, "e.onnx");
    let r = cli(["convert", "--detector", "grag2021", "--weights", pth, "--quantize", "int8", "-o", out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--quantize int8 needs --calibration-images/);
    r = cli(["convert", "--detector", "grag2021", "--weights", pth, "--calibration-images", imgs, "-o", out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /only with --quantize int8/);
    const empty = path.join(dir, "empty");
    mkdirSync(empty);
    r = cli(["convert", "--detector", "grag2021", "--weights", pth, "--quantize", "int8", "--calibration-images", empty, "-o", out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no calibration images/);
    r = cli(["convert", "--detector", "grag2021", "--weights", pth, "--quantize", "int4", "--calibration-images", imgs, "-o", out]);
    assert.notEqual(r.code, 0);
  });
});
