/**
 * `imaginet dataset import`: a labelled CSV of images from the wild (the columns of wild-dev's
 * labels.csv) turned into an ImagiNet-format dataset root: images under `images/<source>/` with safe
 * names, grids cut into their tiles, watermarks cropped away, and beside the annotation file the
 * source and generator of each image (`sources.csv`) and where each output came from (`mapping.csv`).
 * Decisions and the file formats: docs/wild-dev.md.
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { loadSharp } from "../image/sharp.js";
import { CsvError, parseCsvRecords } from "../util/csv.js";
import { InputError, ProblemsError } from "../util/errors.js";
import { resolveInside, writeFileAtomic } from "../util/fs.js";
import { Progress } from "../util/progress.js";
import { normaliseAnnotationPath } from "./annotations.js";
import { CONTENTS, REAL_GROUP, REAL_SPECIFIC } from "./labels.js";

/** The labels CSV's generator groups: ImagiNet's five, and 5 for a generator outside them. */
export const WILD_GROUPS = ["gan", "sd", "midjourney", "openai", "real", "other"] as const;
export const OTHER_GROUP = 5;

/**
 * ImagiNet (group, specific) for each labels-CSV group. ImagiNet's specific codes name models none of
 * the wild sources used (except Midjourney), so the specific code is a placeholder: the group's first
 * model. "other" generators (latent-diffusion, GLIDE, Disco/Majesty Diffusion, unknown diffusion models,
 * dalle-mini) go to the diffusion group (sd). The exact generator is kept in sources.csv.
 */
export const IMAGINET_CODES: readonly (readonly [group: number, specific: number])[] = [
  [0, 0],
  [1, 3],
  [2, 6],
  [3, 7],
  [REAL_GROUP, REAL_SPECIFIC],
  [1, 3],
];

/** The one watermark note the importer knows: DALL·E 2's colour bar, five 16 px squares at the bottom right. */
const WATERMARK_BOTTOM_RIGHT_16PX = "watermark=bottom-right-16px";
const WATERMARK_ROWS = 16;
/** Crops end on a multiple of a JPEG MCU (16 rows with 4:2:0 chroma), so no block that coded a bar pixel is kept. */
const MCU = 16;

const REQUIRED_COLUMNS = ["path", "origin", "content", "group", "generator", "sha256", "tiles"] as const;

export interface LabelRow {
  /** 1-based line in the CSV */
  line: number;
  /** normalised path as in the CSV, relative to the images root */
  path: string;
  source: string;
  origin: 0 | 1;
  content: number;
  /** the CSV's group, 0-5 */
  group: number;
  generator: string;
  sha256: string;
  width: number | null;
  height: number | null;
  columns: number;
  rows: number;
  watermark: boolean;
}

/** A labels CSV read and checked: every row's fields are known to be well formed. */
export async function readLabels(file: string): Promise<LabelRow[]> {
  const text = await fsp.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`${file}: cannot read labels (${e.code ?? e.message})`);
  });
  const records = parseCsvRecords(text, file);
  const header = records[0];
  if (!header) throw new CsvError(file, 1, `empty file: expected a header with the columns ${REQUIRED_COLUMNS.join(",")}`);
  const col = new Map(header.fields.map((name, i) => [name.trim(), i]));
  const missing = REQUIRED_COLUMNS.filter((c) => !col.has(c));
  if (missing.length > 0) throw new CsvError(file, header.line, `the header lacks the column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  const rows: LabelRow[] = [];
  const seen = new Map<string, number>();
  for (const r of records.slice(1)) {
    if (r.fields.length !== header.fields.length) {
      throw new CsvError(file, r.line, `expected ${header.fields.length} fields as in the header, found ${r.fields.length} (a field holding a comma must be quoted)`);
    }
    const get = (name: string) => (col.has(name) ? r.fields[col.get(name)!]!.trim() : "");
    const row = parseRow(file, r.line, get);
    const first = seen.get(row.path);
    if (first !== undefined) throw new CsvError(file, r.line, `duplicate path ${JSON.stringify(row.path)} (first on line ${first})`);
    seen.set(row.path, r.line);
    rows.push(row);
  }
  return rows;
}

function parseRow(file: string, line: number, get: (name: string) => string): LabelRow {
  const fail = (detail: string): never => {
    throw new CsvError(file, line, detail);
  };
  const p = normaliseAnnotationPath(get("path"), "the images root");
  if ("error" in p) return fail(p.error);
  const segments = p.path.split("/");
  const sourceAt = segments[0] === "images" ? 1 : 0;
  if (segments.length < sourceAt + 2) fail(`path ${JSON.stringify(p.path)} has no source folder: expected [images/]<source>/<file>`);
  const code = (name: string, max: number): number => {
    const v = get(name);
    if (!/^\d+$/.test(v) || Number(v) > max) fail(`${name} must be an integer 0-${max}, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const origin = code("origin", 1) as 0 | 1;
  const content = code("content", CONTENTS.length - 1);
  const group = code("group", WILD_GROUPS.length - 1);
  if ((origin === 0) !== (group === REAL_GROUP)) fail(`origin ${origin} with group ${group}: real images (origin 0) and only they have group ${REAL_GROUP} (real)`);
  const sha256 = get("sha256").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sha256)) fail(`sha256 must be 64 hex digits, got ${JSON.stringify(get("sha256"))}`);
  const size = (name: string): number | null => {
    const v = get(name);
    if (v === "") return null;
    if (!/^\d+$/.test(v) || Number(v) === 0) fail(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const notes = get("tiles") === "" ? [] : get("tiles").split(";");
  const grid = /^tiles=(\d+)x(\d+)$/.exec(notes[0] ?? "tiles=1x1");
  if (!grid || Number(grid[1]) === 0 || Number(grid[2]) === 0) fail(`tiles must start with tiles=CxR (columns x rows, e.g. tiles=2x2), got ${JSON.stringify(get("tiles"))}`);
  const unknown = notes.slice(1).filter((n) => n !== WATERMARK_BOTTOM_RIGHT_16PX);
  if (unknown.length > 0) fail(`unknown tiles note ${JSON.stringify(unknown[0])}: the importer knows tiles=CxR and ${WATERMARK_BOTTOM_RIGHT_16PX}`);
  return {
    line,
    path: p.path,
    source: segments[sourceAt]!,
    origin,
    content,
    group,
    generator: get("generator"),
    sha256,
    width: size("width"),
    height: size("height"),
    columns: Number(grid![1]),
    rows: Number(grid![2]),
    watermark: notes.includes(WATERMARK_BOTTOM_RIGHT_16PX),
  };
}

/**
 * A path segment made safe for ImagiNet's annotation format and any file system: accents dropped
 * (NFKD), anything but ASCII letters, digits, `.`, `_` and `-` replaced by `_` (runs of them by one),
 * no leading dot.
 */
export function safeSegment(name: string): string {
  const ascii = name.normalize("NFKD").replace(/\p{M}/gu, "");
  const safe = ascii.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_");
  return safe === "" ? "_" : safe;
}

/** Whether the image is cut (a grid or a watermark): its outputs are PNG files of regions. */
function isCut(row: LabelRow): boolean {
  return row.columns * row.rows > 1 || row.watermark;
}

function tileCount(row: LabelRow): number {
  return row.columns * row.rows;
}

/** The output paths of one row: `images/<source>/<safe folders>/<safe stem><suffix>` + extension or tile names. */
function outputPaths(row: LabelRow, suffix: string): string[] {
  const segments = row.path.split("/");
  const rest = segments.slice(segments[0] === "images" ? 2 : 1);
  const file = rest.pop()!;
  const ext = path.posix.extname(file);
  const stem = `${safeSegment(file.slice(0, file.length - ext.length))}${suffix}`;
  const dir = ["images", safeSegment(row.source), ...rest.map(safeSegment)].join("/");
  if (!isCut(row)) return [`${dir}/${stem}${ext === "" ? "" : `.${safeSegment(ext.slice(1))}`}`];
  if (tileCount(row) === 1) return [`${dir}/${stem}.png`];
  const out: string[] = [];
  for (let r = 0; r < row.rows; r++) for (let c = 0; c < row.columns; c++) out.push(`${dir}/${stem}_r${r}c${c}.png`);
  return out;
}

/** The first 8 hex digits of the SHA-256 of the original path: the suffix that tells apart names that collide once made safe. */
function pathSuffix(original: string): string {
  return `-${createHash("sha256").update(original, "utf8").digest("hex").slice(0, 8)}`;
}

/**
 * Each row's output paths. Names that collide once made safe (compared case-insensitively, for
 * case-insensitive file systems) all get a suffix from their original path, so the result does not
 * depend on the order of the rows.
 */
export function planNames(rows: readonly LabelRow[]): string[][] {
  const collisions = (names: string[][]): Set<number> => {
    const owner = new Map<string, number>();
    const clash = new Set<number>();
    names.forEach((outs, i) => {
      for (const o of outs) {
        const key = o.toLowerCase();
        const j = owner.get(key);
        if (j !== undefined && j !== i) clash.add(i).add(j);
        else owner.set(key, i);
      }
    });
    return clash;
  };
  const plain = rows.map((r) => outputPaths(r, ""));
  const clash = collisions(plain);
  const names = rows.map((r, i) => (clash.has(i) ? outputPaths(r, pathSuffix(r.path)) : plain[i]!));
  const left = [...collisions(names)];
  if (left.length > 0) throw new ProblemsError(`output names still collide after adding path suffixes: ${left.map((i) => rows[i]!.path).join(", ")}`);
  return names;
}

/** A region of the original image (after EXIF orientation, for cut images). */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The regions a row's outputs hold: the whole image; or, when watermarked, the image above the bar
 * (cut at a multiple of 16 rows); then equal cells of a C×R grid, each floor(W/C) × floor(H/R), the
 * remainder (when the size does not divide) left off at the right and bottom.
 */
export function regionsOf(row: LabelRow, width: number, height: number): Region[] {
  const kept = row.watermark ? Math.floor((height - WATERMARK_ROWS) / MCU) * MCU : height;
  if (kept <= 0) throw new ProblemsError(`${row.path}: ${width}x${height} is too small to crop a ${WATERMARK_ROWS}-row watermark from`);
  const cw = Math.floor(width / row.columns);
  const ch = Math.floor(kept / row.rows);
  if (cw === 0 || ch === 0) throw new ProblemsError(`${row.path}: ${width}x${kept} is too small for tiles=${row.columns}x${row.rows}`);
  const out: Region[] = [];
  for (let r = 0; r < row.rows; r++) for (let c = 0; c < row.columns; c++) out.push({ left: c * cw, top: r * ch, width: cw, height: ch });
  return out;
}

export interface ImportOptions {
  /** folder the CSV's paths are relative to */
  imagesRoot: string;
  out: string;
  progress?: boolean;
  /** images read at once */
  concurrency?: number;
}

export interface ImportCount {
  source: string;
  origin: number;
  content: number;
  images: number;
}

export interface ImportSummary {
  labels: string;
  out: string;
  inputs: number;
  outputs: number;
  /** grids cut into their tiles (inputs) */
  tiled: number;
  /** images whose watermark was cropped away */
  watermarked: number;
  /** inputs whose name (or folder) was changed to be safe */
  renamed: number;
  /** inputs whose safe name needed a suffix to stay unique */
  suffixed: number;
  /** grids whose size does not divide into equal cells: the remainder was left off */
  uneven: { path: string; width: number; height: number; tiles: string }[];
  counts: ImportCount[];
  files: { annotations: string; sources: string; mapping: string };
  seconds: number;
}

interface Checked {
  width: number;
  height: number;
}

/** Runs `fn` over the items, at most `n` at a time, in order of starting. */
async function pool<T, R>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

async function readInput(imagesRoot: string, row: LabelRow): Promise<Buffer> {
  const abs = resolveInside(imagesRoot, row.path);
  if (!abs) throw new InputError(`${row.path}: path escapes the images root`);
  return fsp.readFile(abs);
}

/** Checks every input against the CSV (present, sha256, size) before anything is written; all problems in one error. */
async function checkInputs(labels: string, rows: readonly LabelRow[], opts: ImportOptions, progress: Progress): Promise<Checked[]> {
  const sharp = await loadSharp();
  const problems: string[] = [];
  const checked = await pool(rows, opts.concurrency ?? 4, async (row) => {
    const where = `${row.path} (${labels}:${row.line})`;
    let bytes: Buffer;
    try {
      bytes = await readInput(opts.imagesRoot, row);
    } catch (err) {
      problems.push(`${where}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return { width: 0, height: 0 };
    } finally {
      progress.tick();
    }
    const sha = createHash("sha256").update(bytes).digest("hex");
    if (sha !== row.sha256) {
      problems.push(`${where}: sha256 ${sha} does not match the labels' ${row.sha256}`);
      return { width: 0, height: 0 };
    }
    const meta = await sharp(bytes).metadata();
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    if ((row.width !== null && row.width !== width) || (row.height !== null && row.height !== height)) {
      problems.push(`${where}: the image is ${width}x${height}, the labels say ${row.width}x${row.height}`);
    }
    if (isCut(row) && (meta.depth !== "uchar" || meta.hasProfile || (meta.space !== "srgb" && meta.space !== "b-w"))) {
      problems.push(
        `${where}: cannot cut without changing pixel values: ${meta.space}, ${meta.depth}${meta.hasProfile ? ", an embedded ICC profile" : ""} (only 8-bit sRGB or grey images without an ICC profile are cut)`,
      );
    }
    return (meta.orientation ?? 1) >= 5 ? { width: height, height: width } : { width, height };
  });
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join("\n  ");
    throw new ProblemsError(
      `${problems.length} input image${problems.length > 1 ? "s" : ""} do not match ${labels}; nothing was written:\n  ${shown}${problems.length > 10 ? `\n  … and ${problems.length - 10} more` : ""}`,
    );
  }
  return checked;
}

/** Writes one row's outputs: the original bytes, or lossless PNGs of its regions. */
async function writeOutputs(bytes: Buffer, row: LabelRow, names: readonly string[], regions: readonly Region[], out: string): Promise<void> {
  if (!isCut(row)) return writeFileAtomic(path.join(out, names[0]!), bytes);
  const sharp = await loadSharp();
  // decoded once, turned upright, and kept as raw pixels: each region is cut from them without re-encoding
  const { data, info } = await sharp(bytes).autoOrient().raw().toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  for (const [i, r] of regions.entries()) {
    const png = await sharp(data, { raw }).extract(r).png().toBuffer();
    await writeFileAtomic(path.join(out, names[i]!), png);
  }
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvLine(fields: readonly (string | number)[]): string {
  return `${fields.map(csvField).join(",")}\n`;
}

/** Imports a labels CSV into an ImagiNet-format dataset root at `opts.out`. */
export async function importLabels(labels: string, opts: ImportOptions): Promise<ImportSummary> {
  const started = Date.now();
  const rows = await readLabels(labels);
  if (rows.length === 0) throw new InputError(`${labels}: no images listed (only a header)`);
  const names = planNames(rows);

  const checking = new Progress("checking", { total: rows.length, unit: "img", enabled: opts.progress });
  const sizes = await checkInputs(labels, rows, opts, checking);
  checking.finish();

  const regions = rows.map((r, i) => regionsOf(r, sizes[i]!.width, sizes[i]!.height));
  const writing = new Progress("importing", { total: rows.length, unit: "img", enabled: opts.progress });
  await pool(rows, opts.concurrency ?? 4, async (row, i) => {
    await writeOutputs(await readInput(opts.imagesRoot, row), row, names[i]!, regions[i]!, opts.out);
    writing.tick();
  });
  writing.finish();

  // the annotation and side files last, so that they never name an image that is not written yet
  const entries = rows.flatMap((row, i) => names[i]!.map((name, t) => ({ row, name, region: regions[i]![t]! }))).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let annotations = "";
  let sources = csvLine(["path", "source", "generator", "group", "content"]);
  let mapping = csvLine(["path", "original_path", "original_sha256", "left", "top", "width", "height"]);
  for (const { row, name, region } of entries) {
    const [group, specific] = IMAGINET_CODES[row.group]!;
    annotations += `./${name},${row.origin},${row.content},${group},${specific}\n`;
    sources += csvLine([name, row.source, row.generator, row.group, row.content]);
    mapping += csvLine([name, row.path, row.sha256, region.left, region.top, region.width, region.height]);
  }
  const files = {
    annotations: path.join(opts.out, "annotations", "all.txt"),
    sources: path.join(opts.out, "annotations", "sources.csv"),
    mapping: path.join(opts.out, "annotations", "mapping.csv"),
  };
  await writeFileAtomic(files.sources, sources);
  await writeFileAtomic(files.mapping, mapping);
  await writeFileAtomic(files.annotations, annotations);

  return {
    labels,
    out: opts.out,
    inputs: rows.length,
    outputs: entries.length,
    tiled: rows.filter((r) => tileCount(r) > 1).length,
    watermarked: rows.filter((r) => r.watermark).length,
    renamed: rows.filter(isRenamed).length,
    suffixed: rows.filter((r, i) => names[i]![0] !== outputPaths(r, "")[0]).length,
    uneven: rows.flatMap((r, i) => {
      const { width, height } = sizes[i]!;
      const kept = r.watermark ? Math.floor((height - WATERMARK_ROWS) / MCU) * MCU : height;
      return width % r.columns !== 0 || kept % r.rows !== 0 ? [{ path: r.path, width, height, tiles: `${r.columns}x${r.rows}` }] : [];
    }),
    counts: countOutputs(entries.map((e) => e.row)),
    files,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Whether any segment of the row's path changed when made safe. */
function isRenamed(row: LabelRow): boolean {
  return row.path.split("/").some((s) => safeSegment(s) !== s);
}

function countOutputs(rows: readonly LabelRow[]): ImportCount[] {
  const counts = new Map<string, ImportCount>();
  for (const r of rows) {
    const key = `${r.source}\0${r.origin}\0${r.content}`;
    const c = counts.get(key) ?? { source: r.source, origin: r.origin, content: r.content, images: 0 };
    c.images++;
    counts.set(key, c);
  }
  return [...counts.values()].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : a.origin - b.origin || a.content - b.content));
}
