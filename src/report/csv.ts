/**
 * Per-detector result CSVs in upstream's format (`reference_results/<Set>/<detector>.csv`):
 *
 *     Model,ACC,AUC            (or `Content Type,ACC,AUC`)
 *     GAN,0.6889,0.8403
 *     …
 *     Mean,0.5279,0.5637
 *
 * Values carry 4 decimals. Upstream's files mostly end lines with CRLF (pandas' `to_csv` on Windows);
 * the `imaginet_corvi_model.csv` files use LF, and about half of the files lack a final line break.
 * `parseUpstreamCsv` records both, so `upstreamCsv(parseUpstreamCsv(text))` gives back `text` byte for
 * byte; new files default to CRLF with a final line break.
 */

import type { ScoreTable } from "./table.js";
import { InputError } from "../util/errors.js";

export type Eol = "\r\n" | "\n";

export interface UpstreamCsvRow {
  /** First column as written (`GAN`, `DALLE3`, `DALL  E 3`, `Mean`, …). */
  label: string;
  acc: number;
  auc: number;
}

export interface UpstreamCsv {
  /** Header of the first column: `Model` or `Content Type`. */
  labelHeader: string;
  /** Data rows in file order, the closing `Mean` row included when the file has one. */
  rows: UpstreamCsvRow[];
  eol: Eol;
  finalNewline: boolean;
}

export interface UpstreamCsvOptions {
  /** Default `Model`. */
  labelHeader?: string;
  /** Default `\r\n`, as most upstream files. */
  eol?: Eol;
  /** Default true. */
  finalNewline?: boolean;
  /** Decimals written; default 4. */
  digits?: number;
}

export class CsvFormatError extends InputError {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = "CsvFormatError";
  }
}

/** Formats a metric as upstream does (fixed decimals; `NaN` for an undefined metric). */
export function formatMetric(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return "NaN";
  return roundHalfUp(x, digits).toFixed(digits);
}

/**
 * Rounds to `digits` decimals, half away from zero, on the decimal value the number stands for
 * (so 0.61155, stored as 0.611549999…, rounds to 0.6116 as a person would round it).
 */
export function roundHalfUp(x: number, digits: number): number {
  if (!Number.isFinite(x)) return x;
  const scaled = Number((Math.abs(x) * 10 ** digits).toPrecision(12));
  return (Math.sign(x) * Math.round(scaled)) / 10 ** digits;
}

/**
 * Formats a metric as upstream's scripts wrote their CSVs, Python's `f"{x:.4f}"`: the exact binary
 * value correctly rounded, an exact tie (x = 0.78125, possible with small image counts) to the even
 * digit. `formatMetric` rounds the decimal value half up instead, as the README's hand-written tables
 * do; the two differ only on such ties and on values like 0.94285 (stored below the half).
 */
export function pythonFixed(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return formatMetric(x, digits);
  const full = Math.abs(x).toFixed(100); // exact for any metric in [1e-4, 1]: doubles there have < 100 fractional digits
  const end = full.indexOf(".") + 1 + digits;
  const truncated = full.slice(0, digits === 0 ? end - 1 : end);
  // toFixed is correctly rounded too, but takes the larger candidate on an exact tie
  const tie = /^50*$/.test(full.slice(end));
  const even = Number(truncated.at(-1)) % 2 === 0;
  const magnitude = tie && even ? truncated : Math.abs(x).toFixed(digits);
  return x < 0 || Object.is(x, -0) ? `-${magnitude}` : magnitude;
}

/** Parses one upstream CSV. Throws `CsvFormatError` with `where:line` on malformed input. */
export function parseUpstreamCsv(text: string, where = "csv"): UpstreamCsv {
  const eol: Eol = text.includes("\r\n") ? "\r\n" : "\n";
  const finalNewline = text.endsWith("\n");
  const body = finalNewline ? text.slice(0, text.length - eol.length) : text;
  const lines = body.split(eol);
  const header = lines[0] ?? "";
  const cols = header.split(",");
  if (cols.length !== 3 || cols[1] !== "ACC" || cols[2] !== "AUC" || !cols[0]) {
    throw new CsvFormatError(`${where}:1`, `expected header "<label>,ACC,AUC", got ${JSON.stringify(header)}`);
  }
  const rows: UpstreamCsvRow[] = [];
  lines.slice(1).forEach((line, i) => {
    const parts = line.split(",");
    const [label, acc, auc] = parts;
    if (parts.length !== 3 || !label || acc === undefined || auc === undefined) {
      throw new CsvFormatError(`${where}:${i + 2}`, `expected "<label>,<ACC>,<AUC>", got ${JSON.stringify(line)}`);
    }
    rows.push({ label, acc: parseMetric(acc, `${where}:${i + 2}`), auc: parseMetric(auc, `${where}:${i + 2}`) });
  });
  return { labelHeader: cols[0], rows, eol, finalNewline };
}

function parseMetric(s: string, where: string): number {
  if (s === "NaN" || s === "nan") return Number.NaN;
  if (!/^-?\d+(\.\d+)?$/.test(s)) throw new CsvFormatError(where, `not a number: ${JSON.stringify(s)}`);
  return Number(s);
}

/** A CSV field as RFC 4180 quotes it: in double quotes (doubled inside) when it holds `,`, `"` or a line break. */
export function csvField(s: string): string {
  return /[,"\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Writes rows in upstream's CSV format, numbers as Python's f-string wrote them (`pythonFixed`; labels
 * upstream never has, with commas or quotes, are quoted).
 */
export function upstreamCsv(rows: UpstreamCsvRow[], opts: UpstreamCsvOptions = {}): string {
  const eol = opts.eol ?? "\r\n";
  const digits = opts.digits ?? 4;
  const lines = [`${csvField(opts.labelHeader ?? "Model")},ACC,AUC`];
  for (const r of rows) lines.push(`${csvField(r.label)},${pythonFixed(r.acc, digits)},${pythonFixed(r.auc, digits)}`);
  return lines.join(eol) + ((opts.finalNewline ?? true) ? eol : "");
}

/** `upstreamCsv` with the header, line ending and final line break of a parsed file. */
export function writeLikeUpstream(csv: UpstreamCsv, digits = 4): string {
  return upstreamCsv(csv.rows, { labelHeader: csv.labelHeader, eol: csv.eol, finalNewline: csv.finalNewline, digits });
}

/**
 * One detector's column of a ScoreTable as upstream's per-detector CSV: the rows, then `Mean` when the
 * table has a Mean row. Missing cells are left out. `csvLabels` maps shown labels back to the file's
 * (`DALL·E 3` → `DALLE3`); labels not in it are written as shown.
 */
export function scoreTableCsv(table: ScoreTable, column: number | string, opts: UpstreamCsvOptions & { csvLabels?: Readonly<Record<string, string>> } = {}): string {
  const j = typeof column === "number" ? column : table.columns.indexOf(column);
  if (j < 0 || j >= table.columns.length) throw new Error(`no column ${JSON.stringify(column)} in table ${JSON.stringify(table.title)}`);
  const rows: UpstreamCsvRow[] = [];
  for (const r of table.rows) {
    const c = r.cells[j];
    if (c) rows.push({ label: opts.csvLabels?.[r.label] ?? r.label, acc: c.acc, auc: c.auc });
  }
  const mean = table.mean?.[j];
  if (mean) rows.push({ label: "Mean", acc: mean.acc, auc: mean.auc });
  return upstreamCsv(rows, { digits: table.digits ?? 4, ...opts });
}
