/**
 * Image resizing that reproduces OpenCV's `cv2.resize` on 8-bit 3-channel images, bit for bit
 * (checked against OpenCV 4.6.0, Debian 12's python3-opencv; see test/resize.test.ts).
 *
 * What OpenCV 4.6 does for CV_8UC3 on x86-64 without IPP (Debian builds none), and what is
 * reproduced here:
 *
 * - Same size: a plain copy.
 * - `inv_scale = dst/src` (double), `scale = 1/inv_scale` (double; not src/dst, which can differ
 *   in the last bit).
 * - INTER_LANCZOS4, INTER_CUBIC, INTER_LINEAR (and INTER_AREA when upscaling along either axis)
 *   go through the generic separable path (`resizeGeneric_`): for each destination column
 *   `fx = (float)((dx + 0.5)*scale - 0.5)`, `sx = floor(fx)`, `fx -= sx` (in area mode
 *   `sx = floor(dx*scale)`, `fx = (float)((dx+1) - (sx+1)*inv_scale)`, `fx = fx <= 0 ? 0 : fx - floor(fx)`),
 *   the kernel weights are computed in float (`interpolateLanczos4` normalises 8 windowed-sinc
 *   taps by their float sum; `interpolateCubic` uses A = -0.75) and turned into int16 with
 *   `saturate_cast<short>(w * 2048)` (round half to even). Taps are `sx - k/2 + 1 .. sx + k/2`,
 *   source indices outside the image are clamped (replicated border), on both axes. The kernel is
 *   never widened when downscaling (no anti-aliasing). For bilinear, columns whose taps leave the
 *   image get `sx` clamped and `fx = 0`; rows do not (their taps are clamped instead).
 * - Horizontal pass: exact int32 sums of `src * alpha` for every needed source row (each computed
 *   once, kept in a ring of k rows); vertical pass per destination row:
 *   - Lanczos4: int32 `sum(row_k * beta_k)`, then `(v + (1 << 21)) >> 22`, saturated to 0..255.
 *   - Cubic: OpenCV's SIMD `VResizeCubicVec_32s8u` handles the first `floor(W/8)*8` values of the
 *     row (W = width*3) in float: `round_half_even(r0*b0 + (r1*b1 + (r2*b2 + r3*b3)))` with
 *     `b = beta * 2^-22` and float rounding after every operation; the scalar tail uses the
 *     fixed-point formula above. Both are reproduced. (The split is by element, not pixel, so
 *     for cubic the channel order can matter in the last pixel of a row: we match cv2.resize on
 *     the array in the order it is given to us, RGB.)
 *   - Linear: the CV_8U specialisation of `VResizeLinear`:
 *     `(((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2) >> 2`.
 * - INTER_LINEAR with an exact 2× downscale on both axes is turned into INTER_AREA by OpenCV.
 * - INTER_AREA downscaling (scale ≥ 1 on both axes): integer factors use the block mean
 *   (`resizeAreaFast_`: `(sum + 2) >> 2` for 2×2, else `round_half_even((float)sum * (1.f/area))`);
 *   other factors use `resizeArea_` (per-source-pixel float weights, float accumulation).
 *
 * All float arithmetic of OpenCV is emulated with Math.fround after every operation (rounding a
 * double result of +, -, *, / of two floats to float equals the float operation).
 */
import { roundHalfEven } from "../util/round.js";
import type { RgbImage } from "./types.js";

export type ResizeInterpolation = "lanczos4" | "bilinear" | "bicubic" | "area";

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS; // INTER_RESIZE_COEF_SCALE
const CAST_SHIFT = COEF_BITS * 2;
const CAST_DELTA = 1 << (CAST_SHIFT - 1);
const DBL_EPSILON = 2.220446049250313e-16;
const f32 = Math.fround;

/** saturate_cast<int>(double) (cvRound = lrint, half to even). */
function saturateInt(v: number): number {
  const r = roundHalfEven(v);
  return r > 2147483647 ? 2147483647 : Math.max(r, -2147483648);
}

function saturateShort(v: number): number {
  return v > 32767 ? 32767 : Math.max(v, -32768);
}

// ---- kernel weights (float, as interpolateLanczos4 / interpolateCubic compute them) ----

const S45 = 0.7071067811865476;
const CS: ReadonlyArray<readonly [number, number]> = [
  [1, 0],
  [-S45, -S45],
  [0, 1],
  [S45, -S45],
  [-1, 0],
  [S45, S45],
  [0, -1],
  [-S45, S45],
];
const EPS_1E6F = f32(1e-6);
const HUGE_F = f32(1e30);

function lanczos4Weights(x: number, out: Float64Array): void {
  const x3 = f32(x + 3);
  const y0 = -x3 * Math.PI * 0.25;
  const s0 = Math.sin(y0);
  const c0 = Math.cos(y0);
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    const yi = f32(x3 - i);
    let c: number;
    if (Math.abs(yi) >= EPS_1E6F) {
      const y = -yi * Math.PI * 0.25;
      const cs = CS[i]!;
      c = f32((cs[0] * s0 + cs[1] * c0) / (y * y));
    } else {
      c = HUGE_F;
    }
    out[i] = c;
    sum = f32(sum + c);
  }
  const inv = f32(1 / sum);
  for (let i = 0; i < 8; i++) out[i] = f32(out[i]! * inv);
}

function cubicWeights(x: number, out: Float64Array): void {
  const A = -0.75;
  const x1 = f32(x + 1);
  out[0] = f32(f32(f32(f32(f32(f32(A * x1) - 5 * A) * x1) + 8 * A) * x1) - 4 * A);
  out[1] = f32(f32(f32(f32(f32((A + 2) * x) - (A + 3)) * x) * x) + 1);
  const mx = f32(1 - x);
  out[2] = f32(f32(f32(f32(f32((A + 2) * mx) - (A + 3)) * mx) * mx) + 1);
  out[3] = f32(f32(f32(1 - out[0]!) - out[1]!) - out[2]!);
}

interface AxisTable {
  /** Source index of each tap (clamped into the image), `dst * ksize` entries. */
  idx: Int32Array;
  /** Unclamped source index of each destination's first tap (`sx - ksize/2 + 1`). */
  first: Int32Array;
  /** Fixed-point weights (scale 2048), `dst * ksize` entries. */
  coef: Int16Array;
}

/**
 * Offsets and int16 weights along one axis, as resizeGeneric_'s setup computes them.
 * `horizontal` enables the bilinear column clamping (sx := 0 or src-1 with fx := 0), which OpenCV
 * applies to columns only.
 */
function axisTable(kind: "lanczos4" | "bicubic" | "bilinear", areaMode: boolean, srcLen: number, dstLen: number, scale: number, invScale: number, horizontal: boolean): AxisTable {
  const ksize = kind === "lanczos4" ? 8 : kind === "bicubic" ? 4 : 2;
  const half = ksize >> 1;
  const idx = new Int32Array(dstLen * ksize);
  const coef = new Int16Array(dstLen * ksize);
  const first = new Int32Array(dstLen);
  const w = new Float64Array(8);
  for (let d = 0; d < dstLen; d++) {
    let sx: number;
    let fx: number;
    if (!areaMode) {
      fx = f32((d + 0.5) * scale - 0.5);
      sx = Math.floor(fx);
      fx = f32(fx - sx);
    } else {
      sx = Math.floor(d * scale);
      fx = f32(d + 1 - (sx + 1) * invScale);
      fx = fx <= 0 ? 0 : f32(fx - Math.floor(fx));
    }
    if (horizontal && kind === "bilinear") {
      if (sx < 0) {
        fx = 0;
        sx = 0;
      }
      if (sx >= srcLen - 1) {
        fx = 0;
        sx = srcLen - 1;
      }
    }
    if (kind === "lanczos4") lanczos4Weights(fx, w);
    else if (kind === "bicubic") cubicWeights(fx, w);
    else {
      w[0] = f32(1 - fx);
      w[1] = fx;
    }
    first[d] = sx - half + 1;
    for (let k = 0; k < ksize; k++) {
      const s = sx - half + 1 + k;
      idx[d * ksize + k] = s < 0 ? 0 : s >= srcLen ? srcLen - 1 : s;
      coef[d * ksize + k] = saturateShort(roundHalfEven(w[k]! * COEF_SCALE));
    }
  }
  return { idx, first, coef };
}

// ---- horizontal pass: one source row -> int32 row of dst width * 3 ----

/**
 * Source pixels a tap can reach outside the image: sx >= floor(0.5*scale - 0.5) >= -1 and
 * sx <= src - 1, so taps stay within [-4, src + 3]. Rows are copied into a buffer padded with
 * PAD replicated edge pixels per side, which turns OpenCV's index clamping into plain reads.
 */
const PAD = 4;

function padRow(src: Uint8Array, rowOff: number, sw: number, row: Uint8Array): void {
  row.set(src.subarray(rowOff, rowOff + sw * 3), PAD * 3);
  const l = rowOff,
    r = rowOff + (sw - 1) * 3;
  for (let i = 0; i < PAD; i++) {
    const a = i * 3,
      b = (PAD + sw + i) * 3;
    row[a] = src[l]!;
    row[a + 1] = src[l + 1]!;
    row[a + 2] = src[l + 2]!;
    row[b] = src[r]!;
    row[b + 1] = src[r + 1]!;
    row[b + 2] = src[r + 2]!;
  }
}

/** `xofs[dx]`: offset in the padded row of the first tap's first channel. */
function hpass8(row: Uint8Array, out: Int32Array, o: number, xofs: Int32Array, a: Int16Array, dw: number): void {
  for (let dx = 0, t = 0; dx < dw; dx++, t += 8, o += 3) {
    const a0 = a[t]!,
      a1 = a[t + 1]!,
      a2 = a[t + 2]!,
      a3 = a[t + 3]!,
      a4 = a[t + 4]!,
      a5 = a[t + 5]!,
      a6 = a[t + 6]!,
      a7 = a[t + 7]!;
    const p = xofs[dx]!;
    out[o] = row[p]! * a0 + row[p + 3]! * a1 + row[p + 6]! * a2 + row[p + 9]! * a3 + row[p + 12]! * a4 + row[p + 15]! * a5 + row[p + 18]! * a6 + row[p + 21]! * a7;
    out[o + 1] = row[p + 1]! * a0 + row[p + 4]! * a1 + row[p + 7]! * a2 + row[p + 10]! * a3 + row[p + 13]! * a4 + row[p + 16]! * a5 + row[p + 19]! * a6 + row[p + 22]! * a7;
    out[o + 2] = row[p + 2]! * a0 + row[p + 5]! * a1 + row[p + 8]! * a2 + row[p + 11]! * a3 + row[p + 14]! * a4 + row[p + 17]! * a5 + row[p + 20]! * a6 + row[p + 23]! * a7;
  }
}

function hpass4(row: Uint8Array, out: Int32Array, o: number, xofs: Int32Array, a: Int16Array, dw: number): void {
  for (let dx = 0, t = 0; dx < dw; dx++, t += 4, o += 3) {
    const a0 = a[t]!,
      a1 = a[t + 1]!,
      a2 = a[t + 2]!,
      a3 = a[t + 3]!;
    const p = xofs[dx]!;
    out[o] = row[p]! * a0 + row[p + 3]! * a1 + row[p + 6]! * a2 + row[p + 9]! * a3;
    out[o + 1] = row[p + 1]! * a0 + row[p + 4]! * a1 + row[p + 7]! * a2 + row[p + 10]! * a3;
    out[o + 2] = row[p + 2]! * a0 + row[p + 5]! * a1 + row[p + 8]! * a2 + row[p + 11]! * a3;
  }
}

function hpass2(row: Uint8Array, out: Int32Array, o: number, xofs: Int32Array, a: Int16Array, dw: number): void {
  for (let dx = 0, t = 0; dx < dw; dx++, t += 2, o += 3) {
    const a0 = a[t]!,
      a1 = a[t + 1]!;
    const p = xofs[dx]!;
    out[o] = row[p]! * a0 + row[p + 3]! * a1;
    out[o + 1] = row[p + 1]! * a0 + row[p + 4]! * a1;
    out[o + 2] = row[p + 2]! * a0 + row[p + 5]! * a1;
  }
}

// ---- vertical passes: ksize int32 rows -> one uint8 row (written through a clamped view) ----

function vLanczos4(buf: Int32Array, ro: Int32Array, beta: Int16Array, bo: number, dst: Uint8ClampedArray, dOff: number, W: number): void {
  const b0 = beta[bo]!,
    b1 = beta[bo + 1]!,
    b2 = beta[bo + 2]!,
    b3 = beta[bo + 3]!;
  const b4 = beta[bo + 4]!,
    b5 = beta[bo + 5]!,
    b6 = beta[bo + 6]!,
    b7 = beta[bo + 7]!;
  const o0 = ro[0]!,
    o1 = ro[1]!,
    o2 = ro[2]!,
    o3 = ro[3]!,
    o4 = ro[4]!,
    o5 = ro[5]!,
    o6 = ro[6]!,
    o7 = ro[7]!;
  for (let x = 0; x < W; x++) {
    // int32 arithmetic with wrap-around, as in C
    const s =
      (Math.imul(buf[o0 + x]!, b0) +
        Math.imul(buf[o1 + x]!, b1) +
        Math.imul(buf[o2 + x]!, b2) +
        Math.imul(buf[o3 + x]!, b3) +
        Math.imul(buf[o4 + x]!, b4) +
        Math.imul(buf[o5 + x]!, b5) +
        Math.imul(buf[o6 + x]!, b6) +
        Math.imul(buf[o7 + x]!, b7)) |
      0;
    dst[dOff + x] = ((s + CAST_DELTA) | 0) >> CAST_SHIFT;
  }
}

/** Elements of a row that OpenCV's SSE2 VResizeCubicVec_32s8u handles (8 per iteration). */
const CUBIC_VEC_STEP = 8;

function vCubic(buf: Int32Array, ro: Int32Array, beta: Int16Array, bo: number, dst: Uint8ClampedArray, dOff: number, W: number): void {
  const b0 = beta[bo]!,
    b1 = beta[bo + 1]!,
    b2 = beta[bo + 2]!,
    b3 = beta[bo + 3]!;
  const o0 = ro[0]!,
    o1 = ro[1]!,
    o2 = ro[2]!,
    o3 = ro[3]!;
  // float SIMD part: b * (1/2048^2) is exact; every product and sum rounded to float
  const f0 = b0 / (COEF_SCALE * COEF_SCALE),
    f1 = b1 / (COEF_SCALE * COEF_SCALE),
    f2 = b2 / (COEF_SCALE * COEF_SCALE),
    f3 = b3 / (COEF_SCALE * COEF_SCALE);
  const vecEnd = W - (W % CUBIC_VEC_STEP);
  let x = 0;
  for (; x < vecEnd; x++) {
    let t = f32(buf[o3 + x]! * f3);
    t = f32(f32(buf[o2 + x]! * f2) + t);
    t = f32(f32(buf[o1 + x]! * f1) + t);
    t = f32(f32(buf[o0 + x]! * f0) + t);
    dst[dOff + x] = roundHalfEven(t);
  }
  for (; x < W; x++) {
    const s = (Math.imul(buf[o0 + x]!, b0) + Math.imul(buf[o1 + x]!, b1) + Math.imul(buf[o2 + x]!, b2) + Math.imul(buf[o3 + x]!, b3)) | 0;
    dst[dOff + x] = ((s + CAST_DELTA) | 0) >> CAST_SHIFT;
  }
}

function vLinear(buf: Int32Array, ro: Int32Array, beta: Int16Array, bo: number, dst: Uint8ClampedArray, dOff: number, W: number): void {
  const b0 = beta[bo]!,
    b1 = beta[bo + 1]!;
  const o0 = ro[0]!,
    o1 = ro[1]!;
  for (let x = 0; x < W; x++) {
    dst[dOff + x] = (((b0 * (buf[o0 + x]! >> 4)) >> 16) + ((b1 * (buf[o1 + x]! >> 4)) >> 16) + 2) >> 2;
  }
}

function resizeGeneric(img: RgbImage, dw: number, dh: number, kind: "lanczos4" | "bicubic" | "bilinear", areaMode: boolean, scaleX: number, scaleY: number, invX: number, invY: number): RgbImage {
  const sw = img.width,
    sh = img.height;
  const ksize = kind === "lanczos4" ? 8 : kind === "bicubic" ? 4 : 2;
  const xt = axisTable(kind, areaMode, sw, dw, scaleX, invX, true);
  const yt = axisTable(kind, areaMode, sh, dh, scaleY, invY, false);
  const W = dw * 3;
  const out = new Uint8Array(dh * W);
  const dst = new Uint8ClampedArray(out.buffer);
  const buf = new Int32Array(ksize * W);
  const slotRow = new Int32Array(ksize).fill(-1);
  const ro = new Int32Array(ksize);
  const src = img.data;
  const srcStride = sw * 3;
  const vpass = kind === "lanczos4" ? vLanczos4 : kind === "bicubic" ? vCubic : vLinear;
  const hpass = kind === "lanczos4" ? hpass8 : kind === "bicubic" ? hpass4 : hpass2;
  const row = new Uint8Array((sw + 2 * PAD) * 3);
  const xofs = new Int32Array(dw);
  for (let dx = 0; dx < dw; dx++) {
    const f = xt.first[dx]!;
    if (f < -PAD || f + ksize > sw + PAD) throw new Error(`resize: tap ${f} outside the padded row`); // cannot happen, see PAD
    xofs[dx] = (f + PAD) * 3;
  }
  for (let dy = 0; dy < dh; dy++) {
    for (let k = 0; k < ksize; k++) {
      const sy = yt.idx[dy * ksize + k]!;
      const slot = sy % ksize;
      if (slotRow[slot] !== sy) {
        padRow(src, sy * srcStride, sw, row);
        hpass(row, buf, slot * W, xofs, xt.coef, dw);
        slotRow[slot] = sy;
      }
      ro[k] = slot * W;
    }
    vpass(buf, ro, yt.coef, dy * ksize, dst, dy * W, W);
  }
  return { width: dw, height: dh, data: out };
}

// ---- INTER_AREA downscaling ----

function resizeAreaFast(img: RgbImage, dw: number, dh: number, fx: number, fy: number): RgbImage {
  const sw = img.width;
  const src = img.data;
  const out = new Uint8Array(dw * dh * 3);
  const stride = sw * 3;
  if (fx === 2 && fy === 2) {
    for (let dy = 0; dy < dh; dy++) {
      const r0 = dy * 2 * stride,
        r1 = r0 + stride;
      for (let dx = 0, o = dy * dw * 3; dx < dw; dx++) {
        const p = dx * 6;
        for (let c = 0; c < 3; c++, o++) {
          out[o] = (src[r0 + p + c]! + src[r0 + p + 3 + c]! + src[r1 + p + c]! + src[r1 + p + 3 + c]! + 2) >> 2;
        }
      }
    }
  } else {
    const scale = f32(1 / (fx * fy));
    const dst = new Uint8ClampedArray(out.buffer);
    for (let dy = 0; dy < dh; dy++) {
      for (let dx = 0, o = dy * dw * 3; dx < dw; dx++) {
        for (let c = 0; c < 3; c++, o++) {
          let sum = 0;
          for (let y = 0; y < fy; y++) {
            const r = (dy * fy + y) * stride + dx * fx * 3 + c;
            for (let x = 0; x < fx; x++) sum += src[r + x * 3]!;
          }
          dst[o] = roundHalfEven(f32(sum * scale));
        }
      }
    }
  }
  return { width: dw, height: dh, data: out };
}

interface AreaTab {
  di: Int32Array;
  si: Int32Array;
  alpha: Float32Array;
  n: number;
}

/** computeResizeAreaTab: the source cells (with float weights) covering each destination cell. */
function areaTab(srcLen: number, dstLen: number, scale: number): AreaTab {
  const cap = srcLen * 2 + dstLen * 2;
  const di = new Int32Array(cap),
    si = new Int32Array(cap),
    alpha = new Float32Array(cap);
  let k = 0;
  for (let d = 0; d < dstLen; d++) {
    const fs1 = d * scale;
    const fs2 = fs1 + scale;
    const cellWidth = Math.min(scale, srcLen - fs1);
    let s1 = Math.ceil(fs1);
    let s2 = Math.floor(fs2);
    s2 = Math.min(s2, srcLen - 1);
    s1 = Math.min(s1, s2);
    if (s1 - fs1 > 1e-3) {
      di[k] = d;
      si[k] = s1 - 1;
      alpha[k++] = (s1 - fs1) / cellWidth;
    }
    for (let s = s1; s < s2; s++) {
      di[k] = d;
      si[k] = s;
      alpha[k++] = 1.0 / cellWidth;
    }
    if (fs2 - s2 > 1e-3) {
      di[k] = d;
      si[k] = s2;
      alpha[k++] = Math.min(Math.min(fs2 - s2, 1), cellWidth) / cellWidth;
    }
  }
  return { di, si, alpha, n: k };
}

function resizeArea(img: RgbImage, dw: number, dh: number, scaleX: number, scaleY: number): RgbImage {
  const sw = img.width,
    sh = img.height;
  const xt = areaTab(sw, dw, scaleX);
  const yt = areaTab(sh, dh, scaleY);
  const W = dw * 3;
  const src = img.data;
  const out = new Uint8Array(dh * W);
  const dst = new Uint8ClampedArray(out.buffer);
  const buf = new Float32Array(W);
  const sum = new Float32Array(W);
  let prevDy = -1;
  const flush = (dy: number): void => {
    for (let x = 0; x < W; x++) dst[dy * W + x] = roundHalfEven(sum[x]!);
  };
  for (let j = 0; j < yt.n; j++) {
    const beta = yt.alpha[j]!;
    const dy = yt.di[j]!;
    const rowOff = yt.si[j]! * sw * 3;
    buf.fill(0);
    for (let k = 0; k < xt.n; k++) {
      const s = rowOff + xt.si[k]! * 3;
      const d = xt.di[k]! * 3;
      const a = xt.alpha[k]!;
      buf[d] = buf[d]! + f32(src[s]! * a);
      buf[d + 1] = buf[d + 1]! + f32(src[s + 1]! * a);
      buf[d + 2] = buf[d + 2]! + f32(src[s + 2]! * a);
    }
    if (dy !== prevDy) {
      if (prevDy >= 0) flush(prevDy);
      for (let x = 0; x < W; x++) sum[x] = beta * buf[x]!;
      prevDy = dy;
    } else {
      for (let x = 0; x < W; x++) sum[x] = sum[x]! + f32(beta * buf[x]!);
    }
  }
  if (prevDy >= 0) flush(prevDy);
  return { width: dw, height: dh, data: out };
}

/**
 * The tables `resize` uses for a Lanczos-4 resize of sw×sh to dw×dh: per destination column its
 * first source column (unclamped) and 8 int16 weights, per destination row its 8 source rows
 * (clamped) and weights. For the codec addon's kernel (codec.ts resizeOnAddon).
 */
export function lanczos4Tables(sw: number, sh: number, dw: number, dh: number): { xFirst: Int32Array; xCoef: Int16Array; yIdx: Int32Array; yCoef: Int16Array } {
  const invX = dw / sw,
    invY = dh / sh;
  const xt = axisTable("lanczos4", false, sw, dw, 1 / invX, invX, true);
  const yt = axisTable("lanczos4", false, sh, dh, 1 / invY, invY, false);
  return { xFirst: xt.first, xCoef: xt.coef, yIdx: yt.idx, yCoef: yt.coef };
}

/**
 * Resizes an RGB image to `width`×`height` exactly as `cv2.resize(img, (width, height),
 * interpolation=...)` does with OpenCV 4.6 on uint8 3-channel input: "lanczos4" = INTER_LANCZOS4,
 * "bicubic" = INTER_CUBIC, "bilinear" = INTER_LINEAR, "area" = INTER_AREA. Pure and synchronous.
 */
export function resize(img: RgbImage, width: number, height: number, interpolation: ResizeInterpolation): RgbImage {
  const sw = img.width,
    sh = img.height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`resize: target size must be positive integers, got ${width}x${height}`);
  }
  if (!Number.isInteger(sw) || !Number.isInteger(sh) || sw <= 0 || sh <= 0 || img.data.length !== sw * sh * 3) {
    throw new RangeError(`resize: invalid source image ${sw}x${sh} with ${img.data.length} bytes`);
  }
  if (width === sw && height === sh) return { width, height, data: img.data.slice() };

  const invX = width / sw,
    invY = height / sh;
  const scaleX = 1 / invX,
    scaleY = 1 / invY;
  const iscaleX = saturateInt(scaleX),
    iscaleY = saturateInt(scaleY);
  const isAreaFast = Math.abs(scaleX - iscaleX) < DBL_EPSILON && Math.abs(scaleY - iscaleY) < DBL_EPSILON;

  let mode = interpolation;
  if (mode === "bilinear" && isAreaFast && iscaleX === 2 && iscaleY === 2) mode = "area";
  if (mode === "area") {
    if (scaleX >= 1 && scaleY >= 1) {
      return isAreaFast ? resizeAreaFast(img, width, height, iscaleX, iscaleY) : resizeArea(img, width, height, scaleX, scaleY);
    }
    return resizeGeneric(img, width, height, "bilinear", true, scaleX, scaleY, invX, invY);
  }
  if (mode !== "lanczos4" && mode !== "bicubic" && mode !== "bilinear") {
    throw new RangeError(`resize: unknown interpolation ${String(interpolation)}`);
  }
  return resizeGeneric(img, width, height, mode, false, scaleX, scaleY, invX, invY);
}
