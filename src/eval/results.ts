/**
 * The results schema: a run directory holds `run.json` (what produced the scores) and
 * `predictions.jsonl` (one row per test image) plus `calibration.jsonl` (the same for the calibration
 * subset). Metrics are always recomputed from these files. Reading checks every line.
 */
import { promises as fsp } from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { TRACK_NAMES, type TrackName } from "../data/tracks.js";
import { sha256OfFile, writeFileAtomic } from "../util/fs.js";
import { InputError } from "../util/errors.js";

export const RUN_SCHEMA = "imaginet-run/1";
export const RUN_FILE = "run.json";
export const PREDICTIONS_FILE = "predictions.jsonl";
export const CALIBRATION_FILE = "calibration.jsonl";
/** what `eval run` writes beside them (the evaluation, read back by `report`) */
export const METRICS_FILE = "metrics.json";

export interface PredictionRow {
  /** image path, as in the annotation file */
  path: string;
  /**
   * The annotation's labels, origin first (0 real, 1 synthetic), as the run's track has them:
   * ImagiNet [origin, content, group, specific]; Corvi [origin, gen] ([origin] in a calibration list
   * without generators); Practical [origin].
   */
  labels: [number, number, number, number] | [number, number] | [number];
  /** which test list the image belongs to (upstream's per-group files: gan, sd, midjourney, dalle3; the Practical set's subsets: DreamBooth, …) */
  split?: string;
  /** the detector's raw scalar (binary detection); higher means more likely synthetic */
  score?: number;
  /** raw per-class outputs (identification: gan, sd, midjourney, dalle3) */
  logits?: number[];
  /** perturbation family and severity for robustness sweeps (e.g. "jpeg", 75) */
  perturbation?: string;
  severity?: number;
}

export interface RunManifest {
  schema: typeof RUN_SCHEMA;
  /**
   * Which test set the predictions come from, and the geometric preprocessing the images got (the
   * detector's own, or the track's in its place: see trackRecipe). Absent in older runs: ImagiNet.
   */
  track?: { name: TrackName; preprocessing: string | null };
  detector: { name: string; weightsSha256: string | null };
  annotations: { file: string; sha256: string }[];
  recipeHash: string | null;
  seed: number | null;
  software: Record<string, string>;
  hardware: { cpu: string; cores: number; memoryGiB: number; accelerator: string | null };
  batchSize: number | null;
  precision: string | null;
  wallSeconds: number | null;
  createdAt: string;
}

export class SchemaError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = "SchemaError";
  }
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Checks one parsed row; returns what is wrong, or null. */
export function rowProblem(v: unknown): string | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "expected a JSON object";
  const r = v as Record<string, unknown>;
  if (typeof r.path !== "string" || r.path === "") return 'expected "path": a non-empty string';
  const l = r.labels;
  if (!Array.isArray(l) || ![1, 2, 4].includes(l.length) || !l.every((x) => Number.isInteger(x) && (x as number) >= 0)) {
    return 'expected "labels": [origin, content, group, specific] (ImagiNet), [origin, gen] (Corvi) or [origin] as non-negative integers';
  }
  if (l[0] !== 0 && l[0] !== 1) return `origin must be 0 or 1, got ${String(l[0])}`;
  if (r.score === undefined && r.logits === undefined) return 'expected "score" (a number) or "logits" (an array of numbers)';
  if (r.score !== undefined && !isNum(r.score)) return `"score" must be a finite number, got ${JSON.stringify(r.score)}`;
  if (r.logits !== undefined && (!Array.isArray(r.logits) || r.logits.length === 0 || !r.logits.every(isNum))) {
    return '"logits" must be a non-empty array of finite numbers';
  }
  if (r.split !== undefined && typeof r.split !== "string") return '"split" must be a string';
  if (r.perturbation !== undefined && typeof r.perturbation !== "string") return '"perturbation" must be a string';
  if (r.severity !== undefined && !isNum(r.severity)) return '"severity" must be a finite number';
  if ((r.perturbation === undefined) !== (r.severity === undefined)) return '"perturbation" and "severity" go together';
  const known = new Set(["path", "labels", "split", "score", "logits", "perturbation", "severity"]);
  const extra = Object.keys(r).find((k) => !known.has(k));
  if (extra) return `unknown field "${extra}"`;
  return null;
}

export async function readPredictions(file: string): Promise<PredictionRow[]> {
  const text = await fsp.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`${file}: cannot read predictions (${e.code ?? e.message})`);
  });
  const rows: PredictionRow[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new SchemaError(file, i + 1, "not valid JSON");
    }
    const problem = rowProblem(v);
    if (problem) throw new SchemaError(file, i + 1, problem);
    rows.push(v as PredictionRow);
  }
  if (rows.length === 0) throw new SchemaError(file, 1, "no predictions");
  return rows;
}

export async function writePredictions(file: string, rows: readonly PredictionRow[]): Promise<void> {
  await writeFileAtomic(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
}

export async function readManifest(dir: string): Promise<RunManifest> {
  const file = path.join(dir, RUN_FILE);
  const text = await fsp.readFile(file, "utf8").catch(() => {
    throw new InputError(`${dir}: not a run directory (no ${RUN_FILE})`);
  });
  let m: RunManifest;
  try {
    m = JSON.parse(text) as RunManifest;
  } catch {
    throw new SchemaError(file, 1, "not valid JSON");
  }
  if (m.schema !== RUN_SCHEMA) throw new SchemaError(file, 1, `expected "schema": "${RUN_SCHEMA}", got ${JSON.stringify(m.schema)}`);
  if (typeof m.detector?.name !== "string" || m.detector.name === "") throw new SchemaError(file, 1, 'expected "detector": {"name": …}');
  if (m.track !== undefined && !TRACK_NAMES.includes(m.track?.name)) throw new SchemaError(file, 1, `expected "track": {"name": ${TRACK_NAMES.map((t) => JSON.stringify(t)).join(" | ")}, …}`);
  return m;
}

export function hardwareInfo(): RunManifest["hardware"] {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model ?? "unknown", cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), accelerator: null };
}

/** What makes a run's manifest; the rest (sha256s, versions, hardware, time) is filled in. */
export interface ManifestInput {
  /** the name shown in reports */
  detector: string;
  /** weight files, their sha256 recorded joined by "," (none: null) */
  weights: readonly string[];
  /** the annotation files the predictions come from (test lists, then the calibration list) */
  annotations: readonly string[];
  /** the test set (default ImagiNet) and the preprocessing recipe's name (null: not known, as for imported scores) */
  track?: TrackName;
  preprocessing?: string | null;
  recipeHash?: string | null;
  seed?: number | null;
  batchSize?: number | null;
  precision?: string | null;
  wallSeconds?: number | null;
  /** versions beyond imaginet's and node's (onnxruntime-node, the scores file) */
  software?: Record<string, string>;
}

export async function makeManifest(m: ManifestInput): Promise<RunManifest> {
  const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };
  return {
    schema: RUN_SCHEMA,
    track: { name: m.track ?? "imaginet", preprocessing: m.preprocessing ?? null },
    detector: { name: m.detector, weightsSha256: m.weights.length > 0 ? (await Promise.all(m.weights.map(sha256OfFile))).join(",") : null },
    annotations: await Promise.all(m.annotations.map(async (f) => ({ file: path.basename(f), sha256: await sha256OfFile(f) }))),
    recipeHash: m.recipeHash ?? null,
    seed: m.seed ?? null,
    software: { imaginet: pkg.version, node: process.version, ...m.software },
    hardware: hardwareInfo(),
    batchSize: m.batchSize ?? null,
    precision: m.precision ?? null,
    wallSeconds: m.wallSeconds ?? null,
    createdAt: new Date().toISOString(),
  };
}

/** How many labels a test row of each track carries. */
const LABEL_ARITY: Record<TrackName, number[]> = { imaginet: [4], corvi: [2], practical: [1] };

export interface Run {
  dir: string;
  manifest: RunManifest;
  predictions: PredictionRow[];
  calibration: PredictionRow[] | null;
}

/** The track of a run (older manifests without one are ImagiNet's). */
export function trackOf(manifest: RunManifest): TrackName {
  return manifest.track?.name ?? "imaginet";
}

export async function readRun(dir: string): Promise<Run> {
  const manifest = await readManifest(dir);
  const predictions = await readPredictions(path.join(dir, PREDICTIONS_FILE));
  const arity = LABEL_ARITY[trackOf(manifest)];
  const odd = predictions.findIndex((r) => !arity.includes(r.labels.length));
  if (odd >= 0) throw new SchemaError(path.join(dir, PREDICTIONS_FILE), odd + 1, `a ${trackOf(manifest)} run's "labels" have ${arity.join(" or ")} entries, got ${predictions[odd]!.labels.length}`);
  const calFile = path.join(dir, CALIBRATION_FILE);
  const calibration = await fsp.access(calFile).then(
    () => readPredictions(calFile),
    () => null,
  );
  return { dir, manifest, predictions, calibration };
}

export async function writeRun(dir: string, manifest: RunManifest, predictions: readonly PredictionRow[], calibration: readonly PredictionRow[] | null): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await writePredictions(path.join(dir, PREDICTIONS_FILE), predictions);
  if (calibration) await writePredictions(path.join(dir, CALIBRATION_FILE), calibration);
  await writeFileAtomic(path.join(dir, RUN_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}
