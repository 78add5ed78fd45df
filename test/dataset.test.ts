import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { makeExampleDataset } from "../src/data/example.js";
import { walkFiles } from "../src/data/prune.js";
import type { VerifyReport } from "../src/data/verify.js";
import { cli, tmpDir } from "./helpers.js";

/** A fresh example root for each test that changes it. */
async function exampleRoot(): Promise<string> {
  const root = path.join(tmpDir(), "root");
  await makeExampleDataset(root, { seed: 7, perKind: 4, size: 48 });
  return root;
}

const sourceRow = (r: VerifyReport, id: string) => {
  const s = r.sources.find((x) => x.source === id);
  assert.ok(s, `source ${id} in report`);
  return s;
};

describe("dataset verify", () => {
  test("a complete root verifies, with per-source counts and formats", async () => {
    const root = await exampleRoot();
    const r = cli(["dataset", "verify", "--root", root, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as VerifyReport;
    assert.equal(report.ok, true);
    assert.equal(report.referenced, 56);
    assert.deepEqual(
      report.sources.map((s) => [s.source, s.referenced, s.present]),
      [
        ["coco-val2017", 4, 4],
        ["danbooru2021", 4, 4],
        ["ffhq", 4, 4],
        ["imagenet", 4, 4],
        ["imaginet-synthetic", 24, 24],
        ["journeydb", 4, 4],
        ["progan-val", 8, 8],
        ["wikiart", 4, 4],
      ],
    );
    assert.deepEqual(sourceRow(report, "imaginet-synthetic").formats, { png: 12, webp: 12 });
    assert.equal(report.annotationFiles.length, 3);
  });

  test("missing, not-an-image, empty, folder and truncated files are reported; --deep finds the truncated ones", async () => {
    const root = await exampleRoot();
    rmSync(path.join(root, "ffhq/00000.png"));
    writeFileSync(path.join(root, "val2017/00001.jpg"), "<html>not an image</html>");
    writeFileSync(path.join(root, "journeydb/00002.jpg"), "");
    rmSync(path.join(root, "dalle3/00003.png"));
    mkdirSync(path.join(root, "dalle3/00003.png"));
    const webp = path.join(root, "sd_photos_fake/00000.webp");
    truncateSync(webp, Math.floor(readFileSync(webp).length * 0.6));
    const jpg = path.join(root, "val2017/00000.jpg");
    truncateSync(jpg, Math.floor(readFileSync(jpg).length * 0.6));

    const shallow = cli(["dataset", "verify", "--root", root, "--json"]);
    assert.equal(shallow.code, 1);
    const r = JSON.parse(shallow.stdout) as VerifyReport;
    assert.equal(r.ok, false);
    assert.deepEqual(sourceRow(r, "ffhq").examples, [{ status: "missing", path: "ffhq/00000.png", reason: "missing" }]);
    assert.deepEqual(sourceRow(r, "coco-val2017").examples, [{ status: "not-image", path: "val2017/00001.jpg", reason: "no known image signature" }]);
    assert.deepEqual(sourceRow(r, "journeydb").examples, [{ status: "not-image", path: "journeydb/00002.jpg", reason: "empty file" }]);
    const synth = sourceRow(r, "imaginet-synthetic");
    assert.deepEqual(synth.examples, [{ status: "unreadable", path: "dalle3/00003.png", reason: "not a regular file (a directory)" }]);
    assert.deepEqual([synth.present, synth.unreadable, synth.corrupt], [23, 1, 0], "header check passes a truncated file");

    const deep = cli(["dataset", "verify", "--root", root, "--deep", "--json"]);
    assert.equal(deep.code, 1);
    const d = JSON.parse(deep.stdout) as VerifyReport;
    assert.deepEqual(
      sourceRow(d, "imaginet-synthetic").examples.map((e) => [e.status, e.path]),
      [
        ["unreadable", "dalle3/00003.png"],
        ["corrupt", "sd_photos_fake/00000.webp"],
      ],
    );
    const coco = sourceRow(d, "coco-val2017");
    assert.deepEqual([coco.present, coco.notImage, coco.corrupt], [2, 1, 1]);
    assert.match(coco.examples.find((e) => e.status === "corrupt")!.reason, /premature end of JPEG/);

    const text = cli(["dataset", "verify", "--root", root]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^ffhq +4 +3 +1 +0 +0 +png 3$/m);
    assert.match(text.stdout, /^ {2}missing: ffhq\/00000\.png$/m);
    assert.match(text.stdout, /PROBLEMS: 4 of 56 referenced files are not usable/);
  });

  test("bad input: no annotation files, a malformed one, a duplicate path", async () => {
    const root = tmpDir();
    const none = cli(["dataset", "verify", "--root", root]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no annotation files given and none of train_annotations\.txt, calibration\.txt, test_annotations\.txt found/);
    const bad = path.join(root, "bad.txt");
    writeFileSync(bad, "./a.png,0,0,4,8\n./b.png,0,0,4\n");
    const r = cli(["dataset", "verify", "--root", root, bad]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: ${bad}:2: malformed line "./b.png,0,0,4": expected "path,origin,content,group,specific" (ImagiNet format), found 4 comma-separated fields\n`);
    writeFileSync(bad, "./a.png,0,0,4,8\n./a.png,0,0,4,8\n");
    const repeated = cli(["dataset", "verify", "--root", root, "--json", bad]);
    assert.equal(repeated.code, 1, "accepted, and a.png is missing");
    assert.equal(repeated.stderr, `imaginet: warning: ${bad}: 1 line repeats an earlier line with the same path and labels and was counted once (first: ${bad}:2, repeating line 1)\n`);
    const report = JSON.parse(repeated.stdout) as VerifyReport & { repeatedLines: number };
    assert.equal(report.referenced, 1);
    assert.equal(report.repeatedLines, 1);
    writeFileSync(bad, "./a.png,0,0,4,8\n./b.png,0,0,4,8\n./a.png,0,1,4,8\n");
    const conflict = cli(["dataset", "verify", "--root", root, bad]);
    assert.equal(conflict.code, 2);
    assert.equal(conflict.stderr, `imaginet: error: ${bad}:3: duplicate path "a.png" with other labels than ${bad}:1\n`);
    const usage = cli(["dataset", "verify"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /required option '--root <dir>' not specified/);
  });
});

describe("dataset prune", () => {
  let outside: string;
  before(() => {
    outside = tmpDir("imaginet-outside-");
    writeFileSync(path.join(outside, "secret.txt"), "keep me");
  });

  test("dry run lists unreferenced files and deletes nothing; --yes deletes them and the folders left empty", async () => {
    const root = await exampleRoot();
    mkdirSync(path.join(root, ".imaginet-downloads"));
    writeFileSync(path.join(root, ".imaginet-downloads/state.json"), "{}");
    const before = (await walkFiles(root)).files.length;
    const dry = cli(["dataset", "prune", "--root", root, "--json"]);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.equal(plan.dryRun, true);
    assert.deepEqual(
      plan.unreferenced.map((u: { path: string }) => u.path),
      ["val2017/unused_000.jpg", "val2017/unused_001.jpg", "wikiart/Baroque/unused_002.jpg"],
    );
    assert.equal(
      plan.bytes,
      plan.unreferenced.reduce((a: number, u: { bytes: number }) => a + u.bytes, 0),
    );
    assert.equal((await walkFiles(root)).files.length, before);

    const text = cli(["dataset", "prune", "--root", root]);
    assert.match(text.stdout, /unreferenced: 3 files/);
    assert.match(text.stdout, /dry run: nothing deleted \(pass --yes to delete\)/);

    const real = cli(["dataset", "prune", "--root", root, "--yes", "--json"]);
    assert.equal(real.code, 0, real.stderr);
    assert.deepEqual(JSON.parse(real.stdout).result, { deleted: 3, bytes: plan.bytes, removedDirs: 1 });
    assert.equal(existsSync(path.join(root, "wikiart/Baroque")), false);
    assert.equal(existsSync(path.join(root, "wikiart/Impressionism/00000.jpg")), true);
    assert.equal(existsSync(path.join(root, "annotations/train_annotations.txt")), true, "annotation files are kept");
    assert.equal(existsSync(path.join(root, ".imaginet-downloads/state.json")), true, "download state is kept");
    assert.equal((await walkFiles(root)).files.length, before - 3);
  });

  test("refuses while referenced files are missing, unless --force", async () => {
    const root = await exampleRoot();
    rmSync(path.join(root, "ffhq/00001.png"));
    const r = cli(["dataset", "prune", "--root", root, "--yes"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /refusing to prune: 1 referenced files are missing/);
    assert.match(r.stdout, /missing: ffhq\/00001\.png/);
    assert.equal(existsSync(path.join(root, "val2017/unused_000.jpg")), true);
    const f = cli(["dataset", "prune", "--root", root, "--yes", "--force", "--json"]);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(JSON.parse(f.stdout).result.deleted, 3);
    assert.equal(existsSync(path.join(root, "val2017/unused_000.jpg")), false);
  });

  test("follows no symlink out of the root: links are removed as links, linked-in sources are left alone", async () => {
    const root = await exampleRoot();
    symlinkSync(outside, path.join(root, "val2017/link_to_outside"));
    symlinkSync(path.join(outside, "secret.txt"), path.join(root, "val2017/secret_link.txt"));
    // a source kept on another disk and linked into the root
    const elsewhere = path.join(tmpDir(), "ffhq");
    renameSync(path.join(root, "ffhq"), elsewhere);
    symlinkSync(elsewhere, path.join(root, "ffhq"));
    writeFileSync(path.join(elsewhere, "unreferenced.png"), "x");

    const r = cli(["dataset", "prune", "--root", root, "--yes", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.keptLinks, ["ffhq"]);
    assert.deepEqual(out.missing, []);
    assert.deepEqual(
      out.unreferenced.map((u: { path: string }) => u.path),
      ["val2017/link_to_outside", "val2017/secret_link.txt", "val2017/unused_000.jpg", "val2017/unused_001.jpg", "wikiart/Baroque/unused_002.jpg"],
    );
    assert.equal(existsSync(path.join(root, "val2017/link_to_outside")), false);
    assert.equal(readFileSync(path.join(outside, "secret.txt"), "utf8"), "keep me");
    assert.equal(existsSync(path.join(elsewhere, "unreferenced.png")), true, "nothing behind a linked-in source is touched");
    assert.equal(existsSync(path.join(root, "ffhq/00000.png")), true);
  });
});

describe("dataset inspect, sources, help", () => {
  test("inspect counts an ImagiNet file; sources lists every upstream source; --help works on every command", async () => {
    const root = await exampleRoot();
    const r = cli(["dataset", "inspect", "--json", path.join(root, "annotations/test_annotations.txt")]);
    assert.equal(r.code, 0, r.stderr);
    const [stats] = JSON.parse(r.stdout);
    assert.equal(stats.records, 14);
    assert.deepEqual(stats.counts.origin, { real: 6, synthetic: 8 });
    const s = cli(["dataset", "sources", "--json"]);
    assert.deepEqual(
      JSON.parse(s.stdout).map((x: { id: string }) => x.id),
      [
        "imagenet",
        "coco-train2017",
        "coco-val2017",
        "progan-train",
        "progan-val",
        "ffhq",
        "wikiart",
        "photozilla",
        "danbooru2021",
        "journeydb",
        "imaginet-synthetic",
        "corvi-testset",
        "corvi-testset-real",
        "practical-testset",
      ],
    );
    for (const cmd of [[], ["dataset"], ["dataset", "verify"], ["dataset", "prune"], ["dataset", "inspect"], ["dataset", "sources"], ["dataset", "example"]]) {
      const h = cli([...cmd, "--help"]);
      assert.equal(h.code, 0, cmd.join(" "));
      assert.match(h.stdout, /^Usage: imaginet/);
    }
  });
});
