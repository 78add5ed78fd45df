/**
 * Compression round trips and filters against OpenCV 4.6 reference outputs
 * (test/fixtures/image, made by scripts/fixtures/make_image_fixtures.py with Debian's python3-opencv).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { compressRoundTrip, encodeJpeg, estimateJpegQuality, libjpegLuminanceTable, readJpegLuminanceTable } from "../src/image/compress.js";
import { gaussianBlur, gaussianKernelQ8, gaussianNoise } from "../src/image/filter.js";
import { loadSharp } from "../src/image/sharp.js";
import type { RgbImage } from "../src/image/types.js";
import { Rng } from "../src/util/rng.js";
import { REPO } from "./helpers.js";

const FIX = path.join(REPO, "test", "fixtures", "image");

interface Index {
  cv2: string;
  inputs: Record<string, { file: string; width: number; height: number }>;
  jpeg: { input: string; quality: number; file: string }[];
  webp: { input: string; quality: number; file: string }[];
  blur: { input: string; ksize: number; file: string }[];
  jpegFiles: { quality: number; file: string }[];
}
const index = JSON.parse(readFileSync(path.join(FIX, "index.json"), "utf8")) as Index;

const cache = new Map<string, Promise<RgbImage>>();
function load(file: string): Promise<RgbImage> {
  let p = cache.get(file);
  if (!p) {
    p = loadSharp().then(async (sharp) => {
      const { data, info } = await sharp(path.join(FIX, file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, data: new Uint8Array(data) };
    });
    cache.set(file, p);
  }
  return p;
}
const input = (name: string): Promise<RgbImage> => load(index.inputs[name]!.file);

function diff(a: RgbImage, b: RgbImage): { mean: number; max: number } {
  assert.equal(a.width, b.width);
  assert.equal(a.height, b.height);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / a.data.length, max };
}

test("fixtures come from OpenCV 4.6", () => {
  assert.match(index.cv2, /^4\.6\./);
  assert.equal(index.jpeg.length, 16);
  assert.equal(index.webp.length, 12);
});

describe("gaussianBlur vs cv2.GaussianBlur(img, (k, k), 0)", () => {
  test("Q8 kernels are OpenCV's bit-exact ones and sum to 256", () => {
    assert.deepEqual([...gaussianKernelQ8(3)], [64, 128, 64]);
    assert.deepEqual([...gaussianKernelQ8(5)], [16, 64, 96, 64, 16]);
    assert.deepEqual([...gaussianKernelQ8(7)], [8, 28, 56, 72, 56, 28, 8]);
    for (const k of [1, 3, 5, 7, 9, 11, 13, 21])
      assert.equal(
        gaussianKernelQ8(k).reduce((a, b) => a + b, 0),
        256,
      );
    assert.throws(() => gaussianKernelQ8(4), RangeError);
    assert.throws(() => gaussianKernelQ8(0), RangeError);
  });

  for (const e of index.blur) {
    test(`${e.input} k=${e.ksize}: bit-exact`, async () => {
      const ours = gaussianBlur(await input(e.input), e.ksize);
      const d = diff(ours, await load(e.file));
      assert.equal(d.max, 0, `mean ${d.mean}, max ${d.max}`);
    });
  }

  test("k=1 is a copy", async () => {
    const img = await input("edges");
    const out = gaussianBlur(img, 1);
    assert.notEqual(out.data, img.data);
    assert.deepEqual(out.data, img.data);
  });
});

describe("compressRoundTrip vs albumentations' cv2.imencode/imdecode on the RGB array", () => {
  for (const codec of ["jpeg", "webp"] as const) {
    for (const e of index[codec]) {
      test(`${codec} q=${e.quality} ${e.input}: bit-exact with swapRB, clearly off without`, async () => {
        const img = await input(e.input);
        const ref = await load(e.file);
        const ours = diff(await compressRoundTrip(img, codec, e.quality), ref);
        // measured: identical on every fixture (sharp's mozjpeg in libjpeg mode / libwebp 1.6 vs
        // Debian's libjpeg-turbo 2.1 / libwebp 1.2.4)
        assert.equal(ours.max, 0, `mean ${ours.mean}, max ${ours.max}`);
        const unswapped = diff(await compressRoundTrip(img, codec, e.quality, { swapRB: false }), ref);
        // measured: mean 0.61 (smooth gradient, q100) to 23.6 (noise, q60)
        assert.ok(unswapped.mean > 0.5 && unswapped.max >= 4, `without swapRB: mean ${unswapped.mean}, max ${unswapped.max}`);
      });
    }
  }

  test("the input is left alone and odd sizes survive", async () => {
    const img = await input("edges");
    const before = img.data.slice();
    const out = await compressRoundTrip(img, "jpeg", 75);
    assert.deepEqual(img.data, before);
    assert.equal(out.width, 97);
    assert.equal(out.height, 61);
    assert.equal(out.data.length, 97 * 61 * 3);
  });
});

describe("estimateJpegQuality", () => {
  for (const e of index.jpegFiles) {
    test(`OpenCV JPEG q=${e.quality}`, () => {
      const buf = readFileSync(path.join(FIX, e.file));
      assert.equal(estimateJpegQuality(buf), e.quality);
      assert.deepEqual(readJpegLuminanceTable(buf), libjpegLuminanceTable(e.quality));
    });
  }

  test("sharp JPEGs q=1..100", async () => {
    const img = await input("tiny");
    for (let q = 1; q <= 100; q++) assert.equal(estimateJpegQuality(await encodeJpeg(img, q)), q, `q=${q}`);
  });

  test("scaled tables are distinct for every quality", () => {
    const seen = new Set(Array.from({ length: 100 }, (_, i) => libjpegLuminanceTable(i + 1).join(",")));
    assert.equal(seen.size, 100);
  });

  test("non-libjpeg tables get the nearest quality; non-JPEGs get null", async () => {
    const sharp = await loadSharp();
    const img = await input("photo");
    const raw = { raw: { width: img.width, height: img.height, channels: 3 as const } };
    const other = await sharp(img.data, raw).jpeg({ quality: 80, quantisationTable: 3 }).toBuffer();
    const q = estimateJpegQuality(other);
    assert.ok(q !== null && q >= 60 && q <= 95, `estimate ${q}`);
    const png = await sharp(img.data, raw).png().toBuffer();
    assert.equal(estimateJpegQuality(png), null);
    assert.equal(estimateJpegQuality(new Uint8Array([0xff, 0xd8, 0xff, 0xd9])), null);
  });
});

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

function constant(width: number, height: number, v: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(v) };
}

describe("gaussianNoise (albumentations GaussNoise: add N(0, √var), clip, truncate)", () => {
  const W = 256;
  const H = 256;
  const N = W * H * 3;
  // 5 standard errors: a false failure has probability < 1e-6 per check (the seed is fixed anyway)
  const Z = 5;

  for (const variance of [3, 10]) {
    test(`variance ${variance}: mean, variance and bin frequencies of truncated N(0, σ)`, () => {
      const out = gaussianNoise(constant(W, H, 128), variance, new Rng(1234, `noise-${variance}`));
      const sigma = Math.sqrt(variance);
      // out = floor(128 + n): exact moments of the truncated (floored) normal
      let eMean = 0;
      let eSq = 0;
      const bins = new Map<number, number>();
      for (let k = -60; k <= 60; k++) {
        const p = phi((k + 1) / sigma) - phi(k / sigma);
        bins.set(k, p);
        eMean += k * p;
        eSq += k * k * p;
      }
      const eVar = eSq - eMean * eMean;
      let sum = 0;
      let sq = 0;
      const counts = new Map<number, number>();
      for (let i = 0; i < N; i++) {
        const k = out.data[i]! - 128;
        sum += k;
        sq += k * k;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      const mean = sum / N;
      const v = sq / N - mean * mean;
      // the noise itself is centred: floor() alone moves the mean by ≈ −0.5
      assert.ok(Math.abs(eMean + 0.5) < 0.01);
      assert.ok(Math.abs(mean - eMean) < Z * Math.sqrt(eVar / N), `mean ${mean} vs ${eMean}`);
      // Var of the sample variance ≈ (μ4 − σ⁴)/N; μ4 = 3σ⁴ for a normal (close enough after flooring)
      assert.ok(Math.abs(v - eVar) < Z * eVar * Math.sqrt(2 / N), `variance ${v} vs ${eVar}`);
      for (const [k, p] of bins) {
        if (p * N < 20) continue;
        const c = counts.get(k) ?? 0;
        assert.ok(Math.abs(c - p * N) < Z * Math.sqrt(N * p * (1 - p)), `bin ${k}: ${c} vs ${p * N}`);
      }
      // channels and neighbours are independent: lag-1 correlation near 0
      let cov = 0;
      for (let i = 1; i < N; i++) cov += (out.data[i]! - 128 - mean) * (out.data[i - 1]! - 128 - mean);
      assert.ok(Math.abs(cov / (N - 1) / v) < Z / Math.sqrt(N));
    });
  }

  test("clips at 0 and 255 and truncates", () => {
    const variance = 10;
    const sigma = Math.sqrt(variance);
    const lo = gaussianNoise(constant(W, H, 0), variance, new Rng(1, "lo")).data;
    const hi = gaussianNoise(constant(W, H, 255), variance, new Rng(1, "hi")).data;
    const zeros = lo.reduce((a, x) => a + (x === 0 ? 1 : 0), 0);
    const fulls = hi.reduce((a, x) => a + (x === 255 ? 1 : 0), 0);
    // 0 + n truncates to 0 for every n < 1; 255 + n stays 255 only for n ≥ 0
    const pZero = phi(1 / sigma);
    assert.ok(Math.abs(zeros - pZero * N) < Z * Math.sqrt(N * pZero * (1 - pZero)), `${zeros / N} vs ${pZero}`);
    assert.ok(Math.abs(fulls - 0.5 * N) < Z * Math.sqrt(N * 0.25), `${fulls / N} vs 0.5`);
    assert.ok(Math.max(...hi.subarray(0, 10000)) <= 255 && Math.min(...lo.subarray(0, 10000)) >= 0);
    // huge noise: saturates rather than wrapping
    const big = gaussianNoise(constant(64, 64, 128), 1e6, new Rng(2, "big")).data;
    const sat = big.reduce((a, x) => a + (x === 0 || x === 255 ? 1 : 0), 0);
    assert.ok(sat / big.length > 0.85, `saturated fraction ${sat / big.length}`);
  });

  test("deterministic per seed and id; different ids differ; input untouched", async () => {
    const img = await input("photo");
    const before = img.data.slice();
    const a = gaussianNoise(img, 7, new Rng(42, "a.png"));
    const b = gaussianNoise(img, 7, new Rng(42, "a.png"));
    const c = gaussianNoise(img, 7, new Rng(42, "b.png"));
    const d = gaussianNoise(img, 7, new Rng(43, "a.png"));
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(a.data, c.data);
    assert.notDeepEqual(a.data, d.data);
    assert.deepEqual(img.data, before);
    assert.equal(a.width, img.width);
    assert.equal(a.height, img.height);
  });

  test("variance 0 is the identity; negative variance throws", async () => {
    const img = await input("noise");
    assert.deepEqual(gaussianNoise(img, 0, new Rng(0, "x")).data, img.data);
    assert.throws(() => gaussianNoise(img, -1, new Rng(0, "x")), RangeError);
  });
});
