/** The HTTP API as docs/serve-api.md gives it: the types the page reads, and its two calls. */
import type { Normalization } from "../src/detectors/types.js";
import type { Recipe } from "../src/image/recipe.js";

export interface DetectorInfo {
  name: string;
  title: string;
  /** "binary": one logit, higher = synthetic; "groups": one logit per generator group */
  output: "binary" | "groups";
  inputs: { recipe: Recipe; normalization: Normalization; size?: number };
  calibration: { a: number; b: number } | null;
  weightsSha256: string[];
  /** the ONNX model's URL, relative to the page */
  model: string;
  groups?: string[];
}

export interface Heatmap {
  png: string;
  width: number;
  height: number;
  min: number;
  max: number;
}

export interface DetectorResult {
  detector: string;
  score?: number;
  p?: number;
  calibrated?: boolean;
  verdict?: "synthetic" | "real";
  threshold?: number;
  groups?: Record<string, number>;
  heatmap?: Heatmap;
  preprocessing?: string;
  timings?: Record<string, number>;
}

export interface Provenance {
  c2pa: { present: boolean; validated?: boolean; claimGenerator?: string; actions?: string[]; [k: string]: unknown };
  digitalSourceType: string | null;
  software: string | null;
}

export type ImageResult =
  | { name: string; sha256?: string; width: number; height: number; results: DetectorResult[]; provenance?: Provenance }
  | { name: string; error: { code: string; message: string } };

export interface ApiError {
  error: { code: string; message: string };
}

async function failure(res: Response): Promise<Error> {
  const body = (await res.json().catch(() => null)) as ApiError | null;
  return new Error(body?.error ? `${body.error.message} (${res.status} ${body.error.code})` : `the server answered ${res.status} ${res.statusText}`);
}

export async function fetchDetectors(): Promise<DetectorInfo[]> {
  const res = await fetch("v1/detectors", { headers: { accept: "application/json" } });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as DetectorInfo[];
}

/** Uploads the images in one multipart request; the results come back in the files' order. */
export async function detectOnServer(files: readonly File[], detectors: readonly string[]): Promise<ImageResult[]> {
  const form = new FormData();
  for (const f of files) form.append("image", f, f.name);
  const query = new URLSearchParams({ detectors: detectors.join(","), heatmap: "1" });
  const res = await fetch(`v1/detect?${query}`, { method: "POST", body: form });
  if (!res.ok) throw await failure(res);
  return ((await res.json()) as { images: ImageResult[] }).images;
}
