import assert from "node:assert/strict";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { compare, type GroupStats } from "../src/data/testset/audit.js";
import { makeExampleDataset } from "../src/data/example.js";
import { cli, tmpDir } from "./helpers.js";

const stats = (label: "real" | "synthetic", over: Partial<GroupStats>): GroupStats => ({
  split: "s",
  content: "all",
  label,
  images: 100,
  unreadable: 0,
  formats: { jpeg: 100 },
  medianPixels: 1000,
  medianBytesPerPixel: 0.5,
  jpegQuality: { count: 100, median: 90, min: 80, max: 95 },
  ...over,
});

describe("testset audit", () => {
  let root = "";
  before(async () => {
    root = path.join(tmpDir(), "root");
    await makeExampleDataset(root, { seed: 5, perKind: 4, size: 64 });
  });

  test("thresholds: format distance, size, bytes per pixel, JPEG quality", () => {
    assert.deepEqual(compare(stats("real", {}), stats("synthetic", {})), []);
    const f = compare(
      stats("real", {}),
      stats("synthetic", { formats: { jpeg: 85, png: 15 }, medianPixels: 1600, medianBytesPerPixel: 0.76, jpegQuality: { count: 85, median: 96, min: 90, max: 100 } }),
    );
    assert.deepEqual(
      f.map((x) => x.kind),
      ["format", "size", "compression", "jpeg-quality"],
    );
    assert.equal(f[0]!.detail, "real: jpeg 100%; synthetic: jpeg 85%, png 15%");
    // just inside every threshold
    assert.deepEqual(
      compare(stats("real", {}), stats("synthetic", { formats: { jpeg: 90, png: 10 }, medianPixels: 1500, medianBytesPerPixel: 0.75, jpegQuality: { count: 90, median: 95, min: 90, max: 100 } })),
      [],
    );
  });

  test("original sources: real JPEGs against synthetic PNG/WebP are flagged; the built test set's formats are not", () => {
    const src = cli(["testset", "audit", root, "--json"]);
    assert.equal(src.code, 1, src.stderr);
    const report = JSON.parse(src.stdout);
    const gan = report.flags.filter((f: { split: string; content: string }) => f.split === "test_annotations_gan.txt" && f.content === "all");
    assert.deepEqual(
      gan.map((f: { kind: string }) => f.kind),
      ["format", "compression"],
      "PNG against JPEG: format and bytes per pixel",
    );
    const all = report.groups.find((g: GroupStats) => g.split === "test_annotations_gan.txt" && g.content === "all" && g.label === "synthetic");
    assert.deepEqual(all.formats, { png: 3 });

    const out = path.join(tmpDir(), "built");
    assert.equal(cli(["testset", "build", "--root", root, "--out", out]).code, 0);
    const built = cli(["testset", "audit", out, "--json"]);
    const b = JSON.parse(built.stdout);
    assert.equal(built.code, b.flags.length > 0 ? 1 : 0);
    assert.deepEqual(
      b.flags.filter((f: { kind: string }) => f.kind === "format"),
      [],
      "every built image is lossless WebP",
    );
    const text = cli(["testset", "audit", out]).stdout;
    assert.match(text, /test_gan\.txt +all +real +3 +webp 3 +65536/);
  });
});
