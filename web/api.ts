/** The HTTP API as docs/serve-api.md gives it: the types the page reads, and its two calls. */
import type { Normalization } from "../src/detectors/types.js";
import type { Recipe } from "../src/image/recipe.js";
import type { Provenance } from "../src/provenance/index.js";

export type { Provenance };

export interface DetectorInfo {
  name: string;
  title: string;
  /** "binary": one logit, higher = synthetic; "groups": one logit per generator group */
  output: "binary" | "groups";
  inputs: { recipe: Recipe; normalization: Normalization; size?: number };
  calibration: { a: number; b: number } | null;
  /** why the raw score is no logit of p(synthetic): without a calibration, no p and no verdict */
  needsCalibration: string | null;
  weightsSha256: string[];
  /** the ONNX model's URL, relative to the page; null for a model past 2 GB (not served) */
  model: string | null;
  /** one per logit, in the model's order (identification) */
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
  /** null, with verdict null and noVerdict saying why, for a detector that needs a calibration and has none */
  p?: number | null;
  calibrated?: boolean;
  verdict?: "synthetic" | "real" | null;
  noVerdict?: string;
  threshold?: number;
  groups?: Record<string, number>;
  heatmap?: Heatmap;
  preprocessing?: string;
  timings?: Record<string, number>;
}

export type ImageResult =
  | { name: string; sha256?: string; width: number; height: number; results: DetectorResult[]; provenance?: Provenance }
  | { name: string; error: { code: string; message: string } };

export interface ApiError {
  error: { code: string; message: string };
}

/** The server wants a (different) bearer token: the page asks for one. */
export class Unauthorized extends Error {}

const TOKEN_KEY = "imaginet-token";

/** The token given on this page, kept for the tab's session only. */
export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string): void => sessionStorage.setItem(TOKEN_KEY, t),
};

/** fetch for the API (/v1/…): with the bearer token when one was given; a 401 throws Unauthorized. */
export async function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = token.get();
  if (t) headers.set("authorization", `Bearer ${t}`);
  const res = await fetch(url, { ...init, headers });
  if (res.status === 401) throw new Unauthorized(await failureMessage(res));
  return res;
}

async function failureMessage(res: Response): Promise<string> {
  const body = (await res.json().catch(() => null)) as ApiError | null;
  return body?.error ? `${body.error.message} (${res.status} ${body.error.code})` : `the server answered ${res.status} ${res.statusText}`;
}

export async function fetchDetectors(): Promise<DetectorInfo[]> {
  const res = await apiFetch("v1/detectors", { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(await failureMessage(res));
  return (await res.json()) as DetectorInfo[];
}

/** What one POST /v1/detect may carry (GET /healthz's `limits`, from the server's --max-images and --max-body-mb). */
export interface Limits {
  maxImages: number;
  maxBodyBytes: number;
}

/** The page sends at most this many images per request even when the server takes more, so cards fill in as answers come. */
export const IMAGES_PER_REQUEST = 16;

/** The server's limits; a server that does not say them gets IMAGES_PER_REQUEST images and no byte bound. */
export async function fetchLimits(): Promise<Limits> {
  const fallback = { maxImages: IMAGES_PER_REQUEST, maxBodyBytes: Number.POSITIVE_INFINITY };
  const res = await fetch("healthz", { headers: { accept: "application/json" } }).catch(() => undefined);
  const body = res?.ok ? ((await res.json().catch(() => null)) as { limits?: Partial<Limits> } | null) : null;
  return { ...fallback, ...body?.limits };
}

/**
 * The files in request-sized groups, in order: at most min(IMAGES_PER_REQUEST, maxImages) files and
 * at most maxBodyBytes of file bytes each. A file larger than maxBodyBytes goes alone (the server
 * answers it with its own 413).
 */
export function requestGroups<T extends { size: number }>(files: readonly T[], limits: Limits): T[][] {
  const most = Math.max(1, Math.min(IMAGES_PER_REQUEST, limits.maxImages));
  const groups: T[][] = [];
  let bytes = 0;
  for (const f of files) {
    const last = groups.at(-1);
    if (!last || last.length >= most || bytes + f.size > limits.maxBodyBytes) {
      groups.push([f]);
      bytes = f.size;
    } else {
      last.push(f);
      bytes += f.size;
    }
  }
  return groups;
}

/** A detector's ONNX model, as the server runs it. */
export async function fetchModel(info: DetectorInfo): Promise<Uint8Array> {
  if (info.model === null) throw new Error(`${info.title}'s model keeps its weights in a side file (past 2 GB): it runs only on the server`);
  const res = await apiFetch(info.model);
  if (!res.ok) throw new Error(`${info.model}: ${await failureMessage(res)}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Uploads the images in one multipart request (field "image"); the results come back in the files' order. */
export async function detectOnServer(files: readonly File[], detectors: readonly string[]): Promise<ImageResult[]> {
  const form = new FormData();
  for (const f of files) form.append("image", f, f.name);
  const query = new URLSearchParams({ detectors: detectors.join(","), heatmap: "1" });
  const res = await apiFetch(`v1/detect?${query}`, { method: "POST", body: form });
  if (!res.ok) throw new Error(await failureMessage(res));
  return ((await res.json()) as { images: ImageResult[] }).images;
}
