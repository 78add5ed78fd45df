import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { makeExampleDataset } from "../src/data/example.js";
import { walkFiles } from "../src/data/prune.js";
import { codecAddon, resizeOnAddon } from "../src/image/codec.js";
import { compressRoundTrip } from "../src/image/compress.js";
import { decodeRgb, encodeLosslessWebp, ImageDecodeError, openImage } from "../src/image/decode.js";
import { crop } from "../src/image/geometry.js";
import { resize } from "../src/image/resize.js";
import type { RgbImage } from "../src/image/types.js";
import { Rng } from "../src/util/rng.js";
import { cli, REPO, tmpDir } from "./helpers.js";

// The codec addon's pixels against the fallback's (sharp and JavaScript, IMAGINET_CODEC=sharp) and
// against Pillow's; test/decode, compress-filter, resize, recipe and testset*.test.ts check each path
// against OpenCV's and Pillow's fixtures (run them with IMAGINET_CODEC=sharp for the fallback).
const skip = codecAddon() ? false : "the codec addon is not built (node scripts/build-codec.mjs)";

/** `fn` with the fallback path forced (codecAddon() reads IMAGINET_CODEC on every call). */
async function onFallback<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env.IMAGINET_CODEC;
  process.env.IMAGINET_CODEC = "sharp";
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.IMAGINET_CODEC;
    else process.env.IMAGINET_CODEC = before;
  }
}

function noise(w: number, h: number, seed: number): RgbImage {
  const rng = new Rng(seed, "codec");
  const data = new Uint8Array(w * h * 3);
  // smooth ramps plus noise: both the kernel's sums and the codecs' chroma see structure
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = ((x * (c + 2) + y * 3) & 255) ^ (rng.int(0, 31) << (c & 1));
  return { width: w, height: h, data };
}

const dir = path.join(REPO, "test/fixtures/jpeg-crop");
const { cases } = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8")) as { cases: string[] };

describe("codec addon", { skip }, () => {
  // made by scripts/fixtures/make_jpeg_crop_fixtures.py: 77×53 JPEGs (4:2:0, 4:2:2, 4:4:4, progressive, restart markers, greyscale)
  test("JPEG boxes: every box equals the same box of Pillow's whole decode, exactly", async () => {
    const rng = new Rng(5, "boxes");
    for (const c of cases) {
      const file = path.join(dir, `${c}.jpg`);
      const expected = await decodeRgb(path.join(dir, `${c}.expected.png`));
      const src = await openImage(file, { blockingJpeg: true });
      assert.deepEqual(await src.decode(), expected, `${c} whole`);
      const { width: W, height: H } = expected;
      // every box touching an edge or a corner, and random ones (odd offsets cross the chroma sample pairs)
      const boxes = [
        { x: 0, y: 0, width: W, height: H },
        { x: 1, y: 1, width: W - 2, height: H - 2 },
        { x: W - 1, y: H - 1, width: 1, height: 1 },
      ];
      for (let i = 0; i < 150; i++) {
        const width = rng.int(1, W);
        const height = rng.int(1, H);
        boxes.push({ x: rng.int(0, W - width), y: rng.int(0, H - height), width, height });
      }
      for (const b of boxes) assert.deepEqual(await src.decode(b), crop(expected, b.x, b.y, b.width, b.height), `${c} ${JSON.stringify(b)}`);
    }
  });

  test("JPEG: a truncated file fails as on the fallback; a CMYK one takes PIL's conversion there", async () => {
    const t = tmpDir();
    const jpg = readFileSync(path.join(dir, "s420.jpg"));
    const cut = path.join(t, "cut.jpg");
    writeFileSync(cut, jpg.subarray(0, Math.floor(jpg.length * 0.7)));
    const opened = await openImage(cut, { blockingJpeg: true });
    await assert.rejects(opened.decode(), (e: Error) => e instanceof ImageDecodeError && /premature end of JPEG/.test(e.message));
    // a box above the cut: the missing end-of-image marker sends the file to libvips, as on the fallback
    const box = { x: 0, y: 0, width: 8, height: 8 };
    assert.deepEqual(await opened.decode(box), await onFallback(async () => (await openImage(cut)).decode(box)));
    const cmyk = path.join(REPO, "test/fixtures/decode/jpeg_cmyk.jpg");
    assert.deepEqual(await (await openImage(cmyk, { blockingJpeg: true })).decode(), await onFallback(() => decodeRgb(cmyk)));
  });

  test("Lanczos-4 resize: the C++ kernel gives the JavaScript kernel's pixels, up and down, odd sizes", async () => {
    const sizes: [number, number, number, number][] = [
      [577, 577, 256, 256],
      [1000, 1000, 256, 256],
      [256, 300, 256, 256],
      [97, 61, 256, 256],
      [300, 41, 17, 129],
      [1, 1, 5, 3],
      [9, 2, 1, 1],
    ];
    for (const [sw, sh, dw, dh] of sizes) {
      const img = noise(sw, sh, sw * 7 + sh);
      assert.deepEqual(resizeOnAddon(img, dw, dh, "lanczos4"), resize(img, dw, dh, "lanczos4"), `${sw}×${sh} → ${dw}×${dh}`);
    }
  });

  test("compression round trip: the addon's pixels are the fallback's, both codecs, with and without swapRB, quality clamps", async () => {
    const img = noise(131, 77, 3);
    for (const codec of ["jpeg", "webp"] as const) {
      for (const quality of [0, 1, 37, 60, 95, 100, 101]) {
        for (const swapRB of [true, false]) {
          const ours = await compressRoundTrip(img, codec, quality, { swapRB });
          const fallback = await onFallback(() => compressRoundTrip(img, codec, quality, { swapRB }));
          assert.deepEqual(ours, fallback, `${codec} q=${quality} swapRB=${swapRB}`);
        }
      }
    }
  });

  test("lossless WebP: the file decodes to the very pixels, at efforts 0, 4 and 6; a bad effort is refused", async () => {
    const img = noise(256, 256, 9);
    for (const effort of [0, 4, 6]) {
      const webp = await encodeLosslessWebp(img, effort);
      assert.equal(webp.subarray(0, 4).toString("latin1"), "RIFF");
      assert.deepEqual(await decodeRgb(webp), img, `effort ${effort}`);
    }
    await assert.rejects(encodeLosslessWebp(img, 7), RangeError);
  });

  test("testset build: the addon and the fallback write the same pixels and the same manifest draws", async () => {
    const root = path.join(tmpDir(), "root");
    await makeExampleDataset(root, { seed: 3, perKind: 4, size: 300 });
    const lists = ["gan", "sd", "midjourney", "dalle3"].map((g) => path.join(root, "annotations", `test_annotations_${g}.txt`));
    const outs = { addon: path.join(tmpDir(), "addon"), sharp: path.join(tmpDir(), "sharp") };
    for (const [how, out] of Object.entries(outs)) {
      const env = how === "sharp" ? { IMAGINET_CODEC: "sharp" } : {};
      const r = cli(["testset", "build", "--root", root, "--out", out, "--json", "--workers", "1", ...lists], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    const manifest = (out: string) =>
      readFileSync(path.join(out, "manifest.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => {
          const { sha256: _sha, bytes: _bytes, ...rest } = JSON.parse(l) as Record<string, unknown>;
          return rest;
        });
    assert.deepEqual(manifest(outs.addon), manifest(outs.sharp), "the same draws, sources and destinations");
    const { files } = await walkFiles(outs.addon);
    const images = files.filter((f) => f.endsWith(".webp")).sort();
    assert.equal(images.length, 16);
    for (const f of images) assert.deepEqual(await decodeRgb(path.join(outs.addon, f)), await decodeRgb(path.join(outs.sharp, f)), f);
  });
});
