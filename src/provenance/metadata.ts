/**
 * What an image's own metadata claims about its origin: IPTC's DigitalSourceType in its XMP packet
 * (https://cv.iptc.org/newscodes/digitalsourcetype/, e.g. trainedAlgorithmicMedia) and EXIF's
 * Software tag (IFD0, 0x0131). Claims only: anyone can write them.
 */

export interface DigitalSourceType {
  /** the IPTC NewsCodes URI as written */
  uri: string;
  /** its last segment: trainedAlgorithmicMedia, digitalCapture, compositeSynthetic, … */
  term: string;
}

/** Iptc4xmpExt:DigitalSourceType as an attribute, an element's text, or an rdf:resource. */
const DST = /DigitalSourceType(?:\s*=\s*"([^"]*)"|\s+rdf:resource\s*=\s*"([^"]*)"\s*\/?>|\s*>\s*([^<\s][^<]*?)\s*<)/;

export function digitalSourceTypeFromXmp(xmp: string): DigitalSourceType | null {
  const m = DST.exec(xmp);
  const uri = (m?.[1] ?? m?.[2] ?? m?.[3])?.trim();
  if (!uri) return null;
  return { uri, term: uri.replace(/\/+$/, "").split("/").at(-1) ?? uri };
}

const SOFTWARE_TAG = 0x0131;
const ASCII = 2;

/**
 * EXIF's Software (IFD0 tag 0x0131, ASCII) from an EXIF block as libvips gives it ("Exif\0\0" then
 * a TIFF header); null when absent or malformed (every offset is checked against the block).
 */
export function softwareFromExif(exif: Uint8Array): string | null {
  const b = Buffer.from(exif.buffer, exif.byteOffset, exif.byteLength);
  const tiff = b.subarray(0, 6).toString("latin1") === "Exif\0\0" ? 6 : 0;
  if (b.length < tiff + 8) return null;
  const order = b.toString("latin1", tiff, tiff + 2);
  if (order !== "II" && order !== "MM") return null;
  const le = order === "II";
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const ifd = tiff + u32(tiff + 4);
  if (ifd + 2 > b.length) return null;
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > b.length) return null;
    if (u16(e) !== SOFTWARE_TAG || u16(e + 2) !== ASCII) continue;
    const count = u32(e + 4);
    const at = count <= 4 ? e + 8 : tiff + u32(e + 8);
    if (at + count > b.length) return null;
    const text = b
      .toString("latin1", at, at + count)
      .replace(/\0.*$/s, "")
      .trim();
    return text === "" ? null : text;
  }
  return null;
}
