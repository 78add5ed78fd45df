import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { readPredictions, readRun } from "../src/eval/results.js";
import { parseCsv } from "../src/util/csv.js";
import { cli, tmpDir } from "./helpers.js";

describe("results schema", () => {
  test("CSV reader: quotes, commas and newlines inside fields, CRLF, BOM, trailing newline", () => {
    assert.deepEqual(parseCsv('\ufeffpath,score\r\n"a, b.png",0.5\r\n"say ""hi""\nthere.png",-1\nc.png,2\n'), [
      ["path", "score"],
      ["a, b.png", "0.5"],
      ['say "hi"\nthere.png', "-1"],
      ["c.png", "2"],
    ]);
  });

  test("every prediction line is checked, with file and line in the error", async () => {
    const dir = tmpDir();
    const f = path.join(dir, "p.jsonl");
    const bad = async (line: string, message: string): Promise<void> => {
      writeFileSync(f, `{"path":"a.png","labels":[0,0,4,8],"score":1.5}\n\n${line}\n`);
      await assert.rejects(readPredictions(f), { message: `${f}:3: ${message}` });
    };
    await bad("{not json", "not valid JSON");
    await bad('{"path":"b.png","labels":[0,0,4],"score":1}', 'expected "labels": [origin, content, group, specific] (ImagiNet), [origin, gen] (Corvi) or [origin] as non-negative integers');
    await bad('{"path":"b.png","labels":[2,0,4,8],"score":1}', "origin must be 0 or 1, got 2");
    await bad('{"path":"b.png","labels":[0,0,4,8]}', 'expected "score" (a number) or "logits" (an array of numbers)');
    await bad('{"path":"b.png","labels":[0,0,4,8],"score":"x"}', '"score" must be a finite number, got "x"');
    await bad('{"path":"b.png","labels":[0,0,4,8],"logits":[]}', '"logits" must be a non-empty array of finite numbers');
    await bad('{"path":"b.png","labels":[0,0,4,8],"score":1,"perturbation":"jpeg"}', '"perturbation" and "severity" go together');
    await bad('{"path":"b.png","labels":[0,0,4,8],"score":1,"colour":1}', 'unknown field "colour"');
    writeFileSync(f, "\n");
    await assert.rejects(readPredictions(f), { message: `${f}:1: no predictions` });
  });

  test("eval import joins scores with annotation files into a run; splits come from the files", async () => {
    const dir = tmpDir();
    const gan = path.join(dir, "test_gan.txt");
    const sd = path.join(dir, "test_sd.txt");
    const calib = path.join(dir, "test_calibration.txt");
    writeFileSync(gan, "./testset/photos/synthetic/gan/00000.webp,1,0,0,0\n./testset/photos/real/00001.webp,0,0,4,8\n");
    writeFileSync(sd, "./testset/faces/synthetic/sd/00002.webp,1,2,1,4\n./testset/faces/real/00003.webp,0,2,4,8\n");
    writeFileSync(calib, "./testset/photos/real/00001.webp,0,0,4,8\n./testset/faces/synthetic/sd/00002.webp,1,2,1,4\n");
    const scores = path.join(dir, "scores.csv");
    writeFileSync(
      scores,
      "path,score\n./testset/photos/synthetic/gan/00000.webp,2.5\ntestset/photos/real/00001.webp,-1\n./testset/faces/synthetic/sd/00002.webp,0.25\n./testset/faces/real/00003.webp,-0.5\n",
    );
    const run = path.join(dir, "run");
    const r = cli(["eval", "import", gan, sd, "--scores", scores, "--name", "Mine", "--out", run, "--calibration-list", calib]);
    assert.equal(r.code, 0, r.stderr);
    const loaded = await readRun(run);
    assert.equal(loaded.manifest.detector.name, "Mine");
    assert.deepEqual(
      loaded.manifest.annotations.map((a) => a.file),
      ["test_gan.txt", "test_sd.txt", "test_calibration.txt"],
    );
    assert.deepEqual(
      loaded.predictions.map((p) => [p.path, p.split, p.score]),
      [
        ["testset/photos/synthetic/gan/00000.webp", "gan", 2.5],
        ["testset/photos/real/00001.webp", "gan", -1],
        ["testset/faces/synthetic/sd/00002.webp", "sd", 0.25],
        ["testset/faces/real/00003.webp", "sd", -0.5],
      ],
    );
    assert.equal(loaded.calibration?.length, 2);
    assert.equal(readFileSync(path.join(run, "predictions.jsonl"), "utf8").split("\n").length, 5);

    writeFileSync(scores, "path,score\n./testset/photos/synthetic/gan/00000.webp,2.5\n");
    const missing = cli(["eval", "import", gan, "--scores", scores, "--name", "Mine", "--out", run]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no score for 1 image\(s\) of .*test_gan\.txt, e\.g\. "testset\/photos\/real\/00001\.webp"/);
    writeFileSync(scores, "path,score\na.png,abc\n");
    const nan = cli(["eval", "import", gan, "--scores", scores, "--name", "Mine", "--out", run]);
    assert.match(nan.stderr, /scores\.csv:2: score must be a finite number, got "abc"/);
  });
});
