import type { Command } from "commander";
import { joinScores } from "../../eval/import.js";
import { makeManifest, writeRun } from "../../eval/results.js";
import { annotatedPaths, inferenceSoftware, scoreItems, scoresOf } from "../../eval/score.js";
import { recipeHash } from "../../image/recipe-hash.js";
import { Progress } from "../../util/progress.js";
import { action, outOption, printJson } from "../common.js";
import { addInferenceOptions, addModelOptions, inferenceOptions, resolveModel, type InferenceCliOptions, type ModelCliOptions } from "../model-options.js";

export function registerEvalDetect(evalCmd: Command): void {
  const cmd = evalCmd
    .command("detect")
    .description("run a detector over annotated test images (and the calibration subset) and write a run for `eval run`")
    .argument("<annotations...>", "test annotation files, e.g. test_gan.txt test_sd.txt test_midjourney.txt test_dalle3.txt")
    .requiredOption("--root <dir>", "folder the annotation paths are relative to (e.g. the built test set)")
    .addOption(outOption("<dir>", "run directory to write"))
    .option("--calibration-list <file>", "calibration annotation file (upstream: test_calibration.txt)");
  addModelOptions(cmd, "--root");
  addInferenceOptions(cmd)
    .option("--json", "print the manifest as JSON")
    .action(
      action(async (files: string[], opts: ModelCliOptions & InferenceCliOptions & { root: string; out: string; calibrationList?: string; json?: boolean }) => {
        const annotationFiles = [...files, ...(opts.calibrationList ? [opts.calibrationList] : [])];
        const items = (await annotatedPaths(annotationFiles)).map((p) => ({ root: opts.root, path: p }));
        const started = performance.now();
        const { spec, model, weights } = await resolveModel(opts, { anchorRoot: opts.root });
        const progress = new Progress("detecting", { total: items.length, unit: "img", enabled: opts.json ? false : undefined });
        const scores = scoresOf(weights.join(", "), items, await scoreItems(spec, model, items, { ...inferenceOptions(opts), onImage: () => progress.tick() }));
        progress.finish();
        const predictions = await joinScores(scores, files);
        const calibration = opts.calibrationList ? await joinScores(scores, [opts.calibrationList]) : null;
        const manifest = await makeManifest({
          detector: spec.title,
          weights,
          annotations: annotationFiles,
          recipeHash: recipeHash(spec.preprocess.recipe),
          software: inferenceSoftware(),
          batchSize: opts.batch,
          precision: "fp32",
          wallSeconds: (performance.now() - started) / 1000,
        });
        await writeRun(opts.out, manifest, predictions, calibration);
        if (opts.json) return printJson(manifest);
        process.stdout.write(
          `${opts.out}: ${predictions.length} test predictions${calibration ? `, ${calibration.length} calibration predictions` : ""} by ${spec.title} in ${manifest.wallSeconds!.toFixed(1)} s; next: imaginet eval run ${opts.out}\n`,
        );
      }),
    );
}
