/**
 * Augmentation recipes as data: a JSON-serialisable chain of operations with their probabilities and
 * ranges, so a pipeline can be printed, hashed and saved with results. `applyRecipe` draws every
 * random choice from the image's own Rng (seed + item id) and returns a trace of what it did.
 */
import type { Rng } from "../util/rng.js";
import { compressForEncode, decodeEncoded, type EncodedImage } from "./compress.js";
import { gaussianBlur, gaussianNoise } from "./filter.js";
import { centerCrop, crop, flip, padIfNeeded, rot90, toGray, torchvisionCenterCrop, type FlipCode } from "./geometry.js";
import { resizeOnAddon as resize } from "./codec.js";
import type { ResizeInterpolation } from "./resize.js";
import type { ImageSource, RgbImage } from "./types.js";

export type Step =
  /** reflect-101 pad up to size×size (albumentations PadIfNeeded) */
  | { op: "pad_if_needed"; size: number }
  | { op: "random_crop"; size: number }
  | { op: "center_crop"; size: number }
  /** torchvision's CenterCrop: zero-pads a side shorter than size, offsets rounded half to even */
  | { op: "torchvision_center_crop"; size: number }
  /**
   * ImagiNet's test crop: side h uniform in [min, max(min(shortSide, max), min)], pad to h if needed,
   * random h×h crop
   */
  | { op: "random_square_crop"; min: number; max: number }
  | { op: "resize"; size: number; interpolation: ResizeInterpolation }
  /** torchvision RandomResizedCrop: area fraction in `scale`, aspect ratio (log-uniform) in `ratio` */
  | { op: "random_resized_crop"; size: number; scale: [number, number]; ratio: [number, number]; interpolation: ResizeInterpolation }
  /** encode/decode round trip at a quality uniform in [q0, q1]; swapRB reproduces albumentations' BGR quirk */
  | { op: "compress"; codec: "jpeg" | "webp"; quality: [number, number]; swapRB: boolean }
  /** odd kernel size uniform in [k0, k1] (cv2.GaussianBlur, sigma from ksize) */
  | { op: "gaussian_blur"; ksize: [number, number] }
  /** per-channel normal noise, variance uniform in [v0, v1] */
  | { op: "gaussian_noise"; variance: [number, number] }
  | { op: "to_gray" }
  /** np.rot90 by a random 0-3 quarter turns */
  | { op: "rot90" }
  /** horizontal, vertical or both, uniformly */
  | { op: "flip" }
  /** with probability p apply exactly one of `steps`, chosen uniformly */
  | { op: "one_of"; p: number; steps: Step[] }
  /** with probability p apply all of `steps` in order */
  | { op: "maybe"; p: number; steps: Step[] };

export interface Recipe {
  name: string;
  description: string;
  steps: Step[];
}

/** What one application did: the parameters each executed step drew. */
export type TraceEntry = { op: Step["op"] } & Record<string, number | string | boolean | number[]>;

const odd = (lo: number, hi: number, rng: Rng): number => {
  const choices: number[] = [];
  for (let k = lo; k <= hi; k++) if (k % 2 === 1) choices.push(k);
  return choices[rng.int(0, choices.length - 1)]!;
};

const uniform = (lo: number, hi: number, rng: Rng): number => lo + (hi - lo) * rng.next();

/** A step's result: pixels, or a compression round trip still encoded (decoded when a step or the caller needs its pixels). */
type Stepped = RgbImage | EncodedImage;

const pixelsOf = async (img: Stepped): Promise<RgbImage> => ("data" in img ? img : decodeEncoded(img));

async function applyStep(img: RgbImage, step: Step, rng: Rng, trace: TraceEntry[]): Promise<Stepped> {
  switch (step.op) {
    case "pad_if_needed": {
      const out = padIfNeeded(img, step.size);
      if (out !== img) trace.push({ op: step.op, from: [img.width, img.height], to: [out.width, out.height] });
      return out;
    }
    case "random_crop": {
      const x = rng.int(0, img.width - step.size);
      const y = rng.int(0, img.height - step.size);
      trace.push({ op: step.op, box: [x, y, step.size, step.size] });
      return crop(img, x, y, step.size, step.size);
    }
    case "center_crop":
      trace.push({ op: step.op, size: step.size });
      return centerCrop(img, step.size);
    case "torchvision_center_crop":
      trace.push({ op: step.op, from: [img.width, img.height], size: step.size });
      return torchvisionCenterCrop(img, step.size);
    case "random_square_crop":
      return randomSquareCrop(inMemory(img), step, rng, trace);
    case "resize":
      if (img.width === step.size && img.height === step.size) return img;
      trace.push({ op: step.op, from: [img.width, img.height], size: step.size, interpolation: step.interpolation });
      return resize(img, step.size, step.size, step.interpolation);
    case "random_resized_crop": {
      const box = randomResizedCropBox(img.width, img.height, step.scale, step.ratio, rng);
      trace.push({ op: step.op, box: [box.x, box.y, box.w, box.h], size: step.size });
      return resize(crop(img, box.x, box.y, box.w, box.h), step.size, step.size, step.interpolation);
    }
    case "compress": {
      const quality = rng.int(step.quality[0], step.quality[1]);
      trace.push({ op: step.op, codec: step.codec, quality });
      return compressForEncode(img, step.codec, quality, { swapRB: step.swapRB });
    }
    case "gaussian_blur": {
      const ksize = odd(step.ksize[0], step.ksize[1], rng);
      trace.push({ op: step.op, ksize });
      return gaussianBlur(img, ksize);
    }
    case "gaussian_noise": {
      const variance = uniform(step.variance[0], step.variance[1], rng);
      trace.push({ op: step.op, variance });
      return gaussianNoise(img, variance, rng);
    }
    case "to_gray":
      trace.push({ op: step.op });
      return toGray(img);
    case "rot90": {
      const k = rng.int(0, 3);
      trace.push({ op: step.op, k });
      return rot90(img, k);
    }
    case "flip": {
      const code = (rng.int(0, 2) - 1) as FlipCode;
      trace.push({ op: step.op, code });
      return flip(img, code);
    }
    case "one_of": {
      if (rng.next() >= step.p) return img;
      return applyStep(img, step.steps[rng.int(0, step.steps.length - 1)]!, rng, trace);
    }
    case "maybe": {
      if (rng.next() >= step.p) return img;
      let out: Stepped = img;
      for (const s of step.steps) out = await applyStep(await pixelsOf(out), s, rng, trace);
      return out;
    }
  }
}

/** torchvision's RandomResizedCrop.get_params: 10 tries at a random area and log-uniform ratio, then a centre fallback. */
export function randomResizedCropBox(width: number, height: number, scale: [number, number], ratio: [number, number], rng: Rng): { x: number; y: number; w: number; h: number } {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * uniform(scale[0], scale[1], rng);
    const aspect = Math.exp(uniform(logRatio[0], logRatio[1], rng));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) return { x: rng.int(0, width - w), y: rng.int(0, height - h), w, h };
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h };
}

/**
 * Applies a recipe to an image in memory or to one not decoded yet (decode.ts openImage): then a
 * leading random_square_crop asks the decoder for its crop alone: the same pixels for less work.
 */
export async function applyRecipe(input: RgbImage | ImageSource, recipe: Recipe, rng: Rng): Promise<{ image: RgbImage; trace: TraceEntry[] }> {
  const { image, trace } = await applyRecipeToEncode(input, recipe, rng);
  return { image: await pixelsOf(image), trace };
}

/**
 * `applyRecipe` for a caller that only encodes the result (decode.ts encodeLosslessWebp takes
 * either kind): without the codec addon a final compression round trip is left encoded, so that
 * its decode and the next encode are one libvips pipeline.
 */
export async function applyRecipeToEncode(input: RgbImage | ImageSource, recipe: Recipe, rng: Rng): Promise<{ image: RgbImage | EncodedImage; trace: TraceEntry[] }> {
  const trace: TraceEntry[] = [];
  let steps = recipe.steps;
  let img: Stepped;
  if ("data" in input) img = input;
  else if (steps[0]?.op === "random_square_crop") {
    img = await randomSquareCrop(input, steps[0], rng, trace);
    steps = steps.slice(1);
  } else img = await input.decode();
  for (const step of steps) img = await applyStep(await pixelsOf(img), step, rng, trace);
  return { image: img, trace };
}

/** ImagiNet's test crop (Step random_square_crop); only an image smaller than the side is decoded whole, to be padded. */
async function randomSquareCrop(src: ImageSource, step: Extract<Step, { op: "random_square_crop" }>, rng: Rng, trace: TraceEntry[]): Promise<RgbImage> {
  const short = Math.min(src.width, src.height);
  const side = rng.int(step.min, Math.max(Math.min(short, step.max), step.min));
  const padded = src.width < side || src.height < side;
  const x = rng.int(0, Math.max(src.width, side) - side);
  const y = rng.int(0, Math.max(src.height, side) - side);
  trace.push({ op: step.op, side, box: [x, y, side, side], padded });
  if (!padded) return src.decode({ x, y, width: side, height: side });
  return crop(padIfNeeded(await src.decode(), side), x, y, side, side);
}

/** An image in memory as an ImageSource: a box is a crop. */
function inMemory(img: RgbImage): ImageSource {
  return { width: img.width, height: img.height, decode: async (box) => (box ? crop(img, box.x, box.y, box.width, box.height) : img) };
}

/** JSON with sorted keys: the same recipe always serialises (and hashes) the same way. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
