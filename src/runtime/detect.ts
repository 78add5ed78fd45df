/** Running a registered detector on image files: decode, the detector's preprocessing, ORT, scores. */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { parseCalibration, type ScoreVerdict, scoreVerdict } from "../eval/calibration.js";
import * as os from "node:os";
import { buildDetector, readCheckpoints } from "../detectors/build.js";
import type { DetectorModule } from "../detectors/types.js";
import { GROUPS } from "../data/labels.js";
import { listLinePath, normaliseAnnotationPath } from "../data/annotations.js";
import { InputError } from "../util/errors.js";
import { computeAnchor, meanFeature } from "./anchor.js";
import { Preparer, type Prepared } from "./prepare.js";
import type { OnnxModel } from "../onnx/trace.js";
import type { Recipe } from "../image/recipe.js";
import { DEFAULT_BATCH_SIZE, DetectorSession, type ModelSource, type NormalizedImage, type ScoringSession, type SessionOptions } from "./session.js";
import type { EagerModel, EagerOptions } from "./eager-session.js";

/** What detect() runs: an ONNX model on onnxruntime, or the detector's definition on the libtorch engine. */
export type DetectorModel = ModelSource | EagerModel;

function isEager(m: DetectorModel): m is EagerModel {
  return typeof m === "object" && "kind" in m && m.kind === "eager";
}

/** A session for either engine (the libtorch one is loaded only when asked for). */
export async function openSession(model: DetectorModel, opts: SessionOptions = {}): Promise<ScoringSession> {
  if (!isEager(model)) return DetectorSession.create(model, opts);
  const { EagerDetectorSession } = await import("./eager-session.js");
  return EagerDetectorSession.create(model, opts);
}

export const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|avif|tiff?|gif)$/i;

/**
 * Files as given, and the images below any folders, in a stable order. In a folder, every entry
 * named like an image that is not a folder is listed — symlinks, FIFOs and devices too — so that
 * decoding follows a symlink to a regular file and reports any other kind as an error for that
 * file, rather than skipping it silently. Symlinked folders are not descended into.
 */
export async function expandInputs(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const st = await fsp.stat(input).catch(() => null);
    if (st?.isDirectory()) {
      const entries = await fsp.readdir(input, { recursive: true, withFileTypes: true });
      out.push(
        ...entries
          .filter((e) => !e.isDirectory() && IMAGE_EXTENSIONS.test(e.name))
          .map((e) => path.join(e.parentPath, e.name))
          .sort(),
      );
    } else out.push(input);
  }
  return out;
}

export interface LoadOptions extends SessionOptions {
  /** LASTED: real anchor images whose mean feature becomes the score's reference */
  anchors?: readonly string[];
  /** worker threads for decoding the anchors */
  workers?: number;
  /** the model's name; a model past 2 GB keeps its weights in NAME.onnx.data */
  name?: string;
}

/**
 * The detector's ONNX model: a `.onnx` file as it is, or built from PyTorch checkpoints (as many as
 * the module takes: Corvi2022 averages two models, UnivFD is an encoder and a probe). An anchored
 * detector (LASTED) also needs its anchor images: the anchor is computed here and baked into the model.
 */
export async function loadModel(d: DetectorModule, weights: string | readonly string[], opts: LoadOptions = {}): Promise<ModelSource> {
  const files = typeof weights === "string" ? [weights] : [...weights];
  if (files.length === 0) throw new InputError("no weights given");
  if (files.some((f) => f.endsWith(".onnx"))) {
    if (files.length > 1) throw new InputError("give one .onnx file, or PyTorch checkpoints");
    return files[0]!;
  }
  return buildModel(d, files, opts);
}

/** ONNX built from PyTorch checkpoints (see loadModel). */
export async function buildModel(d: DetectorModule, files: readonly string[], opts: LoadOptions = {}): Promise<OnnxModel> {
  const { sds, recorded } = await readCheckpoints(files);
  const build = { ...recorded, ...(opts.name ? { name: opts.name } : {}) };
  if (!d.anchors) return (await buildDetector(d, sds, build)).onnx;
  const prepared = await prepareAnchors(d, opts);
  const features = await buildDetector(d, sds, build);
  const anchor = await computeAnchor(features.onnx, prepared, opts);
  return (await buildDetector(d, sds, { ...build, anchor })).onnx;
}

/**
 * The detector built from PyTorch checkpoints for the libtorch engine (loadModel's counterpart; an
 * anchored detector's anchor is computed on the same engine, device and precision).
 */
export async function loadEagerModel(d: DetectorModule, files: readonly string[], opts: LoadOptions & EagerOptions = {}): Promise<EagerModel> {
  if (files.length === 0) throw new InputError("no weights given");
  if (files.some((f) => f.endsWith(".onnx")))
    throw new InputError("--engine libtorch runs the detector's definition from PyTorch checkpoints (.pth/.pt/.safetensors); an .onnx file runs on onnxruntime");
  const { eagerModel, EagerDetectorSession } = await import("./eager-session.js");
  const { sds, recorded } = await readCheckpoints(files);
  const eager = { ...recorded, device: opts.device, precision: opts.precision, channelsLast: opts.channelsLast };
  if (!d.anchors) return eagerModel(d, sds, eager);
  const prepared = await prepareAnchors(d, opts);
  const session = await EagerDetectorSession.create(eagerModel(d, sds, eager), opts);
  try {
    return eagerModel(d, sds, { ...eager, anchor: await meanFeature(session, prepared) });
  } finally {
    await session.release();
  }
}

/** The anchor images, decoded and prepared; an InputError when none are given or some cannot be read. */
async function prepareAnchors(d: DetectorModule, opts: LoadOptions): Promise<NormalizedImage[]> {
  if (!opts.anchors || opts.anchors.length === 0) {
    throw new InputError(
      `${d.title} scores images by their similarity to real anchor images: pass --anchors (upstream: annotations/lasted_anchor.txt with --anchor-root), or an .onnx exported with them`,
    );
  }
  const prepared = await prepareAll(d, opts.anchors, opts.workers ?? 0);
  const bad = prepared.filter((p) => "error" in p);
  if (bad.length > 0)
    throw new InputError(
      `${bad.length} anchor image(s) could not be read: ${bad
        .slice(0, 5)
        .map((p) => `${p.file} (${"error" in p ? p.error : ""})`)
        .join(", ")}`,
    );
  return prepared as NormalizedImage[];
}

async function prepareAll(d: DetectorModule, files: readonly string[], workers: number): Promise<Prepared[]> {
  const preparer = new Preparer(d.preprocess, workers);
  try {
    return await Promise.all(files.map((f) => preparer.prepare(f)));
  } finally {
    await preparer.close();
  }
}

/**
 * Image paths from a folder, or from a list file (one per line; an annotation line's first field),
 * resolved against `root` (default: the list's folder). A path must stay inside that folder, as an
 * annotation file's paths stay inside the dataset root: an absolute one or one that climbs out with
 * `..` is refused, naming the file and line.
 */
export async function readImageList(listOrDir: string, root?: string): Promise<string[]> {
  const st = await fsp.stat(listOrDir).catch(() => null);
  if (!st) throw new InputError(`${listOrDir}: no such file or folder`);
  if (st.isDirectory()) return expandInputs([listOrDir]);
  const base = root ?? path.dirname(listOrDir);
  const out: string[] = [];
  for (const [i, line] of (await fsp.readFile(listOrDir, "utf8")).split(/\r?\n/).entries()) {
    const l = line.trim();
    if (l === "" || l.startsWith("#")) continue;
    const p = normaliseAnnotationPath(listLinePath(l), `the anchor root ${base}`);
    if ("error" in p) throw new InputError(`${listOrDir}:${i + 1}: ${p.error}`);
    out.push(path.join(base, p.path));
  }
  return out;
}

/** p = sigmoid(a·score + b): from a JSON file with {a, b}, or a run's metrics.json (see `parseCalibration`). */
export async function readCalibration(file: string): Promise<{ a: number; b: number }> {
  const text = await fsp.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`${file}: cannot read calibration (${e.code ?? e.message})`);
  });
  return parseCalibration(text, file);
}

export type Detection = ({ file: string } & ScoreVerdict) | { file: string; logits: number[]; group: string } | { file: string; error: string };

/** One file's own preprocessing and random stream, where they differ from the run's. */
export interface PerFile {
  /** the geometric recipe in place of the detector's (its normalisation stays) */
  recipe?: Recipe;
  /** the name of its random stream (default: the file path) */
  key?: string;
}

export interface DetectOptions extends SessionOptions {
  calibration?: { a: number; b: number };
  /** worker threads decoding and preprocessing the next batch while the model runs (default: half the cores) */
  workers?: number;
  /** per file, in the files' order (e.g. a robustness sweep's severities in one run) */
  perFile?: readonly PerFile[];
  /** each image's result as it is scored, in the files' order */
  onImage?: (d: Detection) => void;
}

export function defaultWorkers(): number {
  return Math.max(1, Math.floor(os.availableParallelism() / 2));
}

export async function detect(detector: DetectorModule, model: DetectorModel, files: readonly string[], opts: DetectOptions = {}): Promise<Detection[]> {
  if (opts.perFile && opts.perFile.length !== files.length) throw new Error(`detect: perFile has ${opts.perFile.length} entries for ${files.length} files`);
  // the workers start and decode the first batch while the engine loads (onnxruntime: and optimises) the model
  const preparer = new Preparer(detector.preprocess, opts.workers ?? defaultWorkers());
  const chunk = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const prepareChunk = (i: number) =>
    Promise.all(
      files.slice(i, i + chunk).map((f, j) => {
        const own = opts.perFile?.[i + j];
        return preparer.prepare(f, own?.key, own?.recipe);
      }),
    );
  let next = files.length > 0 ? prepareChunk(0) : null;
  const session = await openSession(model, { ...opts, batchSize: chunk }).catch(async (err: unknown) => {
    await preparer.close();
    throw err;
  });
  const out: Detection[] = [];
  try {
    for (let i = 0; next; i += chunk) {
      const prepared = await next;
      // the next chunk decodes in the workers while this one runs
      next = i + chunk < files.length ? prepareChunk(i + chunk) : null;
      const images = prepared.filter((x): x is NormalizedImage & { file: string } => "chw" in x);
      const results = images.length > 0 ? await session.runNormalized(images) : {};
      const logits = results[session.outputNames.includes("logit") ? "logit" : (session.outputNames[0] ?? "")];
      let k = 0;
      for (const x of prepared) {
        let d: Detection;
        if ("error" in x) d = { file: x.file, error: x.error };
        else if (logits) {
          const per = logits.data.length / (logits.dims[0] ?? 1);
          const row = Array.from(logits.data.subarray(k * per, (k + 1) * per));
          k++;
          if (detector.output === "groups") d = { file: x.file, logits: row, group: GROUPS[row.indexOf(Math.max(...row))]! };
          else {
            d = { file: x.file, ...scoreVerdict(row[0]!, opts.calibration, detector.needsCalibration) };
          }
        } else continue;
        out.push(d);
        opts.onImage?.(d);
      }
    }
  } finally {
    await preparer.close();
    await session.release();
  }
  return out;
}
