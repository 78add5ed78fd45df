import type { Command } from "commander";
import { makeExampleDataset } from "../../data/example.js";
import { action, parsePositiveInt, printJson } from "../common.js";

export function registerExample(dataset: Command): void {
  dataset
    .command("example")
    .description("write a small example dataset root (images + annotation files) in ImagiNet's layout")
    .requiredOption("--out <dir>", "where to write it")
    .option("--seed <n>", "random seed", (v) => Number.parseInt(v, 10), 42)
    .option("--per-kind <n>", "images per source folder", parsePositiveInt("--per-kind"), 4)
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { out: string; seed: number; perKind: number; json?: boolean }) => {
        const r = await makeExampleDataset(opts.out, { seed: opts.seed, perKind: opts.perKind });
        if (opts.json) return printJson(r);
        process.stdout.write(`wrote ${r.images} images (+${r.unreferenced} unreferenced) and ${r.annotationFiles.length} annotation files under ${r.root}\n`);
      }),
    );
}
