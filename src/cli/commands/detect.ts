import { promises as fsp } from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { DEFAULT_DETECTOR } from "../../detectors/index.js";
import type { DetectorModule } from "../../detectors/types.js";
import { readProvenance } from "../../provenance/index.js";
import { Progress } from "../../util/progress.js";
import { renderTable } from "../../util/table.js";
import { detect, expandInputs, readCalibration, type Detection } from "../../runtime/detect.js";
import { InputError } from "../../util/errors.js";
import { resolveShard } from "../../util/shard.js";
import { addShardOptions, shardOfList, type ShardCliOptions } from "../shard-options.js";
import { action, EXIT_OK, EXIT_PROBLEMS, printJsonLine } from "../common.js";
import { addInferenceOptions, addModelOptions, inferenceOptions, resolveScoringModel, shippedCalibration, type InferenceCliOptions, type ModelCliOptions } from "../model-options.js";

export function registerDetect(program: Command): void {
  const cmd = program
    .command("detect")
    .description("score images with a detector (default: wild, shipped with imaginet): p(synthetic) per image (calibrated when a calibration is given or shipped), or the generator group")
    .argument("<inputs...>", "image files or folders (searched recursively)");
  addModelOptions(cmd, "the list's folder", DEFAULT_DETECTOR);
  cmd.option("--calibration <file>", 'calibration JSON {"a", "b"} (`imaginet calibrate`) or a run\'s metrics.json: p = sigmoid(a·score + b)');
  addInferenceOptions(cmd).option("--json", "print JSON Lines: one object per image, as it is scored");
  addShardOptions(cmd, "cat: the shards' --json outputs in shard order are the unsharded output")
    .addHelpText("after", "\nExit code: 0 when every image was scored, 1 when some could not be read (they are listed).")
    .action(
      action(async (inputs: string[], opts: ModelCliOptions & InferenceCliOptions & ShardCliOptions & { calibration?: string; json?: boolean }) => {
        const all = await expandInputs(inputs);
        if (all.length === 0) throw new InputError(`no images found in ${inputs.join(", ")}`);
        const files = shardOfList(all, resolveShard(opts), opts.batch, "images");
        const given = opts.calibration ? await readCalibration(opts.calibration) : undefined;
        const { spec, model, weights, bundled } = await resolveScoringModel(opts);
        const calibration = given ?? shippedCalibration(bundled);
        if (!opts.json) process.stderr.write(`${answeredBy(spec, weights, given ? opts.calibration : bundled?.calibration?.fittedOn)}\n`);
        const progress = new Progress("detecting", { total: files.length, unit: "img", enabled: opts.json ? false : undefined });
        // under --json each scored image also says what its metadata and Content Credentials claim, in the files' order
        let printed = Promise.resolve();
        const print = (d: Detection) => {
          printed = printed.then(async () => printJsonLine("error" in d ? d : { ...d, detector: spec.name, provenance: await readProvenance(await fsp.readFile(d.file)) }));
        };
        const results = await detect(spec, model, files, {
          ...inferenceOptions(opts),
          ...(calibration ? { calibration } : {}),
          onImage: (d) => (opts.json ? print(d) : progress.tick()),
        });
        await printed;
        progress.finish();
        if (!opts.json) process.stdout.write(formatDetections(results));
        return results.some((r) => "error" in r) ? EXIT_PROBLEMS : EXIT_OK;
      }),
    );
}

/** Which model answers: the detector, its weights, and what its p is calibrated on. */
function answeredBy(spec: DetectorModule, weights: readonly string[], calibratedOn: string | undefined): string {
  const files = weights.map((w) => (path.relative(process.cwd(), w).startsWith("..") ? w : path.relative(process.cwd(), w))).join(", ");
  return `${spec.name} (${spec.title}), weights ${files}${calibratedOn ? `; p calibrated on ${calibratedOn}` : "; p uncalibrated"}`;
}

function formatDetections(results: readonly Detection[]): string {
  const rows = results.map((r) =>
    "error" in r
      ? [r.file, "", "", `unreadable: ${r.error}`]
      : "group" in r
        ? [r.file, "", "", r.group]
        : [r.file, r.score.toFixed(4), r.p === null ? "–" : r.p.toFixed(4), r.verdict ?? "uncalibrated"],
  );
  const table = renderTable(["file", "score", results.some((r) => "calibrated" in r && r.calibrated) ? "p (calibrated)" : "sigmoid(score)", "verdict"], rows);
  const why = results.find((r) => "noVerdict" in r);
  return `${table}\n${why && "noVerdict" in why ? `${why.noVerdict}: give --calibration FILE (imaginet calibrate)\n` : ""}`;
}
