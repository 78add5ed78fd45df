/**
 * Geometric operations on RGB images, with albumentations' conventions: reflect-101 padding centred
 * as `PadIfNeeded`, `CenterCrop` offsets floored, `np.rot90` direction, and the flips of `Flip`.
 */
import { roundHalfEven } from "../util/round.js";
import { newImage, type RgbImage } from "./types.js";

/** Index into a reflect-101 extended axis of length n (…c b | a b c d | c b…), as OpenCV's BORDER_REFLECT_101. */
export function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/** Pads to at least `minH`×`minW` with reflect-101, the padding split as albumentations' PadIfNeeded (centre). */
export function padIfNeeded(img: RgbImage, minH: number, minW: number = minH): RgbImage {
  const padH = Math.max(0, minH - img.height);
  const padW = Math.max(0, minW - img.width);
  if (padH === 0 && padW === 0) return img;
  const top = Math.floor(padH / 2);
  const left = Math.floor(padW / 2);
  const out = newImage(img.width + padW, img.height + padH);
  for (let y = 0; y < out.height; y++) {
    const sy = reflect101(y - top, img.height);
    for (let x = 0; x < out.width; x++) {
      const s = (sy * img.width + reflect101(x - left, img.width)) * 3;
      const d = (y * out.width + x) * 3;
      out.data[d] = img.data[s]!;
      out.data[d + 1] = img.data[s + 1]!;
      out.data[d + 2] = img.data[s + 2]!;
    }
  }
  return out;
}

export function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > img.width || y + h > img.height) {
    throw new RangeError(`crop ${w}×${h}+${x}+${y} is outside the ${img.width}×${img.height} image`);
  }
  const out = newImage(w, h);
  const row = w * 3;
  for (let r = 0; r < h; r++) {
    const s = ((y + r) * img.width + x) * 3;
    out.data.set(img.data.subarray(s, s + row), r * row);
  }
  return out;
}

/** albumentations CenterCrop offsets: floor((size - crop) / 2). */
export function centerCropBox(width: number, height: number, cw: number, ch: number): { x: number; y: number } {
  return { x: Math.floor((width - cw) / 2), y: Math.floor((height - ch) / 2) };
}

export function centerCrop(img: RgbImage, cw: number, ch: number = cw): RgbImage {
  const { x, y } = centerCropBox(img.width, img.height, cw, ch);
  return crop(img, x, y, cw, ch);
}

/**
 * torchvision's CenterCrop (transforms.functional.center_crop), unlike albumentations': a side
 * shorter than the crop is zero-padded (the smaller half before, the larger after), and the offsets
 * are round((size − crop) / 2) with Python's round (halves to even), not floored.
 */
export function torchvisionCenterCrop(img: RgbImage, size: number): RgbImage {
  const padW = Math.max(0, size - img.width);
  const padH = Math.max(0, size - img.height);
  let src = img;
  if (padW > 0 || padH > 0) {
    const left = Math.floor(padW / 2);
    const top = Math.floor(padH / 2);
    src = newImage(img.width + padW, img.height + padH);
    const row = img.width * 3;
    for (let y = 0; y < img.height; y++) src.data.set(img.data.subarray(y * row, (y + 1) * row), ((y + top) * src.width + left) * 3);
  }
  return crop(src, roundHalfEven((src.width - size) / 2), roundHalfEven((src.height - size) / 2), size, size);
}

/** `np.rot90(img, k)`: k quarter turns counter-clockwise. */
export function rot90(img: RgbImage, k: number): RgbImage {
  const t = ((k % 4) + 4) % 4;
  if (t === 0) return img;
  const { width: w, height: h } = img;
  const out = t === 2 ? newImage(w, h) : newImage(h, w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // destination of source (x, y) after t counter-clockwise turns
      const [dx, dy] = t === 1 ? [y, w - 1 - x] : t === 2 ? [w - 1 - x, h - 1 - y] : [h - 1 - y, x];
      const s = (y * w + x) * 3;
      const d = (dy * out.width + dx) * 3;
      out.data[d] = img.data[s]!;
      out.data[d + 1] = img.data[s + 1]!;
      out.data[d + 2] = img.data[s + 2]!;
    }
  }
  return out;
}

/** albumentations Flip codes: 1 horizontal, 0 vertical, -1 both. */
export type FlipCode = -1 | 0 | 1;

export function flip(img: RgbImage, code: FlipCode): RgbImage {
  const { width: w, height: h } = img;
  const out = newImage(w, h);
  for (let y = 0; y < h; y++) {
    const sy = code === 1 ? y : h - 1 - y;
    for (let x = 0; x < w; x++) {
      const sx = code === 0 ? x : w - 1 - x;
      const s = (sy * w + sx) * 3;
      const d = (y * w + x) * 3;
      out.data[d] = img.data[s]!;
      out.data[d + 1] = img.data[s + 1]!;
      out.data[d + 2] = img.data[s + 2]!;
    }
  }
  return out;
}

/** `cv2.cvtColor(RGB2GRAY)` then back to 3 channels, with OpenCV's fixed-point weights for 8-bit. */
export function toGray(img: RgbImage): RgbImage {
  const out = newImage(img.width, img.height);
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    const g = (d[i]! * 4899 + d[i + 1]! * 9617 + d[i + 2]! * 1868 + (1 << 13)) >> 14;
    out.data[i] = out.data[i + 1] = out.data[i + 2] = g;
  }
  return out;
}
