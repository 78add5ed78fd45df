import type { Command } from "commander";
import { makeExampleDataset } from "../../data/example.js";
import { action, outOption, parseIntAtLeast, parseSeed, printJson } from "../common.js";

export function registerExample(dataset: Command): void {
  dataset
    .command("example")
    .description("write a small example dataset root (images + annotation files) in ImagiNet's layout")
    .addOption(outOption("<dir>", "where to write it"))
    .option("--seed <n>", "random seed", parseSeed, 42)
    .option("--per-kind <n>", "images per source folder (at least 4: train, calibration and test each hold every kind)", parseIntAtLeast("--per-kind", 4), 4)
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { out: string; seed: number; perKind: number; json?: boolean }) => {
        const r = await makeExampleDataset(opts.out, { seed: opts.seed, perKind: opts.perKind });
        if (opts.json) return printJson(r);
        process.stdout.write(`wrote ${r.images} images (+${r.unreferenced} unreferenced) and ${r.annotationFiles.length} annotation files under ${r.root}\n`);
      }),
    );
}
