/**
 * Provenance from real files: EXIF Software and XMP DigitalSourceType written by sharp (libvips),
 * and C2PA through the CAI's reader on a file without a manifest and on one whose manifest store
 * (a PNG caBX chunk) is malformed. (A signed C2PA asset is not tested: c2pa-wasm signs only in a
 * browser worker — it needs FileReaderSync — and no signed asset can be fetched offline.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as zlib from "node:zlib";
import sharp from "sharp";
import { readProvenance } from "../src/provenance/index.js";
import { digitalSourceTypeFromXmp, softwareFromExif } from "../src/provenance/metadata.js";

const TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
const XMP = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"><Iptc4xmpExt:DigitalSourceType>${TRAINED}</Iptc4xmpExt:DigitalSourceType></rdf:Description></rdf:RDF></x:xmpmeta>`;

const base = () => sharp({ create: { width: 16, height: 12, channels: 3, background: { r: 10, g: 120, b: 200 } } });

test("EXIF Software and XMP DigitalSourceType as written by libvips, in JPEG, PNG and WebP", async () => {
  for (const format of ["jpeg", "png", "webp"] as const) {
    const bytes = await base()
      .withExif({ IFD0: { Software: "Imaginet Generator 2.1" } })
      .withXmp(XMP)
      .toFormat(format)
      .toBuffer();
    const p = await readProvenance(bytes);
    assert.deepEqual(p, { c2pa: { present: false }, digitalSourceType: { uri: TRAINED, term: "trainedAlgorithmicMedia" }, software: "Imaginet Generator 2.1" }, format);
  }
});

test("an image with no metadata claims nothing", async () => {
  assert.deepEqual(await readProvenance(await base().png().toBuffer()), { c2pa: { present: false }, digitalSourceType: null, software: null });
});

test("DigitalSourceType as an attribute and as an rdf:resource; EXIF in both byte orders, a short value inside its entry", () => {
  assert.equal(digitalSourceTypeFromXmp(`<rdf:Description Iptc4xmpExt:DigitalSourceType="${TRAINED}"/>`)?.term, "trainedAlgorithmicMedia");
  assert.equal(digitalSourceTypeFromXmp(`<Iptc4xmpExt:DigitalSourceType rdf:resource="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"/>`)?.term, "digitalCapture");
  assert.equal(digitalSourceTypeFromXmp("<x:xmpmeta/>"), null);
  for (const le of [true, false]) {
    const b = Buffer.alloc(6 + 8 + 2 + 12 + 4);
    b.write("Exif\0\0", 0, "latin1");
    b.write(le ? "II" : "MM", 6, "latin1");
    const u16 = (v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
    const u32 = (v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
    u16(42, 8);
    u32(8, 10);
    u16(1, 14);
    u16(0x0131, 16);
    u16(2, 18);
    u32(3, 20);
    b.write("ab\0", 24, "latin1");
    assert.equal(softwareFromExif(b), "ab");
    assert.equal(softwareFromExif(b.subarray(0, 20)), null, "cut inside the entry");
  }
});

/** A PNG with a caBX chunk (where C2PA keeps the manifest store in PNG) holding bytes that are not JUMBF. */
async function pngWithBrokenManifest(): Promise<Buffer> {
  const png = await base().png().toBuffer();
  const data = Buffer.from("jumb but not a manifest store at all, just bytes", "latin1");
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write("caBX", 4, "latin1");
  data.copy(chunk, 8);
  chunk.writeUInt32BE(zlib.crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  const iend = png.length - 12;
  return Buffer.concat([png.subarray(0, iend), chunk, png.subarray(iend)]);
}

test("a malformed C2PA manifest store is reported as present and unreadable, not as absent", async () => {
  const p = await readProvenance(await pngWithBrokenManifest());
  assert.equal(p.c2pa.present, true);
  assert.ok("error" in p.c2pa && p.c2pa.error.length > 0, JSON.stringify(p.c2pa));
});
