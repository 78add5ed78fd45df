/** The model options of `detect`, `calibrate`, `eval detect` and `convert`, and what they resolve to. */
import { Option, type Command } from "commander";
import * as path from "node:path";
import { DETECTORS, findDetector, type DetectorModule } from "../detectors/index.js";
import type { BundledWeights } from "../detectors/types.js";
import { defaultWorkers, loadEagerModel, loadModel, readImageList, type DetectOptions, type DetectorModel, type LoadOptions } from "../runtime/detect.js";
import type { EagerOptions } from "../runtime/eager-session.js";
import { setNumThreads, type Precision } from "../engine/index.js";
import type { ModelSource } from "../runtime/session.js";
import { InputError } from "../util/errors.js";
import { sha256OfFile } from "../util/fs.js";
import { PACKAGE_ROOT } from "../util/package.js";
import { weightsFiles } from "../weights/index.js";
import { collect, parsePositiveInt, workersOption } from "./common.js";

export interface ModelCliOptions {
  detector: string;
  /** empty: the detector's published weights from the cache */
  weights: string[];
  anchors?: string;
  anchorRoot?: string;
}

export interface InferenceCliOptions {
  batch: number;
  threads?: number;
  workers?: number;
  device: "cpu" | "cuda";
  engine: "onnxruntime" | "libtorch";
  precision: Precision;
  channelsLast?: boolean;
}

/**
 * --detector, --weights, --anchors, --anchor-root; `anchorRootDefault` says what --anchor-root
 * defaults to in this command; `defaultDetector` makes --detector optional.
 */
export function addModelOptions(cmd: Command, anchorRootDefault: string, defaultDetector?: string): Command {
  const names = `registered detector: ${DETECTORS.map((d) => d.name).join(", ")}`;
  return (defaultDetector ? cmd.option("--detector <name>", names, defaultDetector) : cmd.requiredOption("--detector <name>", names))
    .addOption(
      new Option("--weights <file>", "PyTorch checkpoint (.pth/.pt) or an exported .onnx; repeat it where the detector takes several (corvi2022's two-model average, univfd's encoder and probe)")
        .argParser(collect)
        .default([], "the detector's published weights from the cache (`imaginet weights download NAME`)"),
    )
    .option("--anchors <list>", "wu2023: real anchor images, a list/annotation file or a folder (default with cached weights: upstream's lasted_anchor.txt from the cache)")
    .addOption(new Option("--anchor-root <dir>", "folder the --anchors paths are relative to").default(undefined, anchorRootDefault));
}

/** --batch, --threads, --workers, --device, --engine, --precision, --channels-last: how inference runs. */
export function addInferenceOptions(cmd: Command): Command {
  return cmd
    .option("--batch <n>", "images per inference batch", parsePositiveInt("--batch"), 16)
    .addOption(new Option("--threads <n>", "intra-op threads (onnxruntime's, or libtorch's)").argParser(parsePositiveInt("--threads")).default(undefined, "the engine's choice"))
    .addOption(workersOption("decoding and preprocessing images", "half the cores"))
    .addOption(new Option("--device <device>", "where the model runs").choices(["cpu", "cuda"]).default("cpu"))
    .addOption(
      new Option("--engine <engine>", "onnxruntime: the exported ONNX model; libtorch: the detector's definition run eagerly on the libtorch addon (CUDA without onnxruntime's CUDA packages)")
        .choices(["onnxruntime", "libtorch"])
        .default("onnxruntime"),
    )
    .addOption(new Option("--precision <p>", "libtorch engine: fp32, or autocast to bf16 (CPU with AVX-512 BF16/AMX, or CUDA) / fp16 (CUDA)").choices(["fp32", "bf16", "fp16"]).default("fp32"))
    .option("--channels-last", "libtorch engine: convolutions on NHWC (channels-last) tensors");
}

/** The engine's options, checked: --precision and --channels-last belong to the libtorch engine. */
function engineOptions(opts: Partial<InferenceCliOptions>): EagerOptions | undefined {
  if (opts.engine !== "libtorch") {
    if ((opts.precision ?? "fp32") !== "fp32" || opts.channelsLast) throw new InputError("--precision and --channels-last need --engine libtorch");
    return undefined;
  }
  return { device: opts.device ?? "cpu", precision: opts.precision ?? "fp32", channelsLast: opts.channelsLast ?? false };
}

/**
 * As resolveModel, for the commands that score (detect, calibrate, eval detect): with --engine
 * libtorch the detector's definition on the libtorch engine, else the ONNX model.
 */
export async function resolveScoringModel(
  opts: ModelCliOptions & Partial<InferenceCliOptions>,
  how: { anchorRoot?: string } = {},
): Promise<{ spec: DetectorModule; model: DetectorModel; weights: string[]; bundled?: BundledWeights }> {
  const eager = engineOptions(opts);
  if (eager && opts.threads) setNumThreads(opts.threads);
  return resolveModel(opts, { ...how, ...(eager ? { eager } : {}) });
}

/**
 * The detector, its model (an .onnx as it is, or built from the checkpoints, anchors baked in) and
 * the weights files it came from: as given, or the detector's published ones from the cache (an
 * InputError says how to download them), with upstream's anchor list for an anchored detector.
 */
export async function resolveModel(
  opts: ModelCliOptions & { workers?: number },
  how?: { anchorRoot?: string; name?: string },
): Promise<{ spec: DetectorModule; model: ModelSource; weights: string[]; bundled?: BundledWeights }>;
export async function resolveModel(
  opts: ModelCliOptions & { workers?: number },
  how: { anchorRoot?: string; name?: string; eager?: EagerOptions },
): Promise<{ spec: DetectorModule; model: DetectorModel; weights: string[]; bundled?: BundledWeights }>;
export async function resolveModel(
  opts: ModelCliOptions & { workers?: number },
  how: { anchorRoot?: string; name?: string; eager?: EagerOptions } = {},
): Promise<{ spec: DetectorModule; model: DetectorModel; weights: string[]; bundled?: BundledWeights }> {
  const spec = findDetector(opts.detector);
  const load = (files: readonly string[], o: LoadOptions) => (how.eager ? loadEagerModel(spec, files, { ...o, ...how.eager }) : loadModel(spec, files, o));
  if (opts.weights.length === 0 && spec.bundled) {
    const file = await bundledWeightsFile(spec.bundled);
    const model = await load([file], { workers: opts.workers ?? defaultWorkers(), ...(how.name ? { name: how.name } : {}) });
    return { spec, model, weights: [file], bundled: spec.bundled };
  }
  const anchorRoot = opts.anchorRoot ?? how.anchorRoot;
  const cached = opts.weights.length === 0;
  if (cached && spec.weights.length === 0) throw new InputError(`${spec.name} has no published weights to download: pass --weights FILE`);
  const anchorList = cached && !opts.anchors ? spec.anchors?.list : undefined;
  if (anchorList && !anchorRoot) throw new InputError(`${spec.title}'s anchor list names real images under the ImagiNet dataset root: pass --anchor-root DATA (or --anchors)`);
  const files = cached ? await weightsFiles([...spec.weights, ...(anchorList ? [anchorList] : [])]) : [...opts.weights];
  const weights = anchorList ? files.slice(0, -1) : files;
  const list = anchorList ? files.at(-1) : opts.anchors;
  const anchors = list ? await readImageList(list, anchorRoot) : undefined;
  const model = await load(weights, { ...(anchors ? { anchors } : {}), workers: opts.workers ?? defaultWorkers(), ...(how.name ? { name: how.name } : {}) });
  return { spec, model, weights };
}

/** The {a, b} of the calibration shipped with bundled weights, when those weights are the ones in use. */
export function shippedCalibration(bundled: BundledWeights | undefined): { a: number; b: number } | undefined {
  return bundled?.calibration ? { a: bundled.calibration.a, b: bundled.calibration.b } : undefined;
}

/** The bundled weights file, checked against its sha256 (a changed file is refused, not used). */
export async function bundledWeightsFile(b: BundledWeights): Promise<string> {
  const file = path.resolve(PACKAGE_ROOT, b.file);
  const actual = await sha256OfFile(file).catch((err: Error) => {
    throw new InputError(`${file}: the weights shipped with imaginet cannot be read (${err.message}): reinstall imaginet`);
  });
  if (actual !== b.sha256) throw new InputError(`${file}: sha256 ${actual} differs from ${b.sha256}, the weights shipped with this version: reinstall imaginet`);
  return file;
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
