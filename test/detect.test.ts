import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { decodeRgb } from "../src/image/decode.js";
import { loadSharp } from "../src/image/sharp.js";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { applyRecipe } from "../src/image/recipe.js";
import { findRecipe, jpegSweep } from "../src/image/recipes.js";
import { buildDetector, buildFromCheckpoints } from "../src/detectors/build.js";
import { findDetector } from "../src/detectors/index.js";
import { detect } from "../src/runtime/detect.js";
import { DetectorSession, normalizeImage } from "../src/runtime/session.js";
import { Rng } from "../src/util/rng.js";
import { cli, cliServe, jsonLines, REPO, tmpDir } from "./helpers.js";

const models = path.join(REPO, "test/fixtures/models");

describe("imaginet detect and convert", () => {
  let dir = "";
  before(async () => {
    dir = tmpDir();
    const sharp = await loadSharp();
    mkdirSync(path.join(dir, "imgs", "sub"), { recursive: true });
    // a 256×256 image goes in as it is; a 300×200 one is reflect-padded and centre-cropped to 256
    const px = (w: number, h: number, k: number): Buffer => Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * k + (i >> 7)) & 255));
    await sharp(px(256, 256, 7), { raw: { width: 256, height: 256, channels: 3 } })
      .png()
      .toFile(path.join(dir, "imgs", "a.png"));
    await sharp(px(300, 200, 13), { raw: { width: 300, height: 200, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(path.join(dir, "imgs", "sub", "b.jpg"));
    writeFileSync(path.join(dir, "imgs", "broken.png"), "not an image");
  });

  test("scores from the .pth and from the converted .onnx agree, and equal the model run on the pixels", async () => {
    const onnx = path.join(dir, "grag.onnx");
    const c = cli(["convert", "--weights", path.join(models, "grag_tiny.pth"), "--detector", "grag2021", "-o", onnx]);
    assert.equal(c.code, 0, c.stderr);
    assert.ok(existsSync(onnx));
    const fromPth = cli(["detect", path.join(dir, "imgs"), "--detector", "grag2021", "--weights", path.join(models, "grag_tiny.pth"), "--json"]);
    const fromOnnx = cli(["detect", path.join(dir, "imgs"), "--detector", "grag2021", "--weights", onnx, "--json"]);
    assert.equal(fromPth.code, 1, "the broken file is reported");
    const a = jsonLines(fromPth.stdout);
    assert.deepEqual(jsonLines(fromOnnx.stdout), a);
    assert.deepEqual(
      a.map((r: { file: string }) => path.relative(dir, r.file)),
      ["imgs/a.png", "imgs/broken.png", "imgs/sub/b.jpg"],
    );
    assert.match(a[1].error, /broken\.png: not a readable image/);
    const session = await DetectorSession.create((await buildFromCheckpoints(findDetector("grag2021"), path.join(models, "grag_tiny.pth"))).onnx);
    const [s] = await session.scores([await decodeRgb(path.join(dir, "imgs", "a.png"))]);
    await session.release();
    assert.equal(a[0].score, s);
    assert.ok(Math.abs(a[0].p - 1 / (1 + Math.exp(-s!))) < 1e-15);
  });

  test("a calibration file turns scores into calibrated probabilities; identification gives a group", () => {
    const cal = path.join(dir, "cal.json");
    writeFileSync(cal, JSON.stringify({ a: 2, b: -0.5 }));
    const r = cli(["detect", path.join(dir, "imgs", "a.png"), "--detector", "grag2021", "--weights", path.join(models, "grag_tiny.pth"), "--calibration", cal, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const [row] = jsonLines(r.stdout);
    assert.equal(row.calibrated, true);
    assert.ok(Math.abs(row.p - 1 / (1 + Math.exp(-(2 * row.score - 0.5)))) < 1e-15);
    const id = cli(["detect", path.join(dir, "imgs", "a.png"), "--detector", "imaginet-id", "--weights", path.join(models, "imaginet_id_tiny.pth"), "--json"]);
    assert.equal(id.code, 0, id.stderr);
    const [g] = jsonLines(id.stdout);
    assert.equal(g.logits.length, 4);
    assert.equal(g.group, ["gan", "sd", "midjourney", "dalle3"][g.logits.indexOf(Math.max(...g.logits))]);
  });

  test("corvi2022 with two checkpoints scores the average of the two models' logit maps", () => {
    const one = (w: string) => jsonLines(cli(["detect", path.join(dir, "imgs", "a.png"), "--detector", "corvi2022", "--weights", path.join(models, w), "--json"]).stdout)[0].score as number;
    const r = cli([
      "detect",
      path.join(dir, "imgs", "a.png"),
      "--detector",
      "corvi2022",
      "--weights",
      path.join(models, "corvi_tiny.pth"),
      "--weights",
      path.join(models, "corvi_tiny_b.pth"),
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const both = jsonLines(r.stdout)[0].score as number;
    // a 256×256 image: both maps have one size, so the mean of the averaged map is the average of the means
    assert.ok(Math.abs(both - (one("corvi_tiny.pth") + one("corvi_tiny_b.pth")) / 2) < 1e-4 * Math.abs(both));
    const g = cli(["detect", path.join(dir, "imgs", "a.png"), "--detector", "grag2021", "--weights", path.join(models, "grag_tiny.pth"), "--weights", path.join(models, "grag_tiny.pth")]);
    assert.equal(g.code, 2);
    assert.match(g.stderr, /Grag2021 is built from 1 checkpoint file\(s\), got 2/);
  });

  test("wu2023 (LASTED): anchors are required, baked into the converted model, and scores equal feature · mean anchor feature; no verdict without a calibration", async () => {
    const spec = findDetector("wu2023");
    const weights = path.join(models, "lasted_448.pth");
    const anchors = path.join(dir, "anchors");
    mkdirSync(anchors, { recursive: true });
    const sharp = await loadSharp();
    for (const k of [3, 5, 11]) {
      const px = Buffer.from(Array.from({ length: 320 * 320 * 3 }, (_, i) => ((i % 960) * k + Math.floor(i / 960) * 3) & 255));
      await sharp(px, { raw: { width: 320, height: 320, channels: 3 } })
        .png()
        .toFile(path.join(anchors, `real${k}.png`));
    }
    const img = path.join(dir, "imgs", "a.png");
    const none = cli(["detect", img, "--detector", "wu2023", "--weights", weights]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /pass --anchors/);
    const onnx = path.join(dir, "lasted.onnx");
    const c = cli(["convert", "--weights", weights, "--detector", "wu2023", "--anchors", anchors, "-o", onnx]);
    assert.equal(c.code, 0, c.stderr);
    const fromPth = cli(["detect", img, "--detector", "wu2023", "--weights", weights, "--anchors", anchors, "--json"]);
    const fromOnnx = cli(["detect", img, "--detector", "wu2023", "--weights", onnx, "--json"]);
    assert.equal(fromPth.code, 0, fromPth.stderr);
    assert.deepEqual(jsonLines(fromOnnx.stdout), jsonLines(fromPth.stdout));
    // its score is higher = more real (scoreMeaning): without a calibration, the score and no p, no verdict
    const [line] = jsonLines(fromPth.stdout);
    const withheld = `no verdict without a calibration: ${spec.needsCalibration}`;
    assert.deepEqual({ p: line.p, calibrated: line.calibrated, verdict: line.verdict, noVerdict: line.noVerdict }, { p: null, calibrated: false, verdict: null, noVerdict: withheld });
    const table = cli(["detect", img, "--detector", "wu2023", "--weights", onnx]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`a\\.png +${line.score.toFixed(4)} +– +uncalibrated\n`));
    assert.ok(table.stdout.endsWith(`\n${withheld}: give --calibration FILE (imaginet calibrate)\n`), table.stdout);
    // with one, p(synthetic) = sigmoid(a·score + b) and its verdict (a < 0: lower similarity to the real anchors = synthetic)
    const [calibrated] = await detect(spec, onnx, [img], { calibration: { a: -20, b: 20 * line.score }, workers: 0 });
    assert.deepEqual(calibrated, { file: img, score: line.score, p: 0.5, calibrated: true, verdict: "synthetic" });
    // `serve` takes the anchors too, and scores the same, also without a verdict
    const served = await cliServe(["--detector", "wu2023", "--weights", weights, "--anchors", anchors]);
    try {
      const res = await fetch(`${served.url}/v1/detect`, { method: "POST", headers: { "content-type": "image/png" }, body: readFileSync(img) });
      assert.equal(res.status, 200);
      const [result] = ((await res.json()) as { images: { results: Record<string, unknown>[] }[] }).images[0]!.results;
      assert.deepEqual(
        { score: result!.score, p: result!.p, calibrated: result!.calibrated, verdict: result!.verdict, noVerdict: result!.noVerdict },
        { score: line.score, p: null, calibrated: false, verdict: null, noVerdict: withheld },
      );
      const [listed] = (await (await fetch(`${served.url}/v1/detectors`)).json()) as { needsCalibration: string | null }[];
      assert.equal(listed!.needsCalibration, spec.needsCalibration);
    } finally {
      served.child.kill("SIGTERM");
      await served.exit;
    }
    // the same by hand: features of the 448-padded images, anchor = their mean
    const sd = stateDict(await readTorchCheckpoint(weights));
    const plain = await buildDetector(spec, sd);
    const prep = async (f: string) => normalizeImage((await applyRecipe(await decodeRgb(f), spec.preprocess.recipe, new Rng(0, f))).image);
    const s = await DetectorSession.create(plain.onnx);
    const anchorFeats = (await s.runNormalized(await Promise.all([3, 5, 11].map((k) => prep(path.join(anchors, `real${k}.png`)))))).feature!;
    const feat = (await s.runNormalized([await prep(img)])).feature!;
    await s.release();
    const d = feat.data.length;
    let want = 0;
    for (let j = 0; j < d; j++) want += feat.data[j]! * ((anchorFeats.data[j]! + anchorFeats.data[d + j]! + anchorFeats.data[2 * d + j]!) / 3);
    const got = jsonLines(fromPth.stdout)[0].score as number;
    assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`);
  });

  test("preprocessing in worker threads gives the same results as on the main thread", async () => {
    const spec = findDetector("grag2021");
    const built = await buildFromCheckpoints(findDetector("grag2021"), path.join(models, "grag_tiny.pth"));
    const files = [path.join(dir, "imgs", "a.png"), path.join(dir, "imgs", "broken.png"), path.join(dir, "imgs", "sub", "b.jpg")];
    const inline = await detect(spec, built.onnx, files, { workers: 0, batchSize: 2 });
    const workers = await detect(spec, built.onnx, files, { workers: 2, batchSize: 2 });
    assert.deepEqual(workers, inline);
    assert.equal(inline.filter((r) => "score" in r).length, 2);
  });

  test("per-file recipes in one run give what a run per recipe gives; the random stream follows the per-file key; a count that doesn't match is an error", async () => {
    const spec = findDetector("grag2021");
    const built = await buildFromCheckpoints(findDetector("grag2021"), path.join(models, "grag_tiny.pth"));
    const files = [path.join(dir, "imgs", "a.png"), path.join(dir, "imgs", "sub", "b.jpg")];
    const sweep = jpegSweep().filter((s) => s.severity === 40 || s.severity === 90);
    for (const workers of [0, 2]) {
      const separate = [];
      for (const { recipe } of sweep) separate.push(...(await detect({ ...spec, preprocess: { ...spec.preprocess, recipe } }, built.onnx, files, { workers })));
      const together = await detect(spec, built.onnx, [...files, ...files], { workers, perFile: sweep.flatMap(({ recipe }) => files.map(() => ({ recipe }))) });
      assert.deepEqual(together, separate);
    }
    const [q40, q90] = (await detect(spec, built.onnx, [files[0]!, files[0]!], { workers: 0, perFile: sweep.map(({ recipe }) => ({ recipe })) })) as { score: number }[];
    assert.notEqual(q40!.score, q90!.score, "the recipes were applied");
    // TESTSET draws a crop and a codec: the same key gives the same draw, whatever the file is called
    const testset = findRecipe("testset");
    const copy = path.join(dir, "a-copy.png");
    copyFileSync(files[0]!, copy);
    const keyed = (await detect(spec, built.onnx, [files[0]!, copy, copy], {
      workers: 2,
      perFile: [
        { recipe: testset, key: "k1" },
        { recipe: testset, key: "k1" },
        { recipe: testset, key: "k2" },
      ],
    })) as { score: number }[];
    assert.equal(keyed[1]!.score, keyed[0]!.score);
    assert.notEqual(keyed[2]!.score, keyed[0]!.score);
    await assert.rejects(detect(spec, built.onnx, files, { perFile: [{ recipe: sweep[0]!.recipe }] }), /detect: perFile has 1 entries for 2 files/);
  });

  test("bad input: unknown detector, a checkpoint of another architecture", () => {
    const u = cli(["detect", dir, "--detector", "nope", "--weights", "x.pth"]);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /unknown detector "nope": expected one of wild, grag2021, corvi2022, imaginet, corvi2022-imaginet, wu2023, imaginet-id, cnndetection, cnndetection-p0.1, npr, univfd\n/);
    const w = cli(["convert", "--weights", path.join(models, "grag_tiny.pth"), "--detector", "imaginet", "-o", path.join(dir, "x.onnx")]);
    assert.equal(w.code, 2);
    assert.equal(existsSync(path.join(dir, "x.onnx")), false);
  });
});

describe("--device", () => {
  const providers = path.join(REPO, "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_shared.so");
  test("cuda without onnxruntime's CUDA provider fails with what to install", { skip: existsSync(providers) && "the CUDA provider is installed here" }, () => {
    const r = cli(["detect", path.join(REPO, "test/fixtures/decode/rgb.png"), "--detector", "grag2021", "--weights", path.join(models, "grag_tiny.pth"), "--device", "cuda"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /imaginet: error: the CUDA execution provider is not available: onnxruntime-node bundles only the CPU one; .*--onnxruntime-node-install-cuda=v12`, or run the model on the libtorch engine with `--engine libtorch` \(docs\/gpu\.md\), or use --device cpu/,
    );
    const bad = cli(["detect", "x.png", "--detector", "grag2021", "--weights", "x.pth", "--device", "tpu"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Allowed choices are cpu, cuda/);
  });
});
