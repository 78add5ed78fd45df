/** sharp, loaded on first use: it costs ~0.2 s at start-up, which commands that never decode should not pay. */
import type sharpType from "sharp";
import type { SharpOptions } from "sharp";

let loaded: Promise<typeof sharpType> | undefined;
let oneThread = false;

export function loadSharp(): Promise<typeof sharpType> {
  loaded ??= import("sharp").then((m) => {
    if (oneThread) m.default.concurrency(1);
    return m.default;
  });
  return loaded;
}

/**
 * One libvips thread from now on, applied when sharp loads (a worker whose parallelism is the
 * worker count; with the codec addon it may never need sharp, and importing it costs ~0.1 s of CPU).
 */
export function oneSharpThread(): void {
  oneThread = true;
  if (loaded) void loaded.then((sharp) => sharp.concurrency(1));
}

/**
 * The options every decode of an input file uses (`imaginet detect`, `testset build`,
 * `dataset verify --deep`, training), so that they agree on what is readable:
 * - failOn "error": truncated files and corrupt data (a PNG's bad CRC or zlib stream, a JPEG cut
 *   off) are errors, as Pillow refuses them; libjpeg's mere warnings (extraneous bytes) are not.
 * - limitInputPixels: the pixel limit, checked by libvips from the header before decoding.
 */
export function inputOptions(maxPixels: number): SharpOptions {
  return { failOn: "error", limitInputPixels: maxPixels };
}
