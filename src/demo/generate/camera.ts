/**
 * The "real" image pipeline: a simulated camera. The scene, rendered at the sensor's resolution with
 * analytic anti-aliasing (each photosite integrates the continuous scene), goes through the steps a
 * camera's image signal processor takes:
 *
 *   linearise (display gamma 2 → linear light) → white-balance gains → RGGB Bayer mosaic (one colour
 *   per photosite) → sensor noise (Poisson-like shot noise ∝ signal plus Gaussian read noise) →
 *   bilinear demosaicing → undo white balance → gamma → mild unsharp-mask sharpening → 8-bit
 *
 * and is then encoded by the caller (JPEG q85-95 4:2:0 as a camera writes, or PNG / WebP; the same
 * encoder settings as the synthetic images, see ./plan.ts). Every step is mean-preserving up to the
 * noise, so real images keep the scene's brightness and colour statistics.
 */
import type { Rng } from "../../util/rng.js";
import { gaussByte, type Planes } from "./raster.js";

export interface CameraParams {
  /** shot-noise gain: variance = gain · signal (linear light, 1 = white) */
  shot: number;
  /** read-noise standard deviation (linear light) */
  read: number;
  /** white-balance gains applied before the mosaic and undone after (channel-dependent noise) */
  wb: [number, number, number];
  /** unsharp-mask amount */
  sharpen: number;
}

export function cameraParams(rng: Rng): CameraParams {
  // ISO from base to ~8× base: shot gain 3e-4 .. 2.4e-3
  const iso = 2 ** (rng.next() * 3);
  return {
    shot: 3e-4 * iso,
    read: 0.0015 + 0.002 * rng.next(),
    wb: [1.6 + 0.8 * rng.next(), 1, 1.3 + 0.9 * rng.next()],
    sharpen: 0.25 + 0.5 * rng.next(),
  };
}

/** Runs the camera pipeline on a display-referred scene (values in [0,1]); returns interleaved 8-bit RGB. */
export function camera(scene: Planes, params: CameraParams, rng: Rng): Uint8Array {
  const { w, h } = scene;
  const n = w * h;
  const [sR, sG, sB] = scene.p;
  // 1-4. linearise, white-balance (the sensor sees raw channel responses: divide by the gains the ISP
  // will apply), mosaic, and sensor noise: shot (variance ∝ signal) + read (constant)
  const raw = new Float32Array(n);
  const iwR = 1 / params.wb[0];
  const iwB = 1 / params.wb[2];
  const { shot } = params;
  const read2 = params.read * params.read;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    // RGGB: even rows R G R G ..., odd rows G B G B ...
    const a = (y & 1) === 0 ? sR : sG;
    const b = (y & 1) === 0 ? sG : sB;
    const ga = (y & 1) === 0 ? iwR : 1;
    const gb = (y & 1) === 0 ? 1 : iwB;
    for (let x = 0; x < w; x += 2) {
      const i = row + x;
      // (the scene is unclamped: clamp to [0, 1] here)
      const sa = Math.min(1, Math.max(0, a[i]!));
      const sb = Math.min(1, Math.max(0, b[i + 1]!));
      const va = sa * sa * ga;
      const vb = sb * sb * gb;
      raw[i] = va + Math.sqrt(va * shot + read2) * gaussByte(rng.nextU32());
      raw[i + 1] = vb + Math.sqrt(vb * shot + read2) * gaussByte(rng.nextU32());
    }
  }
  // 5-7. bilinear demosaic (edges: mirrored neighbours), white balance back, gamma (linear → display, gamma 2)
  const R = new Float32Array(n);
  const G = new Float32Array(n);
  const B = new Float32Array(n);
  const wR = params.wb[0];
  const wB = params.wb[2];
  for (let y = 0; y < h; y++) {
    const r0 = y * w;
    const rm = (y > 0 ? y - 1 : 1) * w;
    const rp = (y < h - 1 ? y + 1 : h - 2) * w;
    const evenRow = (y & 1) === 0;
    // colour planes for the two site kinds of this row: even x then odd x
    const P0 = evenRow ? R : B; // the row's own non-green colour, found at its even (R) or odd (B) sites
    const P1 = evenRow ? B : R; // the other colour
    const g0 = evenRow ? wR : wB;
    const g1 = evenRow ? wB : wR;
    for (let x = 0; x < w; x++) {
      const xm = x > 0 ? x - 1 : 1;
      const xp = x < w - 1 ? x + 1 : w - 2;
      const c = raw[r0 + x]!;
      const hor = (raw[r0 + xm]! + raw[r0 + xp]!) * 0.5;
      const ver = (raw[rm + x]! + raw[rp + x]!) * 0.5;
      const i = r0 + x;
      let own: number;
      let other: number;
      let g: number;
      // even rows: R at even x, G at odd x; odd rows: G at even x, B at odd x
      if ((x & 1) === (evenRow ? 0 : 1)) {
        // a colour site: green from the cross, the other colour from the diagonals
        own = c;
        g = (hor + ver) * 0.5;
        other = (raw[rm + xm]! + raw[rm + xp]! + raw[rp + xm]! + raw[rp + xp]!) * 0.25;
      } else {
        // a green site: the row's colour from left/right, the other from up/down
        own = hor;
        g = c;
        other = ver;
      }
      own *= g0;
      other *= g1;
      P0[i] = own > 0 ? Math.sqrt(own) : 0;
      P1[i] = other > 0 ? Math.sqrt(other) : 0;
      G[i] = g > 0 ? Math.sqrt(g) : 0;
    }
  }
  // 8. unsharp mask (3×3 cross blur) and quantise
  return sharpenQuantise({ w, h, p: [R, G, B] }, params.sharpen);
}

/** out = x + amount·(x − cross-blur(x)), clamped and rounded to interleaved 8-bit RGB. */
export function sharpenQuantise(img: Planes, amount: number): Uint8Array {
  const { w, h } = img;
  const [R, G, B] = img.p;
  // a clamped array rounds and clamps on store (natively, much faster than doing it by hand)
  const out = new Uint8ClampedArray(w * h * 3);
  // 255·(v + amount·(v − (4v + Σ4)/8)) = b·v − cN·Σ4
  const b = 255 + 0.5 * amount * 255;
  const cN = (amount * 255) / 8;
  for (let y = 0; y < h; y++) {
    const rm = (y > 0 ? y - 1 : 0) * w;
    const rp = (y < h - 1 ? y + 1 : h - 1) * w;
    const r0 = y * w;
    for (let x = 0; x < w; x++) {
      const i = r0 + x;
      const l = x > 0 ? i - 1 : i;
      const r = x < w - 1 ? i + 1 : i;
      const u = rm + x;
      const d = rp + x;
      const o = i * 3;
      out[o] = R[i]! * b - cN * (R[l]! + R[r]! + R[u]! + R[d]!);
      out[o + 1] = G[i]! * b - cN * (G[l]! + G[r]! + G[u]! + G[d]!);
      out[o + 2] = B[i]! * b - cN * (B[l]! + B[r]! + B[u]! + B[d]!);
    }
  }
  return new Uint8Array(out.buffer);
}

/** Clamps and rounds planes to interleaved 8-bit RGB. */
export function quantise(img: Planes): Uint8Array {
  const n = img.w * img.h;
  const out = new Uint8ClampedArray(n * 3);
  const [R, G, B] = img.p;
  for (let i = 0, o = 0; i < n; i++, o += 3) {
    out[o] = R[i]! * 255;
    out[o + 1] = G[i]! * 255;
    out[o + 2] = B[i]! * 255;
  }
  return new Uint8Array(out.buffer);
}
