/**
 * Pixel filters matching what ImagiNet's albumentations 1.x perturbations do through OpenCV.
 * Pure and synchronous on typed arrays, so they can run in worker threads.
 */
import { roundHalfEven } from "../util/round.js";
import type { RgbImage } from "./types.js";

/** Anything that yields uniform numbers in [0, 1) — `Rng` from src/util/rng.ts fits. */
export interface UniformSource {
  next(): number;
}

/**
 * The Q8 kernel OpenCV 4.x uses for `GaussianBlur` on 8-bit images with `sigmaX = 0`:
 * `getGaussianKernelBitExact` (tabulated binomial-like kernels for ksize 3/5/7/9, otherwise
 * exp(-x²/2σ²) with σ = 0.3·((k−1)/2 − 1) + 0.8, normalised) then `getGaussianKernelFixedPoint_ED`
 * (error-diffused rounding to 1/256, centre tap takes what is left so the taps sum to 256).
 * `sigma > 0` takes the formula path with that sigma.
 */
export function gaussianKernelQ8(ksize: number, sigma = 0): Int32Array {
  if (!Number.isInteger(ksize) || ksize < 1 || ksize % 2 !== 1) throw new RangeError(`ksize must be a positive odd integer, got ${ksize}`);
  if (sigma <= 0) {
    const table: Record<number, number[]> = {
      1: [256],
      3: [64, 128, 64],
      5: [16, 64, 96, 64, 16],
      7: [8, 28, 56, 72, 56, 28, 8],
      9: [4, 13, 30, 51, 60, 51, 30, 13, 4],
    };
    const t = table[ksize];
    if (t) return Int32Array.from(t);
  }
  const n = ksize;
  const s = sigma > 0 ? sigma : n * 0.15 + 0.35;
  const scale2X = -0.125 / (s * s);
  const half = (n - 1) / 2;
  const values: number[] = [];
  let sum = 0;
  for (let i = 0, x = 1 - n; i < half; i++, x += 2) {
    const t = Math.exp(x * x * scale2X);
    values.push(t);
    sum += t;
  }
  sum = sum * 2 + 1;
  const mul = 1 / sum;
  const out = new Int32Array(n);
  let err = 0;
  let acc = 0;
  for (let i = 0; i < half; i++) {
    const adj = values[i]! * mul * 256 + err;
    const v = roundHalfEven(adj);
    err = adj - v;
    out[i] = v;
    out[n - 1 - i] = v;
    acc += v;
  }
  out[half] = 256 - 2 * acc;
  return out;
}

/** OpenCV's `borderInterpolate` for BORDER_REFLECT_101 (`gfedcb|abcdefgh|gfedcba`). */
function reflect101(p: number, len: number): number {
  if (len === 1) return 0;
  while (p < 0 || p >= len) {
    if (p < 0) p = -p;
    else p = 2 * len - 2 - p;
  }
  return p;
}

/**
 * `cv2.GaussianBlur(img, (ksize, ksize), sigmaX=0)` on an 8-bit image, bit-exact with OpenCV 4.x's
 * fixed-point path (`GaussianBlurFixedPoint`): a horizontal pass kept exactly in 1/256 units, a
 * vertical pass exactly in 1/65536 units, then round half up to uint8. Border: BORDER_REFLECT_101.
 */
export function gaussianBlur(img: RgbImage, ksize: number, sigma = 0): RgbImage {
  const { width: w, height: h, data: src } = img;
  if (ksize === 1 && sigma <= 0) return { width: w, height: h, data: src.slice() };
  const k = gaussianKernelQ8(ksize, sigma);
  const r = (ksize - 1) >> 1;
  const rowLen = w * 3;
  // horizontal pass into Q8 (max 255·256 fits in 16 bits; Int32 keeps the inner loop simple)
  const tmp = new Int32Array(w * h * 3);
  // column index map with reflect-101 border for x in [-r, w + r)
  const xmap = new Int32Array(w + 2 * r);
  for (let x = -r; x < w + r; x++) xmap[x + r] = reflect101(x, w) * 3;
  for (let y = 0; y < h; y++) {
    const row = y * rowLen;
    for (let x = 0; x < w; x++) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < ksize; i++) {
        const kv = k[i]!;
        const o = row + xmap[x + i]!;
        s0 += kv * src[o]!;
        s1 += kv * src[o + 1]!;
        s2 += kv * src[o + 2]!;
      }
      const d = row + x * 3;
      tmp[d] = s0;
      tmp[d + 1] = s1;
      tmp[d + 2] = s2;
    }
  }
  // vertical pass into Q16, then round half up (max 255·65536 < 2^31 fits Int32 arithmetic in doubles)
  const out = new Uint8Array(w * h * 3);
  const yoff = new Int32Array(ksize);
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < ksize; i++) yoff[i] = reflect101(y - r + i, h) * rowLen;
    const drow = y * rowLen;
    for (let c = 0; c < rowLen; c++) {
      let s = 0;
      for (let i = 0; i < ksize; i++) s += k[i]! * tmp[yoff[i]! + c]!;
      out[drow + c] = (s + 32768) >>> 16;
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * albumentations 1.x `GaussNoise` with a given variance: independent N(0, √variance) noise per
 * pixel and channel (Box–Muller on `rng.next()`), added to the float image, clipped to [0, 255]
 * and truncated to uint8 (`np.clip(...).astype(np.uint8)`).
 */
export function gaussianNoise(img: RgbImage, variance: number, rng: UniformSource, mean = 0): RgbImage {
  if (!(variance >= 0)) throw new RangeError(`variance must be ≥ 0, got ${variance}`);
  const sigma = Math.sqrt(variance);
  const src = img.data;
  const n = src.length;
  const out = new Uint8Array(n);
  const TWO_PI = 2 * Math.PI;
  for (let i = 0; i < n; i += 2) {
    // Box–Muller: two independent normals per pair of uniforms; 1 − u keeps log away from 0
    const u1 = 1 - rng.next();
    const u2 = rng.next();
    const rad = Math.sqrt(-2 * Math.log(u1)) * sigma;
    const a = src[i]! + mean + rad * Math.cos(TWO_PI * u2);
    out[i] = a <= 0 ? 0 : a >= 255 ? 255 : Math.trunc(a);
    if (i + 1 < n) {
      const b = src[i + 1]! + mean + rad * Math.sin(TWO_PI * u2);
      out[i + 1] = b <= 0 ? 0 : b >= 255 ? 255 : Math.trunc(b);
    }
  }
  return { width: img.width, height: img.height, data: out };
}
