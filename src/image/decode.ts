/**
 * Decoding to 8-bit RGB the way upstream does with PIL's `Image.open(f).convert("RGB")`:
 * no EXIF auto-rotation, embedded colour profiles ignored, alpha dropped (not composited),
 * greyscale and palette images expanded, 16-bit RGB reduced to its high byte, 16-bit greyscale
 * clipped to 255 (PIL's "I" → "RGB" conversion), CMYK by PIL's formula without a colour profile,
 * the first frame of an animation.
 *
 * Hostile input: a path must be a regular file (a FIFO would block forever), and only raster
 * formats known by their signature reach libvips (an SVG or PDF would be rendered at whatever size
 * it declares); corrupt data and images past the pixel limit are errors (see inputOptions).
 */
import { promises as fsp, readFileSync } from "node:fs";
import type { Metadata, Sharp } from "sharp";
import { statRegularFile, statRegularFileSync } from "../util/fs.js";
import { SNIFF_BYTES, sniffImageFormat, type ImageFormat } from "./format.js";
import { inputOptions, loadSharp } from "./sharp.js";
import { codecAddon } from "./codec.js";
import { type EncodedImage, encodedPipeline } from "./compress.js";
import { crop } from "./geometry.js";
import type { Box, ImageSource, RgbImage } from "./types.js";
import { InputError } from "../util/errors.js";

/**
 * The most pixels a decoded image may have unless --max-pixels says otherwise: 8192×8192 (192 MiB
 * as 8-bit RGB). ImagiNet's images are at most a few thousand pixels a side; upstream raises PIL's
 * limit to 933 Mpx, but a file declaring that many is far more likely hostile than a photo.
 */
export const DEFAULT_MAX_PIXELS = 1 << 26;

export class ImageDecodeError extends InputError {
  constructor(
    readonly source: string,
    detail: string,
    /** why: not a decodable raster image, or past the pixel limit (the server answers each with its own status) */
    readonly reason: "unreadable" | "too_many_pixels" = "unreadable",
  ) {
    super(`${source}: ${detail}`);
    this.name = "ImageDecodeError";
  }
}

export interface DecodeOptions {
  /** refuse images with more pixels than this (default DEFAULT_MAX_PIXELS) */
  maxPixels?: number;
  /** name used in error messages when the input is a buffer */
  name?: string;
  /**
   * Read the file and decode a JPEG with the codec addon (codec.ts), if built, on the calling
   * thread: a box skips the rows below it and the columns and rows outside it are never
   * converted. The test-set builder's workers ask for it; elsewhere libvips decodes off the event loop.
   */
  blockingJpeg?: boolean;
}

export async function decodeRgb(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  return (await openImage(input, opts)).decode();
}

/**
 * Reads an image's header (checking its signature and the pixel limit): its size, and a decoder of
 * all its pixels or of a box of them, as `decodeRgb` would give them and then cropped. A box costs
 * less than the whole: libvips still decodes the file, but converts and copies out only the box
 * (measured: about half the CPU time of the whole on 2000 × 1335 JPEGs).
 */
export async function openImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<ImageSource> {
  const name = opts.name ?? (typeof input === "string" ? input : "image");
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  // on the calling thread: each asynchronous file operation costs more CPU than reading the file
  if (opts.blockingJpeg && typeof input === "string") input = readInputSync(input, name);
  const format = await sniffInput(input, name);
  if (format === null) {
    throw new ImageDecodeError(name, "not a readable image (no raster image signature: JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF or HEIF expected)");
  }
  if (format === "jpeg" && opts.blockingJpeg) {
    const jpeg = await openJpegWithAddon(input, name, maxPixels);
    if (jpeg) return jpeg;
  }
  const sharp = await loadSharp();
  const options = { ...inputOptions(maxPixels), ignoreIcc: true, pages: 1, page: 0 };
  let meta: Metadata;
  try {
    // the header only, without libvips' limit, so that an image past it gets the message below
    meta = await sharp(input, { ...options, limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageDecodeError(name, `not a readable image (${firstLine(err)})`);
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  checkPixels(name, width, height, maxPixels);
  const decode = async (box?: Box): Promise<RgbImage> => {
    checkBox(name, width, height, box);
    try {
      const special = await decodeSpecial(() => sharp(input, options), meta);
      if (special) return box ? crop(special, box.x, box.y, box.width, box.height) : special;
      let pipeline = sharp(input, options);
      // before any other operation: sharp's pre-resize extraction
      if (box) pipeline = pipeline.extract({ left: box.x, top: box.y, width: box.width, height: box.height });
      const { data, info } = await pipeline.removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
      return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
    } catch (err) {
      throw new ImageDecodeError(name, `cannot decode (${firstLine(err)})`);
    }
  };
  return { width, height, decode };
}

function checkPixels(name: string, width: number, height: number, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new ImageDecodeError(
      name,
      `${width}×${height} = ${width * height} pixels exceeds the limit of ${maxPixels} (dataset verify and testset build take --max-pixels to raise it for files you trust)`,
      "too_many_pixels",
    );
  }
}

function checkBox(name: string, width: number, height: number, box: Box | undefined): void {
  if (box && (box.x < 0 || box.y < 0 || box.width < 1 || box.height < 1 || box.x + box.width > width || box.y + box.height > height)) {
    throw new RangeError(`${name}: box ${box.width}×${box.height}+${box.x}+${box.y} is outside the ${width}×${height} image`);
  }
}

/**
 * A JPEG opened on the codec addon, or null for libvips to open: no addon, a header libjpeg
 * refuses, CMYK/YCCK (PIL's own conversion, decodeSpecial), or no end-of-image marker at the end
 * (a truncated file, which a box decode stopping above the cut would not notice). A decode that
 * fails (corrupt data) is handed to libvips too, which decodes it or says why not.
 */
async function openJpegWithAddon(input: string | Uint8Array, name: string, maxPixels: number): Promise<ImageSource | null> {
  const addon = codecAddon();
  if (!addon) return null;
  const bytes = typeof input === "string" ? readInputSync(input, name) : input;
  const n = bytes.length;
  if (n < 4 || bytes[n - 2] !== 0xff || bytes[n - 1] !== 0xd9) return null;
  let header: ReturnType<typeof addon.jpegHeader>;
  try {
    header = addon.jpegHeader(bytes);
  } catch {
    return null;
  }
  if (header.colorSpace !== "ycbcr" && header.colorSpace !== "grey" && header.colorSpace !== "rgb") return null;
  const { width, height } = header;
  checkPixels(name, width, height, maxPixels);
  const decode = async (box?: Box): Promise<RgbImage> => {
    checkBox(name, width, height, box);
    const b = box ?? { x: 0, y: 0, width, height };
    try {
      return { width: b.width, height: b.height, data: addon.jpegDecode(bytes, b.x, b.y, b.width, b.height) };
    } catch {
      return (await openImage(bytes, { name, maxPixels })).decode(box);
    }
  };
  return { width, height, decode };
}

/** 16-bit greyscale and CMYK, which PIL converts its own way (see the top of this file); null for the rest. */
async function decodeSpecial(open: () => Sharp, meta: Metadata): Promise<RgbImage | null> {
  if (meta.depth === "ushort" && (meta.space === "grey16" || meta.space === "b-w")) {
    const { data, info } = await open().toColourspace("grey16").raw({ depth: "ushort" }).toBuffer({ resolveWithObject: true });
    const src = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
    const out = new Uint8Array(info.width * info.height * 3);
    for (let i = 0; i < src.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = Math.min(255, src[i]!);
    return { width: info.width, height: info.height, data: out };
  }
  if (meta.space === "cmyk") {
    // the ink values as PIL reads them (an Adobe JPEG's inverted ones un-inverted), not libvips' ICC conversion
    const { data, info } = await open().pipelineColourspace("cmyk").toColourspace("cmyk").raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`CMYK decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: cmykToRgb(data) };
  }
  return null;
}

/** A file's bytes, once it is known to be a regular file (a FIFO would block forever). */
function readInputSync(file: string, name: string): Buffer {
  try {
    statRegularFileSync(file);
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code ? new ImageDecodeError(name, `not a readable image (${code})`) : err;
  }
}

/** The input's format by its signature; a path is first checked to be a regular file. */
async function sniffInput(input: string | Uint8Array, name: string): Promise<ImageFormat | null> {
  if (typeof input !== "string") return sniffImageFormat(input.subarray(0, SNIFF_BYTES));
  let fh: fsp.FileHandle | undefined;
  try {
    await statRegularFile(input);
    fh = await fsp.open(input, "r");
    const head = new Uint8Array(SNIFF_BYTES);
    const { bytesRead } = await fh.read(head, 0, SNIFF_BYTES, 0);
    return sniffImageFormat(head.subarray(0, bytesRead));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code ? new ImageDecodeError(name, `not a readable image (${code})`) : err;
  } finally {
    await fh?.close();
  }
}

/**
 * PIL's CMYK → RGB (libImaging/Convert.c cmyk2rgb): R = (255 − K) − (C·(255 − K) / 255, rounded
 * as its MULDIV255 does), likewise G from M and B from Y; no colour profile.
 */
export function cmykToRgb(cmyk: Uint8Array): Uint8Array {
  const out = new Uint8Array((cmyk.length / 4) * 3);
  for (let i = 0, o = 0; i < cmyk.length; i += 4, o += 3) {
    const nk = 255 - cmyk[i + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = cmyk[i + c]! * nk + 128;
      out[o + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return out;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "unknown error";
}

/**
 * Lossless WebP, as upstream saves the perturbed test set. The pixels are the same at any effort
 * (0-6); effort trades encoding time for file size: on 256×256 photos effort 0 is ~20× faster than
 * libwebp's default 4 and the files ~13% larger. An image still encoded (a recipe's last round trip)
 * is decoded and re-encoded in one libvips pipeline: the same bytes, one call fewer. With the codec
 * addon, the system's libwebp encodes as Pillow does (quality 80, method = effort): the same pixels,
 * other bytes where its version differs from sharp's.
 */
export async function encodeLosslessWebp(img: RgbImage | EncodedImage, effort = 0): Promise<Buffer> {
  const addon = codecAddon();
  if (addon && "data" in img) {
    if (!Number.isInteger(effort) || effort < 0 || effort > 6) throw new RangeError(`bad WebP effort ${effort} (0..6)`);
    return addon.losslessWebp(img.data, img.width, img.height, effort);
  }
  const sharp = await loadSharp();
  const pipeline = "data" in img ? sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }) : await encodedPipeline(img);
  return pipeline.webp({ lossless: true, effort }).toBuffer();
}
