/**
 * A tiny float rasteriser for the demo benchmark's procedural scenes: planar RGB in [0, 1], shapes
 * with analytic anti-aliasing (coverage from a signed distance in pixels), value-noise textures.
 *
 * Shapes are placed in scene units, where 1 unit is the image's shorter side, so one scene
 * description looks the same at any resolution: the camera renders it at the output size, a
 * generator at its latent size (half of it).
 */
import type { Rng } from "../../util/rng.js";

export interface Planes {
  w: number;
  h: number;
  /** R, G, B planes, row-major */
  p: [Float32Array, Float32Array, Float32Array];
}

export function planes(w: number, h: number): Planes {
  return { w, h, p: [new Float32Array(w * h), new Float32Array(w * h), new Float32Array(w * h)] };
}

export type RGB = [number, number, number];

/** Approximately standard normal: Irwin-Hall sum of four uniforms, rescaled (bounded at ±3.5). */
export function gauss(rng: Rng): number {
  return ((rng.nextU32() + rng.nextU32() + rng.nextU32() + rng.nextU32()) / 4294967296 - 2) * 1.7320508;
}

/** 1/std of the sum of four uniform bytes */
const BYTES_SCALE = 1 / Math.sqrt((4 * (256 * 256 - 1)) / 12);

/**
 * Approximately standard normal from one 32-bit draw: the sum of its four bytes (Irwin-Hall of four
 * discrete uniforms), centred and scaled. Cheap enough for per-pixel noise.
 */
export function gaussByte(u: number): number {
  return ((u & 255) + ((u >>> 8) & 255) + ((u >>> 16) & 255) + (u >>> 24) - 510) * BYTES_SCALE;
}

/** Fills `out` with approximately standard normal values (one 32-bit draw each). */
export function gaussFill(rng: Rng, out: Float32Array): Float32Array {
  for (let i = 0; i < out.length; i++) {
    const u = rng.nextU32();
    out[i] = ((u & 255) + ((u >>> 8) & 255) + ((u >>> 16) & 255) + (u >>> 24) - 510) * BYTES_SCALE;
  }
  return out;
}

/** Value noise in [-1, 1] over scene units, `freq` cycles per unit; a 64×64 lattice, smoothstep-interpolated. */
export class ValueNoise {
  private readonly table = new Float32Array(64 * 64);
  private readonly ox: number;
  private readonly oy: number;
  constructor(
    rng: Rng,
    readonly freq: number,
  ) {
    for (let i = 0; i < this.table.length; i++) this.table[i] = rng.next() * 2 - 1;
    this.ox = rng.next() * 64;
    this.oy = rng.next() * 64;
  }

  /** Adds `weight` × noise at scene row `y` for pixels x0..x1-1 of a canvas with `s` pixels per unit to `out[x]`. */
  addRow(y: number, x0: number, x1: number, s: number, weight: number, out: Float32Array): void {
    const fy = y * this.freq + this.oy;
    const iy = Math.floor(fy);
    let ty = fy - iy;
    ty = ty * ty * (3 - 2 * ty);
    const r0 = (iy & 63) << 6;
    const r1 = ((iy + 1) & 63) << 6;
    const t = this.table;
    const row = this.row;
    for (let i = 0; i < 64; i++) row[i] = (t[r0 + i]! + (t[r1 + i]! - t[r0 + i]!) * ty) * weight;
    row[64] = row[0]!;
    const step = this.freq / s;
    let fx = (x0 + 0.5) * step + this.ox;
    for (let x = x0; x < x1; x++, fx += step) {
      const ix = Math.floor(fx);
      let tx = fx - ix;
      tx = tx * tx * (3 - 2 * tx);
      const j = ix & 63;
      out[x] = out[x]! + row[j]! + (row[j + 1]! - row[j]!) * tx;
    }
  }

  private readonly row = new Float32Array(65);

  at(x: number, y: number): number {
    const fx = x * this.freq + this.ox;
    const fy = y * this.freq + this.oy;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    let tx = fx - ix;
    let ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const x0 = ix & 63;
    const x1 = (ix + 1) & 63;
    const y0 = (iy & 63) << 6;
    const y1 = ((iy + 1) & 63) << 6;
    const t = this.table;
    const a = t[y0 + x0]! + (t[y0 + x1]! - t[y0 + x0]!) * tx;
    const b = t[y1 + x0]! + (t[y1 + x1]! - t[y1 + x0]!) * tx;
    return a + (b - a) * ty;
  }
}

/** An optional multiplicative texture: colour × (1 + amp · noise), with a second octave at 1/2 weight. */
export interface Texture {
  noise: ValueNoise;
  fine?: ValueNoise;
  amp: number;
}

export function texture(rng: Rng, freq: number, amp: number, fineFreq = 0): Texture {
  const t: Texture = { noise: new ValueNoise(rng, freq), amp };
  if (fineFreq > 0) t.fine = new ValueNoise(rng, fineFreq);
  return t;
}

/** Texture factors for row `y` (pixel index), pixels x0..x1-1, into `out` (1 where there is no texture). */
function texRow(t: Texture | undefined, y: number, x0: number, x1: number, s: number, out: Float32Array): void {
  out.fill(1, x0, x1);
  if (!t) return;
  const v = (y + 0.5) / s;
  if (t.fine) {
    t.noise.addRow(v, x0, x1, s, 0.65 * t.amp, out);
    t.fine.addRow(v, x0, x1, s, 0.35 * t.amp, out);
  } else t.noise.addRow(v, x0, x1, s, t.amp, out);
}

/** Drawing context for one image: pixel ↔ scene-unit conversions. */
export class Canvas {
  readonly w: number;
  readonly h: number;
  /** pixels per scene unit */
  readonly s: number;
  /** scene extent in units */
  readonly ex: number;
  readonly ey: number;
  readonly img: Planes;

  constructor(w: number, h: number) {
    this.w = w;
    this.h = h;
    this.s = Math.min(w, h);
    this.ex = w / this.s;
    this.ey = h / this.s;
    this.img = planes(w, h);
    this.tex = new Float32Array(w);
    [this.R, this.G, this.B] = this.img.p;
  }

  private readonly R: Float32Array;
  private readonly G: Float32Array;
  private readonly B: Float32Array;

  /** one row of texture factors */
  private readonly tex: Float32Array;

  /** bounding box in pixels (clamped) of the scene-unit box */
  private box(x0: number, y0: number, x1: number, y1: number): [number, number, number, number] {
    const s = this.s;
    return [Math.max(0, Math.floor(x0 * s - 1)), Math.max(0, Math.floor(y0 * s - 1)), Math.min(this.w, Math.ceil(x1 * s + 1)), Math.min(this.h, Math.ceil(y1 * s + 1))];
  }

  private blend(i: number, a: number, r: number, g: number, b: number): void {
    const R = this.R;
    const G = this.G;
    const B = this.B;
    R[i] = R[i]! + (r - R[i]!) * a;
    G[i] = G[i]! + (g - G[i]!) * a;
    B[i] = B[i]! + (b - B[i]!) * a;
  }

  /** Vertical gradient over the whole canvas, with an optional texture. */
  gradient(top: RGB, bottom: RGB, tex?: Texture, y0 = 0, y1 = this.ey): void {
    const { w, h, s } = this;
    const [R, G, B] = this.img.p;
    for (let y = 0; y < h; y++) {
      const v = (y + 0.5) / s;
      const t = Math.min(1, Math.max(0, (v - y0) / Math.max(1e-6, y1 - y0)));
      const r = top[0] + (bottom[0] - top[0]) * t;
      const g = top[1] + (bottom[1] - top[1]) * t;
      const b = top[2] + (bottom[2] - top[2]) * t;
      const T = this.tex;
      texRow(tex, y, 0, w, s, T);
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const f = T[x]!;
        R[i] = r * f;
        G[i] = g * f;
        B[i] = b * f;
      }
    }
  }

  /**
   * Fills below a wavy silhouette y = base + Σ amp·sin(freq·x + phase), colour graded from `top`
   * (at the silhouette) to `bottom` (at the lower edge).
   */
  terrain(base: number, waves: [number, number, number][], top: RGB, bottom: RGB, tex?: Texture): void {
    const { w, h, s, ey } = this;
    const line = new Float32Array(w);
    for (let x = 0; x < w; x++) {
      const u = (x + 0.5) / s;
      let yy = base;
      for (const [a, f, ph] of waves) yy += a * Math.sin(f * u + ph);
      line[x] = yy;
    }
    for (let y = 0; y < h; y++) {
      const v = (y + 0.5) / s;
      const T = this.tex;
      texRow(tex, y, 0, w, s, T);
      for (let x = 0; x < w; x++) {
        const d = (v - line[x]!) * s; // > 0 below the silhouette
        if (d < -0.5) continue;
        const a = Math.min(1, d + 0.5);
        const t = Math.min(1, Math.max(0, (v - line[x]!) / Math.max(0.05, ey - line[x]!)));
        const f = T[x]!;
        this.blend(y * w + x, a, (top[0] + (bottom[0] - top[0]) * t) * f, (top[1] + (bottom[1] - top[1]) * t) * f, (top[2] + (bottom[2] - top[2]) * t) * f);
      }
    }
  }

  /**
   * Rotated ellipse. `shade` > 0 lights it as a sphere from direction (lx, ly) (a highlight on that
   * side, the far side darker); `opacity` < 1 for translucent shapes (clouds, shadows, blush).
   */
  ellipse(cx: number, cy: number, rx: number, ry: number, angle: number, col: RGB, opts: { shade?: number; lx?: number; ly?: number; opacity?: number; tex?: Texture; soft?: number } = {}): void {
    const { w, s } = this;
    const shade = opts.shade ?? 0;
    const lx = opts.lx ?? -0.5;
    const ly = opts.ly ?? -0.6;
    const op = opts.opacity ?? 1;
    // soft: extra edge width in units of the radius (for clouds / blush)
    const soft = opts.soft ?? 0;
    const r = Math.max(rx, ry);
    const [bx0, by0, bx1, by1] = this.box(cx - r, cy - r, cx + r, cy + r);
    const c = Math.cos(angle);
    const sn = Math.sin(angle);
    const minR = Math.min(rx, ry) * s;
    const qMax = soft > 0 ? 1 : (1 + 0.5 / minR) ** 2;
    const T = this.tex;
    for (let y = by0; y < by1; y++) {
      const v = (y + 0.5) / s - cy;
      texRow(opts.tex, y, bx0, bx1, s, T);
      for (let x = bx0; x < bx1; x++) {
        const u = (x + 0.5) / s - cx;
        const xl = (u * c + v * sn) / rx;
        const yl = (-u * sn + v * c) / ry;
        const q2 = xl * xl + yl * yl;
        if (q2 >= qMax) continue;
        const q = Math.sqrt(q2);
        let a: number;
        if (soft > 0) a = Math.min(1, Math.max(0, (1 - q) / soft));
        else {
          const d = (q - 1) * minR;
          if (d > 0.5) continue;
          a = Math.min(1, 0.5 - d);
        }
        if (a <= 0) continue;
        let f = T[x]!;
        if (shade > 0) {
          const nz = Math.sqrt(Math.max(0, 1 - Math.min(1, q * q)));
          const lit = Math.max(0, -xl * lx - yl * ly + nz * 0.62);
          f *= 1 - shade + shade * (0.35 + 0.85 * lit);
        }
        this.blend(y * w + x, a * op, col[0] * f, col[1] * f, col[2] * f);
      }
    }
  }

  /** Capsule (a thick segment) — brush strokes, limbs, eyebrows; `bristle` adds ridges along it. */
  capsule(x0: number, y0: number, x1: number, y1: number, rad: number, col: RGB, opts: { opacity?: number; bristle?: number; bristleFreq?: number; tex?: Texture; taper?: number } = {}): void {
    const { w, s } = this;
    const op = opts.opacity ?? 1;
    const bristle = opts.bristle ?? 0;
    const bf = opts.bristleFreq ?? 3;
    const taper = opts.taper ?? 0;
    const [bx0, by0, bx1, by1] = this.box(Math.min(x0, x1) - rad, Math.min(y0, y1) - rad, Math.max(x0, x1) + rad, Math.max(y0, y1) + rad);
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = Math.max(1e-12, dx * dx + dy * dy);
    const len = Math.sqrt(len2);
    const nx = -dy / len;
    const ny = dx / len;
    const T = this.tex;
    const lim = rad + 0.5 / s;
    for (let y = by0; y < by1; y++) {
      const v = (y + 0.5) / s;
      texRow(opts.tex, y, bx0, bx1, s, T);
      for (let x = bx0; x < bx1; x++) {
        const u = (x + 0.5) / s;
        const px = u - x0;
        const py = v - y0;
        const t = Math.min(1, Math.max(0, (px * dx + py * dy) / len2));
        const ex = px - t * dx;
        const ey = py - t * dy;
        const e2 = ex * ex + ey * ey;
        if (e2 >= lim * lim) continue;
        const r = rad * (1 - taper * t);
        const d = (Math.sqrt(e2) - r) * s;
        if (d > 0.5) continue;
        const a = Math.min(1, 0.5 - d);
        let f = T[x]!;
        if (bristle > 0) f *= 1 + bristle * Math.sin(((px * nx + py * ny) / Math.max(1e-6, r)) * bf * Math.PI);
        this.blend(y * w + x, a * op, col[0] * f, col[1] * f, col[2] * f);
      }
    }
  }

  /** Rotated rectangle with an optional linear shading across it and a texture. */
  rect(cx: number, cy: number, hx: number, hy: number, angle: number, col: RGB, opts: { opacity?: number; grade?: number; tex?: Texture } = {}): void {
    const { w, s } = this;
    const op = opts.opacity ?? 1;
    const grade = opts.grade ?? 0;
    const r = Math.sqrt(hx * hx + hy * hy);
    const [bx0, by0, bx1, by1] = this.box(cx - r, cy - r, cx + r, cy + r);
    const c = Math.cos(angle);
    const sn = Math.sin(angle);
    const T = this.tex;
    for (let y = by0; y < by1; y++) {
      const v = (y + 0.5) / s - cy;
      texRow(opts.tex, y, bx0, bx1, s, T);
      for (let x = bx0; x < bx1; x++) {
        const u = (x + 0.5) / s - cx;
        const xl = u * c + v * sn;
        const yl = -u * sn + v * c;
        const d = Math.max(Math.abs(xl) - hx, Math.abs(yl) - hy) * s;
        if (d > 0.5) continue;
        const a = Math.min(1, 0.5 - d);
        const f = T[x]! * (1 + grade * (xl / hx));
        this.blend(y * w + x, a * op, col[0] * f, col[1] * f, col[2] * f);
      }
    }
  }

  /** Ring (annulus) of radius `r` and half-width `hw`. */
  ring(cx: number, cy: number, r: number, hw: number, col: RGB, opacity = 1): void {
    const { w, s } = this;
    const [bx0, by0, bx1, by1] = this.box(cx - r - hw, cy - r - hw, cx + r + hw, cy + r + hw);
    for (let y = by0; y < by1; y++) {
      const v = (y + 0.5) / s - cy;
      for (let x = bx0; x < bx1; x++) {
        const u = (x + 0.5) / s - cx;
        const d = (Math.abs(Math.sqrt(u * u + v * v) - r) - hw) * s;
        if (d > 0.5) continue;
        this.blend(y * w + x, Math.min(1, 0.5 - d) * opacity, col[0], col[1], col[2]);
      }
    }
  }

  /** Stripes (period `period` units, direction `angle`, duty 0.5) clipped to a rotated box. */
  stripes(cx: number, cy: number, hx: number, hy: number, angle: number, period: number, col: RGB, opacity = 1): void {
    const { w, s } = this;
    const r = Math.sqrt(hx * hx + hy * hy);
    const [bx0, by0, bx1, by1] = this.box(cx - r, cy - r, cx + r, cy + r);
    const c = Math.cos(angle);
    const sn = Math.sin(angle);
    for (let y = by0; y < by1; y++) {
      const v = (y + 0.5) / s - cy;
      for (let x = bx0; x < bx1; x++) {
        const u = (x + 0.5) / s - cx;
        const xl = u * c + v * sn;
        const yl = -u * sn + v * c;
        const dBox = Math.max(Math.abs(xl) - hx, Math.abs(yl) - hy) * s;
        if (dBox > 0.5) continue;
        // distance (px) to the nearest stripe edge, signed: inside the dark half < 0
        const ph = xl / period - Math.floor(xl / period); // [0,1)
        const dStripe = (Math.abs(ph - 0.5) - 0.25) * period * s; // < 0 in the middle half
        const a = Math.min(1, 0.5 - dBox) * Math.min(1, Math.max(0, 0.5 - dStripe));
        if (a <= 0) continue;
        this.blend(y * w + x, a * opacity, col[0], col[1], col[2]);
      }
    }
  }
}

export function clamp01(x: number): number {
  return x < 0 ? 0 : Math.min(x, 1);
}

/** HSV (h in [0,1)) → RGB in [0,1]. */
export function hsv(h: number, sat: number, val: number): RGB {
  h = (h - Math.floor(h)) * 6;
  const i = Math.floor(h);
  const f = h - i;
  const p = val * (1 - sat);
  const q = val * (1 - sat * f);
  const t = val * (1 - sat * (1 - f));
  switch (i) {
    case 0:
      return [val, t, p];
    case 1:
      return [q, val, p];
    case 2:
      return [p, val, t];
    case 3:
      return [p, q, val];
    case 4:
      return [t, p, val];
    default:
      return [val, p, q];
  }
}

export function jitter(rng: Rng, c: RGB, amount: number): RGB {
  return [clamp01(c[0] + (rng.next() - 0.5) * amount), clamp01(c[1] + (rng.next() - 0.5) * amount), clamp01(c[2] + (rng.next() - 0.5) * amount)];
}

export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}
