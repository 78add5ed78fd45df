/**
 * From evaluations (one per detector, see src/eval/evaluate.ts) to the report files: upstream-layout
 * Markdown and CSVs, JSON, SVG plots and one HTML page.
 */
import * as path from "node:path";
import type { DetectionTable, Evaluation } from "../eval/evaluate.js";
import { writeFileAtomic } from "../util/fs.js";
import { scoreTableCsv } from "./csv.js";
import { reportHtml, type ReportSection } from "./html.js";
import { scoreTableJson, valueTableJson } from "./json.js";
import { scoreTableMarkdown, valueTableMarkdown } from "./markdown.js";
import { reliabilitySvg, rocSvg, severitySvg } from "./plots.js";
import { withMean, type ScoreTable, type ValueTable } from "./table.js";

type TableKey = "groups" | "specific" | "content";

/** Titles and upstream CSV folders, as upstream's testing scripts name them. */
const TABLES: { key: TableKey; title: string; folder: string; labelHeader: string }[] = [
  { key: "groups", title: "Results group of models", folder: "ImagiNet", labelHeader: "Model" },
  { key: "specific", title: "Results specific models", folder: "ImagiNet_Specific_Model", labelHeader: "Model" },
  { key: "content", title: "Results content types", folder: "ImagiNet_Content", labelHeader: "Content Type" },
];

/** Row labels as upstream's CSVs spell them. */
const CSV_LABELS: Record<string, string> = { "DALL·E 3": "DALLE3" };

export function scoreTable(evals: readonly Evaluation[], key: TableKey, title: string): ScoreTable | null {
  const tables = evals.map((e) => e.detection?.[key] ?? null);
  const labels: string[] = [];
  for (const t of tables) for (const r of t?.rows ?? []) if (!labels.includes(r.label)) labels.push(r.label);
  if (labels.length === 0) return null;
  const cell = (t: DetectionTable | null, label: string) => {
    const r = t?.rows.find((x) => x.label === label);
    return r ? { acc: r.acc.value, auc: r.auc.value } : null;
  };
  return withMean({ title, corner: "ACC / AUC", columns: evals.map((e) => e.detector), rows: labels.map((label) => ({ label, cells: tables.map((t) => cell(t, label)) })), mean: null });
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
    out.push({ name: "roc", title: "ROC curves (all test images)", svg: await rocSvg(det.map((e) => ({ name: e.detector, fpr: e.detection!.roc.fpr, tpr: e.detection!.roc.tpr, auc: e.detection!.all.auc.value }))) });
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
  for (const fam of families) {
    const series = evals
      .map((e) => ({ name: e.detector, points: e.robustness.filter((p) => p.perturbation === fam).map((p) => ({ x: p.severity, y: p.acc })) }))
      .filter((s) => s.points.length > 0);
    out.push({
      name: `robustness-${fam.replace(/[^A-Za-z0-9_-]/g, "_")}`,
      title: `Robustness: ${fam}`,
      svg: await severitySvg(series, { xTitle: fam === "jpeg" ? "JPEG quality" : fam, yTitle: "Accuracy", xReverse: fam === "jpeg", yRule: 0.5 }),
    });
  }
  return out;
}

const fileName = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, "_");

export interface ReportFiles {
  dir: string;
  files: string[];
  markdown: string;
}

export async function writeReport(evals: readonly Evaluation[], dir: string): Promise<ReportFiles> {
  const files: string[] = [];
  const put = async (rel: string, data: string): Promise<void> => {
    await writeFileAtomic(path.join(dir, rel), data);
    files.push(rel);
  };
  const sections: ReportSection[] = [];
  const md: string[] = ["# Results", ""];
  const json: Record<string, unknown> = { detectors: evals.map((e) => e.detector) };
  for (const t of TABLES) {
    const table = scoreTable(evals, t.key, t.title);
    if (!table) continue;
    md.push(`#### ${t.title}`, scoreTableMarkdown(table), "");
    sections.push({ kind: "scores", table });
    json[t.key] = scoreTableJson(table);
    for (const det of table.columns) await put(path.join("csv", t.folder, `${fileName(det)}.csv`), scoreTableCsv(table, det, { labelHeader: t.labelHeader, csvLabels: t.key === "groups" ? CSV_LABELS : {} }));
  }
  for (const [key, table] of [["identification", identificationTable(evals)], ["extras", extrasTable(evals)]] as const) {
    if (!table) continue;
    md.push(`#### ${table.title}`, valueTableMarkdown(table), "");
    sections.push({ kind: "values", table });
    json[key] = valueTableJson(table);
  }
  for (const p of await plots(evals)) {
    await put(path.join("plots", `${p.name}.svg`), p.svg);
    sections.push({ kind: "plot", title: p.title, svg: p.svg });
  }
  const notes = evals.flatMap((e) => e.notes.map((n) => `${e.detector}: ${n}`));
  for (const n of notes) sections.push({ kind: "text", text: n });
  const markdown = `${md.join("\n")}\n`;
  await put("report.md", markdown);
  await put("report.json", `${JSON.stringify({ ...json, evaluations: evals }, null, 2)}\n`);
  const meta: Record<string, string | number> = { detectors: evals.map((e) => e.detector).join(", ") };
  const first = evals[0];
  if (first) {
    meta.seed = first.options.seed;
    meta["bootstrap resamples"] = first.options.resamples;
  }
  await put("report.html", reportHtml({ title: "imaginet report", meta, sections }));
  return { dir, files, markdown };
}
