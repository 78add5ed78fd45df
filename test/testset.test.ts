import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { makeExampleDataset } from "../src/data/example.js";
import { walkFiles } from "../src/data/prune.js";
import { cli, REPO, tmpDir } from "./helpers.js";

let root = "";
const files = (): string[] => ["gan", "sd", "midjourney", "dalle3"].map((g) => path.join(root, "annotations", `test_annotations_${g}.txt`));

/** Every file under a built test set with its sha256, for byte-for-byte comparisons. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const { files: all } = await walkFiles(dir);
  return Object.fromEntries(
    all
      .filter((f) => f !== "testset.json")
      .sort()
      .map((f) => [
        f,
        createHash("sha256")
          .update(readFileSync(path.join(dir, f)))
          .digest("hex"),
      ]),
  );
}

const build = (out: string, ...extra: string[]) => cli(["testset", "build", "--root", root, "--out", out, "--json", ...extra, ...files()]);

before(async () => {
  root = path.join(tmpDir(), "root");
  // sizes 240-300: some sources are padded up to the 256 minimum crop, others cropped
  await makeExampleDataset(root, { seed: 11, perKind: 8, size: 240 });
});

describe("testset build", () => {
  let reference: Record<string, string> = {};

  test("upstream layout and numbering; one worker and two give byte-identical images and manifest", async () => {
    const one = path.join(tmpDir(), "one");
    const r1 = build(one, "--workers", "1");
    assert.equal(r1.code, 0, r1.stderr);
    const rep = JSON.parse(r1.stdout);
    assert.deepEqual([rep.total, rep.built, rep.skipped, rep.failed.length], [32, 32, 0, 0]);
    const sd = readFileSync(path.join(one, "test_sd.txt"), "utf8").trim().split("\n");
    // gan's 12 lines are numbered 00000-00011, sd's start at 00012; synthetic under its group, real without
    assert.equal(sd.length, 12);
    assert.match(sd[0]!, /^\.\/testset\/(photos|paintings|faces|uncategorized)\/synthetic\/sd\/00012\.webp,1,\d,1,[345]$/);
    assert.match(sd.at(-1)!, /^\.\/testset\/(photos|paintings|faces|uncategorized)\/real\/00023\.webp,0,\d,4,8$/);
    const manifest = readFileSync(path.join(one, "manifest.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      manifest.map((m) => m.k),
      [...Array(32).keys()],
    );
    for (const m of manifest) {
      const crop = m.trace[0];
      assert.equal(crop.op, "random_square_crop");
      const short = Math.min(...m.sourceSize);
      assert.ok(crop.side >= 256 && crop.side <= Math.max(256, Math.min(short, 1000)), `crop side ${crop.side} for ${m.sourceSize}`);
      assert.equal(crop.padded, short < crop.side);
      for (const t of m.trace.slice(1)) assert.ok(t.op === "resize" || (t.op === "compress" && t.quality >= 60 && t.quality <= 100), JSON.stringify(t));
    }
    const meta = await (await import("sharp")).default(path.join(one, manifest[5].output)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["webp", 256, 256]);

    const two = path.join(tmpDir(), "two");
    assert.equal(build(two, "--workers", "2").code, 0);
    reference = await snapshot(one);
    assert.deepEqual(await snapshot(two), reference);
    const other = path.join(tmpDir(), "other");
    assert.equal(build(other, "--workers", "2", "--seed", "43").code, 0);
    assert.notDeepEqual((await snapshot(other))["manifest.jsonl"], reference["manifest.jsonl"], "another seed draws other parameters");
  });

  test("a killed run resumes: finished images are checked, not assumed, and the result is identical", async () => {
    const out = path.join(tmpDir(), "killed");
    const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "src/cli/main.ts"), "testset", "build", "--root", root, "--out", out, "--workers", "1", ...files()], { stdio: "ignore" });
    const partial = path.join(out, "manifest.partial.jsonl");
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !(existsSync(partial) && readFileSync(partial, "utf8").split("\n").length > 4)) await sleep(20);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    assert.equal(existsSync(path.join(out, "manifest.jsonl")), false, "killed before the end");
    // an image damaged after it was recorded must be rebuilt, not trusted
    const first = JSON.parse(readFileSync(partial, "utf8").split("\n")[0]!);
    writeFileSync(path.join(out, first.output), "garbage");
    const r = build(out, "--workers", "2");
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.ok(rep.skipped >= 3 && rep.skipped < 32, `skipped ${rep.skipped}`);
    assert.equal(rep.built + rep.skipped, 32);
    assert.deepEqual(await snapshot(out), reference);
    assert.deepEqual(
      (await walkFiles(out)).files.filter((f) => f.endsWith(".tmp") || f.includes("partial")),
      [],
    );
  });

  test("a corrupt or missing source is reported, the rest is built, and the exit code counts failures", async () => {
    const broken = path.join(tmpDir(), "broken-root");
    await makeExampleDataset(broken, { seed: 11, perKind: 8, size: 240 });
    const gan = readFileSync(path.join(broken, "annotations/test_annotations_gan.txt"), "utf8").split("\n");
    const victim = gan[1]!.split(",")[0]!.slice(2);
    writeFileSync(path.join(broken, victim), "not an image");
    const missing = gan[2]!.split(",")[0]!.slice(2);
    const { rmSync } = await import("node:fs");
    rmSync(path.join(broken, missing));
    const out = path.join(tmpDir(), "out");
    const r = cli(["testset", "build", "--root", broken, "--out", out]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /30 built, 0 already done, 2 failed of 32/);
    const errors = readFileSync(path.join(out, "errors.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      errors.map((e) => [e.k, e.source]),
      [
        [1, victim],
        [2, missing],
      ],
    );
    assert.match(errors[0].error, /not a readable image/);
    const list = readFileSync(path.join(out, "test_gan.txt"), "utf8");
    assert.equal(list.includes("/00001.webp"), false, "failed images are not listed");
    assert.equal(list.trim().split("\n").length, 10);
  });

  test("bad input: a mixed-group file, other settings into the same folder, no annotation files", async () => {
    const out = path.join(tmpDir(), "x");
    const mixed = cli(["testset", "build", "--root", root, "--out", out, path.join(root, "annotations", "test_annotations.txt")]);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /a test-set file must hold the synthetic images of exactly one generator group .* found gan, sd, midjourney, dalle3/);
    assert.equal(build(out, "--seed", "1").code, 0);
    const again = build(out, "--seed", "2");
    assert.equal(again.code, 2);
    assert.match(again.stderr, /holds a test set built with other settings \(seed 1, /);
    const none = cli(["testset", "build", "--root", tmpDir(), "--out", out]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /test_annotations_gan\.txt, test_annotations_sd\.txt, test_annotations_midjourney\.txt, test_annotations_dalle3\.txt not found/);
  });
});
