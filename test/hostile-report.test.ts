import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import type { Evaluation } from "../src/eval/evaluate.js";
import { writeReport } from "../src/report/build.js";
import { cli, REPO, tmpDir } from "./helpers.js";
import { COLLIDING_NAMES, HOSTILE_NAME, makeCorpus } from "./support/hostile/report.js";

const GRAG = path.join(REPO, "test/fixtures/models/grag_tiny.pth");
const read = (...p: string[]): string => readFileSync(path.join(...p), "utf8");

describe("hostile input: reports, eval import, calibration files, annotation lists", () => {
  let root = "";
  let cases: string[] = [];
  const at = (name: string, ...rest: string[]): string => {
    assert.ok(cases.includes(name), `no corpus case ${name}`);
    return path.join(root, "report", name, ...rest);
  };
  before(async () => {
    root = tmpDir();
    cases = await makeCorpus(root);
  });

  test("hostile-name: a name with ` onerror=`, tags and markup is escaped in every file, and the report is whole", () => {
    const out = at("hostile-name", "out");
    const r = cli(["report", at("hostile-name", "run"), "--out", out, "--bootstrap", "0", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const csv = "Evil_onerror_alert_1_script_x_script_b_c__d_-06c4719f.csv";
    assert.deepEqual(
      (JSON.parse(r.stdout) as string[]).map((f) => path.relative(out, f)),
      [`csv/ImagiNet/${csv}`, `csv/ImagiNet_Specific_Model/${csv}`, `csv/ImagiNet_Content/${csv}`, "plots/roc.svg", "plots/reliability.svg", "report.md", "report.json", "report.html"],
    );
    const html = read(out, "report.html");
    const escaped = "Evil&quot; onerror=alert(1) &lt;script&gt;x&lt;/script&gt; | *b* &amp; `c`, _d_";
    assert.equal(html.split(`<th scope="col">${escaped}</th>`).length - 1, 3, "one column header per score table");
    assert.ok(html.includes(`<dd>${escaped}</dd>`));
    assert.ok(html.includes(`<p class="note">${escaped}: csv/ImagiNet/${csv}, csv/ImagiNet_Specific_Model/${csv}, csv/ImagiNet_Content/${csv}</p>`));
    assert.ok(!html.includes("<script"), "no tag from the name survives");
    assert.ok(!html.includes(HOSTILE_NAME));
    const md = read(out, "report.md");
    assert.equal(md.split("\n")[3], '|  ACC / AUC | Evil" onerror=alert(1) \\<script\\>x\\</script\\> \\| \\*b\\* \\& \\`c\\`, \\_d\\_ |');
    const roc = read(out, "plots/roc.svg");
    assert.ok(roc.includes('>Evil" onerror=alert(1) &lt;script&gt;x&lt;/s…<'), "legend text escaped (and shortened) by Vega");
    assert.ok(roc.includes('aria-label="False positive rate: 0; True positive rate: 0; Detector: Evil&quot; onerror=alert(1) &lt;script&gt;x&lt;/script&gt; | *b* &amp; `c`, _d_ (AUC '));
    assert.ok(!roc.includes("<script"));
    assert.equal(read(out, "csv/ImagiNet", csv).split("\r\n")[0], "Model,ACC,AUC");
    const json = JSON.parse(read(out, "report.json")) as { detectors: string[]; csvFiles: unknown[] };
    assert.deepEqual(json.detectors, [HOSTILE_NAME]);
    assert.deepEqual(json.csvFiles[0], { path: `csv/ImagiNet/${csv}`, detector: HOSTILE_NAME, table: "groups" });
  });

  test("colliding-names: Det<1 and Det>1 get a CSV each, report.json says whose; a second report into the same folder replaces the files", () => {
    const out = at("colliding-names", "out");
    const runs = [at("colliding-names", "run0"), at("colliding-names", "run1")];
    const r = cli(["report", ...runs, "--out", out, "--bootstrap", "0", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const files = { "Det<1": "Det_1-2bc77a6f.csv", "Det>1": "Det_1-6214585a.csv" };
    assert.deepEqual(readdirSync(path.join(out, "csv/ImagiNet")).sort(), Object.values(files).sort());
    const json = JSON.parse(read(out, "report.json")) as { csvFiles: { path: string; detector: string; table: string }[] };
    assert.deepEqual(
      json.csvFiles.filter((f) => f.table === "groups"),
      COLLIDING_NAMES.map((n) => ({ path: `csv/ImagiNet/${files[n]}`, detector: n, table: "groups" })),
    );
    const html = read(out, "report.html");
    assert.ok(html.includes(`<p class="note">Det&lt;1: csv/ImagiNet/${files["Det<1"]}, `));
    assert.ok(html.includes(`<p class="note">Det&gt;1: csv/ImagiNet/${files["Det>1"]}, `));
    const before = read(out, "report.md");
    const again = cli(["report", ...runs, "--out", out, "--bootstrap", "0"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(read(out, "report.md"), before);
    assert.deepEqual(readdirSync(at("colliding-names")).sort(), ["out", "run0", "run1"], "no temporary folder left beside the report");
  });

  test("out-blocked: a destination that is a folder stops the report before anything is written", () => {
    const out = at("out-blocked", "out");
    const r = cli(["report", at("out-blocked", "run"), "--out", out, "--bootstrap", "0"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: cannot write the report: ${path.join(out, "report.html")} is a folder\n`);
    assert.equal(r.stdout, "");
    assert.deepEqual(readdirSync(out), ["report.html"], "no report.md, report.json, csv/ or plots/");
    assert.deepEqual(readdirSync(at("out-blocked")).sort(), ["out", "run"], "no temporary folder left");
  });

  test("render-failure: a metrics.json that breaks a plot writes no file at all", async () => {
    const e = JSON.parse(read(at("render-failure", "run", "metrics.json"))) as Evaluation;
    const out = at("render-failure", "out");
    await assert.rejects(writeReport([e], out), { message: "rocSvg: Broken: fpr and tpr lengths differ" });
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(at("render-failure")), ["run"]);
  });

  test("double-slash-paths: ./a//r0.webp in the annotations and the scores is the same image", () => {
    const r = cli(["eval", "import", at("double-slash-paths", "test.txt"), "--scores", at("double-slash-paths", "scores.csv"), "--name", "D", "--out", at("double-slash-paths", "run")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${at("double-slash-paths", "run")}: 2 test predictions for D\n`);
    assert.equal(
      read(at("double-slash-paths", "run", "predictions.jsonl")),
      '{"path":"a/r0.webp","labels":[0,0,4,8],"split":"gan","score":-1.5}\n{"path":"a/s0.webp","labels":[1,0,0,0],"split":"gan","score":2.25}\n',
    );
  });

  test("score-path-escape: a score path that leaves the dataset root is refused with file:line", () => {
    const r = cli(["eval", "import", at("score-path-escape", "test.txt"), "--scores", at("score-path-escape", "scores.csv"), "--name", "D", "--out", at("score-path-escape", "run")]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: ${at("score-path-escape", "scores.csv")}:3: path "./a/../../x.webp" escapes the dataset root\n`);
    assert.equal(existsSync(at("score-path-escape", "run")), false);
  });

  test("score-path-absolute: an absolute score path is refused with file:line", () => {
    const r = cli(["eval", "import", at("score-path-absolute", "test.txt"), "--scores", at("score-path-absolute", "scores.csv"), "--name", "D", "--out", at("score-path-absolute", "run")]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: ${at("score-path-absolute", "scores.csv")}:2: absolute path "/etc/r0.webp": paths must be relative to the dataset root\n`);
    assert.equal(existsSync(at("score-path-absolute", "run")), false);
  });

  const detectWith = (name: string, file: string) => cli(["detect", at(name, "img.png"), "--detector", "grag2021", "--weights", GRAG, "--calibration", at(name, file)]);

  test('calibration-infinite: {"a": 1e999} is refused, naming the file', () => {
    const r = detectWith("calibration-infinite", "cal.json");
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: ${at("calibration-infinite", "cal.json")}: "a" must be a finite number, got Infinity\n`);
    assert.equal(r.stdout, "");
  });

  test("calibration-missing-b: a calibration without b is refused", () => {
    const r = detectWith("calibration-missing-b", "cal.json");
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: ${at("calibration-missing-b", "cal.json")}: "b" is missing: expected {"a": number, "b": number}\n`);
  });

  test("calibration-unknown-key: a key no calibration file has is refused", () => {
    const r = detectWith("calibration-unknown-key", "cal.json");
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `imaginet: error: ${at("calibration-unknown-key", "cal.json")}: unknown key "B": expected {"a": number, "b": number} as \`imaginet calibrate\` writes it, or a run's metrics.json\n`,
    );
  });

  test("calibration-metrics-without: a metrics.json of a run without calibration images is refused", () => {
    const r = detectWith("calibration-metrics-without", "metrics.json");
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: ${at("calibration-metrics-without", "metrics.json")}: "calibration" is null: the run had no calibration images\n`);
  });

  test("repeated-lines: identical repeats are counted once, with a warning and a count in --json", () => {
    const list = at("repeated-lines", "list.txt");
    const r = cli(["dataset", "verify", "--root", at("repeated-lines", "root"), "--json", list]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `imaginet: warning: ${list}: 2 lines repeat an earlier line with the same path and labels and were counted once (first: ${list}:3, repeating line 1)\n`);
    const report = JSON.parse(r.stdout) as { referenced: number; repeatedLines: number; ok: boolean };
    assert.deepEqual([report.referenced, report.repeatedLines, report.ok], [2, 2, true]);
    const inspect = cli(["dataset", "inspect", "--json", list]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const [stats] = JSON.parse(inspect.stdout) as { records: number; repeatedLines: number }[];
    assert.deepEqual([stats!.records, stats!.repeatedLines], [2, 2]);
  });

  test("conflicting-repeat: a repeat with other labels is an error naming both lines", () => {
    const list = at("conflicting-repeat", "list.txt");
    const r = cli(["dataset", "verify", "--root", at("conflicting-repeat", "root"), list]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: ${list}:3: duplicate path "a/r0.png" with other labels than ${list}:1\n`);
    assert.equal(r.stdout, "");
  });
});
