/**
 * src/image/resize.ts against OpenCV: the fixtures under test/fixtures/resize/ were made by
 * scripts/fixtures/make_resize_fixtures.py with cv2.resize (the version is in index.json), and every
 * case must match byte for byte. Plus a few properties that need no fixture.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { resize, type ResizeInterpolation } from "../src/image/resize.js";
import type { RgbImage } from "../src/image/types.js";
import { REPO } from "./helpers.js";

const DIR = path.join(REPO, "test", "fixtures", "resize");

interface Index {
  cv2Version: string;
  inputs: Record<string, { file: string; width: number; height: number }>;
  cases: { input: string; width: number; height: number; interpolation: ResizeInterpolation; expected: string }[];
}

const index = JSON.parse(readFileSync(path.join(DIR, "index.json"), "utf8")) as Index;

async function loadPng(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(path.join(DIR, file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

function diff(a: Uint8Array, b: Uint8Array): { max: number; differing: number } {
  let max = 0,
    differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d) {
      differing++;
      if (d > max) max = d;
    }
  }
  return { max, differing };
}

/** A deterministic pseudo-random image (xorshift32). */
function noiseImage(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    data[i] = s & 255;
  }
  return { width, height, data };
}

const MODES: ResizeInterpolation[] = ["lanczos4", "bicubic", "bilinear", "area"];

describe(`resize matches cv2.resize (OpenCV ${index.cv2Version}) exactly`, () => {
  const inputs = new Map<string, Promise<RgbImage>>();
  const input = (name: string) => {
    let p = inputs.get(name);
    if (!p) {
      p = loadPng(index.inputs[name]!.file);
      inputs.set(name, p);
    }
    return p;
  };
  for (const c of index.cases) {
    test(`${c.input} -> ${c.width}x${c.height} ${c.interpolation}`, async () => {
      const src = await input(c.input);
      const want = await loadPng(c.expected);
      const got = resize(src, c.width, c.height, c.interpolation);
      assert.equal(got.width, c.width);
      assert.equal(got.height, c.height);
      assert.equal(got.data.length, want.data.length);
      const d = diff(got.data, want.data);
      assert.deepEqual(d, { max: 0, differing: 0 }, `differs from OpenCV in ${d.differing} of ${want.data.length} values, by up to ${d.max}`);
    });
  }
});

describe("resize properties", () => {
  test("output dimensions and buffer length", () => {
    const src = noiseImage(31, 17, 3);
    for (const mode of MODES) {
      for (const [w, h] of [
        [1, 1],
        [7, 40],
        [100, 3],
        [31, 18],
        [256, 256],
      ] as const) {
        const out = resize(src, w, h, mode);
        assert.equal(out.width, w);
        assert.equal(out.height, h);
        assert.equal(out.data.length, w * h * 3);
      }
    }
  });

  test("same size returns an equal copy, not the same buffer", () => {
    const src = noiseImage(20, 10, 9);
    for (const mode of MODES) {
      const out = resize(src, 20, 10, mode);
      assert.notEqual(out.data, src.data);
      assert.deepEqual(out.data, src.data);
    }
  });

  // Not exactly: OpenCV rounds each Lanczos4/cubic weight to int16 on its own, so the weights of
  // a tap set can sum to 2047 or 2049 instead of 2048 (e.g. Lanczos4 613x401 -> 700x450 turns
  // some 254s into 253s, in OpenCV too: see the const254 fixture). Bilinear and area are exact.
  test("a constant image stays constant (within 1 for lanczos4 and bicubic)", () => {
    for (const v of [0, 1, 128, 254, 255]) {
      const src: RgbImage = { width: 613, height: 401, data: new Uint8Array(613 * 401 * 3).fill(v) };
      for (const mode of MODES) {
        for (const [w, h] of [
          [256, 256],
          [64, 48],
          [700, 450],
          [5, 500],
        ] as const) {
          const out = resize(src, w, h, mode);
          const tol = mode === "lanczos4" || mode === "bicubic" ? 1 : 0;
          assert.equal(
            out.data.findIndex((x) => Math.abs(x - v) > tol),
            -1,
            `${mode} ${w}x${h} of constant ${v}`,
          );
        }
      }
    }
  });

  test("the input is not modified", () => {
    const src = noiseImage(40, 30, 5);
    const before = src.data.slice();
    for (const mode of MODES) resize(src, 17, 61, mode);
    assert.deepEqual(src.data, before);
  });

  test("bad sizes are refused", () => {
    const src = noiseImage(4, 4, 1);
    assert.throws(() => resize(src, 0, 4, "lanczos4"), RangeError);
    assert.throws(() => resize(src, 4, 2.5, "bilinear"), RangeError);
    assert.throws(() => resize({ width: 4, height: 4, data: new Uint8Array(5) }, 2, 2, "area"), RangeError);
  });
});
