/**
 * Pillow's `Image.resize` on 8-bit RGB images, bit for bit (Pillow 9.4, libImaging/Resample.c; checked
 * against Debian 12's python3-pil in test/corvi256.test.ts). DMimageDetection's `csv_operations.py`
 * resizes with it, so the Corvi test set needs it; OpenCV's resize (./resize.ts) is a different algorithm.
 *
 * - Same size: a copy (`resize` returns `self.copy()`).
 * - Separable, horizontal pass first into an 8-bit intermediate, then vertical.
 * - Per output index `xx`: `scale = in/out`, `filterscale = max(scale, 1)` (the kernel is widened
 *   when downscaling: antialiased), `support = filter.support · filterscale`,
 *   `center = (xx + 0.5)·scale`, taps `xmin = max(trunc(center − support + 0.5), 0)` to
 *   `min(trunc(center + support + 0.5), in)` exclusive, weights `filter((x − center + 0.5)/filterscale)`
 *   normalised by their double sum, then fixed point: `trunc(w·2^22 ± 0.5)` (sign of w).
 * - Each output value: `(2^21 + Σ src·k) >> 22`, clamped to 0..255 (int32 sums).
 * - Filters: Lanczos a = 3 (`sinc(x)·sinc(x/3)` on [−3, 3)), bicubic with a = −0.5 (support 2).
 */
import { newImage, type RgbImage } from "./types.js";

export type PilFilter = "lanczos" | "bicubic";

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const FILTERS: Record<PilFilter, { support: number; weight(x: number): number }> = {
  lanczos: { support: 3, weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

interface Coefficients {
  /** first source index of each output index */
  start: Int32Array;
  /** number of taps of each output index */
  count: Int32Array;
  /** `ksize` fixed-point weights per output index */
  weights: Int32Array;
  ksize: number;
}

function coefficients(inSize: number, outSize: number, filter: PilFilter): Coefficients {
  const f = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      k[x] = f.weight((x + xmin - center + 0.5) / filterscale);
      sum += k[x]!;
    }
    for (let x = 0; x < n; x++) {
      const w = sum !== 0 ? k[x]! / sum : k[x]!;
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE);
    }
    start[xx] = xmin;
    count[xx] = n;
  }
  return { start, count, weights, ksize };
}

function clip8(v: number): number {
  const s = v >> PRECISION_BITS;
  return Math.min(Math.max(s, 0), 255);
}

function horizontal(img: RgbImage, outW: number, c: Coefficients): RgbImage {
  const out = newImage(outW, img.height);
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width * 3;
    for (let xx = 0; xx < outW; xx++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      const base = xx * c.ksize;
      const x0 = c.start[xx]!;
      for (let x = 0; x < c.count[xx]!; x++) {
        const w = c.weights[base + x]!;
        const s = row + (x0 + x) * 3;
        r += img.data[s]! * w;
        g += img.data[s + 1]! * w;
        b += img.data[s + 2]! * w;
      }
      const d = (y * outW + xx) * 3;
      out.data[d] = clip8(r);
      out.data[d + 1] = clip8(g);
      out.data[d + 2] = clip8(b);
    }
  }
  return out;
}

function vertical(img: RgbImage, outH: number, c: Coefficients): RgbImage {
  const out = newImage(img.width, outH);
  const stride = img.width * 3;
  for (let yy = 0; yy < outH; yy++) {
    const base = yy * c.ksize;
    const y0 = c.start[yy]!;
    for (let i = 0; i < stride; i++) {
      let v = HALF;
      for (let y = 0; y < c.count[yy]!; y++) v += img.data[(y0 + y) * stride + i]! * c.weights[base + y]!;
      out.data[yy * stride + i] = clip8(v);
    }
  }
  return out;
}

/** `Image.resize((width, height), filter)` of Pillow on an RGB image. */
export function pilResize(img: RgbImage, width: number, height: number, filter: PilFilter): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new RangeError(`bad resize target ${width}×${height}`);
  if (width === img.width && height === img.height) return { width, height, data: img.data.slice() };
  let out = img;
  if (width !== img.width) out = horizontal(out, width, coefficients(img.width, width, filter));
  if (height !== img.height) out = vertical(out, height, coefficients(img.height, height, filter));
  return out;
}
