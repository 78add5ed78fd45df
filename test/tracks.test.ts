/**
 * Upstream's Corvi and Practical test tracks end to end: their annotation formats taken as they are by
 * `eval import` → `eval run` → `report`, the per-generator tables against scikit-learn, and upstream's
 * reference CSVs through the renderer.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { PRACTICAL_CSV_LABELS, practicalSubset, trackRecipe } from "../src/data/tracks.js";
import { findDetector } from "../src/detectors/index.js";
import type { DetectionTable, Evaluation } from "../src/eval/evaluate.js";
import { scoreItems } from "../src/eval/score.js";
import { recipeHash } from "../src/image/recipe-hash.js";
import { loadModel } from "../src/runtime/detect.js";
import { readRun } from "../src/eval/results.js";
import { CENTER224_TORCHVISION, CENTER256, CENTER448 } from "../src/image/recipes.js";
import { fileNames, upstreamTables } from "../src/report/build.js";
import { parseUpstreamCsv, pythonFixed, scoreTableCsv } from "../src/report/csv.js";
import { UPSTREAM_DETECTORS, tableFromUpstreamCsvs } from "../src/report/table.js";
import { HAVE_SHARED, REPO, SHARED, cli, tmpDir } from "./helpers.js";

// made by scripts/fixtures/make_track_fixtures.py: stand-in lists in each format, scores, and upstream's protocol on them in sklearn
const FIXTURES = path.join(REPO, "test/fixtures/tracks");

interface Expected {
  calibration: { exact: { a: number; b: number } };
  rows: { label: string; real: number; synthetic: number; acc: number; auc: number }[];
  mean: { acc: number; auc: number };
}

const TRACKS = [
  { track: "corvi", folder: "Corvi", tests: ["annotations_corvi.txt"], calibration: "annotations_calib_corvi.txt" },
  {
    track: "practical",
    folder: "PracticalTestset",
    // given out of upstream's order: the table follows upstream's
    tests: ["Test_YiJian_num36.txt", "Test_DreamBooth_num16.txt", "Test_MidjourneyV4_num20.txt", "Test_MidjourneyV5_num24.txt", "Test_NightCafe_num28.txt", "Test_StableAI_num32.txt"],
    calibration: "annotations_calib_practical.txt",
  },
] as const;

for (const t of TRACKS) {
  const dir = path.join(FIXTURES, t.track);
  const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8")) as Expected;
  const lists = t.tests.map((f) => path.join(dir, f));

  describe(`${t.track} track: eval import → eval run → report`, () => {
    const run = path.join(tmpDir(), "run");
    const out = path.join(tmpDir(), "report");

    test("eval import takes the lists as they are and records the track", async () => {
      const r = cli(["eval", "import", ...lists, "--scores", path.join(dir, "scores.csv"), "--calibration-list", path.join(dir, t.calibration), "--name", "Fixture", "--out", run]);
      assert.equal(r.code, 0, r.stderr);
      const loaded = await readRun(run);
      assert.deepEqual(loaded.manifest.track, { name: t.track, preprocessing: null });
      assert.equal(loaded.calibration?.length, t.track === "corvi" ? 20 : 24);
    });

    test("eval run: calibration at sklearn's optimum, per-generator rows and Mean equal sklearn's", () => {
      const r = cli(["eval", "run", run, "--bootstrap", "50"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Detection by generator/);
      const m = JSON.parse(readFileSync(path.join(run, "metrics.json"), "utf8")) as Evaluation;
      assert.equal(m.track, t.track);
      // ours and sklearn's newton-cholesky (tol 1e-12) both reach the optimum (test/calibration.test.ts: 1e-13 of a 60-digit one)
      const x = expected.calibration.exact;
      assert.ok(
        Math.abs(m.calibration!.a - x.a) <= 1e-9 * Math.abs(x.a) && Math.abs(m.calibration!.b - x.b) <= 1e-9 * Math.max(1, Math.abs(x.b)),
        `${m.calibration!.a}, ${m.calibration!.b} vs ${x.a}, ${x.b}`,
      );
      const g = m.detection!.generators!;
      assert.deepEqual(
        g.rows.map((row) => [row.label, row.real, row.synthetic]),
        expected.rows.map((row) => [row.label, row.real, row.synthetic]),
      );
      g.rows.forEach((row, i) => {
        assert.ok(Math.abs(row.acc.value - expected.rows[i]!.acc) < 1e-12, `${row.label} acc ${row.acc.value} vs ${expected.rows[i]!.acc}`);
        assert.ok(Math.abs(row.auc.value - expected.rows[i]!.auc) < 1e-12, `${row.label} auc ${row.auc.value} vs ${expected.rows[i]!.auc}`);
      });
      assert.ok(Math.abs(g.mean.acc - expected.mean.acc) < 1e-12 && Math.abs(g.mean.auc - expected.mean.auc) < 1e-12);
      assert.equal(m.detection!.groups, null);
      assert.equal(m.identification, null);
    });

    test("report: the CSV is the one upstream's script writes for these scores, byte for byte", () => {
      const r = cli(["report", run, "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(path.join(out, "csv", t.folder, "Fixture.csv"), "utf8"), readFileSync(path.join(dir, "expected/Fixture.csv"), "utf8"));
      assert.deepEqual(readdirSync(path.join(out, "csv")), [t.folder]);
      const md = readFileSync(path.join(out, "report.md"), "utf8");
      assert.match(md, t.track === "corvi" ? /#### Results Corvi test set\n\|\s+ACC \/ AUC\s+\|\s+Fixture\s+\|/ : /\| MidjourneyV4 +\| \*\*0\.6000\*\* \/ <ins>0\.6600<\/ins> \|/);
      assert.match(readFileSync(path.join(out, "report.html"), "utf8"), t.track === "corvi" ? /Results Corvi test set/ : /Results Practical test set/);
    });
  });
}

describe("track detection and its errors", () => {
  const corvi = path.join(FIXTURES, "corvi");
  const practical = path.join(FIXTURES, "practical");

  test("lists of two tracks in one run: an error naming both files", () => {
    const r = cli([
      "eval",
      "import",
      path.join(corvi, "annotations_corvi.txt"),
      "--scores",
      path.join(corvi, "scores.csv"),
      "--calibration-list",
      path.join(practical, "annotations_calib_practical.txt"),
      "--name",
      "x",
      "--out",
      path.join(tmpDir(), "r"),
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /annotations_calib_practical\.txt is in the Practical test set's format but .*annotations_corvi\.txt in the Corvi test set's/);
  });

  test("a two-field Corvi list serves as a calibration list, not as a test list", () => {
    const r = cli(["eval", "import", path.join(corvi, "annotations_calib_corvi.txt"), "--scores", path.join(corvi, "scores.csv"), "--name", "x", "--out", path.join(tmpDir(), "r")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /annotations_calib_corvi\.txt:1: a Corvi test list needs "path,origin,gen"/);
  });

  test("CSV numbers are Python's f\"{x:.4f}\", as upstream's scripts wrote them (exact ties to even)", () => {
    const cases = JSON.parse(readFileSync(path.join(FIXTURES, "python_format.json"), "utf8")) as [string, string][];
    for (const [repr, text] of cases) assert.equal(pythonFixed(Number(repr)), text, repr);
    assert.equal(pythonFixed(0.78125), "0.7812");
  });

  test("a Practical list's subset comes from its name", () => {
    assert.equal(practicalSubset("/a/Test_MidjourneyV4_num1354.txt"), "MidjourneyV4");
    assert.equal(practicalSubset("mine.txt"), "mine");
  });

  test("each track's preprocessing: Practical pad + crop 448 in place of ImagiNet's 256; Corvi as is; a model's own crop follows", () => {
    assert.deepEqual(trackRecipe("practical", CENTER256), CENTER448);
    assert.equal(trackRecipe("practical", CENTER448), CENTER448);
    assert.equal(trackRecipe("corvi", CENTER256).name, "as-is");
    assert.deepEqual(trackRecipe("corvi", CENTER256).steps, []);
    assert.equal(trackRecipe("corvi", CENTER448), CENTER448, "LASTED_Load pads and crops to 448 on the Corvi set too");
    assert.deepEqual(trackRecipe("practical", CENTER224_TORCHVISION).steps, [...CENTER448.steps, ...CENTER224_TORCHVISION.steps]);
    assert.equal(trackRecipe("imaginet", CENTER256), CENTER256);
  });
});

describe("upstream's Corvi and Practical reference CSVs through the renderer", { skip: !HAVE_SHARED && "../shared/imaginet not present" }, () => {
  const RESULTS = path.join(SHARED, "reference_results");
  /** As the renderer writes a file (CRLF, final line break) whatever upstream's file had. */
  const normalised = (s: string): string => s.replace(/\r\n/g, "\n").replace(/\n$/, "");

  for (const t of TRACKS) {
    test(`${t.folder}: every detector's file comes back from an evaluation holding its numbers`, () => {
      const dir = path.join(RESULTS, t.folder);
      const shown = Object.fromEntries(Object.entries(PRACTICAL_CSV_LABELS).map(([k, v]) => [v, k]));
      // one evaluation per detector file, its table the file's rows (labels as we show them) and its Mean row
      const evals = UPSTREAM_DETECTORS.map((d) => {
        const csv = parseUpstreamCsv(readFileSync(path.join(dir, d.file), "utf8"), d.file);
        const rows = csv.rows.filter((r) => r.label !== "Mean");
        const mean = csv.rows.find((r) => r.label === "Mean")!;
        const generators: DetectionTable = {
          rows: rows.map((r) => ({ label: shown[r.label] ?? r.label, acc: { value: r.acc, lo: NaN, hi: NaN }, auc: { value: r.auc, lo: NaN, hi: NaN } }) as DetectionTable["rows"][number]),
          mean: { acc: mean.acc, auc: mean.auc },
        };
        return { detector: d.name, track: t.track, detection: { generators } } as unknown as Evaluation;
      });
      const [rendered] = upstreamTables(evals);
      assert.equal(rendered!.spec.folder, t.folder);
      if (t.track === "practical") assert.equal(rendered!.table.rows[1]!.label, "MidjourneyV4");
      for (const [j, d] of UPSTREAM_DETECTORS.entries()) {
        const c = rendered!.csvs[j]!;
        assert.equal(c.path, `csv/${t.folder}/${fileNames([d.name]).get(d.name)}.csv`);
        assert.equal(normalised(c.data), normalised(readFileSync(path.join(dir, d.file), "utf8")), d.file);
      }
    });

    test(`${t.folder}: a table of the files written back per detector equals each file byte for byte`, () => {
      const dir = path.join(RESULTS, t.folder);
      const table = tableFromUpstreamCsvs(dir, UPSTREAM_DETECTORS, {});
      for (const [j, d] of UPSTREAM_DETECTORS.entries()) {
        const text = readFileSync(path.join(dir, d.file), "utf8");
        const like = parseUpstreamCsv(text);
        assert.equal(scoreTableCsv(table, j, { labelHeader: like.labelHeader, eol: like.eol, finalNewline: like.finalNewline }), text, d.file);
      }
    });
  }

  test("the annotation files in the shared folder are read as their tracks", () => {
    const ann = path.join(SHARED, "additional_annotations");
    const tmp = path.join(tmpDir(), "scores.csv");
    // scores for every listed image of the Practical set's smallest list and its calibration list
    const lines = [...readFileSync(path.join(ann, "Test_YiJian_num796.txt"), "utf8").split("\n"), ...readFileSync(path.join(ann, "annotations_calib_practical.txt"), "utf8").split("\n")]
      .map((l) => l.trim())
      .filter((l) => l !== "");
    writeFileSync(tmp, `path,score\n${[...new Set(lines.map((l) => l.split(" ")[0]))].map((p, i) => `${p},${(i % 7) - 3}`).join("\n")}\n`);
    const run = path.join(tmpDir(), "run");
    const r = cli(["eval", "import", path.join(ann, "Test_YiJian_num796.txt"), "--scores", tmp, "--calibration-list", path.join(ann, "annotations_calib_practical.txt"), "--name", "x", "--out", run]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /796 test predictions, 24 calibration predictions for x \(Practical test set\)/);
    assert.ok(existsSync(path.join(run, "run.json")));
  });
});

describe("eval detect and calibrate on a Practical-format list: the track's preprocessing", () => {
  test("images get pad + crop 448 in place of grag2021's 256 crop, the run and the calibration record it", async () => {
    const root = tmpDir();
    const weights = path.join(REPO, "test/fixtures/models/grag_tiny.pth");
    // sizes around 448 and 256 so that pad + crop 448 and pad + crop 256 see different pixels
    const sizes = [
      [300, 200],
      [520, 470],
      [460, 300],
      [256, 512],
    ];
    const lines: string[] = [];
    for (const [i, [w, h]] of sizes.entries()) {
      const rel = `AIDraw_1122/${i % 2 ? "Fake/DreamBooth" : "Real/artist"}/${i}.png`;
      const raw = Buffer.alloc(w! * h! * 3);
      for (let k = 0; k < raw.length; k++) raw[k] = (k * 37 + i * 101 + ((k / (w! * 3)) | 0) * 13) % 256;
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      await sharp(raw, { raw: { width: w!, height: h!, channels: 3 } })
        .png()
        .toFile(path.join(root, rel));
      lines.push(`${rel} ${i % 2}`);
    }
    const list = path.join(root, "Test_DreamBooth_num4.txt");
    writeFileSync(list, `${lines.join("\n")}\n`);
    const calib = path.join(root, "annotations_calib_practical.txt");
    writeFileSync(calib, `${lines.join("\n")}\n`);

    const run = path.join(tmpDir(), "run");
    const d = cli(["eval", "detect", list, "--calibration-list", calib, "--detector", "grag2021", "--weights", weights, "--root", root, "--out", run, "--batch", "1", "--workers", "1"]);
    assert.equal(d.code, 0, d.stderr);
    const loaded = await readRun(run);
    assert.deepEqual(loaded.manifest.track, { name: "practical", preprocessing: "center448" });
    assert.equal(loaded.manifest.recipeHash, recipeHash(CENTER448));
    assert.deepEqual(
      loaded.predictions.map((p) => [p.split, p.labels]),
      lines.map((_, i) => ["DreamBooth", [i % 2]]),
    );

    // the same images scored here with an explicit pad + crop 448, and with grag2021's own recipe
    const spec = findDetector("grag2021");
    const model = await loadModel(spec, [weights], { workers: 1 });
    const items = lines.map((l) => ({ root, path: l.split(" ")[0]! }));
    const at448 = await scoreItems(
      spec,
      model,
      items.map((it) => ({ ...it, recipe: CENTER448 })),
      { batchSize: 1, workers: 1 },
    );
    const own = await scoreItems(spec, model, items, { batchSize: 1, workers: 1 });
    assert.deepEqual(
      loaded.predictions.map((p) => p.score),
      at448,
    );
    assert.ok(
      at448.every((s, i) => s !== own[i]),
      "pad + crop 448 and grag2021's 256 crop see different pixels",
    );

    assert.equal(cli(["eval", "run", run, "--bootstrap", "0"]).code, 0);
    const calFile = path.join(tmpDir(), "cal.json");
    const c = cli(["calibrate", calib, "--detector", "grag2021", "--weights", weights, "--root", root, "-o", calFile, "--batch", "1", "--workers", "1"]);
    assert.equal(c.code, 0, c.stderr);
    const cal = JSON.parse(readFileSync(calFile, "utf8"));
    const metrics = JSON.parse(readFileSync(path.join(run, "metrics.json"), "utf8"));
    assert.deepEqual([cal.track, cal.preprocessing], ["practical", "center448"]);
    assert.deepEqual([cal.a, cal.b], [metrics.calibration.a, metrics.calibration.b]);
  });

  test("wu2023 on the Corvi or Practical track asks for the track's anchor list", () => {
    const dir = path.join(FIXTURES, "practical");
    const r = cli(["calibrate", path.join(dir, "annotations_calib_practical.txt"), "--detector", "wu2023", "--weights", "x.pth", "--root", dir, "-o", path.join(tmpDir(), "c.json")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Wu2023 \(LASTED\) on the Practical test set takes that set's real anchor images, as upstream: pass --anchors anchor_lasted_practical\.txt/);
  });
});
