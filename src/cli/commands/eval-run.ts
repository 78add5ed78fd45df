import type { Command } from "commander";
import { evaluateRuns, writeMetrics, type DetectionTable, type Evaluation } from "../../eval/evaluate.js";
import { TRACK_TITLES } from "../../data/tracks.js";
import { readSources } from "../../eval/sources.js";
import { renderTable } from "../../util/table.js";
import { action, parseNonNegativeInt, parseNumberBetween, parseSeed, printJson } from "../common.js";

export function registerEvalRun(evalCmd: Command): void {
  evalCmd
    .command("run")
    .description("compute a run's metrics from saved predictions (ImagiNet: detection and identification; Corvi, Practical: per-generator detection); writes RUN/metrics.json")
    .argument("<runs...>", "run directories (run.json + predictions.jsonl [+ calibration.jsonl])")
    .option("--seed <n>", "seed for the bootstrap and the real-image subsamples", parseSeed, 42)
    .option("--bootstrap <n>", "bootstrap resamples for 95% intervals (0: none)", parseNonNegativeInt("--bootstrap"), 1000)
    .option("--target-fpr <x>", "false-positive rate (between 0 and 1) for the operating point chosen on the calibration images", parseNumberBetween("--target-fpr", 0, 1), 0.05)
    .option("--sources <file>", "where each image came from (annotations/sources.csv of `dataset import`): adds AUC per synthetic source within each content type")
    .option("--json", "print the evaluations as JSON")
    .action(
      action(async (dirs: string[], opts: { seed: number; bootstrap: number; targetFpr: number; sources?: string; json?: boolean }) => {
        const sources = opts.sources ? await readSources(opts.sources) : undefined;
        const evaluations = await evaluateRuns(dirs, { seed: opts.seed, resamples: opts.bootstrap, targetFpr: opts.targetFpr, ...(sources ? { sources } : {}) });
        for (const [i, e] of evaluations.entries()) await writeMetrics(dirs[i]!, e);
        if (opts.json) return printJson(evaluations);
        for (const e of evaluations) process.stdout.write(formatEvaluation(e));
      }),
    );
}

const f4 = (x: number): string => (Number.isNaN(x) ? "n/a" : x.toFixed(4));
const ci = (e: { value: number; lo: number; hi: number }): string => (Number.isNaN(e.lo) ? f4(e.value) : `${f4(e.value)} [${f4(e.lo)}, ${f4(e.hi)}]`);

function formatTable(title: string, t: DetectionTable | null): string {
  if (!t) return "";
  const rows = t.rows.map((r) => [r.label, r.real, r.synthetic, ci(r.acc), ci(r.auc), f4(r.ap), f4(r.eer), f4(r.tprAt1)]);
  rows.push(["Mean", "", "", f4(t.mean.acc), f4(t.mean.auc), "", "", ""]);
  return `${title}\n${renderTable(["", "real", "synthetic", "ACC (balanced) [95% CI]", "AUC [95% CI]", "AP", "EER", "TPR@1%FPR"], rows)}\n\n`;
}

export function formatEvaluation(e: Evaluation): string {
  let out = `== ${e.detector} (${e.run})\n`;
  if (e.calibration) {
    const c = e.calibration;
    const op = c.operatingPoint;
    out += `calibration: p = sigmoid(${c.a.toPrecision(6)}·score + ${c.b.toPrecision(6)}) from ${c.n} images${c.warning ? ` (${c.warning})` : ""}\n`;
    out += `operating point for FPR ≤ ${op.targetFpr} on the calibration images: p ≥ ${f4(op.threshold)} (calibration FPR ${f4(op.calibration.fpr)}, TPR ${f4(op.calibration.tpr)}; test FPR ${f4(op.test.fpr)}, TPR ${f4(op.test.tpr)})\n\n`;
  }
  if (e.detection) {
    out += formatTable("Detection by model group", e.detection.groups);
    out += formatTable("Detection by specific generator", e.detection.specific);
    out += formatTable("Detection by content type (both classes present)", e.detection.content);
    out += formatTable("Detection by synthetic source, against the real images of the same content type", e.detection.sources ?? null);
    out += formatTable(`Detection by generator (${TRACK_TITLES[e.track ?? "imaginet"]})`, e.detection.generators ?? null);
    const a = e.detection.all;
    out += `All images: ACC ${ci(a.acc)}, AUC ${ci(a.auc)}, Brier ${f4(a.brier)}, ECE ${f4(a.ece)}, TPR@0.1%FPR ${f4(a.tprAt01)}\n\n`;
  }
  if (e.identification) {
    const id = e.identification;
    out += `Identification (4-way)\n${renderTable([...id.rows.map((r) => r.label), "Mean"], [[...id.rows.map((r) => f4(r.acc.value)), f4(id.meanAcc)]])}\nmacro one-vs-rest AUC ${f4(id.macroAuc)}\n\n`;
  }
  for (const n of e.notes) out += `note: ${n}\n`;
  return out;
}
