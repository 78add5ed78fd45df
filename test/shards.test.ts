/**
 * Sharded batch jobs: for N = 1, 2, 3, the shards of `testset build`, `detect --json`, `eval detect`
 * and `dataset verify --deep`, merged, are byte-identical to one unsharded run. The exceptions are
 * the fields that measure time, named where they are compared: run.json's `wallSeconds` (the
 * shards' sum) and `createdAt` (the latest shard's), and verify's `seconds` (the sum).
 * Commands run in this process through the CLI's own program (a child process per command would
 * spend most of the test starting Node); the environment cases run the real binary.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { buildProgram } from "../src/cli/program.js";
import { makeExampleDataset } from "../src/data/example.js";
import { walkFiles } from "../src/data/prune.js";
import { resolveShard, shardRange } from "../src/util/shard.js";
import { cli, REPO, tmpDir } from "./helpers.js";

const MODEL = path.join(REPO, "test/fixtures/models/grag_tiny.pth");
const COUNTS = [1, 2, 3];
let dir = "";
let root = "";

/** Runs `imaginet ARGS` in this process: its exit code and what it printed. */
async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const write = process.stdout.write;
  const writeErr = process.stderr.write;
  let stdout = "";
  let stderr = "";
  // node's test runner sends its own reports through stdout as bytes: let those pass
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== "string") return write.call(process.stdout, chunk, ...rest);
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    await buildProgram()
      .exitOverride()
      .parseAsync(["node", "imaginet", ...args]);
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stdout, stderr };
}

/** Every file under a folder, by relative path, as bytes. */
async function contents(folder: string): Promise<Map<string, Buffer>> {
  const { files } = await walkFiles(folder);
  return new Map(files.sort().map((f) => [f, readFileSync(path.join(folder, f))]));
}

async function assertSameFiles(got: string, want: string): Promise<void> {
  const [g, w] = [await contents(got), await contents(want)];
  assert.deepEqual([...g.keys()], [...w.keys()], `${got}: the same files as ${want}`);
  for (const [f, bytes] of w) assert.ok(bytes.equals(g.get(f)!), `${f} differs`);
}

const shardDirs = (what: string, n: number) => Array.from({ length: n }, (_, i) => path.join(dir, `${what}-${n}-${i + 1}`));

before(async () => {
  dir = tmpDir("imaginet-shards-");
  root = path.join(dir, "root");
  await makeExampleDataset(root, { seed: 3, perKind: 4, size: 48 });
  // a truncated image: it fails to build (errors.jsonl) and --deep calls it corrupt
  const cut = path.join(root, "sd_photos_fake/00003.webp");
  truncateSync(cut, Math.floor(readFileSync(cut).length * 0.6));
  rmSync(path.join(root, "imagenet/ILSVRC/Data/CLS-LOC/val/00002.JPEG"));
});

describe("the split", () => {
  test("contiguous ranges of whole units, covering the list once, in shard order", () => {
    for (const [total, unit] of [
      [0, 1],
      [1, 1],
      [10, 1],
      [10, 3],
      [16, 4],
      [7, 16],
    ] as const) {
      for (const count of [1, 2, 3, 5]) {
        let next = 0;
        for (let index = 1; index <= count; index++) {
          const [start, end] = shardRange(total, { index, count }, unit);
          assert.equal(start, next, `${total}/${unit} shard ${index}/${count}`);
          assert.ok(end >= start && (start % unit === 0 || start === total));
          next = end;
        }
        assert.equal(next, total);
      }
    }
    assert.deepEqual(shardRange(10, { index: 2, count: 3 }, 3), [3, 6]);
  });

  test("--shard, then Slurm's array variables, then a Kubernetes Indexed Job's index with its count", () => {
    const slurm = { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_MIN: "4", SLURM_ARRAY_TASK_COUNT: "3" };
    assert.deepEqual(resolveShard({}, slurm), { index: 2, count: 3, from: "SLURM_ARRAY_TASK_ID=5 of 4..6" });
    assert.deepEqual(resolveShard({ shard: { index: 1, count: 2, from: "--shard" } }, slurm), { index: 1, count: 2, from: "--shard" });
    assert.deepEqual(resolveShard({ shardCount: 4 }, { JOB_COMPLETION_INDEX: "0" }), { index: 1, count: 4, from: "JOB_COMPLETION_INDEX=0 of 4" });
    assert.deepEqual(resolveShard({}, { JOB_COMPLETION_INDEX: "3", IMAGINET_SHARD_COUNT: "4" })?.index, 4);
    assert.equal(resolveShard({}, {}), undefined);
    assert.throws(() => resolveShard({}, { JOB_COMPLETION_INDEX: "3" }), /--shard-count N or set IMAGINET_SHARD_COUNT/);
    assert.throws(() => resolveShard({}, { JOB_COMPLETION_INDEX: "4", IMAGINET_SHARD_COUNT: "4" }), /not below the shard count 4/);
    assert.throws(() => resolveShard({}, { ...slurm, SLURM_ARRAY_TASK_ID: "8" }), /not within 4\.\.6/);
    assert.throws(() => resolveShard({ shardCount: 2 }, {}), /--shard-count needs JOB_COMPLETION_INDEX/);
  });

  test("the real binary: a Slurm array task verifies its part; bad --shard and a count-less Indexed Job are usage errors", () => {
    const env = { SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_COUNT: "2" };
    const r = cli(["dataset", "verify", "--root", root, "--json", path.join(root, "annotations/calibration.txt")], { env });
    assert.equal(r.code, 1, "its part holds the missing image");
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.shard, { index: 1, count: 2, items: [0, 7], total: 14, examples: 5 });
    assert.equal(report.referenced, 7);
    const bad = cli(["detect", root, "--detector", "grag2021", "--weights", MODEL, "--shard", "3/2"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--shard expects K\/N with N ≥ 1 and K in 1\.\.N/);
    const k8s = cli(["detect", root, "--detector", "grag2021", "--weights", MODEL], { env: { JOB_COMPLETION_INDEX: "0" } });
    assert.equal(k8s.code, 2);
    assert.match(k8s.stderr, /JOB_COMPLETION_INDEX=0 is set but not the number of shards/);
  });
});

describe("merged shards are the unsharded output", () => {
  let testset = "";
  const lists = () => ["gan", "sd", "midjourney", "dalle3"].map((g) => path.join(testset, `test_${g}.txt`));

  test("testset build: every file, byte for byte (one image fails in every split: errors.jsonl too)", async () => {
    testset = path.join(dir, "testset");
    const b = (out: string, ...extra: string[]) => run("testset", "build", "--root", root, "--out", out, "--json", ...extra);
    assert.equal((await b(testset, "--workers", "2")).code, 1);
    for (const n of COUNTS) {
      const shards = shardDirs("testset", n);
      const codes: number[] = [];
      for (const [i, s] of shards.entries()) codes.push((await b(s, "--shard", `${i + 1}/${n}`, "--workers", "1")).code);
      assert.equal(codes.filter((c) => c === 1).length, 1, "the shard holding the truncated image");
      const merged = path.join(dir, `testset-${n}`);
      const m = await run("testset", "merge", "--out", merged, "--json", ...[...shards].reverse());
      assert.equal(m.code, 1, "the failed image is reported by the merge too");
      assert.equal(JSON.parse(m.stdout).failed, 1);
      await assertSameFiles(merged, testset);
    }
    const missing = shardDirs("testset", 3).slice(1);
    const m = await run("testset", "merge", "--out", path.join(dir, "x"), ...missing);
    assert.equal(m.code, 2);
    assert.match(m.stderr, /shard 1\/3 is missing/);
  });

  test("detect --json: the shards' outputs in shard order, concatenated", async () => {
    const args = ["detect", path.join(testset, "testset"), "--detector", "grag2021", "--weights", MODEL, "--json", "--batch", "3"];
    const whole = await run(...args);
    assert.equal(whole.code, 0);
    assert.equal(whole.stdout.split("\n").length - 1, 15);
    for (const n of COUNTS) {
      let joined = "";
      for (let i = 1; i <= n; i++) joined += (await run(...args, "--shard", `${i}/${n}`)).stdout;
      assert.equal(joined, whole.stdout, `N = ${n}`);
    }
  });

  test("eval detect: predictions.jsonl and calibration.jsonl byte for byte; run.json but for wallSeconds (sum) and createdAt (latest)", async () => {
    // a calibration list of test images out of their order, so rows go back to places apart from the images' order
    const calibration = path.join(dir, "calibration.txt");
    const lines = (f: string) => readFileSync(f, "utf8").split("\n").filter(Boolean);
    writeFileSync(calibration, `${[...lines(lists()[3]!), ...lines(lists()[0]!).slice(0, 3)].join("\n")}\n`);
    const args = (out: string) => ["eval", "detect", ...lists(), "--calibration-list", calibration, "--root", testset, "--detector", "grag2021", "--weights", MODEL, "--batch", "4", "--out", out];
    const whole = path.join(dir, "run");
    assert.equal((await run(...args(whole))).code, 0);
    const wantRun = JSON.parse(readFileSync(path.join(whole, "run.json"), "utf8"));
    for (const n of COUNTS) {
      const shards = shardDirs("run", n);
      for (const [i, s] of shards.entries()) assert.equal((await run(...args(s), "--shard", `${i + 1}/${n}`)).code, 0);
      const merged = path.join(dir, `run-${n}`);
      assert.equal((await run("eval", "merge", "--out", merged, ...shards)).code, 0);
      for (const f of ["predictions.jsonl", "calibration.jsonl"]) assert.ok(readFileSync(path.join(merged, f)).equals(readFileSync(path.join(whole, f))), `N = ${n}: ${f}`);
      const text = readFileSync(path.join(merged, "run.json"), "utf8");
      const got = JSON.parse(text);
      const parts = shards.map((s) => JSON.parse(readFileSync(path.join(s, "shard.json"), "utf8")).run);
      assert.equal(
        got.wallSeconds,
        parts.reduce((a, p) => a + p.wallSeconds, 0),
      );
      assert.equal(
        got.createdAt,
        parts
          .map((p) => p.createdAt)
          .sort()
          .at(-1),
      );
      assert.equal(`${JSON.stringify({ ...got, wallSeconds: wantRun.wallSeconds, createdAt: wantRun.createdAt }, null, 2)}\n`, readFileSync(path.join(whole, "run.json"), "utf8"));
    }
    const partial = await run("eval", "run", shardDirs("run", 2)[0]!);
    assert.equal(partial.code, 2, "a shard is not a run");
    assert.match(partial.stderr, /not a run directory/);
  });

  test("dataset verify --deep: the merged JSON report but for seconds (the shards' sum)", async () => {
    const args = ["dataset", "verify", "--root", root, "--deep", "--json", "--examples", "1"];
    const whole = await run(...args);
    assert.equal(whole.code, 1);
    const want = JSON.parse(whole.stdout);
    assert.deepEqual(want.sources.flatMap((s: { examples: { status: string }[] }) => s.examples.map((e) => e.status)).sort(), ["corrupt", "missing"]);
    for (const n of COUNTS) {
      const reports = shardDirs("verify", n).map((f) => `${f}.json`);
      for (const [i, f] of reports.entries()) writeFileSync(f, (await run(...args, "--shard", `${i + 1}/${n}`)).stdout);
      const merged = await run("dataset", "verify-merge", "--json", ...[...reports].reverse());
      assert.equal(merged.code, 1);
      const got = JSON.parse(merged.stdout);
      assert.equal(
        got.seconds,
        reports.reduce((a, f) => a + JSON.parse(readFileSync(f, "utf8")).seconds, 0),
      );
      assert.equal(`${JSON.stringify({ ...got, seconds: want.seconds }, null, 2)}\n`, whole.stdout, `N = ${n}`);
    }
  });
});
