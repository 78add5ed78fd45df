import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { decodeRgb, ImageDecodeError, openImage } from "../src/image/decode.js";
import { crop } from "../src/image/geometry.js";
import { REPO, tmpDir } from "./helpers.js";

// made by scripts/fixtures/make_decode_fixtures.py: each input and Pillow's convert("RGB") of it
const dir = path.join(REPO, "test/fixtures/decode");
const { cases } = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8")) as { cases: string[] };
const inputOf = (c: string): string => {
  const ext = {
    rgb: "png",
    rgba: "png",
    grey: "png",
    grey_alpha: "png",
    palette: "png",
    grey16: "png",
    jpeg: "jpg",
    webp_lossless: "webp",
    tiff: "tiff",
    gif_animated: "gif",
    jpeg_exif_rotated: "jpg",
  }[c];
  assert.ok(ext, `extension of ${c}`);
  return path.join(dir, `${c}.${ext}`);
};

describe("decode to RGB as Pillow's convert('RGB')", () => {
  for (const c of cases) {
    test(c, async () => {
      const ours = await decodeRgb(inputOf(c));
      const expected = await decodeRgb(path.join(dir, `${c}.expected.png`));
      assert.deepEqual([ours.width, ours.height], [expected.width, expected.height], "size (no EXIF rotation)");
      let max = 0;
      for (let i = 0; i < ours.data.length; i++) max = Math.max(max, Math.abs(ours.data[i]! - expected.data[i]!));
      // JPEG decoders may round a sample differently (libvips' libjpeg-turbo build vs Pillow's); all else is exact
      assert.ok(max <= (c.startsWith("jpeg") ? 1 : 0), `max abs difference ${max}`);
    });
  }

  // made by scripts/fixtures/make_cmyk_fixture.py
  test("a CMYK JPEG (Adobe-inverted, as Pillow writes it) by Pillow's formula, not libvips' ICC conversion", async () => {
    const ours = await decodeRgb(path.join(dir, "jpeg_cmyk.jpg"));
    const expected = await decodeRgb(path.join(dir, "jpeg_cmyk.expected.png"));
    const viaIcc = await (await import("sharp")).default(path.join(dir, "jpeg_cmyk.jpg")).toColourspace("srgb").raw().toBuffer();
    const maxDiff = (a: Uint8Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - expected.data[i]!)), 0);
    assert.deepEqual([ours.width, ours.height, ours.data.length], [16, 12, 16 * 12 * 3]);
    assert.ok(maxDiff(ours.data) <= 1, `max abs difference ${maxDiff(ours.data)}`);
    assert.ok(maxDiff(viaIcc) > 50, "the fixture tells the two conversions apart");
  });

  test("a box decodes to exactly the crop of the whole image, in every format; a box outside the image is refused", async () => {
    const box = { x: 3, y: 2, width: 9, height: 7 };
    for (const file of [...cases.map(inputOf), path.join(dir, "jpeg_cmyk.jpg")]) {
      const opened = await openImage(file);
      const whole = await decodeRgb(file);
      assert.deepEqual([opened.width, opened.height], [whole.width, whole.height], file);
      assert.deepEqual(await opened.decode(box), crop(whole, box.x, box.y, box.width, box.height), file);
      await assert.rejects(opened.decode({ ...box, x: whole.width - 8 }), RangeError, file);
    }
  });

  test("corrupt, truncated, non-image and oversized inputs fail with the file name", async () => {
    const t = tmpDir();
    const text = path.join(t, "a.jpg");
    writeFileSync(text, "not an image");
    await assert.rejects(decodeRgb(text), (e: Error) => e instanceof ImageDecodeError && e.message.startsWith(`${text}: not a readable image`));
    const jpg = readFileSync(inputOf("jpeg"));
    const cut = path.join(t, "cut.jpg");
    writeFileSync(cut, jpg.subarray(0, Math.floor(jpg.length * 0.7)));
    await assert.rejects(decodeRgb(cut), (e: Error) => e instanceof ImageDecodeError && /cut\.jpg: (not a readable image|cannot decode) \(.*premature end of JPEG/.test(e.message));
    await assert.rejects(decodeRgb(inputOf("rgb"), { maxPixels: 100 }), {
      message: `${inputOf("rgb")}: 16×12 = 192 pixels exceeds the limit of 100 (dataset verify and testset build take --max-pixels to raise it for files you trust)`,
    });
  });
});
