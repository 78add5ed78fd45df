/**
 * The detector plug-in interface: every registered module states what the rest of the project reads
 * (names, preprocessing, output, checkpoint count, weights), and the detectors added through it run
 * end to end — `eval detect` → `eval run` → `report` — beside an upstream one, with no code of their own
 * outside their module files.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { makeExampleDataset } from "../src/data/example.js";
import { DETECTORS } from "../src/detectors/index.js";
import { readRun } from "../src/eval/results.js";
import { recipeHash } from "../src/image/recipe-hash.js";
import { weightsCatalog } from "../src/weights/index.js";
import { cli, REPO, tmpDir } from "./helpers.js";

const MODELS = path.join(REPO, "test/fixtures/models");

describe("detector modules", () => {
  test("each module is complete and its names are unique", () => {
    const unique = (xs: string[]) => assert.equal(new Set(xs).size, xs.length, xs.join(", "));
    unique(DETECTORS.map((d) => d.name));
    unique(DETECTORS.map((d) => d.title));
    unique(weightsCatalog().map((w) => w.name));
    for (const d of DETECTORS) {
      assert.match(d.name, /^[a-z0-9][a-z0-9.-]*$/, d.name);
      // a published detector names its paper's code; one trained here names its model card
      assert.ok(d.reference.includes("https://") || d.reference.includes("github.com/") || d.reference.includes("docs/models/"), `${d.name}: reference names the code`);
      assert.ok(d.scoreMeaning.length > 20, `${d.name}: scoreMeaning`);
      assert.match(recipeHash(d.preprocess.recipe), /^[0-9a-f]{64}$/);
      for (const v of [...d.preprocess.normalization.mean, ...d.preprocess.normalization.std]) assert.ok(v > 0 && v < 1, `${d.name}: normalisation`);
      assert.ok(d.checkpoints.min >= 1 && d.checkpoints.min <= d.checkpoints.max, `${d.name}: checkpoints`);
      // the published weights give a number of checkpoint files the module takes (a zip: its members)
      const files = d.weights.reduce((n, w) => n + (w.members?.length ?? 1), 0);
      if (files > 0) assert.ok(files >= d.checkpoints.min && files <= d.checkpoints.max, `${d.name}: ${files} published files`);
      if (d.bundled) assert.match(d.bundled.sha256, /^[0-9a-f]{64}$/, `${d.name}: bundled sha256`);
      for (const w of d.weights) assert.equal([w.url, w.drive].filter((x) => x !== undefined).length, 1, `${w.name}: one of url and drive`);
    }
  });

  test("the added detectors run through eval detect, eval run and report beside Grag2021", async () => {
    const root = path.join(tmpDir(), "root");
    await makeExampleDataset(root, { seed: 5, perKind: 4, size: 64 });
    const testset = path.join(tmpDir(), "testset");
    assert.equal(cli(["testset", "build", "--root", root, "--out", testset]).code, 0);
    const lists = ["gan", "sd"].map((g) => path.join(testset, `test_${g}.txt`));
    const lines = readFileSync(lists[0]!, "utf8").trim().split("\n");
    const calibration = path.join(testset, "test_calibration.txt");
    const origin = (l: string): string => l.split(",").at(-4)!;
    writeFileSync(calibration, `${[...lines.filter((l) => origin(l) === "0").slice(0, 2), ...lines.filter((l) => origin(l) === "1").slice(0, 2)].join("\n")}\n`);

    const runs: { detector: string; title: string; weights: string[] }[] = [
      { detector: "grag2021", title: "Grag2021", weights: ["grag_tiny.pth"] },
      { detector: "cnndetection", title: "Wang2020", weights: ["cnndetection_tiny.pth"] },
      { detector: "npr", title: "NPR", weights: ["npr_tiny.pth"] },
      // a ViT at UnivFD's own 224 input, so its recipe (centre crop 224) feeds it as it is
      { detector: "univfd", title: "UnivFD", weights: ["univfd_clip_r224.pth", "univfd_probe_tiny.pth"] },
    ];
    const dirs: string[] = [];
    for (const r of runs) {
      const dir = path.join(tmpDir(), r.detector);
      const weights = r.weights.flatMap((w) => ["--weights", path.join(MODELS, w)]);
      const d = cli(["eval", "detect", ...lists, "--calibration-list", calibration, "--detector", r.detector, ...weights, "--root", testset, "--out", dir, "--workers", "1"]);
      assert.equal(d.code, 0, `${r.detector}: ${d.stderr}`);
      const run = await readRun(dir);
      assert.equal(run.manifest.detector.name, r.title);
      assert.equal(run.predictions.length, 12);
      assert.ok(run.predictions.every((p) => Number.isFinite(p.score)));
      assert.equal(cli(["eval", "run", dir, "--bootstrap", "0"]).code, 0);
      dirs.push(dir);
    }
    const out = path.join(tmpDir(), "report");
    const rep = cli(["report", ...dirs, "--out", out]);
    assert.equal(rep.code, 0, rep.stderr);
    const md = readFileSync(path.join(out, "report.md"), "utf8");
    assert.match(md, /\| ACC \/ AUC \| +Grag2021 +\| +Wang2020 +\| +NPR +\| +UnivFD +\|/);
    for (const r of runs) assert.match(readFileSync(path.join(out, "csv", "ImagiNet", `${r.title}.csv`), "utf8"), /^Model,ACC,AUC\r\nGAN,/);
  });
});
