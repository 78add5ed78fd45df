/**
 * One self-contained HTML report: inline CSS, inline SVG plots, no scripts and no external URLs, so the
 * file can be mailed, archived or printed as is. Tables carry the same marks as the Markdown ones
 * (best ACC bold, best AUC underlined); a header lists the run's metadata.
 */
import { PLOT_FONT } from "./plots.js";
import { MEAN_LABEL, expandMeanColumn, rowMarks, scoreText, valueMarks, valueText, type Cell, type ScoreTable, type ValueTable } from "./table.js";

export type MetaValue = string | number | boolean | null | undefined;

export type ReportSection =
  | { kind: "heading"; text: string }
  | { kind: "text"; text: string }
  | { kind: "scores"; table: ScoreTable; caption?: string }
  | { kind: "values"; table: ValueTable; caption?: string }
  /** `svg` as made by `plots.ts`; consecutive plots share a row when the page is wide enough. */
  | { kind: "plot"; title: string; svg: string; caption?: string };

export interface Report {
  title: string;
  /** Run metadata shown in the header, in insertion order (null/undefined values are left out). */
  meta: Record<string, MetaValue>;
  sections: ReportSection[];
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1d1f23; font: 15px/1.45 ${PLOT_FONT}; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 32px 40px; background: #fff; }
header { border-bottom: 2px solid #1d1f23; margin-bottom: 20px; padding-bottom: 12px; }
h1 { font-size: 24px; margin: 0 0 10px; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 1px solid #d8dbe0; padding-bottom: 4px; }
p.note { color: #4a4f57; margin: 6px 0 14px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; align-items: baseline; margin: 0; font-size: 14px; }
dl.meta dt { color: #4a4f57; }
dl.meta dd { margin: 0; font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 13px; word-break: break-all; }
section.table { margin: 18px 0 24px; break-inside: avoid; page-break-inside: avoid; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 14px; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 6px; white-space: nowrap; }
th, td { border: 1px solid #c9cdd3; padding: 4px 12px; text-align: center; white-space: nowrap; }
thead th { background: #eceef1; }
tbody th { text-align: left; font-weight: normal; }
tr.mean th, tr.mean td { border-top: 2px solid #1d1f23; background: #f7f8fa; }
tr.mean th { font-weight: bold; }
td strong { font-weight: bold; }
td ins { text-decoration: underline; text-decoration-thickness: 1.5px; text-underline-offset: 2px; }
td.na { color: #9aa0a8; }
p.caption { color: #4a4f57; font-size: 13px; margin: 6px 0 0; }
div.figures { display: flex; flex-wrap: wrap; gap: 20px 28px; align-items: flex-start; }
figure { margin: 8px 0; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #4a4f57; margin-top: 4px; max-width: 460px; }
footer { margin-top: 32px; font-size: 12px; color: #6b717a; }
@media print {
  body { background: #fff; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table { font-size: 11px; }
  th, td { padding: 2px 6px; }
  figure svg { max-height: 120mm; width: auto; }
}
@page { margin: 14mm; }
`;

function cellHtml(c: Cell, accBest: boolean, aucBest: boolean, digits: number): string {
  if (!c) return `<td class="na">–</td>`;
  const acc = escapeHtml(scoreText(c, "acc", digits));
  const auc = escapeHtml(scoreText(c, "auc", digits));
  return `<td>${accBest ? `<strong>${acc}</strong>` : acc} / ${aucBest ? `<ins>${auc}</ins>` : auc}</td>`;
}

/** A ScoreTable as an HTML table: best ACC in <strong>, best AUC in <ins>, ties all marked. */
export function scoreTableHtml(table: ScoreTable, caption?: string): string {
  const digits = table.digits ?? 4;
  const row = (label: string, cells: Cell[], mean: boolean): string => {
    const marks = rowMarks(cells, digits);
    const tds = table.columns.map((_, j) => cellHtml(cells[j] ?? null, marks.acc.has(j), marks.auc.has(j), digits)).join("");
    return `<tr${mean ? ` class="mean"` : ""}><th scope="row">${escapeHtml(label)}</th>${tds}</tr>`;
  };
  return [
    `<section class="table"><table class="scores">`,
    `<caption>${escapeHtml(table.title)}</caption>`,
    `<thead><tr><th scope="col">${escapeHtml(table.corner)}</th>${table.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("")}</tr></thead>`,
    `<tbody>`,
    ...table.rows.map((r) => row(r.label, r.cells, false)),
    ...(table.mean ? [row(MEAN_LABEL, table.mean, true)] : []),
    `</tbody></table>`,
    ...(caption ? [`<p class="caption">${escapeHtml(caption)}</p>`] : []),
    `</section>`,
  ].join("\n");
}

/** A ValueTable as an HTML table; best values in <strong>. */
export function valueTableHtml(table: ValueTable, caption?: string): string {
  const t = expandMeanColumn(table);
  const marks = valueMarks(t);
  const hasLabel = t.corner !== null;
  const head = [...(hasLabel ? [t.corner!] : []), ...t.columns].map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("");
  const rows = t.rows.map((r, i) => {
    const tds = t.columns.map((_, j) => {
      const text = escapeHtml(valueText(t, i, j));
      return text === "" ? `<td class="na">–</td>` : `<td>${marks[i]![j] ? `<strong>${text}</strong>` : text}</td>`;
    });
    return `<tr>${hasLabel ? `<th scope="row">${escapeHtml(r.label)}</th>` : ""}${tds.join("")}</tr>`;
  });
  return [
    `<section class="table"><table class="values">`,
    `<caption>${escapeHtml(t.title)}</caption>`,
    `<thead><tr>${head}</tr></thead>`,
    `<tbody>`,
    ...rows,
    `</tbody></table>`,
    ...(caption ? [`<p class="caption">${escapeHtml(caption)}</p>`] : []),
    `</section>`,
  ].join("\n");
}

/** A tag with its attributes (values double-quoted, as Vega writes them with `"` `<` `>` escaped). */
const SVG_TAG = /<\/?([A-Za-z][\w:.-]*)((?:\s+[^\s="'<>/]+="[^"]*")*)\s*\/?>/g;
const SVG_ATTRIBUTE = /\s([^\s="'<>/]+)="([^"]*)"/g;

/**
 * The SVG, when it has no scripts and no references outside itself. Only element and attribute names
 * and reference values are looked at, never text or other attribute values: a detector's name shows
 * up there, escaped, and may well read ` onerror=` or `<script>`.
 */
function checkSvg(svg: string, title: string): string {
  const s = svg.trim();
  const fail = (why: string): never => {
    throw new Error(`plot ${JSON.stringify(title)}: ${why}`);
  };
  if (!s.startsWith("<svg") || !s.endsWith("</svg>")) fail("not an SVG document");
  let tags = 0;
  for (const [, name, attributes] of s.matchAll(SVG_TAG)) {
    tags++;
    if (/^(script|foreignObject)$/i.test(name!)) fail(`SVG has a <${name}> element`);
    for (const [, attr, value] of attributes!.matchAll(SVG_ATTRIBUTE)) {
      if (/^on/i.test(attr!)) fail(`SVG has an event handler (${attr})`);
      if (/(^|:)(href|src)$/i.test(attr!) && !value!.startsWith("#")) fail(`SVG has an external reference (${attr})`);
      if (/url\((?!#)/i.test(value!)) fail(`SVG has an external reference (${attr})`);
    }
  }
  // every "<" must open one of the tags above (text is escaped), or something unchecked got in
  if (tags !== s.split("<").length - 1) fail("SVG markup that is not plain elements and attributes");
  return s;
}

/** The whole report as one HTML document (UTF-8, ends with a newline). */
export function reportHtml(report: Report): string {
  const meta = Object.entries(report.meta).filter((e): e is [string, string | number | boolean] => e[1] !== null && e[1] !== undefined);
  const body: string[] = [];
  let figures: string[] = [];
  const flush = (): void => {
    if (figures.length > 0) body.push(`<div class="figures">\n${figures.join("\n")}\n</div>`);
    figures = [];
  };
  for (const s of report.sections) {
    if (s.kind === "plot") {
      figures.push(`<figure aria-label="${escapeHtml(s.title)}">\n${checkSvg(s.svg, s.title)}${s.caption ? `\n<figcaption>${escapeHtml(s.caption)}</figcaption>` : ""}\n</figure>`);
      continue;
    }
    flush();
    if (s.kind === "heading") body.push(`<h2>${escapeHtml(s.text)}</h2>`);
    else if (s.kind === "text") body.push(`<p class="note">${escapeHtml(s.text)}</p>`);
    else if (s.kind === "scores") body.push(scoreTableHtml(s.table, s.caption));
    else body.push(valueTableHtml(s.table, s.caption));
  }
  flush();
  return [
    `<!DOCTYPE html>`,
    `<html lang="en">`,
    `<head>`,
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>${escapeHtml(report.title)}</title>`,
    `<style>${CSS}</style>`,
    `</head>`,
    `<body>`,
    `<main>`,
    `<header>`,
    `<h1>${escapeHtml(report.title)}</h1>`,
    meta.length > 0 ? `<dl class="meta">\n${meta.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`).join("\n")}\n</dl>` : "",
    `</header>`,
    ...body,
    `<footer>ACC: balanced accuracy. AUC: area under the ROC curve. In each row the best ACC is <strong>bold</strong> and the best AUC <ins>underlined</ins>; tied values are all marked.</footer>`,
    `</main>`,
    `</body>`,
    `</html>`,
    ``,
  ].join("\n");
}
