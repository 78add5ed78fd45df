/**
 * The report's data model: tables of scores, independent of how the scores were computed and of
 * how they are rendered (Markdown, HTML, CSV, JSON).
 *
 * Two kinds of table cover upstream's README:
 *  - `ScoreTable`: rows (generator groups, generators, content types) × columns (detectors), each cell
 *    an `ACC / AUC` pair; the best ACC of a row is bold and the best AUC underlined; a `Mean` row closes it.
 *  - `ValueTable`: one number per cell (model identification ACC, inference time), with an optional
 *    best-per-column or best-per-row mark and an optional Mean column.
 *
 * Rounding and ties: values are shown with `digits` decimals (4), rounded half away from zero on the
 * decimal value (`roundHalfUp`). The best cell is chosen on the values as shown, so cells that show the
 * same number are tied, and every tied cell is marked (the README marks the number the reader sees;
 * choosing on raw values could bold one of two identical-looking numbers). A Mean computed here is the
 * mean of the row values as stored (raw metrics when they come from an evaluation, 4-decimal numbers
 * when they come from CSVs), rounded only when shown.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { formatMetric, parseUpstreamCsv, type UpstreamCsv } from "./csv.js";

export interface Score {
  acc: number;
  auc: number;
  /**
   * Verbatim text to show instead of the formatted number (only to reproduce a published table
   * that shows other decimals, such as the README's `0.96203`). The number is still what is compared.
   */
  text?: { acc?: string; auc?: string };
}

export type Cell = Score | null;

export interface ScoreRow {
  label: string;
  /** One per column; null where the detector has no score for this row. */
  cells: Cell[];
}

export interface ScoreTable {
  title: string;
  /** Header of the label column, `ACC / AUC` in the README. */
  corner: string;
  /** Detector names, in column order. */
  columns: string[];
  rows: ScoreRow[];
  /** The closing Mean row (one cell per column), or null for none. See `withMean`. */
  mean: Cell[] | null;
  /** Decimals shown; default 4. */
  digits?: number;
}

export type Metric = "acc" | "auc";

export const MEAN_LABEL = "Mean";

/** The text a score shows: the verbatim text when given, else the value with `digits` decimals. */
export function scoreText(cell: Score, metric: Metric, digits = 4): string {
  return cell.text?.[metric] ?? formatMetric(cell[metric], digits);
}

/** The value as shown (what "best" is decided on). NaN when it shows no number. */
export function shownValue(cell: Cell, metric: Metric, digits = 4): number {
  if (!cell) return Number.NaN;
  const n = Number(scoreText(cell, metric, digits));
  return Number.isFinite(n) ? n : Number.NaN;
}

/**
 * Indices of the best values; all of them when tied. NaN and null never win; no index when
 * nothing is a number.
 */
export function bestIndices(values: number[], better: "higher" | "lower" = "higher"): Set<number> {
  let best = Number.NaN;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    if (Number.isNaN(best) || (better === "higher" ? v > best : v < best)) best = v;
  }
  const out = new Set<number>();
  if (Number.isNaN(best)) return out;
  values.forEach((v, i) => {
    if (v === best) out.add(i);
  });
  return out;
}

export interface RowMarks {
  /** Column indices whose ACC is the row's best (bold). */
  acc: Set<number>;
  /** Column indices whose AUC is the row's best (underlined). */
  auc: Set<number>;
}

/** Which cells of a row are marked best, on the values as shown. */
export function rowMarks(cells: Cell[], digits = 4): RowMarks {
  return {
    acc: bestIndices(cells.map((c) => shownValue(c, "acc", digits))),
    auc: bestIndices(cells.map((c) => shownValue(c, "auc", digits))),
  };
}

/** Per column, the mean of the rows' values (null when a row lacks that column; NaN propagates). */
export function meanCells(rows: ScoreRow[], columns: number): Cell[] {
  const out: Cell[] = [];
  for (let j = 0; j < columns; j++) {
    const cells = rows.map((r) => r.cells[j] ?? null);
    if (cells.length === 0 || cells.some((c) => c === null)) {
      out.push(null);
      continue;
    }
    const ok = cells as Score[];
    out.push({
      acc: ok.reduce((s, c) => s + c.acc, 0) / ok.length,
      auc: ok.reduce((s, c) => s + c.auc, 0) / ok.length,
    });
  }
  return out;
}

/** The table with its Mean row computed from its rows (replacing any given one). */
export function withMean(table: ScoreTable): ScoreTable {
  return { ...table, mean: meanCells(table.rows, table.columns.length) };
}

/** One differing value between two tables with the same shape. */
export interface CellDiff {
  /** Row label (`Mean` for the Mean row). */
  row: string;
  column: string;
  metric: Metric;
  /** The values as shown in each table. */
  a: string | null;
  b: string | null;
}

/**
 * The shown values that differ between two tables. Rows are matched by label and columns by name;
 * a row or column missing from one side counts as null cells.
 */
export function diffScoreTables(a: ScoreTable, b: ScoreTable): CellDiff[] {
  const out: CellDiff[] = [];
  const rowsOf = (t: ScoreTable): Map<string, Cell[]> => {
    const m = new Map<string, Cell[]>(t.rows.map((r) => [r.label, r.cells]));
    if (t.mean) m.set(MEAN_LABEL, t.mean);
    return m;
  };
  const ra = rowsOf(a);
  const rb = rowsOf(b);
  const labels = [...ra.keys(), ...[...rb.keys()].filter((k) => !ra.has(k))];
  const columns = [...a.columns, ...b.columns.filter((c) => !a.columns.includes(c))];
  for (const label of labels) {
    for (const column of columns) {
      const ca = ra.get(label)?.[a.columns.indexOf(column)] ?? null;
      const cb = rb.get(label)?.[b.columns.indexOf(column)] ?? null;
      for (const metric of ["acc", "auc"] as const) {
        const ta = ca ? scoreText(ca, metric, a.digits) : null;
        const tb = cb ? scoreText(cb, metric, b.digits) : null;
        if (ta !== tb) out.push({ row: label, column, metric, a: ta, b: tb });
      }
    }
  }
  return out;
}

/** A table of single numbers (identification accuracy per group, inference time per detector). */
export interface ValueTable {
  title: string;
  /** Header of the label column; null for a table without one (the README's identification table). */
  corner: string | null;
  columns: string[];
  rows: { label: string; values: (number | null)[]; text?: (string | undefined)[] }[];
  /** Decimals shown. */
  digits: number;
  /** Bold the best value of each row or of each column; null for no marks. */
  best: { along: "row" | "column"; better: "higher" | "lower" } | null;
  /** Append a Mean column (mean of each row's values) with this header; null for none. */
  meanColumn: string | null;
}

/** The text of a ValueTable cell (`""` for null). */
export function valueText(table: ValueTable, row: number, col: number): string {
  const r = table.rows[row];
  if (!r) return "";
  const t = r.text?.[col];
  if (t !== undefined) return t;
  const v = r.values[col];
  return v === null || v === undefined ? "" : formatMetric(v, table.digits);
}

/** The table with its Mean column materialised (columns and values extended). */
export function expandMeanColumn(table: ValueTable): ValueTable {
  if (table.meanColumn === null) return table;
  return {
    ...table,
    meanColumn: null,
    columns: [...table.columns, table.meanColumn],
    rows: table.rows.map((r) => {
      const ok = r.values.every((v): v is number => v !== null);
      const mean = ok && r.values.length > 0 ? (r.values as number[]).reduce((s, v) => s + v, 0) / r.values.length : null;
      return { ...r, values: [...r.values, mean], text: r.text ? [...r.text, undefined] : undefined };
    }),
  };
}

/** `marks[row][col]`: whether a ValueTable cell is bold (best), on values as shown. */
export function valueMarks(table: ValueTable): boolean[][] {
  const t = expandMeanColumn(table);
  const shown = t.rows.map((r, i) =>
    r.values.map((_, j) => {
      const n = Number(valueText(t, i, j));
      return valueText(t, i, j) === "" || !Number.isFinite(n) ? Number.NaN : n;
    }),
  );
  const marks = shown.map((r) => r.map(() => false));
  if (!t.best) return marks;
  if (t.best.along === "row") {
    shown.forEach((r, i) => bestIndices(r, t.best!.better).forEach((j) => (marks[i]![j] = true)));
  } else {
    t.columns.forEach((_, j) => {
      bestIndices(
        shown.map((r) => r[j] ?? Number.NaN),
        t.best!.better,
      ).forEach((i) => (marks[i]![j] = true));
    });
  }
  return marks;
}

// ---------------------------------------------------------------- upstream CSVs

/** Upstream's result files and the names the README gives their detectors. */
export const UPSTREAM_DETECTORS = [
  { file: "grag2021_model.csv", name: "Grag2021" },
  { file: "corvi_model.csv", name: "Corvi2022" },
  { file: "lasted_model.csv", name: "Wu2023" },
  { file: "imaginet_model.csv", name: "Ours" },
  { file: "imaginet_corvi_model.csv", name: "Corvi2022*" },
] as const;

/** The four detectors of the README's tables, in its column order. */
export const README_DETECTORS = UPSTREAM_DETECTORS.slice(0, 4);

/**
 * CSV row labels → README row labels. `DALLE3` (ImagiNet set) and `DALL  E 3` (specific-model set,
 * where the middle dot was lost) are the README's `DALL·E 3`; other labels are shown as written.
 */
export const UPSTREAM_ROW_LABELS: Readonly<Record<string, string>> = {
  DALLE3: "DALL·E 3",
  "DALL  E 3": "DALL·E 3",
};

export interface DetectorFile {
  file: string;
  name: string;
}

export interface UpstreamTableOptions {
  title?: string;
  corner?: string;
  /**
   * `csv` (default): the Mean row is the files' own `Mean` row (upstream computed it from unrounded
   * per-row metrics, so it can differ in the 4th decimal from the mean of the rounded rows);
   * `recompute`: the mean of the rows as read.
   */
  mean?: "csv" | "recompute";
}

/** Reads one upstream result CSV (see `csv.ts`). */
export function readUpstreamCsv(file: string): UpstreamCsv {
  return parseUpstreamCsv(readFileSync(file, "utf8"), file);
}

/**
 * A ScoreTable from one upstream result folder: one column per detector file, rows in the order of the
 * first file (rows another file lacks get null cells; rows only later files have are appended).
 * `rowLabels` maps CSV labels to shown labels (a record or a function); default `UPSTREAM_ROW_LABELS`.
 */
export function tableFromUpstreamCsvs(
  dir: string,
  detectors: readonly DetectorFile[],
  rowLabels: Readonly<Record<string, string>> | ((csvLabel: string) => string) = UPSTREAM_ROW_LABELS,
  opts: UpstreamTableOptions = {},
): ScoreTable {
  const relabel = typeof rowLabels === "function" ? rowLabels : (l: string) => rowLabels[l] ?? l;
  const files = detectors.map((d) => readUpstreamCsv(path.join(dir, d.file)));
  const order: string[] = [];
  const byLabel = files.map((f) => {
    const m = new Map<string, Score>();
    for (const r of f.rows) {
      const label = r.label === MEAN_LABEL ? MEAN_LABEL : relabel(r.label);
      if (m.has(label)) throw new Error(`${dir}: row ${JSON.stringify(label)} appears twice in one file`);
      m.set(label, { acc: r.acc, auc: r.auc });
      if (label !== MEAN_LABEL && !order.includes(label)) order.push(label);
    }
    return m;
  });
  const table: ScoreTable = {
    title: opts.title ?? path.basename(dir),
    corner: opts.corner ?? "ACC / AUC",
    columns: detectors.map((d) => d.name),
    rows: order.map((label) => ({ label, cells: byLabel.map((m) => m.get(label) ?? null) })),
    mean: byLabel.map((m) => m.get(MEAN_LABEL) ?? null),
  };
  return (opts.mean ?? "csv") === "recompute" ? withMean(table) : table;
}
