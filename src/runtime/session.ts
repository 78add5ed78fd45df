/**
 * Runs exported detectors with onnxruntime-node: ImageNet normalisation of RGB pixels into NCHW
 * float32 (the test protocol), batching, and named outputs.
 */
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import type { OnnxModel } from "../onnx/trace.js";
import type { RgbImage } from "../image/types.js";
import { normalizeImage, type NormalizedImage } from "../image/preprocess.js";
import { writeFileAtomic } from "../util/fs.js";
import { InputError } from "../util/errors.js";

// normalisation lives with the rest of the preprocessing, browser-safe, for the web page's in-browser mode
export { normalizeBatch, normalizeImage, normalizeInto, type NormalizedImage } from "../image/preprocess.js";

/** ONNX bytes, a built model, or a .onnx file's path. */
export type ModelSource = Uint8Array | string | OnnxModel;

/** Writes a model (and its external data file, named as the model records it, beside it); returns the model's path. */
export async function writeOnnxModel(file: string, m: OnnxModel): Promise<string> {
  if (m.external) await writeFileAtomic(path.join(path.dirname(file), m.external.location), m.external.chunks);
  await writeFileAtomic(file, m.model);
  return file;
}

export interface OutputTensor {
  data: Float32Array;
  dims: readonly number[];
}

export const DEFAULT_BATCH_SIZE = 16;

export interface SessionOptions {
  intraOpNumThreads?: number;
  /** "cpu" (default) or "cuda" where the user installed the CUDA provider */
  executionProviders?: string[];
  /** images per ORT run (default DEFAULT_BATCH_SIZE) */
  batchSize?: number;
}

export class DetectorSession implements ScoringSession {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly batchSize: number,
  ) {}

  /**
   * A session from ONNX bytes, a built model (buildFromCheckpoint(...).onnx) or a .onnx file path.
   * A built model with external data is written to a temporary folder for onnxruntime to read.
   */
  static async create(model: ModelSource, opts: SessionOptions = {}): Promise<DetectorSession> {
    if (model instanceof Uint8Array || typeof model === "string") return DetectorSession.open(model, opts);
    if (!model.external) return DetectorSession.open(model.model, opts);
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "imaginet-onnx-"));
    try {
      return await DetectorSession.open(await writeOnnxModel(path.join(dir, "model.onnx"), model), opts);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  private static async open(model: Uint8Array | string, opts: SessionOptions): Promise<DetectorSession> {
    const so: ort.InferenceSession.SessionOptions = {
      executionProviders: opts.executionProviders ?? ["cpu"],
      graphOptimizationLevel: "all",
      ...(opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
    };
    try {
      const s = typeof model === "string" ? await ort.InferenceSession.create(model, so) : await ort.InferenceSession.create(model, so);
      return new DetectorSession(s, opts.batchSize ?? DEFAULT_BATCH_SIZE);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (so.executionProviders?.includes("cuda") && /Cuda|providers_shared|libcudart|libcudnn/i.test(msg)) {
        throw new InputError(
          "the CUDA execution provider is not available: onnxruntime-node bundles only the CPU one; on a Linux x64 machine with CUDA 12 (and its cuDNN), reinstall it with `npm install onnxruntime-node --onnxruntime-node-install-cuda=v12`, or run the model on the libtorch engine with `--engine libtorch` (docs/gpu.md), or use --device cpu" +
            ` (onnxruntime said: ${msg.split("\n")[0]!.slice(0, 160)})`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  get inputName(): string {
    const n = this.session.inputNames[0];
    if (n === undefined) throw new Error("the model has no input");
    return n;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** One run on an already-normalised NCHW float32 tensor. */
  async runTensor(data: Float32Array, dims: readonly number[]): Promise<Record<string, OutputTensor>> {
    const feeds = { [this.inputName]: new ort.Tensor("float32", data, dims) };
    const res = await this.session.run(feeds);
    const out: Record<string, OutputTensor> = {};
    for (const [k, v] of Object.entries(res)) {
      if (v.type !== "float32") throw new Error(`output ${k} is ${v.type}, not float32`);
      out[k] = { data: v.data as Float32Array, dims: v.dims };
      v.dispose?.();
    }
    return out;
  }

  /** Normalises and runs images in batches of batchSize (see runInBatches). */
  async runImages(images: readonly RgbImage[]): Promise<Record<string, OutputTensor>> {
    return this.runNormalized(images.map((im) => normalizeImage(im)));
  }

  /** As runImages, for images already normalised into CHW float32. */
  async runNormalized(images: readonly NormalizedImage[]): Promise<Record<string, OutputTensor>> {
    return runInBatches(images, this.batchSize, (data, dims) => this.runTensor(data, dims));
  }

  /** The first column of `output` per image (the detector's scalar score). */
  async scores(images: readonly RgbImage[], output = "logit"): Promise<Float32Array> {
    const out = (await this.runImages(images))[output];
    if (!out) throw new Error(`the model has no output ${output} (it has ${this.outputNames.join(", ")})`);
    const n = out.dims[0] ?? 0;
    const per = n === 0 ? 0 : out.data.length / n;
    const s = new Float32Array(n);
    for (let k = 0; k < n; k++) s[k] = out.data[k * per]!;
    return s;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** What detect() needs of a model runner: onnxruntime's DetectorSession, or the libtorch engine's EagerDetectorSession. */
export interface ScoringSession {
  readonly batchSize: number;
  readonly outputNames: readonly string[];
  runNormalized(images: readonly NormalizedImage[]): Promise<Record<string, OutputTensor>>;
  release(): Promise<void>;
}

/**
 * Runs images already normalised into CHW float32 in batches of at most batchSize (images of one
 * size per batch; a change of size starts a new batch), concatenating each output along the batch dim.
 */
export async function runInBatches(
  images: readonly NormalizedImage[],
  batchSize: number,
  run: (data: Float32Array, dims: readonly number[]) => Promise<Record<string, OutputTensor>>,
): Promise<Record<string, OutputTensor>> {
  const parts: Record<string, OutputTensor>[] = [];
  let i = 0;
  while (i < images.length) {
    const first = images[i]!;
    let j = i + 1;
    while (j < images.length && j - i < batchSize && images[j]!.width === first.width && images[j]!.height === first.height) j++;
    const per = 3 * first.width * first.height;
    const data = new Float32Array((j - i) * per);
    for (let k = i; k < j; k++) data.set(images[k]!.chw, (k - i) * per);
    parts.push(await run(data, [j - i, 3, first.height, first.width]));
    i = j;
  }
  return concatBatches(parts);
}

function concatBatches(parts: readonly Record<string, OutputTensor>[]): Record<string, OutputTensor> {
  const out: Record<string, OutputTensor> = {};
  if (parts.length === 0) return out;
  for (const k of Object.keys(parts[0]!)) {
    const ts = parts.map((p) => p[k]!);
    const rest = ts[0]!.dims.slice(1);
    // spatial outputs (e.g. logit maps) may differ in size between batches: keep the first batch's dims if they agree
    const same = ts.every((t) => t.dims.slice(1).join(",") === rest.join(","));
    if (!same) throw new Error(`output ${k} changes shape between batches; run images of one size together`);
    const n = ts.reduce((a, t) => a + (t.dims[0] ?? 0), 0);
    const data = new Float32Array(ts.reduce((a, t) => a + t.data.length, 0));
    let o = 0;
    for (const t of ts) {
      data.set(t.data, o);
      o += t.data.length;
    }
    out[k] = { data, dims: [n, ...rest] };
  }
  return out;
}
