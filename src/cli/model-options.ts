/** The model options of `detect`, `calibrate`, `eval detect` and `convert`, and what they resolve to. */
import { Option, type Command } from "commander";
import { DETECTORS, findDetector, type DetectorModule } from "../detectors/index.js";
import { defaultWorkers, loadModel, readImageList, type DetectOptions } from "../runtime/detect.js";
import type { ModelSource } from "../runtime/session.js";
import { collect, parsePositiveInt, workersOption } from "./common.js";

export interface ModelCliOptions {
  detector: string;
  weights: string[];
  anchors?: string;
  anchorRoot?: string;
}

export interface InferenceCliOptions {
  batch: number;
  threads?: number;
  workers?: number;
  device: "cpu" | "cuda";
}

/** --detector, --weights, --anchors, --anchor-root; `anchorRootDefault` says what --anchor-root defaults to in this command. */
export function addModelOptions(cmd: Command, anchorRootDefault: string): Command {
  return cmd
    .requiredOption("--detector <name>", `registered detector: ${DETECTORS.map((d) => d.name).join(", ")}`)
    .requiredOption("--weights <file>", "PyTorch checkpoint (.pth/.pt) or an exported .onnx; repeat it for corvi2022's two-model average (as upstream)", collect)
    .option("--anchors <list>", "wu2023: real anchor images, a list/annotation file (upstream: annotations/lasted_anchor.txt) or a folder")
    .addOption(new Option("--anchor-root <dir>", "folder the --anchors paths are relative to").default(undefined, anchorRootDefault));
}

/** --batch, --threads, --workers, --device: how inference runs. */
export function addInferenceOptions(cmd: Command): Command {
  return cmd
    .option("--batch <n>", "images per inference batch", parsePositiveInt("--batch"), 16)
    .addOption(new Option("--threads <n>", "onnxruntime intra-op threads").argParser(parsePositiveInt("--threads")).default(undefined, "onnxruntime's choice"))
    .addOption(workersOption("decoding and preprocessing images", "half the cores"))
    .addOption(new Option("--device <device>", "where the model runs").choices(["cpu", "cuda"]).default("cpu"));
}

/** The detector and its model (an .onnx as it is, or built from the checkpoints, anchors baked in). */
export async function resolveModel(opts: ModelCliOptions & { workers?: number }, how: { anchorRoot?: string; name?: string } = {}): Promise<{ spec: DetectorModule; model: ModelSource }> {
  const spec = findDetector(opts.detector);
  const anchors = opts.anchors ? await readImageList(opts.anchors, opts.anchorRoot ?? how.anchorRoot) : undefined;
  const model = await loadModel(spec, opts.weights, { ...(anchors ? { anchors } : {}), workers: opts.workers ?? defaultWorkers(), ...(how.name ? { name: how.name } : {}) });
  return { spec, model };
}

/** The detect run's options from the inference options. */
export function inferenceOptions(opts: InferenceCliOptions): DetectOptions {
  return {
    batchSize: opts.batch,
    executionProviders: [opts.device],
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    ...(opts.workers ? { workers: opts.workers } : {}),
  };
}
