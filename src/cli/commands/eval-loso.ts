import type { Command } from "commander";
import { LOSO_FILE, recipeArgs, runLoso, type LosoResult } from "../../eval/loso.js";
import { readSources } from "../../eval/sources.js";
import { intervalsValueTable } from "../../report/build.js";
import { valueTableMarkdown } from "../../report/markdown.js";
import { writeFileAtomic } from "../../util/fs.js";
import * as path from "node:path";
import { action, outOption, parseNonNegativeInt, parseSeed, printJson } from "../common.js";

export function registerEvalLoso(evalCmd: Command): void {
  evalCmd
    .command("loso")
    .description("leave-one-source-out: per synthetic source, train on the other sources, score it with held-out reals of the same content types; writes OUT/loso.json and OUT/loso.md")
    .argument("<annotations>", "the dataset's annotation file (dataset import: annotations/all.txt)")
    .requiredOption("--root <dir>", "folder the annotation paths are relative to")
    .requiredOption("--sources <file>", "where each image came from (dataset import: annotations/sources.csv)")
    .addOption(outOption("<dir>", "folder for the folds (each resumable) and the table"))
    .requiredOption("--represent <args>", 'options of `imaginet train represent`, quoted as one argument, e.g. "--method ce --epochs 16 --width 0.0625"')
    .option("--classifier <args>", "options of `imaginet train classifier`, quoted as one argument", "")
    .option("--holdout <sources>", "leave out only these sources (comma-separated; default: every synthetic source)", (v: string) => v.split(",").filter((s) => s !== ""))
    .option("--seed <n>", "seed of the real images' split, the training runs and the bootstrap", parseSeed, 42)
    .option("--bootstrap <n>", "bootstrap resamples for 95% intervals (0: none)", parseNonNegativeInt("--bootstrap"), 1000)
    .option("--verbose", "show the training and detection commands' own output")
    .option("--json", "print the result as JSON")
    .action(
      action(
        async (
          annotations: string,
          opts: { root: string; sources: string; out: string; represent: string; classifier: string; holdout?: string[]; seed: number; bootstrap: number; verbose?: boolean; json?: boolean },
        ) => {
          const result = await runLoso({
            annotations,
            root: opts.root,
            sources: await readSources(opts.sources),
            out: opts.out,
            represent: recipeArgs(opts.represent, "--represent"),
            classifier: recipeArgs(opts.classifier, "--classifier"),
            ...(opts.holdout ? { holdout: opts.holdout } : {}),
            seed: opts.seed,
            resamples: opts.bootstrap,
            verbose: Boolean(opts.verbose),
            log: (l) => process.stderr.write(`${l}\n`),
          });
          const markdown = losoMarkdown(result);
          await writeFileAtomic(path.join(opts.out, "loso.md"), markdown);
          if (opts.json) return printJson(result);
          process.stdout.write(`${markdown}\n${path.join(opts.out, LOSO_FILE)}, ${path.join(opts.out, "loso.md")}\n`);
        },
      ),
    );
}

/** The table: one row per left-out source and content type, with intervals; what has no row is listed below it. */
export function losoMarkdown(r: LosoResult): string {
  const rows = r.folds.flatMap((f) => f.rows);
  const table = intervalsValueTable("Leave-one-source-out: each source scored by a detector trained without it", "Left-out source / content type", rows);
  const left = [...r.skipped.map((s) => `${s.source}: ${s.reason}`), ...r.folds.flatMap((f) => f.skipped.map((s) => `${s.label}: ${s.reason}`))];
  return [
    `#### ${table.title}`,
    "",
    valueTableMarkdown(table),
    ...(left.length > 0 ? [`Not scored: ${left.join("; ")}.`, ""] : []),
    `Recipe: \`train represent ${r.represent.join(" ")}\`, \`train classifier ${r.classifier.join(" ")}\`; seed ${r.seed}, ${r.resamples} bootstrap resamples.`,
    "",
  ].join("\n");
}
