/**
 * Browsers always apply a JPEG's EXIF orientation when they decode it (createImageBitmap's
 * imageOrientation cannot turn it off), while the server, as upstream's PIL, reads the stored pixels
 * unrotated. This reads the orientation tag and undoes it with the project's own rot90/flip.
 */
import { flip, rot90 } from "../src/image/geometry.js";
import type { RgbImage } from "../src/image/types.js";

/** The EXIF orientation (1-8) of a JPEG, 1 when it has none or is not a JPEG. */
export function jpegOrientation(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint16(0) !== 0xffd8) return 1;
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1]!;
    const length = view.getUint16(at + 2);
    // APP1 holding "Exif\0\0" then a TIFF header
    if (marker === 0xe1 && at + 10 <= bytes.length && view.getUint32(at + 4) === 0x45786966 && view.getUint16(at + 8) === 0)
      return tiffOrientation(view, at + 10, Math.min(bytes.length, at + 2 + length));
    if (marker === 0xda || marker === 0xd9) break; // image data: no more metadata segments
    at += 2 + length;
  }
  return 1;
}

function tiffOrientation(view: DataView, tiff: number, end: number): number {
  if (tiff + 8 > end) return 1;
  const little = view.getUint16(tiff) === 0x4949;
  const u16 = (o: number) => view.getUint16(o, little);
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd + 2 > end) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) break;
    if (u16(entry) === 0x0112) {
      const v = u16(entry + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** The stored pixels back from a decode that applied `orientation`: each transform inverted. */
export function undoOrientation(img: RgbImage, orientation: number): RgbImage {
  switch (orientation) {
    case 2:
      return flip(img, 1);
    case 3:
      return rot90(img, 2);
    case 4:
      return flip(img, 0);
    case 5: // transpose, its own inverse
      return flip(rot90(img, 1), 0);
    case 6: // shown turned clockwise: turn back counter-clockwise
      return rot90(img, 1);
    case 7: // transverse, its own inverse
      return flip(rot90(img, 1), 1);
    case 8:
      return rot90(img, 3);
    default:
      return img;
  }
}
