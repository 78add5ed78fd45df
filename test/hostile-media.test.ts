/**
 * Hostile media (test/support/hostile/media.ts): each case must end with its exact outcome, fast.
 * Every CLI run is a child process killed after CLI_TIMEOUT, and every test has a timeout, so a
 * regression (a FIFO opened for reading blocks forever) fails instead of hanging the suite.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import type { VerifyReport } from "../src/data/verify.js";
import { decodeRgb } from "../src/image/decode.js";
import { InputError } from "../src/util/errors.js";
import { cliAsync, REPO, tmpDir } from "./helpers.js";
import { GAN_FOLDER, makeCorpus } from "./support/hostile/media.js";

const CLI_TIMEOUT = 60_000;
const TEST = { timeout: 240_000 };
const WEIGHTS = path.join(REPO, "test/fixtures/models/grag_tiny.pth");

let media = "";
const caseDir = (name: string): string => path.join(media, name);
const rootOf = (name: string): string => path.join(caseDir(name), "root");
const annotations = (name: string): string => path.join(rootOf(name), "annotations", "test_annotations_gan.txt");
const listed = (name: string, file: string): string => path.join(rootOf(name), GAN_FOLDER, file);

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await cliAsync(args, { timeoutMs: CLI_TIMEOUT });
  assert.notEqual(r.code, -1, `imaginet ${args.join(" ")} did not finish in ${CLI_TIMEOUT} ms`);
  return r;
}

/** `dataset verify [--deep]` on a case: its exit code and the problems it lists. */
async function verify(name: string, deep: boolean): Promise<{ code: number; problems: [string, string, string][] }> {
  const r = await run(["dataset", "verify", "--root", rootOf(name), "--json", ...(deep ? ["--deep"] : []), annotations(name)]);
  const report = JSON.parse(r.stdout) as VerifyReport;
  return { code: r.code, problems: report.sources.flatMap((s) => s.examples.map((e): [string, string, string] => [e.status, e.path, e.reason])) };
}

/** `detect --json` on inputs: its exit code and, per file (relative to the case), the error or "scored". */
async function detect(name: string, inputs: string[]): Promise<{ code: number; results: [string, string][] }> {
  const r = await run(["detect", ...inputs, "--detector", "grag2021", "--weights", WEIGHTS, "--workers", "1", "--json"]);
  const lines = r.stdout.split("\n").filter((l) => l !== "");
  const results = lines
    .map((l) => JSON.parse(l) as { file: string; error?: string; score?: number })
    .map((d): [string, string] => [path.relative(caseDir(name), d.file), d.error !== undefined ? d.error.replace(`${caseDir(name)}/`, "") : typeof d.score === "number" ? "scored" : "?"]);
  return { code: r.code, results };
}

/** `testset build --json` on a case: its exit code and the failed sources with their errors. */
async function testsetBuild(name: string): Promise<{ code: number; failed: [string, string][]; built: number }> {
  const out = path.join(tmpDir(), "out");
  const r = await run(["testset", "build", "--root", rootOf(name), "--out", out, "--workers", "1", "--json", annotations(name)]);
  const report = JSON.parse(r.stdout) as { built: number; failed: { source: string; error: string }[] };
  assert.equal(existsSync(path.join(out, "errors.jsonl")), report.failed.length > 0);
  return { code: r.code, built: report.built, failed: report.failed.map((f) => [f.source, f.error.replace(`${caseDir(name)}/`, "")]) };
}

before(async () => {
  media = path.join(tmpDir("imaginet-hostile-"), "media");
  await makeCorpus(path.dirname(media));
});

describe("hostile media", () => {
  test("fifo-listed: verify, verify --deep, testset build and detect report the FIFO and never open it", TEST, async () => {
    const fifo: [string, string, string] = ["unreadable", `${GAN_FOLDER}/fifo.png`, "not a regular file (a FIFO)"];
    assert.deepEqual(await verify("fifo-listed", false), { code: 1, problems: [fifo] });
    assert.deepEqual(await verify("fifo-listed", true), { code: 1, problems: [fifo] });
    const message = `root/${GAN_FOLDER}/fifo.png: not a regular file (a FIFO)`;
    assert.deepEqual(await testsetBuild("fifo-listed"), { code: 1, built: 1, failed: [[`${GAN_FOLDER}/fifo.png`, message]] });
    assert.deepEqual(await detect("fifo-listed", [path.join(rootOf("fifo-listed"), GAN_FOLDER)]), {
      code: 1,
      results: [
        [`root/${GAN_FOLDER}/fifo.png`, message],
        [`root/${GAN_FOLDER}/ok.png`, "scored"],
      ],
    });
  });

  test("device-and-folder-listed: a symlink to /dev/zero and a folder named like an image are not regular files", TEST, async () => {
    const problems = [
      ["unreadable", `${GAN_FOLDER}/folder.png`, "not a regular file (a directory)"],
      ["unreadable", `${GAN_FOLDER}/zero.png`, "not a regular file (a character device)"],
    ];
    assert.deepEqual(await verify("device-and-folder-listed", true), { code: 1, problems });
    const message = (f: string, kind: string): string => `root/${GAN_FOLDER}/${f}: not a regular file (${kind})`;
    assert.deepEqual(await testsetBuild("device-and-folder-listed"), {
      code: 1, // some images failed
      built: 1,
      failed: [
        [`${GAN_FOLDER}/zero.png`, message("zero.png", "a character device")],
        [`${GAN_FOLDER}/folder.png`, message("folder.png", "a directory")],
      ],
    });
    // detect searches folders, folder.png too (it holds no image); the link to the device is reported
    assert.deepEqual(await detect("device-and-folder-listed", [path.join(rootOf("device-and-folder-listed"), GAN_FOLDER)]), {
      code: 1,
      results: [
        [`root/${GAN_FOLDER}/ok.png`, "scored"],
        [`root/${GAN_FOLDER}/zero.png`, message("zero.png", "a character device")],
      ],
    });
  });

  test("corrupt-idat: a PNG with a flipped IDAT byte (bad CRC, or CRC fixed and a bad zlib stream) is corrupt for verify --deep and an error for detect", TEST, async () => {
    assert.deepEqual(await verify("corrupt-idat", false), { code: 0, problems: [] }, "the header is intact");
    // libvips keeps its error text per thread: when the failing read ran on another of its threads,
    // sharp can only say "Unknown error". Either way the file is corrupt, and named.
    const libspng = "(pngload: libspng read error|Unknown error)";
    const deep = await verify("corrupt-idat", true);
    assert.equal(deep.code, 1);
    assert.deepEqual(
      deep.problems.map(([status, file]) => [status, file]),
      [
        ["corrupt", `${GAN_FOLDER}/bad-crc.png`],
        ["corrupt", `${GAN_FOLDER}/bad-zlib.png`],
      ],
    );
    for (const [, , reason] of deep.problems) assert.match(reason, new RegExp(`^${libspng}$`));
    const scored = await detect("corrupt-idat", [path.join(rootOf("corrupt-idat"), GAN_FOLDER)]);
    assert.equal(scored.code, 1);
    assert.deepEqual(
      scored.results.map(([file]) => file),
      [`root/${GAN_FOLDER}/bad-crc.png`, `root/${GAN_FOLDER}/bad-zlib.png`, `root/${GAN_FOLDER}/ok.png`],
    );
    for (const [file, result] of scored.results.slice(0, 2)) assert.match(result, new RegExp(`^${file}: cannot decode \\(${libspng}\\)$`));
    assert.equal(scored.results[2]![1], "scored");
  });

  test("svg-bomb: an SVG declaring 30000×30000 (as .svg or named .png) is refused before libvips sees it", TEST, async () => {
    const svg = listed("svg-bomb", "bomb.svg");
    const started = performance.now();
    await assert.rejects(decodeRgb(svg), { message: `${svg}: not a readable image (no raster image signature: JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF or HEIF expected)` });
    assert.ok(performance.now() - started < 2000, "refused without rendering");
    assert.deepEqual(await verify("svg-bomb", true), {
      code: 1,
      problems: [
        ["not-image", `${GAN_FOLDER}/bomb.png`, "no known image signature"],
        ["not-image", `${GAN_FOLDER}/bomb.svg`, "no known image signature"],
      ],
    });
    const refused = (f: string): [string, string] => [
      `root/${GAN_FOLDER}/${f}`,
      `root/${GAN_FOLDER}/${f}: not a readable image (no raster image signature: JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF or HEIF expected)`,
    ];
    assert.deepEqual(await detect("svg-bomb", [svg, listed("svg-bomb", "bomb.png")]), { code: 1, results: [refused("bomb.svg"), refused("bomb.png")] });
  });

  test("pixel-bomb: a PNG declaring 30000×30000 is refused from its header by the one pixel limit (8192²)", TEST, async () => {
    assert.deepEqual(await verify("pixel-bomb", true), { code: 1, problems: [["corrupt", `${GAN_FOLDER}/huge.png`, "Input image exceeds pixel limit"]] });
    const huge = `root/${GAN_FOLDER}/huge.png`;
    assert.deepEqual(await detect("pixel-bomb", [listed("pixel-bomb", "huge.png")]), {
      code: 1,
      results: [[huge, `${huge}: 30000×30000 = 900000000 pixels exceeds the limit of 67108864 (dataset verify and testset build take --max-pixels to raise it for files you trust)`]],
    });
  });

  test("symlinks-in-folder: detect follows links to regular files, reports links to a FIFO or nowhere, does not descend linked folders", TEST, async () => {
    assert.deepEqual(await detect("symlinks-in-folder", [path.join(caseDir("symlinks-in-folder"), "images")]), {
      code: 1,
      results: [
        ["images/dangling.png", "images/dangling.png: not a readable image (ENOENT)"],
        ["images/link-to-file.png", "scored"],
        ["images/real.png", "scored"],
        ["images/sub/link-to-fifo.png", "images/sub/link-to-fifo.png: not a regular file (a FIFO)"],
      ],
    });
  });

  /** Reads a case's checkpoint (and its tensor "w"): the error it gives, how long it took, the process's peak memory. */
  async function readBomb(name: string): Promise<{ error: unknown; ms: number; peakBytes: number }> {
    const started = performance.now();
    let error: unknown = null;
    try {
      await stateDict(await readTorchCheckpoint(path.join(caseDir(name), "archive.pth")))
        .get("w")!
        .read();
    } catch (err) {
      error = err;
    }
    return { error, ms: performance.now() - started, peakBytes: process.resourceUsage().maxRSS * 1024 };
  }

  const bombs: [string, string][] = [
    ["ckpt-pickle-declared-huge", "zip entry archive/data.pkl declares 4278190080 bytes; a checkpoint's pickle is at most 67108864 bytes"],
    ["ckpt-pickle-inflates-past-declared", "zip entry archive/data.pkl inflates past its declared 1024 bytes"],
    ["ckpt-storage-size-mismatch", "zip entry archive/data/0 holds 4278190080 bytes, but the pickle declares storage data/0 as 4 × 4 = 16 bytes (BINPERSID at byte 97)"],
    ["ckpt-storage-inflates-past-declared", "storage data/0 inflates past its declared 16 bytes"],
  ];
  for (const [name, message] of bombs) {
    test(`${name}: a 4 MB zip that inflates to 4 GB is refused in well under a second, in bounded memory`, TEST, async () => {
      const file = path.join(caseDir(name), "archive.pth");
      assert.ok(readFileSync(file).length < 5_000_000);
      const { error, ms, peakBytes } = await readBomb(name);
      assert.ok(error instanceof InputError, String(error));
      assert.equal(error.message, `${file}: ${message}`);
      assert.ok(ms < 1000, `${ms} ms`);
      assert.ok(peakBytes < 1 << 30, `peak RSS ${peakBytes} bytes`);
      if (name.startsWith("ckpt-storage-inflates")) return; // its zip opens; only reading the tensor is refused
      const r = await run(["convert", "--weights", file, "--detector", "grag2021", "-o", path.join(tmpDir(), "x.onnx")]);
      assert.deepEqual([r.code, r.stderr], [2, `imaginet: error: ${file}: ${message}\n`]);
    });
  }
});
