/**
 * FFHQ as ImagiNet uses it: one public Drive file per image, listed in `ffhq_filenames.txt` as
 * `drive_id,file_name,md5`, where the md5 is upstream's `hashlib.md5(np.array(Image.open(f)))`:
 * the md5 of the decoded pixels (H×W×C uint8, row-major, channels interleaved, in the image's own mode).
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { loadSharp } from "../../image/sharp.js";
import { resolveInside } from "../../util/fs.js";
import { mapPool } from "../../util/pool.js";
import { downloadDriveFile, type DriveDownloadOptions } from "./drive.js";
import { ChecksumMismatchError, type ChecksumMismatch } from "./http.js";

export interface FfhqEntry {
  driveId: string;
  name: string;
  /** md5 of the decoded pixels, lower case */
  md5: string;
}

export interface FfhqOptions extends Pick<DriveDownloadOptions, "driveBase" | "rewriteUrl" | "retries" | "baseDelayMs" | "maxDelayMs" | "stallTimeoutMs" | "signal"> {
  /** the folder the images go to (`<root>/ffhq`) */
  dir: string;
  /** parallel downloads (default 8) */
  jobs?: number;
  /** re-check the pixel md5 of files already present (and fetch again those that fail) */
  verifyExisting?: boolean;
  /** called once per listed file when it is settled */
  onFile?: (name: string, outcome: "downloaded" | "skipped" | "failed") => void;
}

export interface FfhqResult {
  downloaded: number;
  skipped: number;
  failed: { name: string; reason: string }[];
}

const LINE = /^([A-Za-z0-9_-]+),([^,]+),([0-9a-fA-F]{32})$/;

export function parseFfhqList(text: string, file = "ffhq_filenames.txt"): FfhqEntry[] {
  const entries: FfhqEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "") continue;
    const m = LINE.exec(line);
    const name = m?.[2]?.trim();
    if (!m || !name || name.includes("/") || name.includes("\\") || name === "." || name === "..") {
      throw new Error(`${file}:${i + 1}: expected "drive_id,file_name,md5", got "${line.slice(0, 120)}"`);
    }
    entries.push({ driveId: m[1] as string, name, md5: (m[3] as string).toLowerCase() });
  }
  return entries;
}

/** md5 of the decoded 8-bit pixels, as numpy lays them out for a PIL image of the same mode. */
export async function pixelMd5(input: string | Buffer): Promise<string> {
  // A path is read here, not handed to sharp: libvips caches by file name, and a retried .part has the same name.
  const sharp = await loadSharp();
  const image = sharp(typeof input === "string" ? await fsp.readFile(input) : input, { ignoreIcc: true });
  const meta = await image.metadata();
  if (meta.depth !== "uchar" || (meta.bitsPerSample !== undefined && meta.bitsPerSample !== 8)) {
    throw new Error(`unsupported image: ${meta.bitsPerSample ?? meta.depth}-bit samples (only 8-bit images can be checked)`);
  }
  // PIL keeps palette images as indices, which no decoder here returns: their md5 could never match.
  if (meta.isPalette) throw new Error("unsupported image: palette-based (only RGB, RGBA and greyscale images can be checked)");
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  const pixels = meta.channels < info.channels ? greyFromRgb(data, info.channels, meta.channels) : data;
  return createHash("md5").update(pixels).digest("hex");
}

/** libvips hands greyscale out as RGB(A) with equal bands; take one band (and alpha) back. */
function greyFromRgb(data: Buffer, from: number, to: number): Buffer {
  const n = data.length / from;
  const out = Buffer.allocUnsafe(n * to);
  for (let p = 0; p < n; p++) {
    out[p * to] = data[p * from] as number;
    if (to === 2) out[p * to + 1] = data[p * from + from - 1] as number;
  }
  return out;
}

export async function downloadFfhq(entries: readonly FfhqEntry[], opts: FfhqOptions): Promise<FfhqResult> {
  const result: FfhqResult = { downloaded: 0, skipped: 0, failed: [] };
  await fsp.mkdir(opts.dir, { recursive: true });
  await mapPool(entries, opts.jobs ?? 8, async (entry) => {
    let outcome: "downloaded" | "skipped" | "failed";
    try {
      outcome = await fetchOne(entry, opts);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      result.failed.push({ name: entry.name, reason: err instanceof Error ? err.message : String(err) });
      outcome = "failed";
    }
    if (outcome === "downloaded") result.downloaded++;
    if (outcome === "skipped") result.skipped++;
    opts.onFile?.(entry.name, outcome);
  });
  return result;
}

async function fetchOne(entry: FfhqEntry, opts: FfhqOptions): Promise<"downloaded" | "skipped"> {
  const dest = resolveInside(opts.dir, entry.name);
  if (!dest) throw new Error(`invalid file name "${entry.name}"`);
  if (!opts.verifyExisting && (await isFile(dest))) return "skipped";
  const verify = (file: string): Promise<ChecksumMismatch | undefined> => checkPixels(file, entry.md5);
  const { driveBase, rewriteUrl, retries, baseDelayMs, maxDelayMs, stallTimeoutMs, signal } = opts;
  const transfer = { driveBase, rewriteUrl, retries, baseDelayMs, maxDelayMs, stallTimeoutMs, signal };
  for (let tries = 1; ; tries++) {
    try {
      const r = await downloadDriveFile({ ...transfer, id: entry.driveId, dest, verify });
      return r.status.startsWith("skipped") ? "skipped" : "downloaded";
    } catch (err) {
      // A wrong image may be a bad transfer that the checks above could not see: fetch it once more.
      if (!(err instanceof ChecksumMismatchError) || tries >= 2) throw err;
    }
  }
}

async function checkPixels(file: string, expected: string): Promise<ChecksumMismatch | undefined> {
  let actual: string;
  try {
    actual = await pixelMd5(file);
  } catch (err) {
    actual = `no decodable image (${err instanceof Error ? err.message : String(err)})`;
  }
  return actual === expected ? undefined : { what: "pixel md5", expected, actual };
}

async function isFile(file: string): Promise<boolean> {
  return (await fsp.stat(file).catch(() => undefined))?.isFile() ?? false;
}
