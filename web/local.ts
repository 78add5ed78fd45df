/**
 * "Run in this browser": the server's ONNX model on onnxruntime-web, fed by the project's own
 * preprocessing (src/image/preprocess.ts: the detector's recipe, then its normalisation), so the
 * numbers match the server's; the image never leaves the page.
 */
import * as ort from "onnxruntime-web";
import { GROUPS } from "../src/data/labels.js";
import { scoreVerdict, softmaxWithTemperature } from "../src/eval/calibration.js";
import { preprocessImage } from "../src/image/preprocess.js";
import type { RgbImage } from "../src/image/types.js";
import { Rng } from "../src/util/rng.js";
import { type DetectorInfo, type DetectorResult, fetchModel } from "./api.js";
import { jpegOrientation, undoOrientation } from "./orientation.js";

// the WASM runtime (its .mjs glue and .wasm) is copied next to the page's bundle
ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
// threads need a cross-origin isolated page (COOP/COEP headers); otherwise one thread
ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

/**
 * 8-bit RGB as the server decodes it (src/image/decode.ts): no colour-profile conversion, no
 * premultiplication, alpha dropped, a JPEG's EXIF orientation not applied. (Where alpha < 255 the
 * canvas keeps premultiplied pixels, so semi-transparent images may differ in their low bits.)
 */
export async function decodeInBrowser(blob: Blob): Promise<RgbImage> {
  const orientation = jpegOrientation(new Uint8Array(await blob.slice(0, 1 << 17).arrayBuffer()));
  return undoOrientation(await decodePixels(blob), orientation);
}

async function decodePixels(blob: Blob): Promise<RgbImage> {
  const bitmap = await createImageBitmap(blob, { premultiplyAlpha: "none", colorSpaceConversion: "none" });
  try {
    const { width, height } = bitmap;
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" });
    if (!ctx) throw new Error("this browser has no 2D canvas");
    ctx.drawImage(bitmap, 0, 0);
    const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: "srgb" }).data;
    const data = new Uint8Array(width * height * 3);
    for (let i = 0, o = 0; i < rgba.length; i += 4, o += 3) {
      data[o] = rgba[i]!;
      data[o + 1] = rgba[i + 1]!;
      data[o + 2] = rgba[i + 2]!;
    }
    return { width, height, data };
  } finally {
    bitmap.close();
  }
}

/** A logit map as values, for the heatmap overlay. */
export interface LogitMap {
  values: Float32Array;
  width: number;
  height: number;
}

export type LocalResult = DetectorResult & { logitMap?: LogitMap; backend: string };

/** WebGPU where the browser offers it, else WASM (SIMD, and threads when cross-origin isolated). */
async function createSession(model: Uint8Array): Promise<{ session: ort.InferenceSession; backend: string }> {
  const options = { graphOptimizationLevel: "all" } as const;
  if ("gpu" in navigator) {
    try {
      return { session: await ort.InferenceSession.create(model, { ...options, executionProviders: ["webgpu"] }), backend: "WebGPU" };
    } catch {
      // no adapter (or a blocked GPU): WASM below
    }
  }
  const session = await ort.InferenceSession.create(model, { ...options, executionProviders: ["wasm"] });
  return { session, backend: `WASM, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads === 1 ? "" : "s"}` };
}

export class LocalDetector {
  private constructor(
    readonly info: DetectorInfo,
    private readonly session: ort.InferenceSession,
    readonly backend: string,
  ) {}

  /** Fetches the detector's model from the server (`model`, e.g. /v1/detectors/NAME/model.onnx). */
  static async load(info: DetectorInfo): Promise<LocalDetector> {
    const { session, backend } = await createSession(await fetchModel(info));
    return new LocalDetector(info, session, backend);
  }

  /** One image, decoded already; `key` names the recipe's random stream as the server's file name does. */
  async run(img: RgbImage, key: string): Promise<LocalResult> {
    const { info } = this;
    const prep = { recipe: info.inputs.recipe, normalization: info.inputs.normalization };
    const t0 = performance.now();
    const x = await preprocessImage(img, prep, new Rng(0, key));
    const t1 = performance.now();
    const input = new ort.Tensor("float32", x.chw, [1, 3, x.height, x.width]);
    const out = await this.session.run({ [this.session.inputNames[0]!]: input });
    const t2 = performance.now();
    const logit = out.logit ?? out[this.session.outputNames[0]!]!;
    const row = Array.from(logit.data as Float32Array);
    const result: LocalResult = {
      detector: info.name,
      preprocessing: info.inputs.recipe.description,
      timings: { preprocessMs: t1 - t0, inferenceMs: t2 - t1 },
      backend: this.backend,
    };
    if (info.output === "groups") {
      const names = info.groups ?? GROUPS.slice(0, row.length);
      const probs = softmaxWithTemperature([row], 1)[0]!;
      result.groups = Object.fromEntries(names.map((g, i) => [g, probs[i]!]));
    } else {
      Object.assign(result, { ...scoreVerdict(row[0]!, info.calibration, info.needsCalibration ?? undefined), threshold: 0.5 });
    }
    const map = out.logit_map;
    if (map) result.logitMap = { values: map.data as Float32Array, width: map.dims[3]!, height: map.dims[2]! };
    for (const t of Object.values(out)) t.dispose();
    return result;
  }
}
