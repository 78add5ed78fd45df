import type { Command } from "commander";
import * as path from "node:path";
import type { OnnxModel } from "../../onnx/trace.js";
import { writeOnnxModel } from "../../runtime/session.js";
import { InputError } from "../../util/errors.js";
import { action, outOption, printJson } from "../common.js";
import { addModelOptions, resolveModel, type ModelCliOptions } from "../model-options.js";

export function registerConvert(program: Command): void {
  const cmd = program.command("convert").description("export a detector's PyTorch checkpoint to ONNX (dynamic batch and image size); wu2023's anchor feature is baked in");
  addModelOptions(cmd, "the list's folder")
    .addOption(outOption("<file>", "the .onnx file to write"))
    .option("--json", "print what was written as JSON")
    .action(
      action(async (opts: ModelCliOptions & { out: string; json?: boolean }) => {
        if (opts.weights.some((w) => w.endsWith(".onnx"))) throw new InputError("convert takes PyTorch checkpoints (.pth/.pt), not .onnx");
        const { spec, model, weights } = await resolveModel(opts, { name: path.basename(opts.out).replace(/\.onnx$/i, "") });
        const onnx = model as OnnxModel;
        await writeOnnxModel(opts.out, onnx);
        const dataFile = onnx.external ? path.join(path.dirname(opts.out), onnx.external.location) : null;
        const summary = { out: opts.out, bytes: onnx.model.length, externalData: dataFile, detector: spec.name, weights };
        if (opts.json) return printJson(summary);
        process.stdout.write(`wrote ${opts.out} (${onnx.model.length} bytes${dataFile ? `; weights in ${dataFile}` : ""}) for ${spec.title}\n`);
      }),
    );
}
