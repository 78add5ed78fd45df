import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { evaluateRun, seededSample } from "../src/eval/evaluate.js";
import { readRun } from "../src/eval/results.js";
import { cli, REPO, tmpDir } from "./helpers.js";

// made by scripts/fixtures/make_evaluate_fixtures.py: a run and upstream's protocol on it, in sklearn
const dir = path.join(REPO, "test/fixtures/evaluate");
const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));

describe("evaluation of a run (upstream protocol)", () => {
  test("calibration, group and content tables, identification equal sklearn's", async () => {
    const e = evaluateRun(await readRun(dir), { resamples: 200 });
    // LogisticRegression(C=1e10) lbfgs stops ~1e-7 from the optimum we reach (see test/calibration.test.ts)
    assert.ok(Math.abs(e.calibration!.a - expected.calibration.a) < 1e-5 && Math.abs(e.calibration!.b - expected.calibration.b) < 1e-5);
    const groups = e.detection!.groups!;
    assert.deepEqual(
      groups.rows.map((r) => r.label),
      ["GAN", "SD", "Midjourney", "DALL·E 3"],
    );
    groups.rows.forEach((r, i) => {
      const x = expected.groups[i];
      assert.deepEqual([r.real, r.synthetic], [x.real, x.synthetic]);
      assert.ok(Math.abs(r.acc.value - x.acc) < 1e-12, `${r.label} acc ${r.acc.value} vs ${x.acc}`);
      assert.ok(Math.abs(r.auc.value - x.auc) < 1e-12, `${r.label} auc ${r.auc.value} vs ${x.auc}`);
      assert.ok(r.acc.lo <= r.acc.value && r.acc.value <= r.acc.hi && r.auc.lo <= r.auc.value && r.auc.value <= r.auc.hi);
    });
    assert.ok(Math.abs(groups.mean.acc - expected.groupsMean.acc) < 1e-12 && Math.abs(groups.mean.auc - expected.groupsMean.auc) < 1e-12);
    e.detection!.content!.rows.forEach((r, i) => {
      assert.ok(Math.abs(r.acc.value - expected.content[i].acc) < 1e-12 && Math.abs(r.auc.value - expected.content[i].auc) < 1e-12, r.label);
    });
    const id = e.identification!;
    id.rows.forEach((r, i) => assert.ok(Math.abs(r.acc.value - expected.identification.acc[i]) < 1e-12, r.label));
    assert.ok(Math.abs(id.macroAuc - expected.identification.macroAuc) < 1e-12);
  });

  test("specific generators are paired with as many seeded real images; same seed, same numbers", async () => {
    const run = await readRun(dir);
    const a = evaluateRun(run, { resamples: 50, seed: 7 });
    const b = evaluateRun(run, { resamples: 50, seed: 7 });
    assert.deepEqual(a, b);
    for (const r of a.detection!.specific!.rows) assert.equal(r.real, r.synthetic, r.label);
    assert.deepEqual(
      a.detection!.specific!.rows.map((r) => r.label),
      ["ProGAN", "StyleGAN-XL", "StyleGAN3", "SD v2.1", "SDXL v1.0", "Animagine XL", "Midjourney", "DALL·E 3"],
    );
    const c = evaluateRun(run, { resamples: 50, seed: 8 });
    assert.notDeepEqual(
      c.detection!.specific!.rows.map((r) => r.auc.value),
      a.detection!.specific!.rows.map((r) => r.auc.value),
    );
    assert.deepEqual(seededSample([1, 2, 3, 4, 5], 5, 1, "x").sort(), [1, 2, 3, 4, 5]);
  });

  test("eval run writes metrics.json next to the predictions", () => {
    const run = path.join(tmpDir(), "run");
    cpSync(dir, run, { recursive: true });
    const r = cli(["eval", "run", run, "--bootstrap", "100"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Detection by model group/);
    const m = JSON.parse(readFileSync(path.join(run, "metrics.json"), "utf8"));
    assert.equal(m.detector, "Fixture");
    assert.equal(m.options.resamples, 100);
  });
});

describe("the intervals' hot loop", () => {
  test("resampledRow sums exactly what the metrics module does, under any draw counts", async () => {
    const { resampledRow } = await import("../src/eval/evaluate.js");
    const { createResampler, rankScores, tally, aucFromTally, balancedAccuracy } = await import("../src/eval/metrics.js");
    const { Rng } = await import("../src/util/rng.js");
    const rng = new Rng(3, "hot-loop");
    const n = 500;
    const y = Uint8Array.from({ length: n }, () => rng.int(0, 1));
    const p = Float64Array.from({ length: n }, () => Math.round(rng.next() * 40) / 40); // many ties
    const r = rankScores(y, p);
    const groups = r.groupScore.length;
    const row = {
      group: Uint32Array.from(r.slot, (s) => (s < groups ? s : s - groups)),
      label: Float64Array.from(r.order, (j) => y[j]!),
      pred: Float64Array.from(r.order, (j) => (p[j]! >= 0.5 ? 1 : 0)),
      index: Uint32Array.from(r.order),
    };
    const resampler = createResampler(y, 9, "check");
    for (let b = 0; b < 20; b++) {
      const counts = resampler.next();
      const fast = resampledRow(row, counts);
      assert.equal(fast.auc, aucFromTally(tally(r, counts)));
      const pred = Uint8Array.from(p, (v) => (v >= 0.5 ? 1 : 0));
      assert.ok(Math.abs(fast.acc - balancedAccuracy(y, pred, counts)) < 1e-15);
    }
  });
});

describe("operating point and image fingerprint", () => {
  test("the threshold chosen on calibration images keeps their FPR under the target and is carried to the test images", async () => {
    const run = await readRun(dir);
    const e = evaluateRun(run, { resamples: 0, targetFpr: 0.1 });
    const op = e.calibration!.operatingPoint;
    assert.ok(op.calibration.fpr <= 0.1);
    // by hand: calibrated p of every test image against the threshold
    const { a, b } = e.calibration!;
    const seen = new Set<string>();
    let fp = 0,
      neg = 0,
      tp = 0,
      pos = 0;
    for (const r of run.predictions) {
      if (seen.has(r.path) || r.score === undefined) continue;
      seen.add(r.path);
      const p = 1 / (1 + Math.exp(-(a * r.score + b)));
      if (r.labels[0] === 1) pos++, (tp += p >= op.threshold ? 1 : 0);
      else neg++, (fp += p >= op.threshold ? 1 : 0);
    }
    assert.ok(Math.abs(op.test.fpr - fp / neg) < 1e-12 && Math.abs(op.test.tpr - tp / pos) < 1e-12);
    assert.deepEqual(e.images.count, 1440);
    assert.equal(evaluateRun(run, { resamples: 0 }).images.sha256, e.images.sha256);
  });
});

describe("comparisons", () => {
  test("two detectors on the same images are paired with the same real images per generator", async () => {
    const run = await readRun(dir);
    const other = { ...run, manifest: { ...run.manifest }, predictions: run.predictions.map((r) => ({ ...r, score: r.score === undefined ? undefined : -r.score * 3 + 1 })) };
    const a = evaluateRun(run, { resamples: 0 }).detection!.specific!.rows;
    const b = evaluateRun(other, { resamples: 0 }).detection!.specific!.rows;
    // the negated detector ranks every pair the other way: AUC a + AUC b = 1 exactly when the images are the same
    a.forEach((r, i) => assert.ok(Math.abs(r.auc.value + b[i]!.auc.value - 1) < 1e-12, r.label));
  });
});

// made by scripts/fixtures/make_source_evaluate_fixtures.py: classes confounded by content, a sources.csv, sklearn's numbers
describe("within content type and per source (eval run --sources)", () => {
  const sdir = path.join(REPO, "test/fixtures/evaluate-sources");
  const want = JSON.parse(readFileSync(path.join(sdir, "expected.json"), "utf8"));
  const close = (got: number, x: number, what: string) => assert.ok(Math.abs(got - x) < 1e-12, `${what}: ${got} vs sklearn ${x}`);

  test("content types with both classes and each source against the same content type's reals equal sklearn; the rest are listed as skipped", async () => {
    const { readSources } = await import("../src/eval/sources.js");
    const sources = await readSources(path.join(sdir, "sources.csv"));
    const e = evaluateRun(await readRun(sdir), { resamples: 200, sources });
    const d = e.detection!;
    assert.deepEqual(
      d.content!.rows.map((r) => [r.label, r.real, r.synthetic]),
      want.content.map((x: { label: string; real: number; synthetic: number }) => [x.label, x.real, x.synthetic]),
    );
    d.content!.rows.forEach((r, i) => {
      close(r.acc.value, want.content[i].acc, `${r.label} acc`);
      close(r.auc.value, want.content[i].auc, `${r.label} auc`);
    });
    assert.deepEqual(
      d.contentSkipped.map((s) => s.label),
      want.contentSkipped,
    );
    assert.deepEqual(d.contentSkipped[0], { label: "Faces", real: 0, synthetic: 2, reason: "no real images, so AUC is undefined" });
    assert.deepEqual(
      d.sources!.rows.map((r) => [r.label, r.source, r.content, r.real, r.synthetic]),
      want.sources.map((x: { label: string; source: string; content: string; real: number; synthetic: number }) => [x.label, x.source, x.content, x.real, x.synthetic]),
    );
    d.sources!.rows.forEach((r, i) => {
      close(r.acc.value, want.sources[i].acc, `${r.label} acc`);
      close(r.auc.value, want.sources[i].auc, `${r.label} auc`);
      assert.ok(r.auc.lo <= r.auc.value && r.auc.value <= r.auc.hi && r.acc.lo <= r.acc.value && r.acc.value <= r.acc.hi, r.label);
      assert.ok(r.auc.hi - r.auc.lo > 0.05, `${r.label}: a bootstrap interval, not a point`);
    });
    assert.deepEqual(
      d.sourcesSkipped.map((s) => s.label),
      want.sourcesSkipped,
    );
    assert.deepEqual(e.sources, { file: path.join(sdir, "sources.csv"), sha256: sources.sha256, matched: 223, unmatched: 2 });
    assert.ok(e.notes.includes(`2 of 225 images have no row in ${path.join(sdir, "sources.csv")}: left out of the per-source table`));
    assert.ok(e.notes.includes("content type Uncategorised left out: no real images, so AUC is undefined"));
    // the per-source rows share the pooled resamples: adding them leaves every other row as it was
    const without = evaluateRun(await readRun(sdir), { resamples: 200 });
    assert.deepEqual(without.detection!.content, d.content);
    assert.deepEqual(without.detection!.all, d.all);
    assert.equal(without.detection!.sources, null);
  });

  test("eval run --sources records the file in metrics.json and prints the table; a file naming none of the images is exit 2", () => {
    const run = path.join(tmpDir(), "run");
    cpSync(sdir, run, { recursive: true });
    const sourcesFile = path.join(run, "sources.csv");
    const r = cli(["eval", "run", run, "--bootstrap", "50", "--sources", sourcesFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Detection by synthetic source, against the real images of the same content type/);
    assert.match(r.stdout, /sdc \/ Paintings/);
    assert.match(r.stdout, /note: ml \/ Faces left out of the per-source table: no real images, so AUC is undefined/);
    const m = JSON.parse(readFileSync(path.join(run, "metrics.json"), "utf8"));
    assert.equal(m.sources.file, sourcesFile);
    assert.equal(m.detection.sources.rows.length, 4);

    const other = path.join(tmpDir(), "sources.csv");
    writeFileSync(other, "path,source,generator,group,content\nimages/elsewhere/a.png,x,real,4,0\n");
    const none = cli(["eval", "run", run, "--bootstrap", "0", "--sources", other]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /sources\.csv: names none of the run's 225 images/);
    writeFileSync(other, "path,source,generator,group,content\nimages/a.png,x,real,4\n");
    const bad = cli(["eval", "run", run, "--bootstrap", "0", "--sources", other]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /sources\.csv:2: expected 5 fields, got 4/);
  });
});
