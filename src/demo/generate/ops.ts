/**
 * Single-channel 2D operators on planar Float32Arrays (row-major), the building blocks of the
 * simulated generator decoders. Edges use clamped (replicated) neighbours.
 */

/** Nearest-neighbour ×2 upsampling (w×h → 2w×2h). */
export function upNearest2(src: Float32Array, w: number, h: number): Float32Array {
  const W = 2 * w;
  const out = new Float32Array(W * 2 * h);
  for (let y = 0; y < h; y++) {
    const o0 = 2 * y * W;
    const o1 = o0 + W;
    for (let x = 0; x < w; x++) {
      const v = src[y * w + x]!;
      out[o0 + 2 * x] = v;
      out[o0 + 2 * x + 1] = v;
      out[o1 + 2 * x] = v;
      out[o1 + 2 * x + 1] = v;
    }
  }
  return out;
}

/** Bilinear ×2 upsampling with pixel-centre alignment (weights 3/4, 1/4). */
export function upBilinear2(src: Float32Array, w: number, h: number): Float32Array {
  const W = 2 * w;
  const out = new Float32Array(W * 2 * h);
  for (let y = 0; y < h; y++) {
    const ym = (y > 0 ? y - 1 : 0) * w;
    const yp = (y < h - 1 ? y + 1 : y) * w;
    const y0 = y * w;
    const o0 = 2 * y * W;
    const o1 = o0 + W;
    for (let x = 0; x < w; x++) {
      const xm = x > 0 ? x - 1 : 0;
      const xp = x < w - 1 ? x + 1 : x;
      const c = src[y0 + x]!;
      // vertical blends for the upper (toward y-1) and lower (toward y+1) output rows, at x-1, x, x+1
      const uM = 0.75 * src[y0 + xm]! + 0.25 * src[ym + xm]!;
      const uC = 0.75 * c + 0.25 * src[ym + x]!;
      const uP = 0.75 * src[y0 + xp]! + 0.25 * src[ym + xp]!;
      const dM = 0.75 * src[y0 + xm]! + 0.25 * src[yp + xm]!;
      const dC = 0.75 * c + 0.25 * src[yp + x]!;
      const dP = 0.75 * src[y0 + xp]! + 0.25 * src[yp + xp]!;
      out[o0 + 2 * x] = 0.75 * uC + 0.25 * uM;
      out[o0 + 2 * x + 1] = 0.75 * uC + 0.25 * uP;
      out[o1 + 2 * x] = 0.75 * dC + 0.25 * dM;
      out[o1 + 2 * x + 1] = 0.75 * dC + 0.25 * dP;
    }
  }
  return out;
}

/** 3×3 correlation with kernel `k` (row-major, 9 taps). */
export function conv3(src: Float32Array, w: number, h: number, k: ArrayLike<number>): Float32Array {
  const out = new Float32Array(w * h);
  const k0 = k[0]!,
    k1 = k[1]!,
    k2 = k[2]!,
    k3 = k[3]!,
    k4 = k[4]!,
    k5 = k[5]!,
    k6 = k[6]!,
    k7 = k[7]!,
    k8 = k[8]!;
  for (let y = 0; y < h; y++) {
    const rm = (y > 0 ? y - 1 : 0) * w;
    const r0 = y * w;
    const rp = (y < h - 1 ? y + 1 : y) * w;
    for (let x = 0; x < w; x++) {
      const xm = x > 0 ? x - 1 : 0;
      const xp = x < w - 1 ? x + 1 : x;
      out[r0 + x] =
        k0 * src[rm + xm]! + k1 * src[rm + x]! + k2 * src[rm + xp]! + k3 * src[r0 + xm]! + k4 * src[r0 + x]! + k5 * src[r0 + xp]! + k6 * src[rp + xm]! + k7 * src[rp + x]! + k8 * src[rp + xp]!;
    }
  }
  return out;
}

/**
 * Polyphase taps of a stride-2 transposed convolution with a length-`k` kernel and padding `pad`:
 * output index 2m+a receives input m+d through kernel tap t, for each [d, t] in taps[a].
 */
function transposedTaps(k: number, pad: number): [[number, number][], [number, number][]] {
  const taps: [[number, number][], [number, number][]] = [[], []];
  for (let a = 0; a < 2; a++) {
    // y = 2i + t - pad with y = 2m + a  →  t = 2(m - i) + a + pad
    for (let d = -k; d <= k; d++) {
      const t = -2 * d + a + pad;
      if (t >= 0 && t < k) taps[a]!.push([d, t]);
    }
  }
  return taps;
}

/**
 * Stride-2 transposed convolution (w×h → 2w×2h) with a k×k kernel `K` (row-major) and padding
 * `pad`: the GAN upsampler. When k is not a multiple of the stride the output phases receive unequal
 * numbers of taps (the "uneven overlap" that makes checkerboards).
 */
export function transposed2(src: Float32Array, w: number, h: number, K: ArrayLike<number>, k: number, pad: number): Float32Array {
  const W = 2 * w;
  const H = 2 * h;
  const out = new Float32Array(W * H);
  const taps = transposedTaps(k, pad);
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 2; b++) {
      // flatten this phase's 2D taps: input offsets (dy, dx) and weights
      const dys: number[] = [];
      const dxs: number[] = [];
      const ws: number[] = [];
      for (const [dy, ty] of taps[a]!)
        for (const [dx, tx] of taps[b]!) {
          dys.push(dy);
          dxs.push(dx);
          ws.push(K[ty * k + tx]!);
        }
      const n = ws.length;
      for (let m = 0; m < h; m++) {
        const o = (2 * m + a) * W + b;
        for (let q = 0; q < w; q++) {
          let s = 0;
          for (let j = 0; j < n; j++) {
            let yy = m + dys[j]!;
            let xx = q + dxs[j]!;
            yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
            xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
            s += ws[j]! * src[yy * w + xx]!;
          }
          out[o + 2 * q] = s;
        }
      }
    }
  }
  return out;
}

/**
 * Sub-pixel convolution (pixel shuffle ×2): output phase (a, b) at (2m+a, 2q+b) is a 3×3
 * correlation of the input around (m, q) with its own kernel `K[(2a+b)*9 ...]`, plus `bias[2a+b]`.
 */
export function pixelShuffle2(src: Float32Array, w: number, h: number, K: ArrayLike<number>, bias: ArrayLike<number>): Float32Array {
  const W = 2 * w;
  const out = new Float32Array(W * 2 * h);
  for (let ph = 0; ph < 4; ph++) {
    const a = ph >> 1;
    const b = ph & 1;
    const o = ph * 9;
    const k0 = K[o]!,
      k1 = K[o + 1]!,
      k2 = K[o + 2]!,
      k3 = K[o + 3]!,
      k4 = K[o + 4]!,
      k5 = K[o + 5]!,
      k6 = K[o + 6]!,
      k7 = K[o + 7]!,
      k8 = K[o + 8]!;
    const bb = bias[ph]!;
    for (let y = 0; y < h; y++) {
      const rm = (y > 0 ? y - 1 : 0) * w;
      const r0 = y * w;
      const rp = (y < h - 1 ? y + 1 : y) * w;
      const orow = (2 * y + a) * W + b;
      for (let x = 0; x < w; x++) {
        const xm = x > 0 ? x - 1 : 0;
        const xp = x < w - 1 ? x + 1 : x;
        out[orow + 2 * x] =
          bb + k0 * src[rm + xm]! + k1 * src[rm + x]! + k2 * src[rm + xp]! + k3 * src[r0 + xm]! + k4 * src[r0 + x]! + k5 * src[r0 + xp]! + k6 * src[rp + xm]! + k7 * src[rp + x]! + k8 * src[rp + xp]!;
      }
    }
  }
  return out;
}

/**
 * ×2 upsampling by a separable polyphase filter: output 2m+a = Σ_j f[a][j] · in(m + j - c).
 * `f` holds the two phase filters (same length), `c` the centre offset.
 */
export function polyphaseUp2(src: Float32Array, w: number, h: number, f: [ArrayLike<number>, ArrayLike<number>], c: number): Float32Array {
  const W = 2 * w;
  const tmp = new Float32Array(W * h);
  const n = f[0].length;
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let x = 0; x < w; x++) {
      for (let a = 0; a < 2; a++) {
        const fa = f[a]!;
        let s = 0;
        for (let j = 0; j < n; j++) {
          let xx = x + j - c;
          xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
          s += fa[j]! * src[r + xx]!;
        }
        tmp[y * W + 2 * x + a] = s;
      }
    }
  }
  const out = new Float32Array(W * 2 * h);
  for (let y = 0; y < h; y++) {
    for (let a = 0; a < 2; a++) {
      const fa = f[a]!;
      const orow = (2 * y + a) * W;
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let j = 0; j < n; j++) {
          let yy = y + j - c;
          yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
          s += fa[j]! * tmp[yy * W + x]!;
        }
        out[orow + x] = s;
      }
    }
  }
  return out;
}

/** 2×2 area downsampling (w, h even). */
export function down2(src: Float32Array, w: number, h: number): Float32Array {
  const ow = w >> 1;
  const oh = h >> 1;
  const out = new Float32Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    const r0 = 2 * y * w;
    const r1 = r0 + w;
    for (let x = 0; x < ow; x++) out[y * ow + x] = 0.25 * (src[r0 + 2 * x]! + src[r0 + 2 * x + 1]! + src[r1 + 2 * x]! + src[r1 + 2 * x + 1]!);
  }
  return out;
}

/** In place: p += a · q */
export function axpy(p: Float32Array, a: number, q: Float32Array): void {
  for (let i = 0; i < p.length; i++) p[i] = p[i]! + a * q[i]!;
}
