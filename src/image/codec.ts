/**
 * The codec addon (native/build/imaginet_codec.node, built by scripts/build-codec.mjs from
 * native/codec/): JPEG decode of a box, the compression round trip, the lossless WebP save and the
 * Lanczos-4 resize kernel on the system's libjpeg-turbo and libwebp, the libraries Debian's cv2 and
 * Pillow use. Optional: when it is not built or IMAGINET_CODEC=sharp, the same functions run on
 * sharp (libvips) and in JavaScript with the same pixels. Its calls are synchronous: they block the
 * thread they run on (the test-set builder's workers; small images elsewhere).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export interface CodecAddon {
  jpegHeader(bytes: Uint8Array): { width: number; height: number; colorSpace: "grey" | "ycbcr" | "rgb" | "cmyk" | "ycck" | "other" };
  /** RGB bytes of the box, as a whole decode would give them (libjpeg defaults: ISLOW IDCT, fancy upsampling); throws on a truncated file */
  jpegDecode(bytes: Uint8Array, x: number, y: number, width: number, height: number): Uint8Array;
  /** resize.ts's Lanczos-4 tables applied by OpenCV's fixed-point kernel */
  resizeLanczos4(src: Uint8Array, sw: number, sh: number, dw: number, dh: number, xFirst: Int32Array, xCoef: Int16Array, yIdx: Int32Array, yCoef: Int16Array): Uint8Array;
  /** cv2.imencode + cv2.imdecode: `bgr` hands the bytes to the codec as BGR, as OpenCV does */
  compressRoundTrip(rgb: Uint8Array, width: number, height: number, codec: "jpeg" | "webp", quality: number, bgr: boolean): Uint8Array;
  /** Pillow's save(…, "WEBP", lossless=True, method) */
  losslessWebp(rgb: Uint8Array, width: number, height: number, method: number): Buffer;
}

const ADDON = path.join("native", "build", "imaginet_codec.node");

let loaded: CodecAddon | null | undefined;

/**
 * The addon, or null when it is not built, does not load, or IMAGINET_CODEC=sharp asks for sharp
 * (read on every call, so that a test can compare both paths in one process).
 */
export function codecAddon(): CodecAddon | null {
  if (process.env.IMAGINET_CODEC === "sharp") return null;
  if (loaded !== undefined) return loaded;
  loaded = null;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const p = path.join(dir, ADDON);
    if (!existsSync(p)) continue;
    try {
      loaded = createRequire(import.meta.url)(p) as CodecAddon;
    } catch {
      // built against other system libraries: the sharp path gives the same pixels
    }
    break;
  }
  return loaded;
}
