/**
 * Decoding to 8-bit RGB the way upstream does with PIL's `Image.open(f).convert("RGB")`:
 * no EXIF auto-rotation, embedded colour profiles ignored, alpha dropped (not composited),
 * greyscale and palette images expanded, 16-bit RGB reduced to its high byte, 16-bit greyscale
 * clipped to 255 (PIL's "I" → "RGB" conversion), the first frame of an animation.
 */
import type { Sharp } from "sharp";
import { loadSharp } from "./sharp.js";
import type { RgbImage } from "./types.js";
import { InputError } from "../util/errors.js";

/** PIL's `Image.MAX_IMAGE_PIXELS` as upstream sets it. */
export const DEFAULT_MAX_PIXELS = 933_120_000;

export class ImageDecodeError extends InputError {
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`${source}: ${detail}`);
    this.name = "ImageDecodeError";
  }
}

export interface DecodeOptions {
  /** refuse images with more pixels than this (default: PIL's limit as upstream sets it) */
  maxPixels?: number;
  /** name used in error messages when the input is a buffer */
  name?: string;
}

export async function decodeRgb(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const name = opts.name ?? (typeof input === "string" ? input : "image");
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const sharp = await loadSharp();
  // failOn "truncated": a cut-off file is an error here, not a silently grey bottom half
  const open = (): Sharp => sharp(input, { failOn: "truncated", limitInputPixels: false, ignoreIcc: true, pages: 1, page: 0 });
  let meta;
  try {
    meta = await open().metadata();
  } catch (err) {
    throw new ImageDecodeError(name, `not a readable image (${firstLine(err)})`);
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width * height > maxPixels) {
    throw new ImageDecodeError(name, `${width}×${height} = ${width * height} pixels exceeds the limit of ${maxPixels} (raise it with --max-pixels if you trust this file)`);
  }
  try {
    if (meta.depth === "ushort" && (meta.space === "grey16" || meta.space === "b-w")) {
      const { data, info } = await open().toColourspace("grey16").raw({ depth: "ushort" }).toBuffer({ resolveWithObject: true });
      const src = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
      const out = new Uint8Array(info.width * info.height * 3);
      for (let i = 0; i < src.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = Math.min(255, src[i]!);
      return { width: info.width, height: info.height, data: out };
    }
    const { data, info } = await open().removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (err) {
    throw new ImageDecodeError(name, `cannot decode (${firstLine(err)})`);
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "unknown error";
}

/**
 * Lossless WebP, as upstream saves the perturbed test set. The pixels are the same at any effort
 * (0-6); effort trades encoding time for file size: on 256×256 photos effort 0 is ~20× faster than
 * libwebp's default 4 and the files ~13% larger.
 */
export async function encodeLosslessWebp(img: RgbImage, effort = 0): Promise<Buffer> {
  const sharp = await loadSharp();
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).webp({ lossless: true, effort }).toBuffer();
}
