import type { Command } from "commander";
import { createRequire } from "node:module";
import * as path from "node:path";
import { joinScores, readScores } from "../../eval/import.js";
import { hardwareInfo, RUN_SCHEMA, sha256OfFile, writeRun, type RunManifest } from "../../eval/results.js";
import { action, printJson } from "../common.js";

export function registerEvalImport(evalCmd: Command): void {
  evalCmd
    .command("import")
    .description("make a run from any detector's per-image scores (CSV: path,score or path,<class>,…) and annotation files")
    .argument("<annotations...>", "test annotation files (e.g. test_gan.txt test_sd.txt test_midjourney.txt test_dalle3.txt)")
    .requiredOption("--scores <csv>", "scores for the test images")
    .requiredOption("--detector <name>", "detector name shown in reports")
    .requiredOption("--out <dir>", "run directory to write")
    .option("--calibration <annotations>", "calibration annotation file (e.g. test_calibration.txt)")
    .option("--calibration-scores <csv>", "scores for the calibration images (default: looked up in --scores)")
    .option("--weights <file>", "the detector's weights, to record their sha256")
    .option("--json", "print the manifest as JSON")
    .action(
      action(async (files: string[], opts: { scores: string; detector: string; out: string; calibration?: string; calibrationScores?: string; weights?: string; json?: boolean }) => {
        const scores = await readScores(opts.scores);
        const predictions = await joinScores(scores, files);
        const calibration = opts.calibration ? await joinScores(opts.calibrationScores ? await readScores(opts.calibrationScores) : scores, [opts.calibration]) : null;
        const pkg = createRequire(import.meta.url)("../../../package.json") as { version: string };
        const annotationFiles = [...files, ...(opts.calibration ? [opts.calibration] : [])];
        const manifest: RunManifest = {
          schema: RUN_SCHEMA,
          detector: { name: opts.detector, weightsSha256: opts.weights ? await sha256OfFile(opts.weights) : null },
          annotations: await Promise.all(annotationFiles.map(async (f) => ({ file: path.basename(f), sha256: await sha256OfFile(f) }))),
          recipeHash: null,
          seed: null,
          software: { imaginet: pkg.version, node: process.version, scores: path.basename(opts.scores) },
          hardware: hardwareInfo(),
          batchSize: null,
          precision: null,
          wallSeconds: null,
          createdAt: new Date().toISOString(),
        };
        await writeRun(opts.out, manifest, predictions, calibration);
        if (opts.json) return printJson(manifest);
        process.stdout.write(`${opts.out}: ${predictions.length} test predictions${calibration ? `, ${calibration.length} calibration predictions` : ""} for ${opts.detector}\n`);
      }),
    );
}
