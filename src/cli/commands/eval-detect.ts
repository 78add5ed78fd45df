import type { Command } from "commander";
import { TRACK_TITLES } from "../../data/tracks.js";
import { findDetector } from "../../detectors/index.js";
import { joinScores, trackOfLists } from "../../eval/import.js";
import { makeManifest, writeRun } from "../../eval/results.js";
import { annotatedPaths, inferenceSoftware, scoreItems, scoresOf, trackSetup } from "../../eval/score.js";
import { withUnscored, writeShardRun } from "../../eval/shards.js";
import { resolveShard, shardRange } from "../../util/shard.js";
import { addShardOptions, shardOfList, type ShardCliOptions } from "../shard-options.js";
import { recipeHash } from "../../image/recipe-hash.js";
import { Progress } from "../../util/progress.js";
import { action, outOption, printJson } from "../common.js";
import { addInferenceOptions, addModelOptions, inferenceOptions, resolveScoringModel, type InferenceCliOptions, type ModelCliOptions } from "../model-options.js";

export function registerEvalDetect(evalCmd: Command): void {
  const cmd = evalCmd
    .command("detect")
    .description(
      "run a detector over annotated test images (and the calibration subset) and write a run for `eval run`; the lists' format names the track (ImagiNet, Corvi, Practical), whose preprocessing the images get as upstream's",
    )
    .argument("<annotations...>", "test annotation files of one track: test_{gan,sd,midjourney,dalle3}.txt, annotations_corvi.txt, or Test_*_num*.txt")
    .requiredOption("--root <dir>", "folder the annotation paths are relative to (e.g. the built test set)")
    .addOption(outOption("<dir>", "run directory to write"))
    .option("--calibration-list <file>", "calibration annotation file of the same track (test_calibration.txt, annotations_calib_corvi.txt, annotations_calib_practical.txt)");
  addModelOptions(cmd, "--root");
  addInferenceOptions(cmd).option("--json", "print the manifest as JSON");
  addShardOptions(cmd, "`imaginet eval merge` (a shard writes shard.json in place of run.json)").action(
    action(async (files: string[], opts: ModelCliOptions & InferenceCliOptions & ShardCliOptions & { root: string; out: string; calibrationList?: string; json?: boolean }) => {
      const annotationFiles = [...files, ...(opts.calibrationList ? [opts.calibrationList] : [])];
      const track = await trackOfLists(annotationFiles);
      const { recipe } = trackSetup(track, findDetector(opts.detector), opts.anchors);
      const allPaths = await annotatedPaths(annotationFiles);
      const shard = resolveShard(opts);
      const items = shardOfList(allPaths, shard, opts.batch, "images").map((p) => ({ root: opts.root, path: p, recipe }));
      const started = performance.now();
      const { spec, model, weights } = await resolveScoringModel(opts, { anchorRoot: opts.root });
      const progress = new Progress("detecting", { total: items.length, unit: "img", enabled: opts.json ? false : undefined });
      const scores = scoresOf(weights.join(", "), items, await scoreItems(spec, model, items, { ...inferenceOptions(opts), onImage: () => progress.tick() }));
      progress.finish();
      const joinable = shard ? withUnscored(scores, allPaths) : scores;
      const predictions = await joinScores(joinable, files);
      const calibration = opts.calibrationList ? await joinScores(joinable, [opts.calibrationList], true) : null;
      const manifest = await makeManifest({
        detector: spec.title,
        weights,
        annotations: annotationFiles,
        track,
        preprocessing: recipe.name,
        recipeHash: recipeHash(recipe),
        software: inferenceSoftware(),
        batchSize: opts.batch,
        precision: "fp32",
        wallSeconds: (performance.now() - started) / 1000,
      });
      if (shard) {
        const images = shardRange(allPaths.length, shard, opts.batch);
        await writeShardRun(opts.out, manifest, { ...shard, batch: opts.batch, images, total: allPaths.length }, scores, predictions, calibration);
        if (opts.json) return printJson(manifest);
        return void process.stdout.write(`${opts.out}: shard ${shard.index}/${shard.count}, ${items.length} images scored; next: imaginet eval merge -o RUN with all ${shard.count} shards\n`);
      }
      await writeRun(opts.out, manifest, predictions, calibration);
      if (opts.json) return printJson(manifest);
      process.stdout.write(
        `${opts.out}: ${predictions.length} test predictions${calibration ? `, ${calibration.length} calibration predictions` : ""} on the ${TRACK_TITLES[track]} (${recipe.description}) by ${spec.title} in ${manifest.wallSeconds!.toFixed(1)} s; next: imaginet eval run ${opts.out}\n`,
      );
    }),
  );
}
