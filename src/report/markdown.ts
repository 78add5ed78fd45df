/**
 * Markdown tables in the layout of upstream's README ("Results"):
 *
 *     |  ACC / AUC |     Grag2021    |    Corvi2022    |      Wu2023     |       Ours      |
 *     |:----------:|:---------------:|:---------------:|:---------------:|:---------------:|
 *     | GAN        | 0.6889 / 0.8403 | 0.6822 / 0.8033 | 0.6508 / 0.6971 | **0.8242** / <ins>0.8871</ins> |
 *     | **Mean**   | …
 *
 * Every column has an inner width W (the label column: the longest of the corner and the labels; a
 * value column: the longest of its header and its values without markup); a cell is a space, its text
 * padded to W, a space. Headers and values are centred (an odd leftover space goes left), labels are
 * left-aligned, text longer than W (marked-up cells) is not padded, and the alignment row is `:---:`.
 * The README deviates from that rule in a few places; `README_LAYOUTS` holds those deviations, so that
 * the README's tables come out byte for byte when fed the README's numbers.
 */
import { MEAN_LABEL, expandMeanColumn, rowMarks, scoreText, valueMarks, valueText, type Cell, type Score, type ScoreTable, type ValueTable } from "./table.js";
import { formatMetric } from "./csv.js";

export interface MarkdownLayout {
  /** Inner width per column (the label column first, when the table has one), overriding the computed one. */
  widths?: (number | undefined)[];
  /** Inner widths used for the header row only (default: `widths`). */
  headerWidths?: (number | undefined)[];
  /** Inner widths of the alignment row only (default: `widths`). */
  separatorWidths?: (number | undefined)[];
  /** Inner width the `**Mean**` label is padded to (default: the label column's). */
  meanLabelWidth?: number;
}

/**
 * Where the README's tables depart from the regular layout (found by comparing; see test/report.test.ts):
 *  - group: the Mean label is padded as in the specific-model table (copied from there);
 *  - specific: the label column is 14 wide though its longest label has 12 characters;
 *  - identification: hand-padded headers, 4-dash alignment cells, unpadded values;
 *  - inferenceTime: the value column is as wide as `Inference Time (ms)`, before the ` ↓` was added.
 */
export const README_LAYOUTS = {
  group: { meanLabelWidth: 14 },
  specific: { widths: [14] },
  content: {},
  identification: { headerWidths: [5, 2, 16, 17, 13], separatorWidths: [4, 4, 4, 4, 4], widths: [6, 6, 6, 6, 6] },
  inferenceTime: { widths: [undefined, 19] },
} as const satisfies Record<string, MarkdownLayout>;

/** Length in characters (code points), as the README pads: `DALL·E 3` is 8. */
export function textWidth(s: string): number {
  return [...s].length;
}

function padEnd(s: string, w: number): string {
  return s + " ".repeat(Math.max(0, w - textWidth(s)));
}

/** Centres `s` in `w` characters; an odd leftover space goes to the left, as in the README. */
export function center(s: string, w: number): string {
  const pad = Math.max(0, w - textWidth(s));
  const left = Math.ceil(pad / 2);
  return " ".repeat(left) + s + " ".repeat(pad - left);
}

/**
 * Text from a name (detector, row label) as it must stand in a table cell to show as written:
 * Markdown and HTML characters backslash-escaped, line breaks (which would end the row) as spaces.
 */
export function escapeMarkdownCell(s: string): string {
  // `_` inside a word cannot start emphasis (`latent_diff` stays as it is)
  return s.replace(/\r\n|[\r\n]/g, " ").replace(/[\\`*~[\]<>&|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, "\\$&");
}

const line = (cells: string[]): string => `|${cells.join("|")}|`;
const cell = (s: string): string => ` ${s} `;

export const bold = (s: string): string => `**${s}**`;
export const underline = (s: string): string => `<ins>${s}</ins>`;

function plainScore(c: Score, digits: number): string {
  return `${scoreText(c, "acc", digits)} / ${scoreText(c, "auc", digits)}`;
}

/** Cell text with markup: the best ACC bold, the best AUC underlined; empty for a missing score. */
function markedScore(c: Cell, accBest: boolean, aucBest: boolean, digits: number): string {
  if (!c) return "";
  const acc = scoreText(c, "acc", digits);
  const auc = scoreText(c, "auc", digits);
  return `${accBest ? bold(acc) : acc} / ${aucBest ? underline(auc) : auc}`;
}

/** Renders a ScoreTable as a Markdown table (lines end with `\n`). */
export function scoreTableMarkdown(table: ScoreTable, layout: MarkdownLayout = {}): string {
  const digits = table.digits ?? 4;
  const corner = escapeMarkdownCell(table.corner);
  const columns = table.columns.map(escapeMarkdownCell);
  const allRows: { label: string; cells: Cell[]; mean: boolean }[] = [
    ...table.rows.map((r) => ({ label: escapeMarkdownCell(r.label), cells: r.cells, mean: false })),
    ...(table.mean ? [{ label: bold(MEAN_LABEL), cells: table.mean, mean: true }] : []),
  ];
  const computed: number[] = [
    Math.max(textWidth(corner), ...allRows.map((r) => textWidth(r.label))),
    ...columns.map((name, j) => {
      const cells = allRows.map((r) => r.cells[j] ?? null).filter((c): c is Score => c !== null);
      // Cells shown with verbatim text (a published table's odd decimals) do not widen the column.
      const regular = cells.filter((c) => c.text === undefined);
      const sized = regular.length > 0 ? regular : cells;
      return Math.max(textWidth(name), ...sized.map((c) => textWidth(plainScore(c, digits))));
    }),
  ];
  const widths = computed.map((w, j) => layout.widths?.[j] ?? w);
  const headerWidths = widths.map((w, j) => layout.headerWidths?.[j] ?? w);
  const sepWidths = widths.map((w, j) => layout.separatorWidths?.[j] ?? w);
  const out = [line([corner, ...columns].map((h, j) => cell(center(h, headerWidths[j]!)))), line(sepWidths.map((w) => `:${"-".repeat(w)}:`))];
  for (const r of allRows) {
    const marks = rowMarks(r.cells, digits);
    const labelWidth = r.mean ? (layout.meanLabelWidth ?? widths[0]!) : widths[0]!;
    out.push(line([cell(padEnd(r.label, labelWidth)), ...table.columns.map((_, j) => cell(center(markedScore(r.cells[j] ?? null, marks.acc.has(j), marks.auc.has(j), digits), widths[j + 1]!)))]));
  }
  return `${out.join("\n")}\n`;
}

/** Renders a ValueTable as a Markdown table (lines end with `\n`); best values are bold. */
export function valueTableMarkdown(table: ValueTable, layout: MarkdownLayout = {}): string {
  const t = expandMeanColumn(table);
  const marks = valueMarks(t);
  const hasLabel = t.corner !== null;
  const header = [...(hasLabel ? [t.corner!] : []), ...t.columns].map(escapeMarkdownCell);
  const body = t.rows.map((r, i) => [...(hasLabel ? [escapeMarkdownCell(r.label)] : []), ...t.columns.map((_, j) => (marks[i]![j] ? bold(valueText(t, i, j)) : valueText(t, i, j)))]);
  const plain = t.rows.map((r, i) => [...(hasLabel ? [escapeMarkdownCell(r.label)] : []), ...t.columns.map((_, j) => valueText(t, i, j))]);
  const computed = header.map((h, j) => Math.max(textWidth(h), ...plain.map((r) => textWidth(r[j] ?? ""))));
  const widths = computed.map((w, j) => layout.widths?.[j] ?? w);
  const headerWidths = widths.map((w, j) => layout.headerWidths?.[j] ?? w);
  const sepWidths = widths.map((w, j) => layout.separatorWidths?.[j] ?? w);
  const out = [
    line(header.map((h, j) => cell(center(h, headerWidths[j]!)))),
    line(sepWidths.map((w) => `:${"-".repeat(w)}:`)),
    ...body.map((r) => line(r.map((c, j) => cell(hasLabel && j === 0 ? padEnd(c, widths[j]!) : center(c, widths[j]!))))),
  ];
  return `${out.join("\n")}\n`;
}

/**
 * Parses a Markdown ACC / AUC table as the README writes it (markup ignored; a `Mean` or `**Mean**`
 * row becomes the Mean row). Numbers not in the table's 4-decimal format keep their text verbatim.
 */
export function parseScoreTableMarkdown(markdown: string, title = ""): ScoreTable {
  const lines = markdown.split(/\r?\n/).filter((l) => l.trim().startsWith("|"));
  const split = (l: string): string[] =>
    l
      .trim()
      .replace(/^\|/, "")
      .replace(/\|$/, "")
      .split("|")
      .map((c) => c.trim());
  const strip = (s: string): string => s.replace(/\*\*|<\/?ins>/g, "").trim();
  const [head, sep, ...rest] = lines;
  if (!head || !sep || !/^[|:\-\s]+$/.test(sep)) throw new Error("not a Markdown table (no header and alignment row)");
  const [corner = "", ...columns] = split(head);
  const table: ScoreTable = { title, corner, columns, rows: [], mean: null };
  for (const l of rest) {
    const [label = "", ...cells] = split(l);
    const parsed: Cell[] = columns.map((_, j) => {
      const c = cells[j];
      if (c === undefined || c === "") return null;
      const parts = c.split(" / ").map(strip);
      if (parts.length !== 2) throw new Error(`cell ${JSON.stringify(c)} is not "ACC / AUC"`);
      const [acc, auc] = parts as [string, string];
      const score: Score = { acc: Number(acc), auc: Number(auc) };
      const text: Score["text"] = {};
      if (formatMetric(score.acc) !== acc) text.acc = acc;
      if (formatMetric(score.auc) !== auc) text.auc = auc;
      if (text.acc !== undefined || text.auc !== undefined) score.text = text;
      return score;
    });
    if (strip(label) === MEAN_LABEL) table.mean = parsed;
    else table.rows.push({ label, cells: parsed });
  }
  return table;
}

/** The Markdown table that follows a heading (`#### Results group of models`) in a document. */
export function markdownTableAfter(document: string, heading: string): string {
  const lines = document.split("\n");
  const at = lines.findIndex((l) => l.trim() === heading.trim());
  if (at < 0) throw new Error(`heading not found: ${heading}`);
  let i = at + 1;
  while (i < lines.length && !lines[i]!.startsWith("|")) i++;
  const out: string[] = [];
  while (i < lines.length && lines[i]!.startsWith("|")) out.push(lines[i++]!);
  if (out.length === 0) throw new Error(`no table after heading: ${heading}`);
  return `${out.join("\n")}\n`;
}
