/**
 * Leave-one-source-out: for each synthetic source, train a detector on every other source, score the
 * left-out source with real images that no fold trained on, and measure it within content type
 * (docs/wild-dev.md, "Leave-one-source-out").
 *
 * Folds: one per synthetic source that has at least one content type with real images. The real
 * images of each content type are dealt, in a seeded order, in turn to the folds whose source has
 * synthetic images of that content type; a fold scores its source's synthetic images of those content
 * types with the reals dealt to it, and trains on everything else except the left-out source's own
 * images (real ones too: the source is unseen as a whole). So no scored image was trained on in its
 * fold, and every real image of a content type that some fold scores is scored in exactly one fold.
 *
 * Each fold runs the real commands in sequence — `imaginet train represent`, `imaginet train
 * classifier`, `imaginet eval detect` — then evaluates the run with the sources file. A step that
 * finished (its marker file is there) is not redone, so an interrupted run continues where it stopped.
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { readAnnotationFile, type ImagiNetRecord } from "../data/annotations.js";
import { safeSegment } from "../data/import.js";
import { InputError, ProblemsError } from "../util/errors.js";
import { exists, resumeArgs, runStep } from "../util/child-run.js";
import { writeFileAtomic } from "../util/fs.js";
import { evaluateRun, seededSample, writeMetrics, type DetectionRow, type SkippedRow } from "./evaluate.js";
import { readRun } from "./results.js";
import { contentTitle, type SourceTable } from "./sources.js";

/** The options `eval loso` sets itself in every fold; a recipe must not set them. */
export const RESERVED_TRAIN_OPTIONS = ["--root", "--out", "-o", "--encoder", "--resume", "--seed", "--json"] as const;

export interface Fold {
  source: string;
  /** content types scored (those of the source's synthetic images that have real images) */
  contents: number[];
  /** annotation lines (`./path,origin,content,group,specific`) */
  train: string[];
  test: string[];
}

export interface FoldPlan {
  folds: Fold[];
  /** synthetic sources with no fold, and why */
  skipped: { source: string; reason: string }[];
}

const line = (r: ImagiNetRecord): string => `./${r.path},${r.origin},${r.content},${r.group},${r.specific}`;
const byPath = (a: ImagiNetRecord, b: ImagiNetRecord): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** The folds for the records (every one must be in `sources`); `holdout` restricts which sources are left out. */
export function planFolds(records: readonly ImagiNetRecord[], sources: SourceTable, seed: number, holdout?: readonly string[]): FoldPlan {
  const missing = records.filter((r) => !sources.byPath.has(r.path));
  if (missing.length > 0) {
    throw new InputError(
      `${sources.file}: no source for ${missing.length} annotated image(s), e.g. ${JSON.stringify(missing[0]!.path)}: every image needs one, or a fold could train on the source it scores`,
    );
  }
  const sourceOf = (r: ImagiNetRecord): string => sources.byPath.get(r.path)!.source;
  const synthetic = [...new Set(records.filter((r) => r.origin === 1).map(sourceOf))].sort();
  for (const s of holdout ?? []) if (!synthetic.includes(s)) throw new InputError(`--holdout: no synthetic images from source ${JSON.stringify(s)} (synthetic sources: ${synthetic.join(", ")})`);
  const realsByContent = new Map<number, ImagiNetRecord[]>();
  for (const r of [...records].sort(byPath)) if (r.origin === 0) realsByContent.set(r.content, [...(realsByContent.get(r.content) ?? []), r]);

  const chosen: { source: string; contents: number[] }[] = [];
  const skipped: FoldPlan["skipped"] = [];
  for (const source of holdout ? [...holdout].sort() : synthetic) {
    const contents = [...new Set(records.filter((r) => r.origin === 1 && sourceOf(r) === source).map((r) => r.content))].sort();
    const scored = contents.filter((c) => realsByContent.has(c));
    if (scored.length === 0) skipped.push({ source, reason: `no real images of its content types (${contents.map(contentTitle).join(", ")})` });
    else chosen.push({ source, contents: scored });
  }

  // each content type's reals in a seeded order, dealt in turn to the folds that score that content type
  const part = new Map<string, number>();
  for (const [c, reals] of realsByContent) {
    const scoring = chosen.flatMap((f, k) => (f.contents.includes(c) ? [k] : []));
    if (scoring.length === 0) continue;
    const order = seededSample(reals, reals.length, seed, `loso/reals/${contentTitle(c)}`);
    order.forEach((r, j) => part.set(r.path, scoring[j % scoring.length]!));
  }
  const sorted = [...records].sort(byPath);
  const folds = chosen.map(({ source, contents }, k): Fold => {
    const scoredReal = (r: ImagiNetRecord): boolean => r.origin === 0 && part.get(r.path) === k && contents.includes(r.content);
    const scoredSynthetic = (r: ImagiNetRecord): boolean => r.origin === 1 && sourceOf(r) === source && contents.includes(r.content);
    return {
      source,
      contents,
      train: sorted.filter((r) => sourceOf(r) !== source && !scoredReal(r)).map(line),
      test: sorted.filter((r) => scoredReal(r) || scoredSynthetic(r)).map(line),
    };
  });
  return { folds, skipped };
}

/** Splits a recipe (`--method ce --epochs 16`) into arguments, refusing the options each fold sets. */
export function recipeArgs(recipe: string, what: string): string[] {
  const args = recipe.split(/\s+/).filter((a) => a !== "");
  for (const a of args) {
    if (/["'\\]/.test(a)) throw new InputError(`${what}: quoting is not supported, got ${JSON.stringify(a)}`);
    const name = a.split("=")[0]!;
    if ((RESERVED_TRAIN_OPTIONS as readonly string[]).includes(name)) throw new InputError(`${what}: ${name} is set by eval loso for each fold; leave it out of the recipe`);
  }
  return args;
}

export interface LosoOptions {
  /** the dataset's annotation file (dataset import: annotations/all.txt) */
  annotations: string;
  root: string;
  sources: SourceTable;
  out: string;
  /** arguments of `imaginet train represent` and `imaginet train classifier` (no files, --root, --out, --seed) */
  represent: string[];
  classifier: string[];
  holdout?: string[];
  seed: number;
  resamples: number;
  /** one line per fold as it starts and ends */
  log: (line: string) => void;
  /** stream the commands' own output (training epochs, detection progress) to stderr */
  verbose?: boolean;
}

export interface FoldResult {
  source: string;
  train: number;
  test: { real: number; synthetic: number };
  rows: DetectionRow[];
  skipped: SkippedRow[];
}

export interface LosoResult {
  schema: "imaginet-loso/1";
  annotations: string;
  sources: { file: string; sha256: string };
  represent: string[];
  classifier: string[];
  seed: number;
  resamples: number;
  folds: FoldResult[];
  skipped: FoldPlan["skipped"];
}

export const LOSO_FILE = "loso.json";
export const FOLD_RESULT = "result.json";

async function runFold(fold: Fold, dir: string, o: LosoOptions): Promise<FoldResult> {
  const done = path.join(dir, FOLD_RESULT);
  if (await exists(done)) return JSON.parse(await fsp.readFile(done, "utf8")) as FoldResult;
  const trainFile = path.join(dir, "train.txt");
  const testFile = path.join(dir, "test.txt");
  await writeFileAtomic(trainFile, `${fold.train.join("\n")}\n`);
  await writeFileAtomic(testFile, `${fold.test.join("\n")}\n`);
  const seed = String(o.seed);
  const repDir = path.join(dir, "represent");
  const step = (marker: string, args: string[]) => runStep(marker, args, Boolean(o.verbose));
  const rep = await step(path.join(dir, "represent.json"), ["train", "represent", trainFile, "--root", o.root, "--out", repDir, "--seed", seed, ...(await resumeArgs(repDir)), ...o.represent]);
  const clsDir = path.join(dir, "classifier");
  const cls = await step(path.join(dir, "classifier.json"), [
    "train",
    "classifier",
    trainFile,
    "--root",
    o.root,
    "--out",
    clsDir,
    "--encoder",
    String(rep.lastCheckpoint),
    "--seed",
    seed,
    ...(await resumeArgs(clsDir)),
    ...o.classifier,
  ]);
  if (typeof cls.detector !== "string") throw new ProblemsError(`${path.join(dir, "classifier.json")}: the classifier stage wrote no detector`);
  const runDir = path.join(dir, "run");
  await step(path.join(dir, "detect.json"), ["eval", "detect", testFile, "--root", o.root, "--out", runDir, "--detector", "imaginet", "--weights", cls.detector]);
  const e = evaluateRun(await readRun(runDir), { seed: o.seed, resamples: o.resamples, sources: o.sources });
  await writeMetrics(runDir, e);
  const synthetic = fold.test.filter((l) => l.split(",")[1] === "1").length;
  const result: FoldResult = {
    source: fold.source,
    train: fold.train.length,
    test: { real: fold.test.length - synthetic, synthetic },
    rows: e.detection?.sources?.rows.filter((r) => r.source === fold.source) ?? [],
    skipped: e.detection?.sourcesSkipped.filter((s) => s.label.startsWith(`${fold.source} / `)) ?? [],
  };
  await writeFileAtomic(done, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

export const SETTINGS_FILE = "settings.json";

/**
 * What the folds depend on, kept in OUT/settings.json: a later run into the same folder must have the
 * same, or finished folds of another recipe, seed or dataset would be taken as its own.
 */
async function checkSettings(o: LosoOptions, images: number): Promise<void> {
  const annotations = createHash("sha256")
    .update(await fsp.readFile(o.annotations))
    .digest("hex");
  const settings = { annotations, images, sources: o.sources.sha256, represent: o.represent, classifier: o.classifier, holdout: o.holdout ?? null, seed: o.seed, resamples: o.resamples };
  const file = path.join(o.out, SETTINGS_FILE);
  const text = `${JSON.stringify(settings, null, 2)}\n`;
  const earlier = await fsp.readFile(file, "utf8").catch(() => null);
  if (earlier === null) return writeFileAtomic(file, text);
  if (earlier !== text) throw new InputError(`${file}: ${o.out} holds folds of other settings (recipe, seed, holdout, bootstrap or dataset); use another --out, or delete it`);
}

const f4 = (x: number): string => (Number.isNaN(x) ? "n/a" : x.toFixed(4));

/** Runs every fold in turn (each one resumable) and writes OUT/loso.json. */
export async function runLoso(o: LosoOptions): Promise<LosoResult> {
  const records = (await readAnnotationFile(o.annotations, { format: "imaginet" })).records as ImagiNetRecord[];
  const plan = planFolds(records, o.sources, o.seed, o.holdout);
  if (plan.folds.length === 0) throw new InputError(`no source can be left out: ${plan.skipped.map((s) => `${s.source}: ${s.reason}`).join("; ")}`);
  for (const s of plan.skipped) o.log(`${s.source}: no fold, ${s.reason}`);
  await checkSettings(o, records.length);
  const folds: FoldResult[] = [];
  for (const [k, fold] of plan.folds.entries()) {
    const dir = path.join(o.out, "folds", `${k + 1}-${safeSegment(fold.source)}`);
    const head = `fold ${k + 1}/${plan.folds.length} ${fold.source}`;
    const earlier = await exists(path.join(dir, FOLD_RESULT));
    if (!earlier) o.log(`${head}: training on ${fold.train.length} images, then scoring ${fold.test.length} (${fold.contents.map(contentTitle).join(", ")})`);
    const started = Date.now();
    const r = await runFold(fold, dir, o);
    const aucs = r.rows.map((x) => `${x.content} AUC ${f4(x.auc.value)} [${f4(x.auc.lo)}, ${f4(x.auc.hi)}]`).join(", ");
    o.log(`${head}: ${earlier ? "done earlier" : `done in ${((Date.now() - started) / 1000).toFixed(1)} s`}: ${aucs || "no row"}`);
    folds.push(r);
  }
  const result: LosoResult = {
    schema: "imaginet-loso/1",
    annotations: o.annotations,
    sources: { file: o.sources.file, sha256: o.sources.sha256 },
    represent: o.represent,
    classifier: o.classifier,
    seed: o.seed,
    resamples: o.resamples,
    folds,
    skipped: plan.skipped,
  };
  await writeFileAtomic(path.join(o.out, LOSO_FILE), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
