/**
 * From evaluations (one per detector, see src/eval/evaluate.ts) to the report files: upstream-layout
 * Markdown and CSVs, JSON, SVG plots and one HTML page.
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { PRACTICAL_CSV_LABELS, type TrackName } from "../data/tracks.js";
import type { DetectionRow, DetectionTable, Evaluation } from "../eval/evaluate.js";
import { InputError } from "../util/errors.js";
import { formatMetric, scoreTableCsv } from "./csv.js";
import { reportHtml, type ReportSection } from "./html.js";
import { scoreTableJson, valueTableJson } from "./json.js";
import { escapeMarkdownCell, scoreTableMarkdown, valueTableMarkdown } from "./markdown.js";
import { reliabilitySvg, rocSvg, severitySvg } from "./plots.js";
import type { ScoreTable, ValueTable } from "./table.js";

type TableKey = "groups" | "specific" | "content" | "sources" | "generators";

/**
 * Titles, upstream CSV folders (reference_results/<folder>/) and row labels as upstream's CSVs spell
 * them, per track, as upstream's testing scripts name them.
 */
export const TABLES: { track: TrackName; key: TableKey; title: string; folder: string; labelHeader: string; csvLabels: Readonly<Record<string, string>> }[] = [
  { track: "imaginet", key: "groups", title: "Results group of models", folder: "ImagiNet", labelHeader: "Model", csvLabels: { "DALL·E 3": "DALLE3" } },
  { track: "imaginet", key: "specific", title: "Results specific models", folder: "ImagiNet_Specific_Model", labelHeader: "Model", csvLabels: {} },
  { track: "imaginet", key: "content", title: "Results content types", folder: "ImagiNet_Content", labelHeader: "Content Type", csvLabels: {} },
  { track: "corvi", key: "generators", title: "Results Corvi test set", folder: "Corvi", labelHeader: "Model", csvLabels: {} },
  { track: "practical", key: "generators", title: "Results Practical test set", folder: "PracticalTestset", labelHeader: "Model", csvLabels: PRACTICAL_CSV_LABELS },
];

/**
 * One ScoreTable from the evaluations' tables of one kind: rows in order of first appearance, one
 * column per evaluation. Each column's Mean is its evaluation's own (the mean of its unrounded rows, as
 * upstream's Mean row), shown where that evaluation has every row of the table.
 */
export function scoreTable(evals: readonly Evaluation[], key: TableKey, title: string): ScoreTable | null {
  const tables = evals.map((e) => e.detection?.[key] ?? null);
  const labels: string[] = [];
  for (const t of tables) for (const r of t?.rows ?? []) if (!labels.includes(r.label)) labels.push(r.label);
  if (labels.length === 0) return null;
  const cell = (t: DetectionTable | null, label: string) => {
    const r = t?.rows.find((x) => x.label === label);
    return r ? { acc: r.acc.value, auc: r.auc.value } : null;
  };
  const mean = tables.map((t) => (t && t.rows.length === labels.length ? { acc: t.mean.acc, auc: t.mean.auc } : null));
  return { title, corner: "ACC / AUC", columns: evals.map((e) => e.detector), rows: labels.map((label) => ({ label, cells: tables.map((t) => cell(t, label)) })), mean };
}

function identificationTable(evals: readonly Evaluation[]): ValueTable | null {
  const ids = evals.filter((e) => e.identification);
  if (ids.length === 0) return null;
  const columns = ids[0]!.identification!.rows.map((r) => r.label);
  return {
    title: "Model identification (ACC)",
    corner: "Detector",
    columns,
    rows: ids.map((e) => ({ label: e.detector, values: columns.map((c) => e.identification!.rows.find((r) => r.label === c)?.acc.value ?? null) })),
    digits: 4,
    best: { along: "column", better: "higher" },
    meanColumn: "Mean",
  };
}

/**
 * Within content type and per source, one detector, with the bootstrap intervals (the score tables
 * show point values only): what an evaluation with a sources file (`eval run --sources`) adds.
 */
function intervalsTable(e: Evaluation): ValueTable | null {
  const d = e.detection;
  if (!d?.sources) return null;
  return intervalsValueTable(`${e.detector}: within content type and per source, 95% bootstrap intervals`, "Content type / source", [...(d.content?.rows ?? []), ...d.sources.rows]);
}

/** Detection rows with their counts and bootstrap intervals, one row each (also `eval loso`'s table). */
export function intervalsValueTable(title: string, corner: string, rows: readonly DetectionRow[]): ValueTable {
  const range = (x: { lo: number; hi: number }): string => (Number.isNaN(x.lo) ? "" : `[${formatMetric(x.lo)}, ${formatMetric(x.hi)}]`);
  return {
    title,
    corner,
    columns: ["real", "synthetic", "ACC", "ACC 95% CI", "AUC", "AUC 95% CI"],
    rows: rows.map((r) => ({
      label: r.label,
      values: [r.real, r.synthetic, r.acc.value, null, r.auc.value, null],
      text: [String(r.real), String(r.synthetic), undefined, range(r.acc), undefined, range(r.auc)],
    })),
    digits: 4,
    best: null,
    meanColumn: null,
  };
}

/** What no upstream table shows: AP, EER, TPR at low FPR and calibration quality, over all images. */
function extrasTable(evals: readonly Evaluation[]): ValueTable | null {
  const det = evals.filter((e) => e.detection);
  if (det.length === 0) return null;
  const columns = ["AP", "EER", "TPR@1%FPR", "TPR@0.1%FPR", "Brier", "ECE"];
  return {
    title: "All images: ranking and calibration",
    corner: "Detector",
    columns,
    rows: det.map((e) => {
      const a = e.detection!.all;
      return { label: e.detector, values: [a.ap, a.eer, a.tprAt1, a.tprAt01, a.brier, a.ece] };
    }),
    digits: 4,
    best: null,
    meanColumn: null,
  };
}

async function plots(evals: readonly Evaluation[]): Promise<{ name: string; title: string; svg: string }[]> {
  const det = evals.filter((e) => e.detection);
  const out: { name: string; title: string; svg: string }[] = [];
  if (det.length > 0) {
    out.push({
      name: "roc",
      title: "ROC curves (all test images)",
      svg: await rocSvg(det.map((e) => ({ name: e.detector, fpr: e.detection!.roc.fpr, tpr: e.detection!.roc.tpr, auc: e.detection!.all.auc.value }))),
    });
    out.push({
      name: "reliability",
      title: "Reliability (calibrated probabilities)",
      svg: await reliabilitySvg(
        det.map((e) => ({
          name: e.detector,
          ece: e.detection!.reliability.ece,
          bins: e.detection!.reliability.bins.map((b) => ({ lo: b.lo, hi: b.hi, count: b.count, meanPredicted: b.meanProb, fractionPositive: b.fracPositive })),
        })),
      ),
    });
  }
  const families = [...new Set(evals.flatMap((e) => e.robustness.map((p) => p.perturbation)))].sort();
  const familyFiles = fileNames(families);
  for (const fam of families) {
    const series = evals.map((e) => ({ name: e.detector, points: e.robustness.filter((p) => p.perturbation === fam).map((p) => ({ x: p.severity, y: p.acc })) })).filter((s) => s.points.length > 0);
    out.push({
      name: `robustness-${familyFiles.get(fam)!}`,
      title: `Robustness: ${fam}`,
      svg: await severitySvg(series, { xTitle: fam === "jpeg" ? "JPEG quality" : fam, yTitle: "Accuracy", xReverse: fam === "jpeg", yRule: 0.5 }),
    });
  }
  return out;
}

/** A name that is a file name as it stands: no odd characters, not hidden, not too long. */
const PLAIN_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * A file name per name (detector, perturbation), no two alike even on a case-insensitive disk: the name
 * itself where it is plain, else its characters that are (the rest as `_`) and 8 hex digits of its
 * sha256 (`Det<1` → `Det_1-…`), so a name's file does not depend on the other names.
 */
export function fileNames(names: readonly string[]): Map<string, string> {
  const lower = (s: string): string => s.toLowerCase();
  const plainCount = new Map<string, number>();
  for (const n of names) if (PLAIN_FILE_NAME.test(n)) plainCount.set(lower(n), (plainCount.get(lower(n)) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const n of names) {
    if (plainCount.get(lower(n)) === 1) out.set(n, n);
    else {
      const slug = n
        .replace(/[^A-Za-z0-9._-]+/g, "_")
        .replace(/^[._-]+/, "")
        .slice(0, 60);
      out.set(n, `${slug || "x"}-${createHash("sha256").update(n).digest("hex").slice(0, 8)}`);
    }
  }
  const taken = new Map<string, string>();
  for (const [n, f] of out) {
    const other = taken.get(lower(f));
    if (other !== undefined) throw new Error(`names ${JSON.stringify(other)} and ${JSON.stringify(n)} would share the file name ${JSON.stringify(f)}`);
    taken.set(lower(f), n);
  }
  return out;
}

export interface ReportFiles {
  dir: string;
  files: string[];
  markdown: string;
}

/** A per-detector CSV and what it holds. */
interface CsvFile {
  path: string;
  detector: string;
  table: TableKey;
}

/**
 * The score tables of the evaluations, each with its per-detector CSVs in upstream's layout
 * (`csv/<folder>/<detector>.csv`, rows as upstream's CSVs spell them): ImagiNet's three tables from
 * ImagiNet runs, the Corvi and Practical tables from runs of those tracks.
 */
export function upstreamTables(evals: readonly Evaluation[]): { spec: (typeof TABLES)[number]; table: ScoreTable; csvs: { path: string; detector: string; data: string }[] }[] {
  const csvNames = fileNames(evals.map((e) => e.detector));
  const out: ReturnType<typeof upstreamTables> = [];
  for (const spec of TABLES) {
    const table = scoreTable(
      evals.filter((e) => (e.track ?? "imaginet") === spec.track),
      spec.key,
      spec.title,
    );
    if (!table) continue;
    const csvs = table.columns.map((det) => ({
      path: path.posix.join("csv", spec.folder, `${csvNames.get(det)!}.csv`),
      detector: det,
      data: scoreTableCsv(table, det, { labelHeader: spec.labelHeader, csvLabels: spec.csvLabels }),
    }));
    out.push({ spec, table, csvs });
  }
  return out;
}

/**
 * Renders the whole report, then writes it (see `writeReportFiles`): a failure while rendering writes
 * nothing, and names are escaped for each format (HTML, Markdown cells, CSV, SVG text), never refused.
 */
export async function writeReport(evals: readonly Evaluation[], dir: string): Promise<ReportFiles> {
  const out: { rel: string; data: string }[] = [];
  const sections: ReportSection[] = [];
  const md: string[] = ["# Results", ""];
  const json: Record<string, unknown> = { detectors: evals.map((e) => e.detector) };
  const csvFiles: CsvFile[] = [];
  for (const { spec: t, table, csvs } of upstreamTables(evals)) {
    md.push(`#### ${t.title}`, scoreTableMarkdown(table), "");
    sections.push({ kind: "scores", table });
    json[t.key === "generators" ? t.track : t.key] = scoreTableJson(table);
    for (const c of csvs) {
      out.push({ rel: c.path, data: c.data });
      csvFiles.push({ path: c.path, detector: c.detector, table: t.key });
    }
  }
  const bySource = scoreTable(evals, "sources", "Results per synthetic source, against the real images of the same content type");
  if (bySource) {
    md.push(`#### ${bySource.title}`, scoreTableMarkdown(bySource), "");
    sections.push({ kind: "scores", table: bySource });
    json.sources = scoreTableJson(bySource);
    const intervals: Record<string, unknown> = {};
    for (const e of evals) {
      const table = intervalsTable(e);
      if (!table) continue;
      const skipped = [...e.detection!.contentSkipped, ...e.detection!.sourcesSkipped].map((s) => `${s.label} (${s.real} real, ${s.synthetic} synthetic): ${s.reason}`);
      md.push(`#### ${table.title}`, valueTableMarkdown(table), "", ...(skipped.length > 0 ? [`Left out: ${skipped.map(escapeMarkdownCell).join("; ")}.`, ""] : []));
      sections.push({ kind: "values", table });
      intervals[e.detector] = { table: valueTableJson(table), skipped: [...e.detection!.contentSkipped, ...e.detection!.sourcesSkipped] };
    }
    json.intervals = intervals;
  }
  for (const [key, table] of [
    ["identification", identificationTable(evals)],
    ["extras", extrasTable(evals)],
  ] as const) {
    if (!table) continue;
    md.push(`#### ${table.title}`, valueTableMarkdown(table), "");
    sections.push({ kind: "values", table });
    json[key] = valueTableJson(table);
  }
  for (const p of await plots(evals)) {
    out.push({ rel: path.posix.join("plots", `${p.name}.svg`), data: p.svg });
    sections.push({ kind: "plot", title: p.title, svg: p.svg });
  }
  const notes = evals.flatMap((e) => e.notes.map((n) => `${e.detector}: ${n}`));
  for (const n of notes) sections.push({ kind: "text", text: n });
  if (csvFiles.length > 0) {
    sections.push({ kind: "heading", text: "CSV files (upstream's format)" });
    for (const det of evals.map((e) => e.detector)) {
      const mine = csvFiles.filter((f) => f.detector === det).map((f) => f.path);
      if (mine.length > 0) sections.push({ kind: "text", text: `${det}: ${mine.join(", ")}` });
    }
  }
  const markdown = `${md.join("\n")}\n`;
  out.push({ rel: "report.md", data: markdown });
  out.push({ rel: "report.json", data: `${JSON.stringify({ ...json, csvFiles, evaluations: evals }, null, 2)}\n` });
  const meta: Record<string, string | number> = { detectors: evals.map((e) => e.detector).join(", ") };
  const first = evals[0];
  if (first) {
    meta.seed = first.options.seed;
    meta["bootstrap resamples"] = first.options.resamples;
  }
  out.push({ rel: "report.html", data: reportHtml({ title: "imaginet report", meta, sections }) });
  await writeReportFiles(dir, out);
  return { dir, files: out.map((f) => f.rel), markdown };
}

/**
 * Writes a report's files (relative POSIX paths) under `dir` whole or not at all: every destination is
 * checked first (`dir` and the folders on the way must be folders or absent, each file must not be a
 * folder), then everything is written to a temporary folder beside `dir` and renamed into place — the
 * temporary folder itself when `dir` does not exist yet, else file by file (files of an earlier report
 * that this one does not write stay). A failure while writing leaves `dir` as it was.
 */
async function writeReportFiles(dir: string, files: readonly { rel: string; data: string }[]): Promise<void> {
  const target = path.resolve(dir);
  const folders = new Set<string>([target]);
  for (const f of files) for (let d = path.dirname(path.join(target, f.rel)); d !== target; d = path.dirname(d)) folders.add(d);
  for (const d of folders) {
    const st = await fsp.stat(d).catch(() => null);
    if (st && !st.isDirectory()) throw new InputError(`cannot write the report: ${d} is not a folder`);
  }
  for (const f of files) {
    const st = await fsp.lstat(path.join(target, f.rel)).catch(() => null);
    if (st?.isDirectory()) throw new InputError(`cannot write the report: ${path.join(target, f.rel)} is a folder`);
  }
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const staging = await fsp.mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.tmp-`));
  try {
    for (const f of files) {
      await fsp.mkdir(path.dirname(path.join(staging, f.rel)), { recursive: true });
      await fsp.writeFile(path.join(staging, f.rel), f.data);
    }
    if (!(await fsp.stat(target).catch(() => null))) {
      await fsp.rename(staging, target);
      return;
    }
    for (const f of files) {
      await fsp.mkdir(path.dirname(path.join(target, f.rel)), { recursive: true });
      await fsp.rename(path.join(staging, f.rel), path.join(target, f.rel));
    }
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
}
