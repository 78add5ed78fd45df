/**
 * The shipped `wild` detector: its weights in the repository, found and checked without a download,
 * the default of `imaginet detect`, calibrated by the calibration shipped with it.
 */
import assert from "node:assert/strict";
import { statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { bundledWeightsFile, resolveModel } from "../src/cli/model-options.js";
import { WILD } from "../src/detectors/wild.js";
import { detect } from "../src/runtime/detect.js";
import { heldOut } from "../scripts/train-wild.js";
import { cli, REPO, tmpDir } from "./helpers.js";

const IMAGES = ["rgb.png", "jpeg.jpg"].map((f) => path.join(REPO, "test/fixtures/decode", f));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

describe("wild detector", () => {
  test("its weights are in the repository, at most 10 MB, and match the pinned sha256", async () => {
    const b = WILD.bundled!;
    const file = await bundledWeightsFile(b);
    assert.equal(file, path.join(REPO, b.file));
    assert.ok(statSync(file).size <= 10 * 2 ** 20, `${statSync(file).size} bytes`);
    const changed = path.join(tmpDir(), "wild.safetensors");
    writeFileSync(changed, "not the shipped weights");
    await assert.rejects(bundledWeightsFile({ ...b, file: changed }), /sha256 [0-9a-f]{64} differs from [0-9a-f]{64}, the weights shipped with this version: reinstall imaginet/);
  });

  test("detect without --detector: wild answers, says so, and p is the shipped calibration of its score", async () => {
    const r = cli(["detect", ...IMAGES, "--workers", "1"]);
    assert.equal(r.code, 0, r.stderr);
    const cal = WILD.bundled!.calibration!;
    assert.match(r.stderr, new RegExp(`^wild \\(imaginet wild\\), weights models/wild.safetensors; p calibrated on ${cal.fittedOn.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
    // the same images through the library with the bundled weights: the table's numbers are these, rounded
    const { spec, model, bundled } = await resolveModel({ detector: "wild", weights: [], workers: 0 });
    assert.equal(spec.name, "wild");
    assert.deepEqual(bundled, WILD.bundled);
    const results = await detect(spec, model, IMAGES, { calibration: { a: cal.a, b: cal.b }, workers: 0 });
    for (const d of results) {
      assert.ok(!("error" in d) && "score" in d && d.calibrated);
      assert.equal(d.p, sigmoid(cal.a * d.score + cal.b));
      assert.equal(d.verdict, d.p >= 0.5 ? "synthetic" : "real");
      const row = r.stdout.split("\n").find((l) => l.includes(path.basename(d.file)));
      assert.ok(row, `${d.file} in\n${r.stdout}`);
      assert.deepEqual(row.trim().split(/\s+/).slice(1), [d.score.toFixed(4), d.p.toFixed(4), d.verdict]);
    }
  });

  test("the retraining script holds out the same images for calibration on every run", () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `./images/x/${i}.png,0,0,4,0`);
    const held = lines.filter((l) => heldOut(l));
    // a hash of (seed, path): about CALIBRATION_SHARE of them, the same ones each time, others for another seed
    assert.ok(Math.abs(held.length / lines.length - 0.15) < 0.03, `${held.length}`);
    assert.deepEqual(
      lines.filter((l) => heldOut(l)),
      held,
    );
    assert.notDeepEqual(
      lines.filter((l) => heldOut(l, 7)),
      held,
    );
  });
});
