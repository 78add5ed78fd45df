/** File encoding, the same settings for real and synthetic images (see plan.ts for the format policy). */
import { loadSharp } from "../../image/sharp.js";
import type { Item } from "./plan.js";
import type { Rendered } from "./render.js";

export async function encodeImage(it: Pick<Item, "format" | "quality">, img: Rendered): Promise<Buffer> {
  const sharp = await loadSharp();
  const s = sharp(img.rgb, { raw: { width: img.width, height: img.height, channels: 3 } });
  switch (it.format) {
    case "jpg":
      // as a camera writes: baseline, 4:2:0 chroma subsampling
      return s.jpeg({ quality: it.quality, chromaSubsampling: "4:2:0", mozjpeg: false }).toBuffer();
    case "webp":
      return s.webp({ quality: it.quality, effort: 1 }).toBuffer();
    default:
      return s.png({ compressionLevel: 3, adaptiveFiltering: false }).toBuffer();
  }
}
