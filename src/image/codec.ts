/**
 * The codec addon (native/build/imaginet_codec.node, built by scripts/build-codec.mjs from
 * native/codec/): JPEG decode of a box, the compression round trip, the lossless WebP save and the
 * Lanczos-4 resize kernel on the system's libjpeg-turbo and libwebp, the libraries Debian's cv2 and
 * Pillow use. Optional: when it is not built or IMAGINET_CODEC=sharp, the same functions run on
 * sharp (libvips) and in JavaScript with the same pixels. Its calls are synchronous: they block the
 * thread they run on (the test-set builder's workers; small images elsewhere).
 */
import { lanczos4Tables, resize, type ResizeInterpolation } from "./resize.js";
import type { RgbImage } from "./types.js";

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

let loaded: CodecAddon | null | undefined;

/**
 * The addon, or null when it is not built, does not load, or IMAGINET_CODEC=sharp asks for sharp
 * (read on every call, so that a test can compare both paths in one process). Node's modules are
 * reached through process.getBuiltinModule (Node ≥ 20.16; before, and in the web demo's bundle of
 * the recipes, there is no addon), so that this file imports none.
 */
export function codecAddon(): CodecAddon | null {
  if (globalThis.process?.env.IMAGINET_CODEC === "sharp") return null;
  if (loaded !== undefined) return loaded;
  loaded = null;
  const builtin = globalThis.process?.getBuiltinModule;
  if (!builtin) return loaded;
  const { existsSync } = builtin("node:fs");
  const { createRequire } = builtin("node:module");
  const path = builtin("node:path");
  const { fileURLToPath } = builtin("node:url");
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const p = path.join(dir, "native", "build", "imaginet_codec.node");
    if (!existsSync(p)) continue;
    try {
      loaded = createRequire(import.meta.url)(p) as CodecAddon;
    } catch {
      // built against other system libraries: the fallback gives the same pixels
    }
    break;
  }
  return loaded;
}

/**
 * resize.ts's `resize`, with its Lanczos-4 kernel run by the addon when built: the same tables and
 * integer arithmetic in C++, so the same pixels, about 3× faster. (resize.ts stays free of Node
 * modules: the web demo bundles it.)
 */
export function resizeOnAddon(img: RgbImage, width: number, height: number, interpolation: ResizeInterpolation): RgbImage {
  const addon = codecAddon();
  const { width: sw, height: sh } = img;
  const valid = [sw, sh, width, height].every((n) => Number.isInteger(n) && n > 0) && img.data.length === sw * sh * 3;
  if (!addon || interpolation !== "lanczos4" || !valid || (sw === width && sh === height)) return resize(img, width, height, interpolation);
  const t = lanczos4Tables(sw, sh, width, height);
  return { width, height, data: addon.resizeLanczos4(img.data, sw, sh, width, height, t.xFirst, t.xCoef, t.yIdx, t.yCoef) };
}
