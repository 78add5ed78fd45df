/**
 * `imaginet testset audit`: per split and label, what the files look like (format, JPEG quality,
 * size, bytes per pixel), and where real and synthetic differ in a way a detector could learn
 * instead of the generator's traces.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { estimateJpegQuality } from "../../image/compress.js";
import { sniffImageFormat } from "../../image/format.js";
import { loadSharp } from "../../image/sharp.js";
import { mapPool } from "../../util/pool.js";
import { Progress } from "../../util/progress.js";
import { readAnnotationFile, type ImagiNetRecord } from "../annotations.js";

/** Bytes read from each file: enough for the JPEG quantisation tables, which precede the image data. */
const HEAD_BYTES = 64 * 1024;

interface FileFacts {
  format: string;
  width: number;
  height: number;
  bytes: number;
  jpegQuality: number | null;
}

export interface GroupStats {
  split: string;
  content: string;
  label: "real" | "synthetic";
  images: number;
  unreadable: number;
  formats: Record<string, number>;
  medianPixels: number;
  medianBytesPerPixel: number;
  jpegQuality: { count: number; median: number | null; min: number | null; max: number | null };
}

export interface AuditFlag {
  split: string;
  content: string;
  kind: "format" | "size" | "compression" | "jpeg-quality";
  detail: string;
}

export interface AuditReport {
  root: string;
  groups: GroupStats[];
  flags: AuditFlag[];
}

async function facts(file: string): Promise<FileFacts | null> {
  try {
    const fh = await fsp.open(file, "r");
    let head: Buffer;
    let bytes: number;
    try {
      bytes = (await fh.stat()).size;
      head = Buffer.alloc(Math.min(HEAD_BYTES, bytes));
      await fh.read(head, 0, head.length, 0);
    } finally {
      await fh.close();
    }
    const format = sniffImageFormat(head);
    if (!format) return null;
    const sharp = await loadSharp();
    const meta = await sharp(file).metadata();
    return { format, width: meta.width ?? 0, height: meta.pageHeight ?? meta.height ?? 0, bytes, jpegQuality: format === "jpeg" ? estimateJpegQuality(head) : null };
  } catch {
    return null;
  }
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function summarise(split: string, content: string, label: "real" | "synthetic", fs: (FileFacts | null)[]): GroupStats {
  const ok = fs.filter((f): f is FileFacts => f !== null);
  const formats: Record<string, number> = {};
  for (const f of ok) formats[f.format] = (formats[f.format] ?? 0) + 1;
  const q = ok.map((f) => f.jpegQuality).filter((x): x is number => x !== null);
  return {
    split,
    content,
    label,
    images: fs.length,
    unreadable: fs.length - ok.length,
    formats,
    medianPixels: median(ok.map((f) => f.width * f.height)) ?? 0,
    medianBytesPerPixel: median(ok.map((f) => f.bytes / Math.max(1, f.width * f.height))) ?? 0,
    jpegQuality: { count: q.length, median: median(q), min: q.length ? Math.min(...q) : null, max: q.length ? Math.max(...q) : null },
  };
}

const share = (g: GroupStats, fmt: string): number => (g.formats[fmt] ?? 0) / Math.max(1, g.images - g.unreadable);
const pct = (x: number): string => `${Math.round(x * 100)}%`;

/** Thresholds for a flag: a detector can exploit differences this large. */
export const AUDIT_THRESHOLDS = { formatDistance: 0.1, sizeRatio: 1.5, bytesPerPixelRatio: 1.5, jpegQualityGap: 5 };

export function compare(real: GroupStats, synthetic: GroupStats): AuditFlag[] {
  const flags: AuditFlag[] = [];
  const at = { split: real.split, content: real.content };
  const formats = [...new Set([...Object.keys(real.formats), ...Object.keys(synthetic.formats)])].sort();
  const tv = formats.reduce((a, f) => a + Math.abs(share(real, f) - share(synthetic, f)), 0) / 2;
  if (tv > AUDIT_THRESHOLDS.formatDistance) {
    const describe = (g: GroupStats): string =>
      formats
        .filter((f) => share(g, f) > 0)
        .map((f) => `${f} ${pct(share(g, f))}`)
        .join(", ");
    flags.push({ ...at, kind: "format", detail: `real: ${describe(real)}; synthetic: ${describe(synthetic)}` });
  }
  const ratio = (a: number, b: number): number => (a > 0 && b > 0 ? Math.max(a / b, b / a) : 1);
  if (ratio(real.medianPixels, synthetic.medianPixels) > AUDIT_THRESHOLDS.sizeRatio) {
    flags.push({ ...at, kind: "size", detail: `median pixels: real ${real.medianPixels}, synthetic ${synthetic.medianPixels}` });
  }
  if (ratio(real.medianBytesPerPixel, synthetic.medianBytesPerPixel) > AUDIT_THRESHOLDS.bytesPerPixelRatio) {
    flags.push({ ...at, kind: "compression", detail: `median bytes per pixel: real ${real.medianBytesPerPixel.toFixed(3)}, synthetic ${synthetic.medianBytesPerPixel.toFixed(3)}` });
  }
  const rq = real.jpegQuality.median;
  const sq = synthetic.jpegQuality.median;
  if (rq !== null && sq !== null && Math.abs(rq - sq) > AUDIT_THRESHOLDS.jpegQualityGap) {
    flags.push({ ...at, kind: "jpeg-quality", detail: `median JPEG quality: real ${rq}, synthetic ${sq}` });
  }
  return flags;
}

export async function auditTestset(root: string, files: string[], opts: { progress?: boolean; concurrency?: number } = {}): Promise<AuditReport> {
  const splits: { split: string; records: ImagiNetRecord[] }[] = [];
  for (const f of files) {
    const af = await readAnnotationFile(f, { format: "imaginet" });
    splits.push({ split: path.basename(f), records: af.records as ImagiNetRecord[] });
  }
  const all = splits.flatMap((s) => s.records.map((r) => ({ split: s.split, r })));
  const progress = new Progress("auditing", { total: all.length, unit: "img", enabled: opts.progress });
  const known = new Map<string, Promise<FileFacts | null>>(); // a path listed in several files is read once
  const results = await mapPool(all, opts.concurrency ?? 16, async ({ r }) => {
    let p = known.get(r.path);
    if (!p) known.set(r.path, (p = facts(path.join(root, r.path))));
    const f = await p;
    progress.tick();
    return f;
  });
  progress.finish();

  const groups: GroupStats[] = [];
  const flags: AuditFlag[] = [];
  for (const { split } of splits) {
    for (const content of ["all", "photos", "paintings", "faces", "uncategorized"]) {
      const pick = (origin: 0 | 1): (FileFacts | null)[] =>
        all.flatMap((x, i) => (x.split === split && x.r.origin === origin && (content === "all" || x.r.contentName === content) ? [results[i]!] : []));
      const real = pick(0);
      const synthetic = pick(1);
      if (real.length === 0 && synthetic.length === 0) continue;
      const g = [summarise(split, content, "real", real), summarise(split, content, "synthetic", synthetic)] as const;
      groups.push(...g.filter((x) => x.images > 0));
      if (real.length > 0 && synthetic.length > 0) flags.push(...compare(g[0], g[1]));
    }
  }
  return { root, groups, flags };
}
