/**
 * The four procedural content types. One function per ImagiNet content id; each draws a random scene
 * (from `rng`) onto a canvas of any size. Real and synthetic images draw from exactly these functions,
 * so their content statistics are the same; only the resolution they are rendered at (the camera's
 * sensor vs a generator's latent grid) and what happens after differ.
 */
import type { Rng } from "../../util/rng.js";
import { Canvas, hsv, jitter, texture, uniform, type RGB } from "./raster.js";

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)]!;
}

/** Photos: sky, distant hills, textured ground, shaded objects (rocks, trees, buildings, balls), clouds. */
function photo(rng: Rng, c: Canvas): void {
  const { ex, ey } = c;
  const sunset = rng.next() < 0.25;
  const skyTop: RGB = sunset ? hsv(uniform(rng, 0.6, 0.75), uniform(rng, 0.4, 0.7), uniform(rng, 0.35, 0.6)) : hsv(uniform(rng, 0.55, 0.62), uniform(rng, 0.35, 0.75), uniform(rng, 0.55, 0.95));
  const skyBottom: RGB = sunset ? hsv(uniform(rng, 0.02, 0.12), uniform(rng, 0.4, 0.8), uniform(rng, 0.7, 1)) : hsv(uniform(rng, 0.52, 0.6), uniform(rng, 0.1, 0.35), uniform(rng, 0.75, 1));
  const horizon = uniform(rng, 0.35, 0.65) * ey;
  c.gradient(skyTop, skyBottom, texture(rng, 3, 0.04), 0, horizon);
  for (let k = rng.int(0, 3); k > 0; k--) {
    c.ellipse(uniform(rng, 0, ex), uniform(rng, 0.05, horizon * 0.8), uniform(rng, 0.08, 0.25), uniform(rng, 0.03, 0.08), uniform(rng, -0.2, 0.2), [0.97, 0.97, 0.98], {
      soft: 0.7,
      opacity: uniform(rng, 0.4, 0.8),
      tex: texture(rng, 12, 0.15),
    });
  }
  const hillHue = uniform(rng, 0.2, 0.4);
  for (let layer = rng.int(1, 2); layer > 0; layer--) {
    const col = hsv(hillHue + uniform(rng, -0.05, 0.05), uniform(rng, 0.2, 0.5), uniform(rng, 0.3, 0.6));
    c.terrain(
      horizon - uniform(rng, 0.02, 0.15),
      [
        [uniform(rng, 0.01, 0.05), uniform(rng, 3, 9), uniform(rng, 0, 6.28)],
        [uniform(rng, 0.005, 0.02), uniform(rng, 12, 30), uniform(rng, 0, 6.28)],
      ],
      col,
      jitter(rng, col, 0.1),
      texture(rng, 10, 0.12, 30),
    );
  }
  const groundHue = pick(rng, [0.08, 0.1, 0.25, 0.3, 0.12]) + uniform(rng, -0.03, 0.03);
  const gTop = hsv(groundHue, uniform(rng, 0.25, 0.6), uniform(rng, 0.35, 0.7));
  const gBottom = hsv(groundHue + uniform(rng, -0.03, 0.03), uniform(rng, 0.3, 0.7), uniform(rng, 0.2, 0.55));
  c.terrain(horizon, [[uniform(rng, 0.002, 0.01), uniform(rng, 4, 12), uniform(rng, 0, 6.28)]], gTop, gBottom, texture(rng, uniform(rng, 6, 14), uniform(rng, 0.12, 0.3), uniform(rng, 24, 40)));
  const objects = rng.int(3, 8);
  const lx = uniform(rng, -0.8, 0.8);
  for (let k = 0; k < objects; k++) {
    const y = uniform(rng, horizon + 0.03, ey - 0.02);
    const depth = (y - horizon) / Math.max(0.05, ey - horizon); // 0 far, 1 near
    const size = (0.04 + 0.16 * depth) * uniform(rng, 0.6, 1.3);
    const x = uniform(rng, 0, ex);
    const kind = rng.int(0, 3);
    c.ellipse(x + size * 0.3, y, size * 0.9, size * 0.2, 0, [0.05, 0.05, 0.06], { soft: 0.6, opacity: 0.45 });
    if (kind === 0) {
      // rock / ball
      const col = rng.next() < 0.5 ? hsv(uniform(rng, 0, 1), uniform(rng, 0.5, 0.9), uniform(rng, 0.5, 0.95)) : hsv(uniform(rng, 0.05, 0.12), uniform(rng, 0.05, 0.3), uniform(rng, 0.35, 0.7));
      c.ellipse(x, y - size * 0.6, size * uniform(rng, 0.7, 1.1), size * uniform(rng, 0.55, 0.8), uniform(rng, -0.4, 0.4), col, {
        shade: 0.8,
        lx,
        ly: -0.7,
        tex: texture(rng, uniform(rng, 15, 35), uniform(rng, 0.03, 0.15)),
      });
    } else if (kind === 1) {
      // tree: trunk + textured crown
      const trunk = hsv(uniform(rng, 0.05, 0.1), uniform(rng, 0.4, 0.7), uniform(rng, 0.2, 0.4));
      c.capsule(x, y, x, y - size * 1.5, size * 0.12, trunk, { tex: texture(rng, 30, 0.15) });
      const crown = hsv(uniform(rng, 0.22, 0.36), uniform(rng, 0.4, 0.8), uniform(rng, 0.25, 0.6));
      c.ellipse(x, y - size * 2, size * uniform(rng, 0.6, 0.9), size * uniform(rng, 0.8, 1.2), 0, crown, { shade: 0.6, lx, tex: texture(rng, uniform(rng, 20, 35), 0.3, 40) });
    } else if (kind === 2) {
      // building: box with a shaded side and windows
      const wall = hsv(uniform(rng, 0, 1), uniform(rng, 0.05, 0.35), uniform(rng, 0.45, 0.9));
      const hw = size * uniform(rng, 0.5, 1);
      const hh = size * uniform(rng, 0.8, 1.8);
      c.rect(x, y - hh, hw, hh, 0, wall, { grade: 0.25 * lx, tex: texture(rng, 25, 0.05) });
      const win = hsv(uniform(rng, 0.5, 0.65), uniform(rng, 0.2, 0.5), uniform(rng, 0.15, 0.4));
      const nx = rng.int(2, 4);
      const ny = rng.int(2, 6);
      for (let i = 0; i < nx; i++) for (let j = 0; j < ny; j++) c.rect(x - hw + (2 * hw * (i + 0.5)) / nx, y - 2 * hh + (2 * hh * (j + 0.5)) / ny, (hw / nx) * 0.35, (hh / ny) * 0.3, 0, win);
    } else {
      // post / person-like: capsule body and a head
      const col = hsv(uniform(rng, 0, 1), uniform(rng, 0.3, 0.8), uniform(rng, 0.3, 0.85));
      c.capsule(x, y - size * 0.1, x + uniform(rng, -0.05, 0.05) * size, y - size * 1.2, size * 0.22, col, { tex: texture(rng, 30, 0.08) });
      c.ellipse(x, y - size * 1.5, size * 0.2, size * 0.2, 0, hsv(uniform(rng, 0.04, 0.1), uniform(rng, 0.3, 0.6), uniform(rng, 0.4, 0.85)), { shade: 0.6, lx });
    }
  }
}

/** Paintings: a washed background and many brush strokes from a small palette, following a flow field. */
function painting(rng: Rng, c: Canvas): void {
  const { ex, ey } = c;
  const baseHue = rng.next();
  const palette: RGB[] = [];
  for (let i = rng.int(4, 7); i > 0; i--) palette.push(hsv(baseHue + uniform(rng, -0.25, 0.25), uniform(rng, 0.2, 0.85), uniform(rng, 0.25, 0.95)));
  c.gradient(jitter(rng, palette[0]!, 0.2), jitter(rng, palette[1]!, 0.2), texture(rng, uniform(rng, 2, 5), 0.25, 12));
  const flowA = uniform(rng, 0, 6.28);
  const flowF = uniform(rng, 1, 5);
  const strokes = rng.int(70, 140);
  const scale = uniform(rng, 0.7, 1.3);
  for (let k = 0; k < strokes; k++) {
    const x = uniform(rng, -0.05, ex + 0.05);
    const y = uniform(rng, -0.05, ey + 0.05);
    const ang = flowA + Math.sin(x * flowF) + Math.cos(y * flowF * 0.7) + uniform(rng, -0.4, 0.4);
    const len = uniform(rng, 0.03, 0.16) * scale;
    const rad = uniform(rng, 0.006, 0.03) * scale;
    const col = jitter(rng, pick(rng, palette), 0.15);
    const dx = Math.cos(ang) * len;
    const dy = Math.sin(ang) * len;
    c.capsule(x - dx / 2, y - dy / 2, x + dx / 2, y + dy / 2, rad, col, {
      opacity: uniform(rng, 0.55, 0.95),
      bristle: uniform(rng, 0.03, 0.12),
      bristleFreq: rng.int(2, 5),
      taper: uniform(rng, 0, 0.6),
    });
  }
}

/** Faces: background, hair, neck and shoulders, a shaded face with eyes, brows, nose, mouth. */
function face(rng: Rng, c: Canvas): void {
  const { ex, ey } = c;
  c.gradient(
    hsv(uniform(rng, 0, 1), uniform(rng, 0.05, 0.5), uniform(rng, 0.3, 0.9)),
    hsv(uniform(rng, 0, 1), uniform(rng, 0.05, 0.5), uniform(rng, 0.2, 0.8)),
    texture(rng, uniform(rng, 2, 6), 0.15, 14),
  );
  const cx = ex / 2 + uniform(rng, -0.06, 0.06);
  const cy = ey / 2 + uniform(rng, -0.03, 0.05);
  const rx = uniform(rng, 0.18, 0.24);
  const ry = rx * uniform(rng, 1.2, 1.4);
  const tilt = uniform(rng, -0.15, 0.15);
  const skin = hsv(uniform(rng, 0.03, 0.09), uniform(rng, 0.2, 0.6), uniform(rng, 0.35, 0.95));
  const hair = rng.next() < 0.2 ? hsv(uniform(rng, 0, 1), uniform(rng, 0.4, 0.8), uniform(rng, 0.4, 0.8)) : hsv(uniform(rng, 0.05, 0.12), uniform(rng, 0.2, 0.8), uniform(rng, 0.08, 0.85));
  const lx = uniform(rng, -0.7, 0.7);
  const hairTex = texture(rng, uniform(rng, 25, 40), 0.2);
  const clothes = hsv(uniform(rng, 0, 1), uniform(rng, 0.2, 0.8), uniform(rng, 0.2, 0.8));
  c.ellipse(cx, cy + ry * 2.1, rx * 2.4, ry * 0.9, 0, clothes, { shade: 0.4, lx, tex: texture(rng, 20, 0.06) });
  c.capsule(cx, cy + ry * 0.6, cx, cy + ry * 1.4, rx * 0.45, skin, { tex: texture(rng, 30, 0.03) });
  c.ellipse(cx, cy - ry * 0.15, rx * uniform(rng, 1.1, 1.35), ry * uniform(rng, 1.05, 1.25), tilt, hair, { shade: 0.5, lx, tex: hairTex });
  c.ellipse(cx, cy, rx, ry, tilt, skin, { shade: 0.55, lx, tex: texture(rng, 28, 0.04, 38) });
  const cs = Math.cos(tilt);
  const sn = Math.sin(tilt);
  const at = (u: number, v: number): [number, number] => [cx + u * rx * cs - v * ry * sn, cy + u * rx * sn + v * ry * cs];
  const iris = hsv(uniform(rng, 0, 1), uniform(rng, 0.3, 0.8), uniform(rng, 0.2, 0.6));
  const eyeV = uniform(rng, -0.2, -0.05);
  const eyeU = uniform(rng, 0.33, 0.45);
  for (const side of [-1, 1]) {
    const [x, y] = at(side * eyeU, eyeV);
    c.ellipse(x, y, rx * 0.2, rx * 0.1, tilt, [0.93, 0.92, 0.9], { shade: 0.2 });
    c.ellipse(x, y, rx * 0.085, rx * 0.085, 0, iris, { shade: 0.3 });
    c.ellipse(x, y, rx * 0.04, rx * 0.04, 0, [0.03, 0.03, 0.03]);
    c.ellipse(x - rx * 0.03, y - rx * 0.03, rx * 0.018, rx * 0.018, 0, [1, 1, 1], { opacity: 0.8 });
    const [bx0, by0] = at(side * (eyeU - 0.16), eyeV - 0.17);
    const [bx1, by1] = at(side * (eyeU + 0.17), eyeV - 0.2 + uniform(rng, -0.04, 0.03));
    c.capsule(bx0, by0, bx1, by1, rx * 0.035, hair, { taper: 0.5, opacity: 0.9 });
    const [kx, ky] = at(side * 0.45, 0.3);
    c.ellipse(kx, ky, rx * 0.2, rx * 0.13, 0, [0.85, 0.35, 0.35], { soft: 1, opacity: uniform(rng, 0, 0.25) });
  }
  const [nx0, ny0] = at(0.02, eyeV + 0.05);
  const [nx1, ny1] = at(0.06, 0.28);
  c.capsule(nx0, ny0, nx1, ny1, rx * 0.05, jitter(rng, skin, 0.05), { opacity: 0.5, taper: -0.6 });
  const [ox, oy] = at(0, 0.3);
  c.ellipse(ox, oy, rx * 0.16, rx * 0.07, tilt, [skin[0] * 0.7, skin[1] * 0.55, skin[2] * 0.55], { opacity: 0.6 });
  const [mx, my] = at(0, uniform(rng, 0.52, 0.6));
  const lips = hsv(uniform(rng, 0.95, 1.02), uniform(rng, 0.4, 0.7), uniform(rng, 0.4, 0.8));
  c.ellipse(mx, my, rx * uniform(rng, 0.25, 0.38), rx * uniform(rng, 0.06, 0.12), tilt, lips, { shade: 0.4, lx });
  c.capsule(...at(-0.28, uniform(rng, 0.52, 0.6)), ...at(0.28, uniform(rng, 0.52, 0.6)), rx * 0.012, [0.2, 0.08, 0.08], { opacity: 0.6 });
  // fringe
  for (let k = rng.int(0, 12); k > 0; k--) {
    const u = uniform(rng, -0.9, 0.9);
    const [x0, y0] = at(u, -1.05);
    const [x1, y1] = at(u + uniform(rng, -0.2, 0.2), uniform(rng, -0.8, -0.55));
    c.capsule(x0, y0, x1, y1, rx * uniform(rng, 0.05, 0.12), jitter(rng, hair, 0.06), { taper: 0.7, tex: hairTex });
  }
}

/** Uncategorized: graphic compositions (flat shapes, rings, stripes, checkers, text-like bars) with some shaded objects. */
function graphic(rng: Rng, c: Canvas): void {
  const { ex, ey } = c;
  const hue = rng.next();
  const bg = hsv(hue, uniform(rng, 0, 0.7), uniform(rng, 0.15, 0.95));
  if (rng.next() < 0.5) c.gradient(bg, jitter(rng, bg, 0.3));
  else c.gradient(bg, bg, texture(rng, uniform(rng, 2, 8), uniform(rng, 0.05, 0.3), 20));
  const col = (): RGB => hsv(hue + uniform(rng, -0.5, 0.5), uniform(rng, 0.2, 1), uniform(rng, 0.1, 1));
  for (let k = rng.int(5, 14); k > 0; k--) {
    const x = uniform(rng, 0, ex);
    const y = uniform(rng, 0, ey);
    const s = uniform(rng, 0.04, 0.3);
    switch (rng.int(0, 6)) {
      case 0:
        c.rect(x, y, s, s * uniform(rng, 0.3, 1.2), uniform(rng, 0, 3.14), col(), { opacity: uniform(rng, 0.7, 1) });
        break;
      case 1:
        c.ellipse(x, y, s, s * uniform(rng, 0.6, 1), uniform(rng, 0, 3.14), col(), { opacity: uniform(rng, 0.7, 1) });
        break;
      case 2:
        c.ring(x, y, s, s * uniform(rng, 0.06, 0.25), col());
        break;
      case 3:
        c.stripes(x, y, s, s * uniform(rng, 0.4, 1), uniform(rng, 0, 3.14), uniform(rng, 0.025, 0.08), col());
        break;
      case 4: {
        // checker: two stripe sets
        const a = uniform(rng, 0, 3.14);
        const p = uniform(rng, 0.03, 0.08);
        const cc = col();
        c.stripes(x, y, s, s, a, p, cc, 0.6);
        c.stripes(x, y, s, s, a + Math.PI / 2, p, cc, 0.6);
        break;
      }
      case 5: {
        // "text": rows of small bars
        const ink = col();
        const rows = rng.int(2, 5);
        for (let r = 0; r < rows; r++) {
          let xx = x - s;
          while (xx < x + s) {
            const wl = uniform(rng, 0.008, 0.035);
            c.rect(xx + wl, y + r * 0.035, wl, 0.009, 0, ink);
            xx += 2 * wl + 0.01;
          }
        }
        break;
      }
      default:
        c.ellipse(x, y, s * 0.7, s * 0.7, 0, col(), { shade: 0.8, lx: uniform(rng, -0.8, 0.8), tex: texture(rng, uniform(rng, 10, 30), 0.1) });
    }
  }
}

export const SCENES = [photo, painting, face, graphic] as const;

/**
 * Renders the scene for `content` (ImagiNet content id 0-3) from `rng` at w×h. Values are nominally
 * in [0, 1] but not clamped (textures may overshoot slightly): the pipelines clamp.
 */
export function renderScene(content: number, rng: Rng, w: number, h: number): Canvas {
  const c = new Canvas(w, h);
  SCENES[content]!(rng, c);
  return c;
}
