/**
 * A detector's preprocessing of a decoded RGB image: its geometric recipe, then normalisation into
 * CHW float32. Browser-safe (no node modules): the server, the CLI and the web page's in-browser
 * mode all run this one implementation, so that they feed the model the same numbers.
 */
import { IMAGENET_NORMALIZATION, type Normalization, type Preprocessing } from "../detectors/types.js";
import type { Rng } from "../util/rng.js";
import { applyRecipe } from "./recipe.js";
import type { RgbImage } from "./types.js";

/** One image as normalised CHW float32. */
export interface NormalizedImage {
  chw: Float32Array;
  width: number;
  height: number;
}

/**
 * Writes one image into `out` at `offset` as CHW float32: x/255, then (x - mean)/std per channel.
 * (Computed in float32 steps the way torchvision's ToTensor + Normalize does.) A byte has 256
 * values, so each channel's results are computed once into a table and the pixels look them up:
 * the same float32 numbers at a fraction of the cost per pixel.
 */
export function normalizeInto(img: RgbImage, out: Float32Array, offset = 0, norm: Normalization = IMAGENET_NORMALIZATION): void {
  const { data, width, height } = img;
  const hw = width * height;
  if (data.length !== hw * 3) throw new Error(`an RGB image of ${width}×${height} needs ${hw * 3} bytes, got ${data.length}`);
  for (let c = 0; c < 3; c++) {
    const table = channelTable(norm.mean[c]!, norm.std[c]!);
    const base = offset + c * hw;
    for (let i = 0, j = c; i < hw; i++, j += 3) out[base + i] = table[data[j]!]!;
  }
}

/** (x/255 − mean)/std for every byte x, each step rounded to float32. */
function channelTable(meanValue: number, stdValue: number): Float32Array {
  const mean = Math.fround(meanValue);
  const std = Math.fround(stdValue);
  const table = new Float32Array(256);
  for (let x = 0; x < 256; x++) table[x] = Math.fround(Math.fround(x / 255) - mean) / std;
  return table;
}

export function normalizeImage(img: RgbImage, norm: Normalization = IMAGENET_NORMALIZATION): NormalizedImage {
  const chw = new Float32Array(3 * img.width * img.height);
  normalizeInto(img, chw, 0, norm);
  return { chw, width: img.width, height: img.height };
}

/** A batch of same-size images as an NCHW float32 tensor's data. */
export function normalizeBatch(images: readonly RgbImage[]): { data: Float32Array; dims: [number, number, number, number] } {
  const first = images[0];
  if (!first) throw new Error("an empty batch");
  const { width, height } = first;
  for (const im of images) if (im.width !== width || im.height !== height) throw new Error(`a batch mixes ${width}×${height} and ${im.width}×${im.height} images`);
  const data = new Float32Array(images.length * 3 * width * height);
  images.forEach((im, i) => normalizeInto(im, data, i * 3 * width * height));
  return { data, dims: [images.length, 3, height, width] };
}

/** The detector's recipe on the decoded image (random draws from `rng`), then its normalisation. */
export async function preprocessImage(img: RgbImage, prep: Preprocessing, rng: Rng): Promise<NormalizedImage> {
  return normalizeImage((await applyRecipe(img, prep.recipe, rng)).image, prep.normalization);
}
