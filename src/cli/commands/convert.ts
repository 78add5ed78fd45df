import type { Command } from "commander";
import { Option } from "commander";
import * as path from "node:path";
import { quantizeModel, type RangeMethod } from "../../onnx/quantize.js";
import type { OnnxModel } from "../../onnx/trace.js";
import { readCalibrationSet } from "../../runtime/calibration-set.js";
import { defaultWorkers } from "../../runtime/detect.js";
import { writeOnnxModel } from "../../runtime/session.js";
import { InputError } from "../../util/errors.js";
import { action, outOption, parsePositiveInt, printJson } from "../common.js";
import { addModelOptions, resolveModel, type ModelCliOptions } from "../model-options.js";

interface ConvertOptions extends ModelCliOptions {
  out: string;
  json?: boolean;
  quantize?: "int8";
  calibrationImages?: string;
  calibrationRoot?: string;
  calibrationCount: number;
  calibrationMethod: RangeMethod;
}

export function registerConvert(program: Command): void {
  const cmd = program.command("convert").description("export a detector's PyTorch checkpoint to ONNX (dynamic batch and image size); wu2023's anchor feature is baked in");
  addModelOptions(cmd, "the list's folder")
    .addOption(outOption("<file>", "the .onnx file to write"))
    .addOption(new Option("--quantize <type>", "write a static int8 QDQ model (per-channel int8 weights, calibrated uint8 activations); see docs/quantization.md").choices(["int8"]))
    .option("--calibration-images <dir|list>", "with --quantize: images (a folder, or a list/annotation file) whose activations set the quantization ranges")
    .option("--calibration-root <dir>", "with --quantize: folder the list's paths are relative to (an ImagiNet annotation file: the dataset root; default the list's folder)")
    .option("--calibration-count <n>", "with --quantize: how many of them, spread evenly over the list", parsePositiveInt("--calibration-count"), 64)
    .addOption(new Option("--calibration-method <m>", "with --quantize: activation range from the extremes, or from the 0.01%/99.99% percentiles").choices(["minmax", "percentile"]).default("minmax"))
    .option("--json", "print what was written as JSON")
    .action(
      action(async (opts: ConvertOptions) => {
        if (opts.weights.some((w) => w.endsWith(".onnx"))) throw new InputError("convert takes PyTorch checkpoints (.pth/.pt), not .onnx");
        if (opts.quantize && !opts.calibrationImages) throw new InputError("--quantize int8 needs --calibration-images DIR|LIST: the activation ranges are measured on them");
        if (!opts.quantize && opts.calibrationImages) throw new InputError("--calibration-images is used only with --quantize int8");
        const { spec, model, weights } = await resolveModel(opts, { name: path.basename(opts.out).replace(/\.onnx$/i, "") });
        let onnx = model as OnnxModel;
        let calibration: { count: number; sha256: string; method: RangeMethod } | null = null;
        if (opts.quantize) {
          if (onnx.external) throw new InputError(`${spec.title}'s weights pass protobuf's 2 GB limit (kept in an external file): int8 quantization of such a model is not supported`);
          const set = await readCalibrationSet(opts.calibrationImages!, spec.preprocess, opts.calibrationCount, {
            workers: defaultWorkers(),
            ...(opts.calibrationRoot ? { root: opts.calibrationRoot } : {}),
          });
          calibration = { count: set.images.length, sha256: set.sha256, method: opts.calibrationMethod };
          const bytes = await quantizeModel(onnx.model, set.images, {
            method: opts.calibrationMethod,
            metadata: {
              "quantization.calibration.sha256": set.sha256,
              "quantization.calibration.source": path.basename(opts.calibrationImages!),
            },
          });
          onnx = { model: bytes };
        }
        await writeOnnxModel(opts.out, onnx);
        const dataFile = onnx.external ? path.join(path.dirname(opts.out), onnx.external.location) : null;
        const summary = { out: opts.out, bytes: onnx.model.length, externalData: dataFile, detector: spec.name, weights, ...(calibration ? { quantized: "int8", calibration } : {}) };
        if (opts.json) return printJson(summary);
        const q = calibration ? `, int8 calibrated on ${calibration.count} image(s)` : "";
        process.stdout.write(`wrote ${opts.out} (${onnx.model.length} bytes${dataFile ? `; weights in ${dataFile}` : ""}${q}) for ${spec.title}\n`);
      }),
    );
}
