import type { Command } from "commander";
import * as path from "node:path";
import { readAnnotationFile } from "../../data/annotations.js";
import { sha256OfFile } from "../../util/fs.js";
import { fitLogistic } from "../../eval/calibration.js";
import { scoreItems, trackSetup } from "../../eval/score.js";
import { findDetector } from "../../detectors/index.js";
import { InputError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import { Progress } from "../../util/progress.js";
import { action, outOption, printJson } from "../common.js";
import { addInferenceOptions, addModelOptions, inferenceOptions, resolveScoringModel, type InferenceCliOptions, type ModelCliOptions } from "../model-options.js";

export function registerCalibrate(program: Command): void {
  const cmd = program
    .command("calibrate")
    .description("fit upstream's calibration (logistic regression, C = 1e10, on the raw score) on labelled images; write {a, b} for `detect --calibration`")
    .argument(
      "<annotations>",
      "calibration annotation file: test_calibration.txt (ImagiNet, 40 real + 40 synthetic), annotations_calib_corvi.txt or annotations_calib_practical.txt (the format names the track, whose preprocessing the images get)",
    )
    .requiredOption("--root <dir>", "folder the annotation paths are relative to");
  addModelOptions(cmd, "--root").addOption(outOption("<file>", "calibration JSON to write"));
  addInferenceOptions(cmd)
    .option("--json", "print the calibration as JSON")
    .action(
      action(async (annotations: string, opts: ModelCliOptions & InferenceCliOptions & { root: string; out: string; json?: boolean }) => {
        const chosen = findDetector(opts.detector);
        if (chosen.output !== "binary") throw new InputError(`${chosen.title} identifies generators; calibrate a detection model`);
        const parsed = await readAnnotationFile(annotations);
        const records = parsed.records;
        const { recipe } = trackSetup(parsed.format, chosen, opts.anchors);
        const { spec, model, weights } = await resolveScoringModel(opts, { anchorRoot: opts.root });
        const progress = new Progress("scoring", { total: records.length, unit: "img", enabled: opts.json ? false : undefined });
        const items = records.map((r) => ({ root: opts.root, path: r.path, recipe }));
        const scores = await scoreItems(spec, model, items, { ...inferenceOptions(opts), onImage: () => progress.tick() });
        progress.finish();
        const fit = fitLogistic(
          Float64Array.from(scores as number[]),
          Float64Array.from(records, (r) => r.origin),
        );
        const out = {
          a: fit.a,
          b: fit.b,
          method: "logistic regression on the raw score, C = 1e10 (upstream's protocol)",
          detector: spec.name,
          track: parsed.format,
          preprocessing: recipe.name,
          weightsSha256: (await Promise.all(weights.map(sha256OfFile))).join(","),
          annotations: {
            file: path.basename(annotations),
            sha256: await sha256OfFile(annotations),
            real: records.filter((r) => r.origin === 0).length,
            synthetic: records.filter((r) => r.origin === 1).length,
          },
          converged: fit.converged,
          ...(fit.warning ? { warning: fit.warning } : {}),
        };
        await writeFileAtomic(opts.out, `${JSON.stringify(out, null, 2)}\n`);
        if (opts.json) return printJson(out);
        process.stdout.write(`${opts.out}: p = sigmoid(${fit.a.toPrecision(6)}·score + ${fit.b.toPrecision(6)}) from ${records.length} images${fit.warning ? ` (${fit.warning})` : ""}\n`);
      }),
    );
}
