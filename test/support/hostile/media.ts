/**
 * Hostile media inputs: files a dataset, a `detect` folder or a downloaded checkpoint could hold to
 * hang, exhaust or fool the toolkit. `makeCorpus(dir)` writes each case under `dir/media/<case>/`.
 *
 * Dataset cases have `root/` (a dataset root holding ./imagenet_stylegan/ok.png, a valid image, and
 * the hostile files beside it) and `root/annotations/test_annotations_gan.txt` listing them all as
 * synthetic GAN images, so that `dataset verify`, `testset build` and `detect` can all be run on it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import sharp from "sharp";
import { torchSaveParts } from "../../../src/checkpoint/torch-write.js";
import { makeZip, type ZipItem } from "../zip.js";

export const GAN_FOLDER = "imagenet_stylegan";

/** A 64×64 noise PNG (noise, so that its IDAT is a real zlib stream worth corrupting). */
export async function noisePng(seed = 1): Promise<Buffer> {
  const px = Buffer.alloc(64 * 64 * 3);
  let x = seed;
  for (let i = 0; i < px.length; i++) px[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return sharp(px, { raw: { width: 64, height: 64, channels: 3 } })
    .png()
    .toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** Where the first IDAT chunk's data starts and how long it is. */
function idat(png: Buffer): { start: number; length: number } {
  const at = png.indexOf("IDAT", 8, "latin1");
  return { start: at + 4, length: png.readUInt32BE(at - 4) };
}

/** One byte in the middle of the IDAT data flipped; with `fixCrc` the chunk's CRC is made to match again. */
export function corruptIdat(png: Buffer, fixCrc: boolean): Buffer {
  const out = Buffer.from(png);
  const { start, length } = idat(out);
  out[start + (length >> 1)]! ^= 0xff;
  if (fixCrc) out.writeUInt32BE(zlib.crc32(out.subarray(start - 4, start + length)), start + length);
  return out;
}

/** A small PNG whose header declares width × height (its data stops after a few rows). */
export function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = zlib.deflateSync(Buffer.alloc((width * 3 + 1) * 4));
  return Buffer.concat([Buffer.from("\x89PNG\r\n\x1a\n", "latin1"), pngChunk("IHDR", ihdr), pngChunk("IDAT", rows), pngChunk("IEND", Buffer.alloc(0))]);
}

/** An SVG of a few bytes that declares 30000×30000 (libvips would render 3.6 GB of RGBA). */
export const SVG_BOMB = '<svg xmlns="http://www.w3.org/2000/svg" width="30000" height="30000"><rect width="100%" height="100%"/></svg>\n';

// ---------------------------------------------------------------------------------------------
// zip checkpoints

const ZERO_BLOCK = 1 << 24;

/**
 * A raw deflate stream of `blocks` × 16 MiB of zeros in about 16 kB per block: one fully flushed
 * block repeated (each starts afresh at a byte boundary), then an empty final block.
 */
export function zeroBomb(blocks: number): Buffer {
  const block = zlib.deflateRawSync(Buffer.alloc(ZERO_BLOCK), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  return Buffer.concat([...Array<Buffer>(blocks).fill(block), zlib.deflateRawSync(Buffer.alloc(0))]);
}

/** 255 × 16 MiB: about 4 GB, just under what a zip's 32-bit size fields can declare. */
export const BOMB_BYTES = 255 * ZERO_BLOCK;

/** data.pkl of torch.save({"w": zeros(4)}): one float32 storage "0" of 4 elements (16 bytes). */
export function smallStateDictPickle(): Buffer {
  const parts = torchSaveParts({ w: { dtype: "f32", shape: [4], data: new Float32Array(4) } });
  // storedZip's parts: local header, name, padding, data for each entry; data.pkl comes first
  if (parts[1]!.toString() !== "archive/data.pkl") throw new Error("torchSaveParts changed its layout");
  return parts[3]!;
}

const deflated = (data: Buffer): Omit<ZipItem, "name"> => ({ data: zlib.deflateRawSync(data), deflated: true, declaredSize: data.length });

/** The four checkpoint cases: archive.pth in each folder. */
function checkpoints(): Record<string, Buffer> {
  const pkl = smallStateDictPickle();
  const bomb = zeroBomb(255);
  const storage = (declaredSize: number): Buffer =>
    makeZip([
      { ...deflated(pkl), name: "archive/data.pkl" },
      { name: "archive/data/0", data: bomb, deflated: true, declaredSize },
    ]);
  return {
    // data.pkl honestly declares the 4 GB it inflates to
    "ckpt-pickle-declared-huge": makeZip([{ name: "archive/data.pkl", data: bomb, deflated: true, declaredSize: BOMB_BYTES }]),
    // data.pkl declares 1 kB and inflates to 4 GB
    "ckpt-pickle-inflates-past-declared": makeZip([{ name: "archive/data.pkl", data: bomb, deflated: true, declaredSize: 1024 }]),
    // the storage entry declares 4 GB where the pickle's storage is 4 float32 (16 bytes)
    "ckpt-storage-size-mismatch": storage(BOMB_BYTES),
    // the storage entry declares the pickle's 16 bytes and inflates to 4 GB
    "ckpt-storage-inflates-past-declared": storage(16),
  };
}

// ---------------------------------------------------------------------------------------------
// the corpus

/** A dataset root with ok.png and `files` (name → writer) under imagenet_stylegan/, all listed. */
async function datasetCase(caseDir: string, files: Record<string, (file: string) => void>): Promise<void> {
  const folder = path.join(caseDir, "root", GAN_FOLDER);
  mkdirSync(folder, { recursive: true });
  mkdirSync(path.join(caseDir, "root", "annotations"));
  writeFileSync(path.join(folder, "ok.png"), await noisePng());
  for (const [name, write] of Object.entries(files)) write(path.join(folder, name));
  const lines = ["ok.png", ...Object.keys(files)].map((n) => `./${GAN_FOLDER}/${n},1,0,0,1\n`);
  writeFileSync(path.join(caseDir, "root", "annotations", "test_annotations_gan.txt"), lines.join(""));
}

export const mkfifo = (file: string): void => void execFileSync("mkfifo", [file]);

/** Writes every case under `dir/media/<case>/` and returns the case names. */
export async function makeCorpus(dir: string): Promise<string[]> {
  const media = path.join(dir, "media");
  const cases: Record<string, (caseDir: string) => Promise<void> | void> = {
    "fifo-listed": (d) => datasetCase(d, { "fifo.png": mkfifo }),
    "device-and-folder-listed": (d) =>
      datasetCase(d, {
        "zero.png": (f) => symlinkSync("/dev/zero", f),
        "folder.png": (f) => mkdirSync(f),
      }),
    "corrupt-idat": async (d) => {
      const png = await noisePng(2);
      await datasetCase(d, {
        "bad-crc.png": (f) => writeFileSync(f, corruptIdat(png, false)),
        "bad-zlib.png": (f) => writeFileSync(f, corruptIdat(png, true)),
      });
    },
    "svg-bomb": (d) => datasetCase(d, { "bomb.png": (f) => writeFileSync(f, SVG_BOMB), "bomb.svg": (f) => writeFileSync(f, SVG_BOMB) }),
    "pixel-bomb": (d) => datasetCase(d, { "huge.png": (f) => writeFileSync(f, pngDeclaring(30000, 30000)) }),
    "symlinks-in-folder": async (d) => {
      const folder = path.join(d, "images");
      mkdirSync(path.join(folder, "sub"), { recursive: true });
      mkdirSync(path.join(d, "elsewhere"));
      writeFileSync(path.join(folder, "real.png"), await noisePng(3));
      writeFileSync(path.join(d, "elsewhere", "outside.png"), await noisePng(4));
      writeFileSync(path.join(d, "elsewhere", "only-via-folder-link.png"), await noisePng(5));
      mkfifo(path.join(d, "elsewhere", "fifo.png"));
      symlinkSync("../elsewhere/outside.png", path.join(folder, "link-to-file.png"));
      symlinkSync("../../elsewhere/fifo.png", path.join(folder, "sub", "link-to-fifo.png"));
      symlinkSync("../elsewhere/nothing.png", path.join(folder, "dangling.png"));
      symlinkSync("../elsewhere", path.join(folder, "link-to-folder"));
    },
  };
  for (const [name, make] of Object.entries(cases)) {
    mkdirSync(path.join(media, name), { recursive: true });
    await make(path.join(media, name));
  }
  const zips = checkpoints();
  for (const [name, zip] of Object.entries(zips)) {
    mkdirSync(path.join(media, name), { recursive: true });
    writeFileSync(path.join(media, name, "archive.pth"), zip);
  }
  return [...Object.keys(cases), ...Object.keys(zips)];
}

/**
 * The same PNG with one byte of pixel data changed: the last byte of the last row (no later byte is
 * predicted from it, so exactly one channel of one pixel differs), the IDAT re-deflated with a
 * matching CRC, every other chunk (a C2PA caBX included) kept as it was. Expects a single IDAT.
 */
export function onePixelByteChanged(png: Buffer): Buffer {
  const { start, length } = idat(png);
  const rows = zlib.inflateSync(png.subarray(start, start + length));
  rows[rows.length - 1]! ^= 0x01;
  return Buffer.concat([png.subarray(0, start - 8), pngChunk("IDAT", zlib.deflateSync(rows)), png.subarray(start + length + 4)]);
}
