import { Option, type Command } from "commander";
import * as path from "node:path";
import { joinScores, readScores } from "../../eval/import.js";
import { makeManifest, writeRun } from "../../eval/results.js";
import { action, collect, outOption, printJson } from "../common.js";

export function registerEvalImport(evalCmd: Command): void {
  evalCmd
    .command("import")
    .description("make a run from any detector's per-image scores (CSV: path,score or path,<class>,…) and annotation files")
    .argument("<annotations...>", "test annotation files (e.g. test_gan.txt test_sd.txt test_midjourney.txt test_dalle3.txt)")
    .requiredOption("--scores <csv>", "scores for the test images")
    .requiredOption("--name <name>", "the detector's name shown in reports (any text)")
    .addOption(outOption("<dir>", "run directory to write"))
    .option("--calibration-list <file>", "calibration annotation file (e.g. test_calibration.txt)")
    .addOption(new Option("--calibration-scores <csv>", "scores for the calibration images").default(undefined, "looked up in --scores"))
    .addOption(new Option("--weights <file>", "the detector's weights, to record their sha256 (repeatable)").argParser(collect).default([], "none"))
    .option("--json", "print the manifest as JSON")
    .action(
      action(async (files: string[], opts: { scores: string; name: string; out: string; calibrationList?: string; calibrationScores?: string; weights: string[]; json?: boolean }) => {
        const scores = await readScores(opts.scores);
        const predictions = await joinScores(scores, files);
        const calibration = opts.calibrationList ? await joinScores(opts.calibrationScores ? await readScores(opts.calibrationScores) : scores, [opts.calibrationList]) : null;
        const manifest = await makeManifest({
          detector: opts.name,
          weights: opts.weights,
          annotations: [...files, ...(opts.calibrationList ? [opts.calibrationList] : [])],
          software: { scores: path.basename(opts.scores) },
        });
        await writeRun(opts.out, manifest, predictions, calibration);
        if (opts.json) return printJson(manifest);
        process.stdout.write(`${opts.out}: ${predictions.length} test predictions${calibration ? `, ${calibration.length} calibration predictions` : ""} for ${opts.name}\n`);
      }),
    );
}
