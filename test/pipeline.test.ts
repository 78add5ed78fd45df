/** The whole path a user takes: dataset → perturbed test set → detector predictions → metrics → report. */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { makeExampleDataset } from "../src/data/example.js";
import { readRun } from "../src/eval/results.js";
import { cli, REPO, tmpDir } from "./helpers.js";

describe("end to end", () => {
  test("build the test set, run a detector with eval detect, evaluate both tracks, report", async () => {
    const root = path.join(tmpDir(), "root");
    await makeExampleDataset(root, { seed: 21, perKind: 4, size: 64 });
    const testset = path.join(tmpDir(), "testset");
    assert.equal(cli(["testset", "build", "--root", root, "--out", testset]).code, 0);
    const lists = ["gan", "sd", "midjourney", "dalle3"].map((g) => path.join(testset, `test_${g}.txt`));
    // a calibration subset as upstream's test_calibration.txt: some real and some synthetic test images
    const lines = readFileSync(lists[0]!, "utf8").trim().split("\n");
    const calibration = path.join(testset, "test_calibration.txt");
    const origin = (l: string): string => l.split(",").at(-4)!;
    writeFileSync(calibration, `${[...lines.filter((l) => origin(l) === "0").slice(0, 2), ...lines.filter((l) => origin(l) === "1").slice(0, 2)].join("\n")}\n`);

    const run = path.join(tmpDir(), "run");
    const weights = path.join(REPO, "test/fixtures/models/grag_tiny.pth");
    const d = cli(["eval", "detect", ...lists, "--calibration-list", calibration, "--detector", "grag2021", "--weights", weights, "--root", testset, "--out", run]);
    assert.equal(d.code, 0, d.stderr);
    const loaded = await readRun(run);
    assert.equal(loaded.predictions.length, 16);
    assert.equal(loaded.calibration?.length, 4);
    assert.deepEqual([...new Set(loaded.predictions.map((p) => p.split))], ["gan", "sd", "midjourney", "dalle3"]);
    assert.equal(loaded.manifest.detector.name, "Grag2021");
    assert.equal(loaded.manifest.precision, "fp32");
    assert.match(loaded.manifest.detector.weightsSha256 ?? "", /^[0-9a-f]{64}$/);

    const e = cli(["eval", "run", run, "--bootstrap", "20"]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /Detection by model group/);
    // `imaginet calibrate` fits the same logistic model on the same images as the run's calibration
    const calFile = path.join(tmpDir(), "cal.json");
    const c = cli(["calibrate", calibration, "--detector", "grag2021", "--weights", weights, "--root", testset, "-o", calFile]);
    assert.equal(c.code, 0, c.stderr);
    const cal = JSON.parse(readFileSync(calFile, "utf8"));
    const metrics = JSON.parse(readFileSync(path.join(run, "metrics.json"), "utf8"));
    assert.equal(cal.a, metrics.calibration.a);
    assert.equal(cal.b, metrics.calibration.b);
    assert.deepEqual([cal.annotations.real, cal.annotations.synthetic], [2, 2]);
    const out = path.join(tmpDir(), "report");
    const r = cli(["report", run, "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(path.join(out, "report.html")) && existsSync(path.join(out, "csv/ImagiNet/Grag2021.csv")));
  });
});
