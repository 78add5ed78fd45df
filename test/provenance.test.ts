/**
 * Provenance from real files: EXIF Software and XMP DigitalSourceType written by sharp (libvips),
 * and C2PA through the CAI's reader on a file without a manifest, on one whose manifest store (a PNG
 * caBX chunk) is malformed, and on assets signed by c2pa-rs itself (test/fixtures/c2pa, written by
 * scripts/fixtures/make_c2pa_signed.ts with a throwaway CA): as signed, with one pixel byte changed,
 * and read with that CA as trust anchor.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as zlib from "node:zlib";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { readC2pa } from "../src/provenance/c2pa.js";
import { readProvenance } from "../src/provenance/index.js";
import { digitalSourceTypeFromXmp, softwareFromExif } from "../src/provenance/metadata.js";
import { REPO } from "./helpers.js";
import { onePixelByteChanged } from "./support/hostile/media.js";

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

const C2PA_DIR = path.join(REPO, "test/fixtures/c2pa");
const signed = (name: string) => readFileSync(path.join(C2PA_DIR, name));

/** What the signed fixtures claim, as the reader reports it (scripts/fixtures/make_c2pa_signed.ts). */
const CLAIMS = {
  present: true,
  claimGenerator: "imaginet-fixture-generator 1.0",
  signer: { issuer: "imaginet tests", commonName: "imaginet test signer", time: null },
  actions: [{ action: "c2pa.created", digitalSourceType: TRAINED, softwareAgent: "imaginet-fixture-generator/1.0" }],
};

test("a C2PA-signed JPEG and PNG: the claim, the signature valid, the self-made signer not trusted", async () => {
  for (const name of ["signed.jpg", "signed.png"]) {
    const p = await readProvenance(signed(name));
    assert.deepEqual(p.c2pa, { ...CLAIMS, title: name, validationState: "Valid", signatureValid: true, signerTrusted: false, failures: ["signingCredential.untrusted"] }, name);
  }
});

test("the same PNG with one pixel byte changed: Invalid, the data hash no longer matches; it still decodes", async () => {
  const changed = onePixelByteChanged(signed("signed.png"));
  const [a, b] = await Promise.all([signed("signed.png"), changed].map((x) => sharp(x).raw().toBuffer()));
  assert.equal(a!.length, b!.length);
  assert.equal(
    a!.reduce((n, v, i) => n + (v === b![i] ? 0 : 1), 0),
    1,
    "exactly one byte of pixels differs",
  );
  const p = await readProvenance(changed);
  assert.deepEqual(p.c2pa, {
    ...CLAIMS,
    title: "signed.png",
    validationState: "Invalid",
    signatureValid: false,
    signerTrusted: false,
    failures: ["signingCredential.untrusted", "assertion.dataHash.mismatch"],
  });
});

test("with the fixtures' own CA as trust anchor the reader says Trusted: the certificates are ones C2PA accepts", async () => {
  const c = await readC2pa(signed("signed.jpg"), "image/jpeg", readFileSync(path.join(C2PA_DIR, "ca.pem"), "utf8"));
  assert.deepEqual(c, { ...CLAIMS, title: "signed.jpg", validationState: "Trusted", signatureValid: true, signerTrusted: true, failures: [] });
});
