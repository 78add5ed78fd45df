import type { Command } from "commander";
import * as path from "node:path";
import { DETECTORS, findDetector } from "../../models/registry.js";
import type { OnnxModel } from "../../onnx/trace.js";
import { writeOnnxModel } from "../../runtime/session.js";
import { action, printJson } from "../common.js";
import { loadModelFromCli } from "./detect.js";

const detectorHelp = `detector: ${DETECTORS.map((d) => d.name).join(", ")}`;
export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("export a detector's PyTorch checkpoint to ONNX (dynamic batch and image size)")
    .argument("<weights...>", "PyTorch checkpoint(s) (.pth/.pt); two for corvi2022 average them as upstream does")
    .requiredOption("--detector <name>", detectorHelp)
    .requiredOption("-o, --out <file>", "the .onnx file to write")
    .option("--anchors <list>", "wu2023: real anchor images (list/annotation file or folder), baked into the model")
    .option("--anchor-root <dir>", "folder the --anchors paths are relative to (default: the list's folder)")
    .option("--json", "print what was written as JSON")
    .action(
      action(async (weights: string[], opts: { detector: string; out: string; anchors?: string; anchorRoot?: string; json?: boolean }) => {
        const spec = findDetector(opts.detector);
        if (weights.some((w) => w.endsWith(".onnx"))) throw new Error("convert takes PyTorch checkpoints (.pth/.pt), not .onnx");
        const onnx = (await loadModelFromCli(spec, { ...opts, weights }, path.basename(opts.out).replace(/\.onnx$/i, ""))) as OnnxModel;
        await writeOnnxModel(opts.out, onnx);
        const dataFile = onnx.external ? path.join(path.dirname(opts.out), onnx.external.location) : null;
        const summary = { out: opts.out, bytes: onnx.model.length, externalData: dataFile, detector: spec.name, weights };
        if (opts.json) return printJson(summary);
        process.stdout.write(`wrote ${opts.out} (${onnx.model.length} bytes${dataFile ? `; weights in ${dataFile}` : ""}) for ${spec.title}\n`);
      }),
    );
}
