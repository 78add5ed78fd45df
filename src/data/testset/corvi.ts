/**
 * `imaginet testset build --recipe corvi256`: the Corvi test set as ImagiNet's scripts read it
 * (docs/test-sets.md). DMimageDetection's `csv_operations.py` applies, to each image its
 * `operations.csv` lists, the square crop and JPEG quality recorded there, resizing the crop to
 * `output_size` in between; ImagiNet's README asks for 256 × 256 instead of the script's 200.
 * Per image: Pillow `convert("RGB")`, `crop((x1, y1, x1 + c, y1 + c))` (black outside the image),
 * `resize((256, 256))` with Lanczos if c > 256 else bicubic (a copy if c = 256), JPEG at the listed
 * quality (libjpeg defaults: 4:2:0, baseline), written under the same relative path.
 * No randomness: the csv holds every draw. Resumable: an output already there is kept; each is
 * written to a temp name and renamed.
 */
import { existsSync, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { encodeJpeg } from "../../image/compress.js";
import { decodeRgb } from "../../image/decode.js";
import { pilResize } from "../../image/pil-resize.js";
import { newImage, type RgbImage } from "../../image/types.js";
import { parseCsv } from "../../util/csv.js";
import { InputError } from "../../util/errors.js";
import { resolveInside, writeFileAtomic } from "../../util/fs.js";
import { mapPool } from "../../util/pool.js";
import { Progress } from "../../util/progress.js";
import { type Shard, shardRange } from "../../util/shard.js";
import { normaliseAnnotationPath } from "../annotations.js";

/** ImagiNet's README: "The Corvi test set should be preprocessed with a resolution of 256 x 256". */
export const CORVI_OUTPUT_SIZE = 256;
export const CORVI_OPERATIONS = "operations.csv";

export interface CorviOperation {
  /** root-relative path, as in the csv (and in ImagiNet's annotations_corvi.txt) */
  path: string;
  cropSize: number;
  x: number;
  y: number;
  quality: number;
  /** 1-based csv row, for messages */
  row: number;
}

/** Reads `operations.csv`: a header row, then `path,cropsize,x1,y1,qf` per image (paths may be quoted, with commas). */
export function parseOperations(text: string, file: string): CorviOperation[] {
  const rows = parseCsv(text);
  if (rows.length < 2) throw new InputError(`${file}: expected a header row and at least one "path,cropsize,x1,y1,qf" row`);
  const ops: CorviOperation[] = [];
  const seen = new Set<string>();
  rows.slice(1).forEach((r, i) => {
    const row = i + 2;
    const where = `${file}:${row}`;
    if (r.length < 5) throw new InputError(`${where}: expected "path,cropsize,x1,y1,qf", found ${r.length} fields`);
    const p = normaliseAnnotationPath(r[0]!);
    if ("error" in p) throw new InputError(`${where}: ${p.error}`);
    if (seen.has(p.path)) throw new InputError(`${where}: ${JSON.stringify(p.path)} is listed twice`);
    seen.add(p.path);
    const int = (name: string, v: string, min: number, max: number): number => {
      if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new InputError(`${where}: ${name} "${v}" is not an integer in ${min}..${max}`);
      return Number(v);
    };
    ops.push({ path: p.path, cropSize: int("cropsize", r[1]!, 1, 1 << 16), x: int("x1", r[2]!, 0, 1 << 20), y: int("y1", r[3]!, 0, 1 << 20), quality: int("qf", r[4]!, 1, 100), row });
  });
  return ops;
}

/** Pillow's `crop` of a box that may leave the image: what lies outside is black. */
export function pilCrop(img: RgbImage, x: number, y: number, size: number): RgbImage {
  const out = newImage(size, size);
  const x0 = Math.max(x, 0);
  const x1 = Math.min(x + size, img.width);
  if (x1 <= x0) return out;
  for (let r = Math.max(y, 0); r < Math.min(y + size, img.height); r++) {
    out.data.set(img.data.subarray((r * img.width + x0) * 3, (r * img.width + x1) * 3), ((r - y) * size + (x0 - x)) * 3);
  }
  return out;
}

/** One image's pixels before JPEG: the crop resized as `csv_operations.py` does (Lanczos = Pillow's ANTIALIAS when shrinking). */
export function corviPixels(img: RgbImage, op: Pick<CorviOperation, "cropSize" | "x" | "y">, size = CORVI_OUTPUT_SIZE): RgbImage {
  const crop = pilCrop(img, op.x, op.y, op.cropSize);
  return pilResize(crop, size, size, op.cropSize > size ? "lanczos" : "bicubic");
}

export interface CorviBuildOptions {
  /** where the downloaded images are (the folders of operations.csv) */
  root: string;
  out: string;
  operations: string;
  /** build only these root-relative paths (those of the given annotation files); default: every csv row */
  only?: ReadonlySet<string>;
  size?: number;
  workers?: number;
  maxPixels?: number;
  progress?: boolean;
  /** build only this shard's contiguous range of the images (they share one --out: no merge needed) */
  shard?: Pick<Shard, "index" | "count">;
}

export interface CorviBuildReport {
  out: string;
  total: number;
  built: number;
  skipped: number;
  failed: { path: string; error: string }[];
  seconds: number;
}

export async function buildCorvi(opts: CorviBuildOptions): Promise<CorviBuildReport> {
  const started = performance.now();
  const ops = parseOperations(await fsp.readFile(opts.operations, "utf8"), opts.operations);
  let todo = ops;
  if (opts.only) {
    const listed = new Set(ops.map((o) => o.path));
    const unlisted = [...opts.only].filter((p) => !listed.has(p));
    if (unlisted.length > 0) {
      throw new InputError(`${opts.operations} has no row for ${unlisted.length} annotated image(s), e.g. ${unlisted.slice(0, 3).join(", ")}: is it the operations.csv of the Corvi test set?`);
    }
    todo = ops.filter((o) => opts.only!.has(o.path));
  }
  if (opts.shard) todo = todo.slice(...shardRange(todo.length, opts.shard));
  const size = opts.size ?? CORVI_OUTPUT_SIZE;
  const report: CorviBuildReport = { out: path.resolve(opts.out), total: todo.length, built: 0, skipped: 0, failed: [], seconds: 0 };
  const bar = new Progress("corvi256", { total: todo.length, unit: "images", enabled: opts.progress });
  await mapPool(todo, opts.workers ?? os.availableParallelism(), async (op) => {
    try {
      const src = resolveInside(opts.root, op.path);
      const dst = resolveInside(opts.out, op.path);
      if (!src || !dst) throw new Error("path leaves the root");
      if (existsSync(dst)) report.skipped++;
      else {
        const pixels = corviPixels(await decodeRgb(src, { maxPixels: opts.maxPixels }), op, size);
        await fsp.mkdir(path.dirname(dst), { recursive: true });
        await writeFileAtomic(dst, await encodeJpeg(pixels, op.quality));
        report.built++;
      }
    } catch (err) {
      report.failed.push({ path: op.path, error: err instanceof Error ? err.message.split("\n")[0]! : String(err) });
    }
    bar.tick();
  });
  bar.finish();
  report.failed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
