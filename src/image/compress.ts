/**
 * JPEG / WebP compression round trips as ImagiNet's albumentations `ImageCompression` does them
 * through OpenCV (`cv2.imencode` then `cv2.imdecode`), reproduced with sharp (libvips).
 *
 * JPEG: sharp's libjpeg is mozjpeg, but libvips resets it to the libjpeg-compatible profile
 * (JCP_FASTEST): Annex K tables scaled by libjpeg's quality formula with baseline clamping, ISLOW
 * DCT, no trellis quantisation. We ask for 4:2:0 explicitly (libvips would otherwise drop chroma
 * subsampling at q ≥ 90, OpenCV never does), no progressive, no overshoot deringing. Huffman
 * optimisation is lossless so it is left to sharp. Decoding is libjpeg's default (ISLOW IDCT,
 * fancy upsampling), as `cv2.imdecode`.
 *
 * WebP: libwebp lossy with the default preset at the given quality, method 4, no sharp YUV, as
 * OpenCV's `WebPEncodeBGR`; quality > 100 means lossless, as in OpenCV.
 *
 * `swapRB` (default true) reproduces albumentations feeding an RGB array to OpenCV, which takes it
 * as BGR: R and B are swapped before encoding and swapped back after decoding, so the codec's
 * colour conversion sees the channels the way OpenCV's did.
 *
 * With the codec addon (codec.ts) a round trip runs on the very libjpeg-turbo and libwebp that
 * Debian's cv2 links, called as OpenCV calls them (the array handed over as BGR when `swapRB`).
 */
import type sharpType from "sharp";
import type { Sharp } from "sharp";
import { codecAddon } from "./codec.js";
import { loadSharp } from "./sharp.js";
import type { RgbImage } from "./types.js";

export type Codec = "jpeg" | "webp";

export interface RoundTripOptions {
  /** Swap R and B around the codec, as OpenCV does with albumentations' RGB arrays (default true). */
  swapRB?: boolean;
}

/** A copy of `data` (interleaved RGB) with R and B exchanged. */
export function swapRedBlue(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i + 2 < data.length; i += 3) {
    out[i] = data[i + 2]!;
    out[i + 1] = data[i + 1]!;
    out[i + 2] = data[i]!;
  }
  return out;
}

function checkImage(img: RgbImage): void {
  if (img.width < 1 || img.height < 1 || img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`bad RgbImage ${img.width}×${img.height} with ${img.data.length} bytes`);
  }
}

/** OpenCV's clamp of IMWRITE_JPEG_QUALITY (0..100; 0 is allowed by libjpeg and means q=1 scaling). */
function jpegQuality(q: number): number {
  if (!Number.isFinite(q)) throw new RangeError(`bad JPEG quality ${q}`);
  return Math.min(100, Math.max(1, Math.round(q)));
}

/** Encodes RGB pixels (taken as they are) as a baseline 4:2:0 JPEG the way OpenCV/libjpeg-turbo would. */
export async function encodeJpeg(img: RgbImage, quality: number): Promise<Buffer> {
  checkImage(img);
  const sharp = await loadSharp();
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({
      quality: jpegQuality(quality),
      chromaSubsampling: "4:2:0",
      progressive: false,
      trellisQuantisation: false,
      overshootDeringing: false,
      optimiseScans: false,
      optimiseCoding: false, // as OpenCV (IMWRITE_JPEG_OPTIMIZE=0); lossless either way, and faster
      quantisationTable: 0,
    })
    .toBuffer();
}

/** OpenCV's clamp of IMWRITE_WEBP_QUALITY: at least 1; above 100 (returned as 101) means lossless. */
function webpQuality(q: number): number {
  if (!Number.isFinite(q)) throw new RangeError(`bad WebP quality ${q}`);
  return q > 100 ? 101 : Math.max(1, Math.round(q));
}

/** Encodes RGB pixels as WebP the way OpenCV does: lossy at `quality` (1..100), lossless above 100. */
export async function encodeWebp(img: RgbImage, quality: number): Promise<Buffer> {
  checkImage(img);
  const q = webpQuality(quality);
  const sharp = await loadSharp();
  const pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  if (q > 100) return pipeline.webp({ lossless: true }).toBuffer();
  return pipeline
    .webp({
      quality: q,
      alphaQuality: 100,
      lossless: false,
      nearLossless: false,
      smartSubsample: false,
      preset: "default",
      effort: 4,
    })
    .toBuffer();
}

/** The libvips pipeline that decodes an encoded image to 8-bit RGB without colour management. */
function decodePipeline(sharp: typeof sharpType, buf: Uint8Array): Sharp {
  return sharp(buf, { failOn: "error" }).removeAlpha().toColourspace("srgb");
}

/** Decodes an image file to 8-bit RGB without colour management. */
export async function decodeToRgb(buf: Uint8Array): Promise<RgbImage> {
  const { data, info } = await decodePipeline(await loadSharp(), buf)
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels, expected 3`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/**
 * The first half of a round trip: what the codec wrote. Its pixels are the codec's decode of
 * `encoded`, R and B swapped back when `swapRB`; a caller that only encodes them again gives them
 * to `encodedPipeline`, which decodes and re-encodes in one libvips pipeline.
 */
export interface EncodedImage {
  width: number;
  height: number;
  encoded: Buffer;
  swapRB: boolean;
}

export async function compressEncode(img: RgbImage, codec: Codec, quality: number, opts: RoundTripOptions = {}): Promise<EncodedImage> {
  const swap = opts.swapRB ?? true;
  const input = swap ? { ...img, data: swapRedBlue(img.data) } : img;
  const encoded = codec === "jpeg" ? await encodeJpeg(input, quality) : await encodeWebp(input, quality);
  return { width: img.width, height: img.height, encoded, swapRB: swap };
}

/** The pixels of an EncodedImage. */
export async function decodeEncoded(e: EncodedImage): Promise<RgbImage> {
  const out = await decodeToRgb(e.encoded);
  if (out.width !== e.width || out.height !== e.height) throw new Error("codec changed the image size");
  return e.swapRB ? { ...out, data: swapRedBlue(out.data) } : out;
}

/** R and B exchanged, for recomb (exact on 8-bit values: 0/1 weights, one term per band). */
const SWAP_RB: [[number, number, number], [number, number, number], [number, number, number]] = [
  [0, 0, 1],
  [0, 1, 0],
  [1, 0, 0],
];

/** A libvips pipeline that yields the pixels of an EncodedImage, to be saved (a saver casts back to 8 bits). */
export async function encodedPipeline(e: EncodedImage): Promise<Sharp> {
  const pipeline = decodePipeline(await loadSharp(), e.encoded);
  return e.swapRB ? pipeline.recomb(SWAP_RB) : pipeline;
}

/** `cv2.imdecode(cv2.imencode(ext, img, (flag, quality))[1], IMREAD_UNCHANGED)` as albumentations does it. */
export async function compressRoundTrip(img: RgbImage, codec: Codec, quality: number, opts: RoundTripOptions = {}): Promise<RgbImage> {
  const addon = codecAddon();
  if (!addon) return decodeEncoded(await compressEncode(img, codec, quality, opts));
  checkImage(img);
  const q = codec === "jpeg" ? jpegQuality(quality) : webpQuality(quality);
  return { width: img.width, height: img.height, data: addon.compressRoundTrip(img.data, img.width, img.height, codec, q, opts.swapRB ?? true) };
}

/**
 * A round trip for a caller that may only encode the result: its pixels with the codec addon (its
 * decode costs little there), else its encoded half, which decode.ts encodeLosslessWebp decodes
 * and saves in one libvips pipeline.
 */
export async function compressForEncode(img: RgbImage, codec: Codec, quality: number, opts: RoundTripOptions = {}): Promise<RgbImage | EncodedImage> {
  return codecAddon() ? compressRoundTrip(img, codec, quality, opts) : compressEncode(img, codec, quality, opts);
}

/** libjpeg's Annex K luminance table (natural order). */
const STD_LUMINANCE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
  49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/** Zigzag position → natural index (`jpeg_natural_order`). */
const NATURAL_ORDER = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45,
  38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/** libjpeg's `jpeg_quality_scaling` + `jpeg_add_quant_table` for the luminance table (natural order). */
export function libjpegLuminanceTable(quality: number, forceBaseline = true): number[] {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - q * 2;
  return STD_LUMINANCE.map((b) => {
    let t = Math.floor((b * scale + 50) / 100);
    if (t <= 0) t = 1;
    if (t > 32767) t = 32767;
    if (forceBaseline && t > 255) t = 255;
    return t;
  });
}

/** The luminance (id 0) quantisation table of a JPEG in natural order, or null if there is none. */
export function readJpegLuminanceTable(buf: Uint8Array): number[] | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  let p = 2;
  while (p + 4 <= buf.length) {
    if (buf[p] !== 0xff) return null;
    const marker = buf[p + 1]!;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // EOI / SOS before any luminance DQT
    const len = (buf[p + 2]! << 8) | buf[p + 3]!;
    const end = p + 2 + len;
    if (len < 2 || end > buf.length) return null;
    if (marker === 0xdb) {
      let q = p + 4;
      while (q < end) {
        const pq = buf[q]! >> 4;
        const tq = buf[q]! & 15;
        const size = pq ? 128 : 64;
        if (q + 1 + size > end) return null;
        if (tq === 0) {
          const table = new Array<number>(64);
          for (let i = 0; i < 64; i++) {
            const v = pq ? (buf[q + 1 + 2 * i]! << 8) | buf[q + 2 + 2 * i]! : buf[q + 1 + i]!;
            table[NATURAL_ORDER[i]!] = v;
          }
          return table;
        }
        q += 1 + size;
      }
    }
    p = end;
  }
  return null;
}

/**
 * The libjpeg quality (1..100) that made a JPEG, from its luminance quantisation table: exact when
 * the table is libjpeg's scaled Annex K table (with or without baseline clamping); otherwise the
 * quality whose table is closest (mean absolute difference relative to the table). Null when the
 * file has no luminance table.
 */
export function estimateJpegQuality(buf: Uint8Array): number | null {
  const table = readJpegLuminanceTable(buf);
  if (!table) return null;
  let best = 0;
  let bestErr = Infinity;
  for (let q = 100; q >= 1; q--) {
    for (const baseline of [true, false]) {
      const ref = libjpegLuminanceTable(q, baseline);
      let err = 0;
      for (let i = 0; i < 64; i++) err += Math.abs(Math.log(Math.max(1, table[i]!) / ref[i]!));
      if (err === 0) return q;
      if (err < bestErr) {
        bestErr = err;
        best = q;
      }
    }
  }
  return best;
}
