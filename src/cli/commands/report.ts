import type { Command } from "commander";
import * as path from "node:path";
import { savedOrEvaluated, type Evaluation } from "../../eval/evaluate.js";
import { writeReport } from "../../report/build.js";
import { InputError } from "../../util/errors.js";
import { action, outOption, parseNonNegativeInt, parseSeed, printJson } from "../common.js";

export function registerReport(program: Command): void {
  program
    .command("report")
    .description(
      "tables in the upstream README layout (Markdown), upstream CSVs (csv/ImagiNet*/, csv/Corvi/, csv/PracticalTestset/ by each run's track), JSON, SVG plots and one HTML page for one or more runs",
    )
    .argument("<runs...>", "run directories (their metrics.json is used when present)")
    .addOption(outOption("<dir>", "where to write report.md, report.html, report.json, csv/, plots/"))
    .option("--seed <n>", "seed when a run has to be evaluated first", parseSeed, 42)
    .option("--bootstrap <n>", "bootstrap resamples when a run has to be evaluated first (0: none)", parseNonNegativeInt("--bootstrap"), 1000)
    .option("--json", "print the list of written files as JSON")
    .action(
      action(async (dirs: string[], opts: { out: string; seed: number; bootstrap: number; json?: boolean }) => {
        const evals: Evaluation[] = [];
        for (const d of dirs) evals.push(await savedOrEvaluated(d, { seed: opts.seed, resamples: opts.bootstrap }));
        const names = evals.map((e) => e.detector);
        const dup = names.find((n, i) => names.indexOf(n) !== i);
        if (dup) throw new InputError(`two runs are named "${dup}": detector names must differ to share a table`);
        for (const track of new Set(evals.map((e) => e.track ?? "imaginet"))) {
          const same = evals.filter((e) => (e.track ?? "imaginet") === track);
          const differing = same.filter((e) => e.images.sha256 !== same[0]!.images.sha256).map((e) => e.detector);
          if (differing.length > 0) process.stderr.write(`imaginet: warning: ${differing.join(", ")} evaluated other images than ${same[0]!.detector}: the tables compare different test sets\n`);
        }
        const r = await writeReport(evals, opts.out);
        if (opts.json) return printJson(r.files.map((f) => path.join(r.dir, f)));
        process.stdout.write(`${r.markdown}\nwrote ${r.files.length} files; open ${path.join(r.dir, "report.html")}\n`);
      }),
    );
}
