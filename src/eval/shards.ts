/**
 * Sharded `eval detect` (docs/scale-out.md). A shard scores its contiguous run of whole inference
 * batches of the annotated images and writes, in place of a run, `shard.json` (the run's manifest,
 * which shard, and where each of its rows stands among the unsharded run's rows) with its rows of
 * `predictions.jsonl` and `calibration.jsonl`. A shard is not a run: `eval run` does not read it.
 * `eval merge` puts every row back in its place: the unsharded run, byte for byte, but for the
 * manifest's `wallSeconds` (the shards' sum) and `createdAt` (the latest shard's).
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { InputError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { inShardOrder, type Shard, type ShardOutput } from "../util/shard.js";
import type { Scores } from "./import.js";
import { CALIBRATION_FILE, PREDICTIONS_FILE, type PredictionRow, readPredictions, type RunManifest, writePredictions, writeRun } from "./results.js";

export const SHARD_FILE = "shard.json";
export const SHARD_SCHEMA = "imaginet-run-shard/1";

/** Where a shard's rows of one file stand in the unsharded run's `rows` rows. */
interface RowPlaces {
  rows: number;
  positions: number[];
}

interface ShardFile {
  schema: typeof SHARD_SCHEMA;
  shard: { index: number; count: number; batch: number; images: [number, number]; total: number };
  predictions: RowPlaces;
  calibration: RowPlaces | null;
  run: RunManifest;
}

/**
 * The shard's scores, and a placeholder for every other annotated image, so that `joinScores` gives
 * every row of the unsharded run in its order; `writeShardRun` keeps the shard's own.
 */
export function withUnscored(scores: Scores, allPaths: readonly string[]): Scores {
  return { ...scores, byPath: new Map(allPaths.map((p) => [p, scores.byPath.get(p) ?? Number.NaN])) };
}

function ownRows(rows: readonly PredictionRow[], scored: ReadonlyMap<string, unknown>): { own: PredictionRow[]; places: RowPlaces } {
  const own: PredictionRow[] = [];
  const positions: number[] = [];
  rows.forEach((r, i) => {
    if (!scored.has(r.path)) return;
    own.push(r);
    positions.push(i);
  });
  return { own, places: { rows: rows.length, positions } };
}

/** Writes shard `shard` of a run: `predictions`/`calibration` are all the run's rows (joined `withUnscored`), `scores` the shard's own. */
export async function writeShardRun(
  dir: string,
  manifest: RunManifest,
  shard: Shard & { batch: number; images: [number, number]; total: number },
  scores: Scores,
  predictions: readonly PredictionRow[],
  calibration: readonly PredictionRow[] | null,
): Promise<void> {
  const p = ownRows(predictions, scores.byPath);
  const c = calibration && ownRows(calibration, scores.byPath);
  await fsp.mkdir(dir, { recursive: true });
  await writePredictions(path.join(dir, PREDICTIONS_FILE), p.own);
  if (c) await writePredictions(path.join(dir, CALIBRATION_FILE), c.own);
  const file: ShardFile = {
    schema: SHARD_SCHEMA,
    shard: { index: shard.index, count: shard.count, batch: shard.batch, images: shard.images, total: shard.total },
    predictions: p.places,
    calibration: c?.places ?? null,
    run: manifest,
  };
  await writeFileAtomic(path.join(dir, SHARD_FILE), `${JSON.stringify(file)}\n`);
}

interface ShardRun extends ShardOutput {
  file: ShardFile;
  predictions: PredictionRow[];
  calibration: PredictionRow[] | null;
}

async function readRows(file: string, places: RowPlaces): Promise<PredictionRow[]> {
  const rows = places.positions.length === 0 ? [] : await readPredictions(file);
  if (rows.length !== places.positions.length) throw new InputError(`${file}: ${rows.length} rows, ${SHARD_FILE} places ${places.positions.length}`);
  return rows;
}

async function readShardRun(dir: string): Promise<ShardRun> {
  const text = await fsp.readFile(path.join(dir, SHARD_FILE), "utf8").catch(() => {
    throw new InputError(`${dir}: not a shard of \`eval detect --shard K/N\` (no ${SHARD_FILE})`);
  });
  const file = JSON.parse(text) as ShardFile;
  if (file.schema !== SHARD_SCHEMA) throw new InputError(`${path.join(dir, SHARD_FILE)}: expected "schema": "${SHARD_SCHEMA}", got ${JSON.stringify(file.schema)}`);
  const { index, count, images, total } = file.shard;
  const predictions = await readRows(path.join(dir, PREDICTIONS_FILE), file.predictions);
  const calibration = file.calibration && (await readRows(path.join(dir, CALIBRATION_FILE), file.calibration));
  return { name: dir, index, count, part: images, total, file, predictions, calibration };
}

/** The rows of all shards, each in its place; every place filled once. */
function placeRows(shards: readonly ShardRun[], which: "predictions" | "calibration"): PredictionRow[] | null {
  const first = shards[0]!.file[which];
  if (!first) return null;
  const out: (PredictionRow | undefined)[] = new Array(first.rows);
  for (const s of shards) {
    const places = s.file[which];
    if (places?.rows !== first.rows) throw new InputError(`${s.name}: ${places ? `${places.rows} ${which} rows` : `no ${which}`}, ${shards[0]!.name}: ${first.rows}`);
    s[which]!.forEach((r, i) => {
      const at = places.positions[i]!;
      if (!(at >= 0 && at < first.rows) || out[at]) throw new InputError(`${s.name}: ${which} row ${at} is out of range or given by two shards`);
      out[at] = r;
    });
  }
  const hole = out.findIndex((r) => r === undefined);
  if (hole >= 0) throw new InputError(`no shard holds ${which} row ${hole}`);
  return out as PredictionRow[];
}

/** What must agree between the shards' manifests: all but the time, the date and the machine. */
function sameRun(m: RunManifest): string {
  const { wallSeconds: _w, createdAt: _c, hardware: _h, ...rest } = m;
  return JSON.stringify(rest);
}

export interface RunMergeReport {
  out: string;
  shards: number;
  predictions: number;
  calibration: number | null;
  /** set when the shards ran on different machines: the run records shard 1's */
  hardwareDiffers: boolean;
}

/** `eval merge`: N shard directories of `eval detect --shard K/N` → the run one unsharded `eval detect` writes. */
export async function mergeRuns(dirs: readonly string[], out: string): Promise<RunMergeReport> {
  const shards = inShardOrder(await Promise.all(dirs.map(readShardRun)));
  const first = shards[0]!;
  if (shards.some((s) => path.resolve(s.name) === path.resolve(out))) throw new InputError(`--out ${out} is one of the shards: merge into another folder`);
  for (const s of shards) {
    if (s.file.shard.batch !== first.file.shard.batch)
      throw new InputError(`${s.name} scored in batches of ${s.file.shard.batch}, ${first.name} of ${first.file.shard.batch}: run every shard with the same --batch`);
    if (sameRun(s.file.run) !== sameRun(first.file.run))
      throw new InputError(`${s.name} and ${first.name} are shards of different runs (their manifests differ beyond wallSeconds, createdAt and hardware)`);
  }
  const predictions = placeRows(shards, "predictions")!;
  const calibration = placeRows(shards, "calibration");
  const runs = shards.map((s) => s.file.run);
  const manifest: RunManifest = {
    ...first.file.run,
    wallSeconds: runs.every((r) => r.wallSeconds !== null) ? runs.reduce((a, r) => a + r.wallSeconds!, 0) : null,
    createdAt: runs
      .map((r) => r.createdAt)
      .sort()
      .at(-1)!,
  };
  await writeRun(out, manifest, predictions, calibration);
  const hardwareDiffers = runs.some((r) => JSON.stringify(r.hardware) !== JSON.stringify(first.file.run.hardware));
  return { out, shards: shards.length, predictions: predictions.length, calibration: calibration?.length ?? null, hardwareDiffers };
}
