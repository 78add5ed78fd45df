import type { Command } from "commander";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { evaluateRun, type Evaluation } from "../../eval/evaluate.js";
import { readRun } from "../../eval/results.js";
import { writeReport } from "../../report/build.js";
import { InputError } from "../../util/errors.js";
import { action, printJson } from "../common.js";
import { METRICS_FILE } from "./eval-run.js";

/** A run's metrics.json when `imaginet eval run` wrote one, else evaluated now. */
async function evaluationOf(dir: string, seed: number, resamples: number): Promise<Evaluation> {
  const file = path.join(dir, METRICS_FILE);
  const saved = await fsp.readFile(file, "utf8").catch(() => null);
  if (saved !== null) {
    let e: Evaluation;
    try {
      e = JSON.parse(saved) as Evaluation;
    } catch (err) {
      throw new InputError(`${file}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof e?.detector !== "string" || e.detector === "") throw new InputError(`${file}: expected "detector": a non-empty string`);
    return e;
  }
  return evaluateRun(await readRun(dir), { seed, resamples });
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("tables in the upstream README layout (Markdown), upstream CSVs, JSON, SVG plots and one HTML page for one or more runs")
    .argument("<runs...>", "run directories (their metrics.json is used when present)")
    .requiredOption("--out <dir>", "where to write report.md, report.html, report.json, csv/, plots/")
    .option("--seed <n>", "seed when a run has to be evaluated first", (v) => Number.parseInt(v, 10), 42)
    .option("--bootstrap <n>", "bootstrap resamples when a run has to be evaluated first", (v) => Number.parseInt(v, 10), 1000)
    .option("--json", "print the list of written files as JSON")
    .action(
      action(async (dirs: string[], opts: { out: string; seed: number; bootstrap: number; json?: boolean }) => {
        const evals: Evaluation[] = [];
        for (const d of dirs) evals.push(await evaluationOf(d, opts.seed, opts.bootstrap));
        const names = evals.map((e) => e.detector);
        const dup = names.find((n, i) => names.indexOf(n) !== i);
        if (dup) throw new InputError(`two runs are named "${dup}": detector names must differ to share a table`);
        const differing = evals.filter((e) => e.images.sha256 !== evals[0]!.images.sha256).map((e) => e.detector);
        if (differing.length > 0) process.stderr.write(`imaginet: warning: ${differing.join(", ")} evaluated other images than ${evals[0]!.detector}: the tables compare different test sets\n`);
        const r = await writeReport(evals, opts.out);
        if (opts.json) return printJson(r.files.map((f) => path.join(r.dir, f)));
        process.stdout.write(`${r.markdown}\nwrote ${r.files.length} files; open ${path.join(r.dir, "report.html")}\n`);
      }),
    );
}
