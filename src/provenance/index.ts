/**
 * Provenance beside the pixels: what an image's Content Credentials (C2PA) and its own metadata
 * (XMP DigitalSourceType, EXIF Software) claim. A separate signal: never mixed into a detector's score.
 */
import { loadSharp } from "../image/sharp.js";
import { SNIFF_BYTES, sniffImageFormat, type ImageFormat } from "../image/format.js";
import { readC2pa, type C2paFindings } from "./c2pa.js";
import { digitalSourceTypeFromXmp, softwareFromExif, type DigitalSourceType } from "./metadata.js";

export interface Provenance {
  c2pa: C2paFindings;
  digitalSourceType: DigitalSourceType | null;
  software: string | null;
}

/** The formats c2pa-rs reads a manifest from, by their media type. */
const C2PA_MIME: Partial<Record<ImageFormat, string>> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
  tiff: "image/tiff",
  avif: "image/avif",
  heif: "image/heif",
};

/** An image's provenance claims, from its bytes (an image the decoder already accepted). */
export async function readProvenance(bytes: Uint8Array): Promise<Provenance> {
  const format = sniffImageFormat(bytes.subarray(0, SNIFF_BYTES));
  const mime = format ? C2PA_MIME[format] : undefined;
  const sharp = await loadSharp();
  const meta = await sharp(bytes, { limitInputPixels: false })
    .metadata()
    .catch(() => undefined);
  const xmp = meta?.xmpAsString ?? meta?.xmp?.toString("utf8");
  return {
    c2pa: mime ? await readC2pa(bytes, mime) : { present: false },
    digitalSourceType: xmp ? digitalSourceTypeFromXmp(xmp) : null,
    software: meta?.exif ? softwareFromExif(meta.exif) : null,
  };
}
