import { Option, type Command } from "commander";
import * as path from "node:path";
import { TRACK_TITLES } from "../../data/tracks.js";
import { joinScores, readScores, trackOfLists } from "../../eval/import.js";
import { makeManifest, writeRun } from "../../eval/results.js";
import { action, collect, outOption, printJson } from "../common.js";

export function registerEvalImport(evalCmd: Command): void {
  evalCmd
    .command("import")
    .description("make a run from any detector's per-image scores (CSV: path,score or path,<class>,…) and annotation files")
    .argument("<annotations...>", "test annotation files of one track: ImagiNet test_{gan,sd,midjourney,dalle3}.txt, Corvi annotations_corvi.txt, or Practical Test_*_num*.txt (the format says which)")
    .requiredOption("--scores <csv>", "scores for the test images")
    .requiredOption("--name <name>", "the detector's name shown in reports (any text)")
    .addOption(outOption("<dir>", "run directory to write"))
    .option("--calibration-list <file>", "calibration annotation file of the same track (test_calibration.txt, annotations_calib_corvi.txt, annotations_calib_practical.txt)")
    .addOption(new Option("--calibration-scores <csv>", "scores for the calibration images").default(undefined, "looked up in --scores"))
    .addOption(new Option("--weights <file>", "the detector's weights, to record their sha256 (repeatable)").argParser(collect).default([], "none"))
    .option("--json", "print the manifest as JSON")
    .action(
      action(async (files: string[], opts: { scores: string; name: string; out: string; calibrationList?: string; calibrationScores?: string; weights: string[]; json?: boolean }) => {
        const track = await trackOfLists([...files, ...(opts.calibrationList ? [opts.calibrationList] : [])]);
        const scores = await readScores(opts.scores);
        const predictions = await joinScores(scores, files);
        const calibration = opts.calibrationList ? await joinScores(opts.calibrationScores ? await readScores(opts.calibrationScores) : scores, [opts.calibrationList], true) : null;
        const manifest = await makeManifest({
          detector: opts.name,
          track,
          weights: opts.weights,
          annotations: [...files, ...(opts.calibrationList ? [opts.calibrationList] : [])],
          software: { scores: path.basename(opts.scores) },
        });
        await writeRun(opts.out, manifest, predictions, calibration);
        if (opts.json) return printJson(manifest);
        process.stdout.write(
          `${opts.out}: ${predictions.length} test predictions${calibration ? `, ${calibration.length} calibration predictions` : ""} for ${opts.name}${track === "imaginet" ? "" : ` (${TRACK_TITLES[track]})`}\n`,
        );
      }),
    );
}
