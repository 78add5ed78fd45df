import type { Command } from "commander";
import * as path from "node:path";
import { loadReferences } from "../../data/references.js";
import { buildCorvi, CORVI_OPERATIONS, type CorviBuildReport } from "../../data/testset/corvi.js";
import { buildTestset } from "../../data/testset/build.js";
import { DEFAULT_TEST_FILES, defaultTestFiles } from "../../data/testset/plan.js";
import { DEFAULT_MAX_PIXELS } from "../../image/decode.js";
import { findRecipe } from "../../image/recipes.js";
import { resolveShard, type Shard } from "../../util/shard.js";
import { addShardOptions, type ShardCliOptions } from "../shard-options.js";
import { action, EXIT_OK, EXIT_PROBLEMS, outOption, parseIntInRange, parsePositiveInt, parseSeed, printJson, workersOption } from "../common.js";

export function registerTestsetBuild(testset: Command): void {
  const cmd = testset
    .command("build")
    .description("build ImagiNet's perturbed test set (crop, Lanczos-4 resize, JPEG/WebP), or with --recipe corvi256 the Corvi test set at 256 × 256, reproducibly, in parallel, resumably")
    .argument(
      "[annotations...]",
      `original-image annotation files, one per generator group (default: ${DEFAULT_TEST_FILES.join(", ")} in ROOT/annotations); corvi256: only the images these list (default: every row of operations.csv)`,
    )
    .requiredOption("--root <dir>", "dataset root holding the original images")
    .addOption(outOption("<dir>", "where to write testset/, test_{group}.txt, manifest.jsonl"))
    .option("--seed <n>", "random seed; each image's draws depend only on it, the image's number and its source path", parseSeed, 42)
    .addOption(workersOption("building images", "one per core"))
    .option("--recipe <name>", "perturbation recipe, or corvi256: the Corvi test set's crops and JPEG qualities from operations.csv, resized to 256", "testset")
    .option("--operations <csv>", `corvi256: DMimageDetection's operations.csv (default ROOT/${CORVI_OPERATIONS})`)
    .option("--max-pixels <n>", "refuse larger source images", parsePositiveInt("--max-pixels"), DEFAULT_MAX_PIXELS)
    .option("--webp-effort <n>", "lossless WebP effort 0-6: identical pixels; higher is smaller and slower", parseIntInRange("--webp-effort", 0, 6), 0)
    .option("--json", "print the report as JSON");
  addShardOptions(cmd, "`imaginet testset merge` (corvi256 writes no manifest: its shards may share one --out)")
    .addHelpText("after", "\nExit code: 0 when every image was built, 1 when some failed (listed in OUT/errors.jsonl).")
    .action(
      action(async (files: string[], opts: BuildOpts) => {
        const shard = resolveShard(opts);
        if (opts.recipe === "corvi256") return buildCorviCommand(files, opts, shard);
        const report = await buildTestset({
          root: opts.root,
          out: opts.out,
          files: files.length > 0 ? files : defaultTestFiles(opts.root),
          recipe: findRecipe(opts.recipe),
          seed: opts.seed,
          workers: opts.workers,
          maxPixels: opts.maxPixels,
          webpEffort: opts.webpEffort,
          progress: opts.json ? false : undefined,
          shard,
        });
        if (opts.json) printJson(report);
        else {
          process.stdout.write(
            `${report.out}:${shard ? ` shard ${shard.index}/${shard.count}:` : ""} ${report.built} built, ${report.skipped} already done, ${report.failed.length} failed of ${report.total} (${report.seconds.toFixed(1)} s, recipe ${report.recipeHash.slice(0, 12)})\n`,
          );
          for (const f of report.failed.slice(0, 5)) process.stdout.write(`  failed #${f.k} ${f.source}: ${f.error}\n`);
          if (report.failed.length > 5) process.stdout.write(`  … all ${report.failed.length} in ${path.join(report.out, "errors.jsonl")}\n`);
        }
        return report.failed.length === 0 ? EXIT_OK : EXIT_PROBLEMS;
      }),
    );
}

interface BuildOpts extends ShardCliOptions {
  root: string;
  out: string;
  seed: number;
  workers?: number;
  recipe: string;
  operations?: string;
  maxPixels: number;
  webpEffort: number;
  json?: boolean;
}

async function buildCorviCommand(files: string[], opts: BuildOpts, shard: Shard | undefined): Promise<number> {
  const only = files.length > 0 ? (await loadReferences(files)).paths : undefined;
  const report: CorviBuildReport = await buildCorvi({
    root: opts.root,
    out: opts.out,
    operations: opts.operations ?? path.join(opts.root, CORVI_OPERATIONS),
    only,
    workers: opts.workers,
    maxPixels: opts.maxPixels,
    progress: opts.json ? false : undefined,
    shard,
  });
  if (opts.json) printJson(report);
  else {
    process.stdout.write(`${report.out}: ${report.built} built, ${report.skipped} already there, ${report.failed.length} failed of ${report.total} (${report.seconds.toFixed(1)} s, corvi256)\n`);
    for (const f of report.failed.slice(0, 5)) process.stdout.write(`  failed ${f.path}: ${f.error}\n`);
  }
  return report.failed.length === 0 ? EXIT_OK : EXIT_PROBLEMS;
}
