/**
 * Tables as JSON for machines: the values as stored, the text as shown and the best marks, so a
 * consumer need not repeat the rounding and tie rules of `table.ts`.
 */
import { MEAN_LABEL, expandMeanColumn, rowMarks, scoreText, valueMarks, valueText, type Cell, type ScoreTable, type ValueTable } from "./table.js";

export interface ScoreCellJson {
  acc: number | null;
  auc: number | null;
  accText: string;
  aucText: string;
  bestAcc: boolean;
  bestAuc: boolean;
}

export interface ScoreTableJson {
  kind: "scores";
  title: string;
  corner: string;
  columns: string[];
  rows: { label: string; mean: boolean; cells: (ScoreCellJson | null)[] }[];
}

export interface ValueTableJson {
  kind: "values";
  title: string;
  corner: string | null;
  columns: string[];
  rows: { label: string; cells: { value: number | null; text: string; best: boolean }[] }[];
}

const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

export function scoreTableJson(table: ScoreTable): ScoreTableJson {
  const digits = table.digits ?? 4;
  const row = (label: string, cells: Cell[], mean: boolean): ScoreTableJson["rows"][number] => {
    const marks = rowMarks(cells, digits);
    return {
      label,
      mean,
      cells: table.columns.map((_, j) => {
        const c = cells[j] ?? null;
        if (!c) return null;
        return { acc: num(c.acc), auc: num(c.auc), accText: scoreText(c, "acc", digits), aucText: scoreText(c, "auc", digits), bestAcc: marks.acc.has(j), bestAuc: marks.auc.has(j) };
      }),
    };
  };
  return {
    kind: "scores",
    title: table.title,
    corner: table.corner,
    columns: [...table.columns],
    rows: [...table.rows.map((r) => row(r.label, r.cells, false)), ...(table.mean ? [row(MEAN_LABEL, table.mean, true)] : [])],
  };
}

export function valueTableJson(table: ValueTable): ValueTableJson {
  const t = expandMeanColumn(table);
  const marks = valueMarks(t);
  return {
    kind: "values",
    title: t.title,
    corner: t.corner,
    columns: [...t.columns],
    rows: t.rows.map((r, i) => ({
      label: r.label,
      cells: t.columns.map((_, j) => ({ value: num(r.values[j] ?? Number.NaN), text: valueText(t, i, j), best: marks[i]![j] ?? false })),
    })),
  };
}
