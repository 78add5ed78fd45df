import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { cli, REPO, tmpDir } from "./helpers.js";

const fixture = path.join(REPO, "test/fixtures/evaluate");

/** A second detector: the fixture's scores, made a little better for synthetic images. */
function otherRun(dir: string): void {
  cpSync(fixture, dir, { recursive: true });
  writeFileSync(path.join(dir, "run.json"), readFileSync(path.join(dir, "run.json"), "utf8").replace('"Fixture"', '"Other"'));
  const rows = readFileSync(path.join(dir, "predictions.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const shifted = rows.map((r) => ({ ...r, score: r.labels[0] === 1 ? r.score + 1 : r.score }));
  const sweep = shifted.slice(0, 100).flatMap((r) => [60, 80, 100].map((q) => ({ ...r, perturbation: "jpeg", severity: q, score: (r.score * q) / 100 })));
  writeFileSync(path.join(dir, "predictions.jsonl"), `${[...shifted, ...sweep].map((r) => JSON.stringify(r)).join("\n")}\n`);
}

describe("imaginet report", () => {
  test("two runs → README-layout Markdown with the best marked, upstream CSVs, plots, one HTML page", () => {
    const a = path.join(tmpDir(), "a");
    cpSync(fixture, a, { recursive: true });
    const b = path.join(tmpDir(), "b");
    otherRun(b);
    const out = path.join(tmpDir(), "report");
    const r = cli(["report", a, b, "--out", out, "--bootstrap", "50", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as string[]).map((f) => path.relative(out, f)).sort();
    assert.deepEqual(files, [
      "csv/ImagiNet/Fixture.csv",
      "csv/ImagiNet/Other.csv",
      "csv/ImagiNet_Content/Fixture.csv",
      "csv/ImagiNet_Content/Other.csv",
      "csv/ImagiNet_Specific_Model/Fixture.csv",
      "csv/ImagiNet_Specific_Model/Other.csv",
      "plots/reliability.svg",
      "plots/robustness-jpeg.svg",
      "plots/roc.svg",
      "report.html",
      "report.json",
      "report.md",
    ]);
    const md = readFileSync(path.join(out, "report.md"), "utf8");
    // the fixture's group numbers (checked against sklearn in evaluate.test.ts); Other is better on every row
    assert.match(md, /\| GAN {8}\| 0\.7250 \/ 0\.7926 \| \*\*0\.\d{4}\*\* \/ <ins>0\.\d{4}<\/ins> \|/);
    assert.match(md, /\| \*\*Mean\*\* {3}\| 0\.6943 \/ 0\.7534 \|/);
    const csv = readFileSync(path.join(out, "csv/ImagiNet/Fixture.csv"), "utf8");
    assert.equal(csv, "Model,ACC,AUC\r\nGAN,0.7250,0.7926\r\nSD,0.6646,0.7321\r\nMidjourney,0.6958,0.7280\r\nDALLE3,0.6917,0.7608\r\nMean,0.6943,0.7534\r\n");
    assert.match(readFileSync(path.join(out, "csv/ImagiNet_Content/Fixture.csv"), "utf8"), /^Content Type,ACC,AUC\r\nPhotos,/);
    const html = readFileSync(path.join(out, "report.html"), "utf8");
    assert.equal((html.match(/<table/g) ?? []).length, 5);
    assert.equal((html.match(/<svg/g) ?? []).length, 3);
    assert.doesNotMatch(html, /(src|href)="https?:/);
  });

  test("runs with the same detector name cannot share a table", () => {
    const a = path.join(tmpDir(), "a");
    cpSync(fixture, a, { recursive: true });
    const r = cli(["report", a, a, "--out", tmpDir()]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /two runs are named "Fixture"/);
  });
});

describe("imaginet report with per-source evaluations", () => {
  test("eval run --sources, then report: the per-source table and each detector's intervals in Markdown, HTML and JSON", () => {
    const run = path.join(tmpDir(), "run");
    cpSync(path.join(REPO, "test/fixtures/evaluate-sources"), run, { recursive: true });
    const e = cli(["eval", "run", run, "--bootstrap", "50", "--sources", path.join(run, "sources.csv"), "--json"]);
    assert.equal(e.code, 0, e.stderr);
    const [evaluation] = JSON.parse(e.stdout);
    const out = path.join(tmpDir(), "report");
    const r = cli(["report", run, "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const md = readFileSync(path.join(out, "report.md"), "utf8");
    assert.match(md, /#### Results per synthetic source, against the real images of the same content type\n\| *ACC \/ AUC *\| *Fixture *\|/);
    // the numbers eval run computed (checked against sklearn in evaluate.test.ts), with their intervals
    const row = evaluation.detection.sources.rows.find((x: { label: string }) => x.label === "sdc / Photos");
    const f = (v: number) => v.toFixed(4);
    assert.ok(md.includes(`| sdc / Photos    | **${f(row.acc.value)}** / <ins>${f(row.auc.value)}</ins> |`), md);
    assert.match(md, /#### Fixture: within content type and per source, 95% bootstrap intervals/);
    assert.ok(md.includes(`[${f(row.auc.lo)}, ${f(row.auc.hi)}]`));
    assert.match(md, /Left out: Faces \(0 real, 2 synthetic\): no real images, so AUC is undefined; Uncategorised \(0 real, 39 synthetic\)/);
    const html = readFileSync(path.join(out, "report.html"), "utf8");
    assert.match(html, /<caption>Results per synthetic source, against the real images of the same content type<\/caption>/);
    assert.match(html, /<caption>Fixture: within content type and per source, 95% bootstrap intervals<\/caption>/);
    const json = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8"));
    assert.deepEqual(
      json.sources.rows.map((x: { label: string }) => x.label),
      ["ats / Paintings", "ml / Photos", "sdc / Photos", "sdc / Paintings", "Mean"],
    );
    assert.deepEqual(
      json.intervals.Fixture.skipped.map((x: { label: string }) => x.label),
      ["Faces", "Uncategorised", "ats / Uncategorised", "imagen / Uncategorised", "ml / Faces", "sdc / Uncategorised"],
    );
  });
});
