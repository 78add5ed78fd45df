import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { applyRecipe, applyRecipeToEncode, canonicalJson, randomResizedCropBox, type Recipe } from "../src/image/recipe.js";
import { recipeHash } from "../src/image/recipe-hash.js";
import { CALIBRATION, jpegSweep, resizeSweep, TESTSET, TRAIN } from "../src/image/recipes.js";
import type { RgbImage } from "../src/image/types.js";
import { Rng } from "../src/util/rng.js";
import { decodeRgb, encodeLosslessWebp, openImage } from "../src/image/decode.js";
import { loadSharp } from "../src/image/sharp.js";
import { cli, tmpDir } from "./helpers.js";
import * as path from "node:path";

function photo(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = (x * (c + 1) + y * 3 + ((x * y) % 7) * 9) & 255;
  return { width: w, height: h, data };
}

describe("recipes", () => {
  test("the same seed and id give the same draws and pixels; another id or seed does not", async () => {
    const img = photo(400, 300);
    const a = await applyRecipe(img, TESTSET, new Rng(42, "7:a.jpg"));
    const b = await applyRecipe(img, TESTSET, new Rng(42, "7:a.jpg"));
    assert.deepEqual(a.trace, b.trace);
    assert.deepEqual(a.image, b.image);
    const traces = new Set<string>();
    for (let i = 0; i < 20; i++) traces.add(JSON.stringify((await applyRecipe(img, TESTSET, new Rng(42, `${i}:a.jpg`))).trace));
    assert.ok(traces.size >= 19, "ids draw independently");
    assert.notDeepEqual((await applyRecipe(img, TESTSET, new Rng(43, "7:a.jpg"))).trace, a.trace);
  });

  test("the test recipe: crop side within [256, min(short, 1000)], output 256×256, codec and quality in range", async () => {
    let compressed = 0;
    for (let i = 0; i < 40; i++) {
      const img = photo(300 + i * 7, 270);
      const { image, trace } = await applyRecipe(img, TESTSET, new Rng(1, String(i)));
      assert.deepEqual([image.width, image.height], [256, 256]);
      const crop = trace[0]!;
      assert.equal(crop.op, "random_square_crop");
      assert.ok((crop.side as number) >= 256 && (crop.side as number) <= 270);
      const c = trace.find((t) => t.op === "compress");
      if (c) {
        compressed++;
        assert.ok(["jpeg", "webp"].includes(c.codec as string));
        assert.ok((c.quality as number) >= 60 && (c.quality as number) <= 100);
      }
    }
    assert.ok(compressed >= 20 && compressed <= 38, `p=0.75 of 40: ${compressed}`);
    const small = await applyRecipe(photo(100, 80), TESTSET, new Rng(1, "small"));
    assert.deepEqual(small.trace[0], { op: "random_square_crop", side: 256, box: [0, 0, 256, 256], padded: true });
  });

  test("the test recipe on an opened file (crop decoded alone, last round trip left encoded) gives the pixels, trace and WebP bytes of the decoded file", async () => {
    const sharp = await loadSharp();
    const dir = tmpDir();
    // a photo-like JPEG larger than the crop, and a PNG smaller than 256 on one side (reflect-padded)
    const files = [
      { file: path.join(dir, "large.jpg"), width: 700, height: 520 },
      { file: path.join(dir, "small.png"), width: 300, height: 200 },
    ];
    const codecs = new Set<unknown>();
    for (const f of files) {
      const noise = sharp({ create: { width: f.width, height: f.height, channels: 3, background: "#000", noise: { type: "gaussian", mean: 128, sigma: 60 } } }).blur(1.5);
      await (f.file.endsWith(".jpg") ? noise.jpeg({ quality: 90 }) : noise.png()).toFile(f.file);
      for (let k = 0; k < 8; k++) {
        const decoded = await applyRecipe(await decodeRgb(f.file), TESTSET, new Rng(7, `${k}`));
        assert.deepEqual(await applyRecipe(await openImage(f.file), TESTSET, new Rng(7, `${k}`)), decoded, `${f.file} #${k}`);
        const lazy = await applyRecipeToEncode(await openImage(f.file), TESTSET, new Rng(7, `${k}`));
        assert.deepEqual(lazy.trace, decoded.trace);
        assert.deepEqual(await encodeLosslessWebp(lazy.image), await encodeLosslessWebp(decoded.image), `${f.file} #${k}: WebP bytes`);
        assert.equal(decoded.trace[0]!.padded, f.height < 256);
        codecs.add(decoded.trace.find((t) => t.op === "compress")?.codec ?? "none");
      }
    }
    assert.deepEqual([...codecs].sort(), ["jpeg", "none", "webp"], "the draws cover both codecs and no compression");
  });

  test("train and calibration recipes keep 256×256; random resized crop stays inside the image", async () => {
    for (const r of [TRAIN, CALIBRATION]) {
      for (let i = 0; i < 10; i++) {
        const { image } = await applyRecipe(photo(300, 200), r, new Rng(3, String(i)));
        assert.deepEqual([image.width, image.height], [256, 256], r.name);
      }
    }
    for (let i = 0; i < 200; i++) {
      const b = randomResizedCropBox(320, 200, [0.08, 1], [3 / 4, 4 / 3], new Rng(5, String(i)));
      assert.ok(b.x >= 0 && b.y >= 0 && b.w > 0 && b.h > 0 && b.x + b.w <= 320 && b.y + b.h <= 200, JSON.stringify(b));
    }
    const rrc: Recipe = { name: "rrc", description: "", steps: [{ op: "random_resized_crop", size: 96, scale: [0.08, 1], ratio: [0.75, 4 / 3], interpolation: "bilinear" }] };
    const out = await applyRecipe(photo(300, 200), rrc, new Rng(1, "x"));
    assert.deepEqual([out.image.width, out.image.height], [96, 96]);
  });

  test("sweeps follow upstream's grids", () => {
    assert.deepEqual(
      jpegSweep().map((s) => s.severity),
      [40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100],
    );
    // int(256 * (12 / i)) for i = 2..12
    assert.deepEqual(
      resizeSweep().map((s) => s.recipe.steps[1]),
      [1536, 1024, 768, 614, 512, 438, 384, 341, 307, 279, 256].map((size) => ({ op: "center_crop", size })),
    );
  });

  test("recipes are data: canonical JSON, a stable hash, printable from the CLI", () => {
    assert.equal(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }), '{"a":[2,{"c":4,"d":3}],"b":1}');
    assert.equal(recipeHash(TESTSET), recipeHash(JSON.parse(JSON.stringify(TESTSET)) as Recipe));
    assert.notEqual(recipeHash(TESTSET), recipeHash(TRAIN));
    const r = cli(["testset", "recipe", "testset", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const printed = JSON.parse(r.stdout);
    assert.equal(printed.hash, recipeHash(TESTSET));
    assert.deepEqual(printed.steps, TESTSET.steps);
  });
});
