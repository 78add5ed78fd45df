/**
 * The Corvi test set's 256 × 256 preprocessing (DMimageDetection's csv_operations.py with
 * output_size = 256) against Pillow 9.4: fixtures from scripts/fixtures/make_corvi256_fixtures.py.
 */
import assert from "node:assert/strict";
import { cpSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { corviPixels, parseOperations } from "../src/data/testset/corvi.js";
import { decodeToRgb, encodeJpeg } from "../src/image/compress.js";
import { decodeRgb } from "../src/image/decode.js";
import { pilResize, type PilFilter } from "../src/image/pil-resize.js";
import { cli, REPO, tmpDir } from "./helpers.js";

const FIX = path.join(REPO, "test", "fixtures", "corvi256");

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  const i = a.findIndex((v, k) => v !== b[k]);
  return i < 0 ? "none" : `byte ${i}: ${a[i]} vs ${b[i]}`;
}

describe("corvi256: Pillow's resize and csv_operations.py, pixel for pixel", () => {
  test("pilResize equals Pillow's Image.resize (Lanczos and bicubic, up and down, one axis or both)", async () => {
    const index = JSON.parse(readFileSync(path.join(FIX, "resize", "index.json"), "utf8")) as { cases: { input: string; output: string; width: number; height: number; filter: PilFilter }[] };
    assert.equal(index.cases.length, 6);
    for (const c of index.cases) {
      const input = await decodeRgb(path.join(FIX, "resize", c.input));
      const want = await decodeRgb(path.join(FIX, "resize", c.output));
      const got = pilResize(input, c.width, c.height, c.filter);
      assert.equal(`${got.width}×${got.height}`, `${want.width}×${want.height}`);
      assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `${c.input} → ${c.width}×${c.height} ${c.filter}: first difference at ${firstDifference(got.data, want.data)}`);
    }
  });

  test("operations.csv is read as Python's csv module does (a quoted path with a comma)", () => {
    const ops = parseOperations(readFileSync(path.join(FIX, "operations.csv"), "utf8"), "operations.csv");
    assert.equal(ops.length, 6);
    assert.deepEqual(ops[3], { path: "dalle_2/DALL·E 2022-10-23 10.40.58 - A cat, a dog.png", cropSize: 300, x: 50, y: 0, quality: 65, row: 5 });
    assert.throws(() => parseOperations("src,cropsize,x1,y1,qf\na/b.png,256,0,0\n", "ops.csv"), /ops\.csv:2: expected "path,cropsize,x1,y1,qf", found 4 fields/);
    assert.throws(() => parseOperations("src,cropsize,x1,y1,qf\na/b.png,256,0,0,101\n", "ops.csv"), /ops\.csv:2: qf "101" is not an integer in 1\.\.100/);
  });

  test("crop, resize to 256 and JPEG at the listed quality give Pillow's JPEG pixels exactly", async () => {
    const ops = parseOperations(readFileSync(path.join(FIX, "operations.csv"), "utf8"), "operations.csv");
    for (const op of ops) {
      const pixels = corviPixels(await decodeRgb(path.join(FIX, "src", op.path)), op);
      const got = await decodeToRgb(await encodeJpeg(pixels, op.quality));
      const want = await decodeToRgb(readFileSync(path.join(FIX, "expected", op.path)));
      assert.equal(`${got.width}×${got.height}`, "256×256");
      assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `${op.path}: first difference at ${firstDifference(got.data, want.data)}`);
    }
  });

  test("`testset build --recipe corvi256` writes the same tree, JPEG under the original names, and resumes", async () => {
    const root = tmpDir();
    cpSync(path.join(FIX, "src"), root, { recursive: true });
    cpSync(path.join(FIX, "operations.csv"), path.join(root, "operations.csv"));
    const out = tmpDir();
    const r = cli(["testset", "build", "--recipe", "corvi256", "--root", root, "--out", out, "--json"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout);
    assert.deepEqual([report.total, report.built, report.skipped, report.failed.length], [6, 6, 0, 0]);
    for (const op of parseOperations(readFileSync(path.join(FIX, "operations.csv"), "utf8"), "operations.csv")) {
      const got = await decodeToRgb(readFileSync(path.join(out, op.path)));
      const want = await decodeToRgb(readFileSync(path.join(FIX, "expected", op.path)));
      assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), op.path);
      assert.equal(readFileSync(path.join(out, op.path)).subarray(0, 2).toString("hex"), "ffd8", `${op.path} is a JPEG whatever its name`);
    }
    rmSync(path.join(out, "biggan_256"), { recursive: true });
    const again = cli(["testset", "build", "--recipe", "corvi256", "--root", root, "--out", out, "--json"]);
    assert.deepEqual([JSON.parse(again.stdout).built, JSON.parse(again.stdout).skipped], [1, 5]);
  });
});
