import { Option, type Command } from "commander";
import { Progress } from "../../util/progress.js";
import { renderTable } from "../../util/table.js";
import { DETECTORS, findDetector, type DetectorSpec } from "../../models/registry.js";
import { defaultWorkers, detect, expandInputs, loadModel, readCalibration, readImageList } from "../../runtime/detect.js";
import type { ModelSource } from "../../runtime/session.js";
import { action, collect, EXIT_OK, EXIT_PROBLEMS, parsePositiveInt, printJson } from "../common.js";

const detectorHelp = `detector: ${DETECTORS.map((d) => d.name).join(", ")}`;

export interface DetectCliOptions {
  detector: string;
  weights: string[];
  anchors?: string;
  anchorRoot?: string;
  batch: number;
  threads?: number;
  workers?: number;
  device: string;
}

/** The model for --weights (and --anchors), as `detect`, `convert` and `eval detect` take them. */
export async function loadModelFromCli(spec: DetectorSpec, opts: { weights: string[]; anchors?: string; anchorRoot?: string; workers?: number }, name?: string): Promise<ModelSource> {
  const anchors = opts.anchors ? await readImageList(opts.anchors, opts.anchorRoot) : undefined;
  return loadModel(spec, opts.weights, { ...(anchors ? { anchors } : {}), workers: opts.workers ?? defaultWorkers(), ...(name ? { name } : {}) });
}

export function registerDetect(program: Command): void {
  program
    .command("detect")
    .description("score images with a detector: p(synthetic) per image (calibrated when a calibration is given), or the generator group")
    .argument("<inputs...>", "image files or folders (searched recursively)")
    .requiredOption("--detector <name>", detectorHelp)
    .requiredOption("--weights <file>", "PyTorch checkpoint (.pth/.pt) or an exported .onnx; give it twice for corvi2022 to average two models as upstream does", collect)
    .option("--anchors <list>", "wu2023: real anchor images, a list/annotation file (upstream: annotations/lasted_anchor.txt) or a folder")
    .option("--anchor-root <dir>", "folder the --anchors paths are relative to (default: the list's folder)")
    .option("--calibration <file>", 'JSON {"a","b"} or a run\'s metrics.json: p = sigmoid(a·score + b)')
    .option("--batch <n>", "images per inference batch", parsePositiveInt("--batch"), 16)
    .option("--threads <n>", "onnxruntime intra-op threads", parsePositiveInt("--threads"))
    .option("--workers <n>", "worker threads decoding and preprocessing images (default: half the cores)", parsePositiveInt("--workers"))
    .addOption(new Option("--device <device>", "where the model runs").choices(["cpu", "cuda"]).default("cpu"))
    .option("--json", "print one JSON object per image")
    .addHelpText("after", "\nExit code: 0 when every image was scored, 1 when some could not be read (they are listed).")
    .action(
      action(async (inputs: string[], opts: DetectCliOptions & { calibration?: string; json?: boolean }) => {
        const spec = findDetector(opts.detector);
        const files = await expandInputs(inputs);
        if (files.length === 0) throw new Error(`no images found in ${inputs.join(", ")}`);
        const model = await loadModelFromCli(spec, opts);
        const progress = new Progress("detecting", { total: files.length, unit: "img", enabled: opts.json ? false : undefined });
        const results = await detect(spec, model, files, {
          batchSize: opts.batch,
          ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
          executionProviders: [opts.device],
          ...(opts.workers ? { workers: opts.workers } : {}),
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
