import { Option, type Command } from "commander";
import { writeFileAtomic } from "../../util/fs.js";
import { Progress } from "../../util/progress.js";
import { renderTable } from "../../util/table.js";
import { buildFromCheckpoint } from "../../models/load.js";
import { DETECTORS, findDetector } from "../../models/registry.js";
import { detect, expandInputs, loadModel, readCalibration } from "../../runtime/detect.js";
import { action, EXIT_OK, EXIT_PROBLEMS, parsePositiveInt, printJson } from "../common.js";

const detectorHelp = `detector: ${DETECTORS.map((d) => d.name).join(", ")}`;

export function registerDetect(program: Command): void {
  program
    .command("detect")
    .description("score images with a detector: p(synthetic) per image (calibrated when a calibration is given), or the generator group")
    .argument("<inputs...>", "image files or folders (searched recursively)")
    .requiredOption("--detector <name>", detectorHelp)
    .requiredOption("--weights <file>", "PyTorch checkpoint (.pth/.pt) or an exported .onnx")
    .option("--calibration <file>", 'JSON {"a","b"} or a run\'s metrics.json: p = sigmoid(a·score + b)')
    .option("--batch <n>", "images per inference batch", parsePositiveInt("--batch"), 16)
    .option("--threads <n>", "onnxruntime intra-op threads", parsePositiveInt("--threads"))
    .addOption(new Option("--device <device>", "where the model runs").choices(["cpu", "cuda"]).default("cpu"))
    .option("--json", "print one JSON object per image")
    .addHelpText("after", "\nExit code: 0 when every image was scored, 1 when some could not be read (they are listed).")
    .action(
      action(async (inputs: string[], opts: { detector: string; weights: string; calibration?: string; batch: number; threads?: number; device: string; json?: boolean }) => {
        const spec = findDetector(opts.detector);
        const files = await expandInputs(inputs);
        if (files.length === 0) throw new Error(`no images found in ${inputs.join(", ")}`);
        const model = await loadModel(spec, opts.weights);
        const progress = new Progress("detecting", { total: files.length, unit: "img", enabled: opts.json ? false : undefined });
        const results = await detect(spec, model, files, {
          batchSize: opts.batch,
          ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
          executionProviders: [opts.device],
          ...(opts.calibration ? { calibration: await readCalibration(opts.calibration) } : {}),
          onImage: () => progress.tick(),
        });
        progress.finish();
        if (opts.json) printJson(results);
        else {
          const rows = results.map((r) =>
            "error" in r ? [r.file, "", "", `unreadable: ${r.error}`] : "group" in r ? [r.file, "", "", r.group] : [r.file, r.score.toFixed(4), r.p.toFixed(4), r.verdict],
          );
          process.stdout.write(`${renderTable(["file", "score", results.some((r) => "calibrated" in r && r.calibrated) ? "p (calibrated)" : "sigmoid(score)", "verdict"], rows)}\n`);
        }
        return results.some((r) => "error" in r) ? EXIT_PROBLEMS : EXIT_OK;
      }),
    );
}

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("export a detector's PyTorch checkpoint to ONNX (dynamic batch and image size)")
    .argument("<weights>", "PyTorch checkpoint (.pth/.pt)")
    .requiredOption("--detector <name>", detectorHelp)
    .requiredOption("-o, --out <file>", "the .onnx file to write")
    .option("--json", "print what was written as JSON")
    .action(
      action(async (weights: string, opts: { detector: string; out: string; json?: boolean }) => {
        const spec = findDetector(opts.detector);
        const built = await buildFromCheckpoint(spec.arch, weights, { nodown: spec.nodown });
        await writeFileAtomic(opts.out, built.onnx);
        const summary = { out: opts.out, bytes: built.onnx.length, detector: spec.name, config: built.config, ignoredKeys: built.ignored.length };
        if (opts.json) return printJson(summary);
        process.stdout.write(`wrote ${opts.out} (${built.onnx.length} bytes) for ${spec.title}; ${built.ignored.length} checkpoint keys not used by inference\n`);
      }),
    );
}
