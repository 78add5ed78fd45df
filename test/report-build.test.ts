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
