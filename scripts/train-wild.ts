/**
 * Retrains the shipped `wild` detector (models/wild.safetensors) from wild-dev, with the recipe its
 * model card (docs/models/wild.md) describes. Every step is an imaginet command; a finished step
 * (its marker file in the work folder) is not redone, so an interrupted run continues.
 *
 *   npx tsx scripts/train-wild.ts [--wild-dev ../shared/data/wild-dev] [--work .scratch/wild] [--out models/wild.safetensors]
 *
 * 1. import wild-dev (`dataset import`: grids cut, names made safe, sources kept);
 * 2. split it: CALIBRATION_SHARE of the images, chosen by a hash of (seed, path), are held out
 *    (calibrationLines: the held-out reals and as many held-out synthetic images);
 * 3. `train represent` and `train classifier` on the rest (REPRESENT, CLASSIFIER below);
 * 4. `calibrate` on the held-out images (Platt scaling of the logit);
 * 5. write the weights the detector uses (training-only heads dropped) as safetensors, and print
 *    the sha256 and calibration that src/detectors/wild.ts pins.
 *
 * Same machine, same seed → same weights: the order, augmentation and initialisation come from the
 * seed, and libtorch runs with THREADS threads (its reductions depend on the thread count).
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { readSafetensors, readTorchCheckpoint, stateDict, writeSafetensors } from "../src/checkpoint/index.js";
import { WILD } from "../src/detectors/wild.js";
import { exists, resumeArgs, runStep } from "../src/util/child-run.js";
import { sha256OfFile, writeFileAtomic } from "../src/util/fs.js";
import { PACKAGE_ROOT } from "../src/util/package.js";

export const SEED = 42;
export const THREADS = 2;
export const CALIBRATION_SHARE = 0.15;
export const REPRESENT = ["--method", "ce", "--epochs", "10", "--warm", "0", "--width", "0.25", "--layers", "1,1,1,1", "--crop", "96", "--optimizer", "adam", "--lr", "1e-3", "--balance", "origin"];
export const CLASSIFIER = ["--epochs", "2", "--crop", "96", "--balance", "origin"];

const CLI = ["--import", "tsx", path.join(PACKAGE_ROOT, "src", "cli", "main.ts")];

/** Whether an annotation line is held out for calibration: a hash of (seed, path), so the split depends on nothing else. */
export function heldOut(line: string, seed = SEED): boolean {
  const p = line.slice(0, line.indexOf(","));
  const h = createHash("sha256").update(`${seed}/${p}`).digest();
  return h.readUInt32BE(0) / 2 ** 32 < CALIBRATION_SHARE;
}

/**
 * The calibration images: every held-out real image and as many held-out synthetic ones (the first
 * by hash), so that the fitted p assumes even odds as upstream's 40 + 40 calibration set does, not
 * wild-dev's share of synthetic images (85% of the held-out part).
 */
export function calibrationLines(held: readonly string[], seed = SEED): string[] {
  const origin = (l: string) => l.split(",")[1];
  const reals = held.filter((l) => origin(l) === "0");
  const rank = (l: string) =>
    createHash("sha256")
      .update(`${seed}/calibration/${l.slice(0, l.indexOf(","))}`)
      .digest("hex");
  const synthetic = held
    .filter((l) => origin(l) === "1")
    .map((l) => ({ l, h: rank(l) }))
    .sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0))
    .slice(0, reals.length)
    .map((x) => x.l);
  return [...reals, ...synthetic].sort();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "wild-dev": { type: "string", default: path.join(PACKAGE_ROOT, "..", "shared", "data", "wild-dev") },
      work: { type: "string", default: path.join(PACKAGE_ROOT, ".scratch", "wild") },
      out: { type: "string", default: path.join(PACKAGE_ROOT, "models", "wild.safetensors") },
    },
  });
  const work = path.resolve(values.work!);
  const data = path.join(work, "data");
  const step = (name: string, args: string[]) => {
    process.stderr.write(`train-wild: ${name}\n`);
    return runStep(path.join(work, `${name}.json`), args, true, CLI);
  };
  await fsp.mkdir(work, { recursive: true });

  if (!(await exists(path.join(work, "import.json")))) await fsp.rm(data, { recursive: true, force: true });
  await step("import", ["dataset", "import", path.join(values["wild-dev"]!, "labels.csv"), "-o", data]);

  const all = (await fsp.readFile(path.join(data, "annotations", "all.txt"), "utf8")).split("\n").filter((l) => l.trim() !== "");
  const trainFile = path.join(work, "train.txt");
  const calFile = path.join(work, "calibration.txt");
  await writeFileAtomic(trainFile, `${all.filter((l) => !heldOut(l)).join("\n")}\n`);
  await writeFileAtomic(calFile, `${calibrationLines(all.filter((l) => heldOut(l))).join("\n")}\n`);

  const common = ["--root", data, "--seed", String(SEED), "--threads", String(THREADS)];
  const repDir = path.join(work, "represent");
  const rep = await step("represent", ["train", "represent", trainFile, ...common, "--out", repDir, ...(await resumeArgs(repDir)), ...REPRESENT]);
  const clsDir = path.join(work, "classifier");
  const cls = await step("classifier", ["train", "classifier", trainFile, ...common, "--out", clsDir, "--encoder", String(rep.lastCheckpoint), ...(await resumeArgs(clsDir)), ...CLASSIFIER]);
  const detector = String(cls.detector);

  const calJson = path.join(work, "calibration-fit.json");
  await step("calibrate", ["calibrate", calFile, "--root", data, "--detector", WILD.name, "--weights", detector, "-o", calJson]);
  const calibration = JSON.parse(await fsp.readFile(calJson, "utf8")) as { a: number; b: number };

  const sd = stateDict(await readTorchCheckpoint(detector));
  const kept = new Map([...sd].filter(([k]) => !WILD.ignorable!(k, undefined as never)));
  const out = path.resolve(values.out!);
  await writeSafetensors(out, kept, {
    detector: WILD.name,
    represent: REPRESENT.join(" "),
    classifier: CLASSIFIER.join(" "),
    seed: String(SEED),
    threads: String(THREADS),
    data: `wild-dev annotations sha256 ${createHash("sha256")
      .update(`${all.join("\n")}\n`)
      .digest("hex")}`,
  });
  await readSafetensors(out);
  const sha256 = await sha256OfFile(out);
  const summary = {
    file: path.relative(PACKAGE_ROOT, out),
    sha256,
    bytes: (await fsp.stat(out)).size,
    calibration,
    train: all.length - all.filter((l) => heldOut(l)).length,
    heldOut: all.filter((l) => heldOut(l)).length,
    calibrationImages: (await fsp.readFile(calFile, "utf8")).trim().split("\n").length,
  };
  await writeFileAtomic(path.join(work, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
