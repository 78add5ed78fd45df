/**
 * `imaginet eval loso` on a tiny stand-in: the example dataset with a sources.csv giving each synthetic
 * kind one of four sources of one content type. The fold plan is checked image by image (no scored
 * image is trained on, the left-out source is out of training, reals scored once); the command runs
 * train represent + train classifier + eval detect per fold at toy size, resumes, and refuses a
 * changed recipe in the same folder. Training uses the libtorch addon (skipped only where it is not built).
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { readAnnotationFile, type ImagiNetRecord } from "../src/data/annotations.js";
import { makeExampleDataset } from "../src/data/example.js";
import { nativeAvailable } from "../src/engine/index.js";
import { planFolds, recipeArgs } from "../src/eval/loso.js";
import { readSources } from "../src/eval/sources.js";
import { cli, tmpDir } from "./helpers.js";

/** example folder → source: synthetic sources of one content type each, reals by collection */
const SOURCE_OF: [string, string][] = [
  ["progan_val/cat/1_fake", "photo-gen"],
  ["imagenet_stylegan", "photo-gen"],
  ["sd_photos_fake", "photo-gen"],
  ["wikiart_stylegan", "paint-gen"],
  ["animaginexl_paintings_fake", "paint-gen"],
  ["sdxl_faces_fake", "face-gen"],
  ["journeydb", "anime-gen"],
  ["dalle3", "anime-gen"],
  ["imagenet", "imagenet"],
  ["val2017", "coco"],
  ["progan_val/cat/0_real", "lsun"],
  ["wikiart", "wikiart"],
  ["ffhq", "ffhq"],
  ["danbooru2021", "danbooru"],
];
const sourceOf = (p: string): string => SOURCE_OF.find(([dir]) => p.startsWith(`${dir}/`))![1];
const skip = !nativeAvailable() && "the libtorch addon is not built (node scripts/build-native.mjs)";
const line = (l: string): string => l.split(",")[0]!.slice(2);

describe("leave-one-source-out", () => {
  let root = "";
  let all = "";
  let sourcesFile = "";
  let records: ImagiNetRecord[] = [];
  before(async () => {
    root = tmpDir();
    await makeExampleDataset(root, { seed: 4, perKind: 4, size: 36 });
    const lines = ["train_annotations.txt", "calibration.txt", "test_annotations.txt"].flatMap((f) =>
      readFileSync(path.join(root, "annotations", f), "utf8")
        .trim()
        .split("\n"),
    );
    all = path.join(root, "annotations", "all.txt");
    writeFileSync(all, `${lines.join("\n")}\n`);
    sourcesFile = path.join(root, "annotations", "sources.csv");
    writeFileSync(sourcesFile, `path,source,generator,group,content\n${lines.map((l) => `${line(l)},${sourceOf(line(l))},x,${l.split(",")[3]},${l.split(",")[2]}`).join("\n")}\n`);
    records = (await readAnnotationFile(all, { format: "imaginet" })).records as ImagiNetRecord[];
  });

  test("each fold trains on neither its source (real or synthetic) nor the reals it scores; the reals of a content type are scored once", async () => {
    const sources = await readSources(sourcesFile);
    const plan = planFolds(records, sources, 7);
    assert.deepEqual(
      plan.folds.map((f) => [f.source, f.contents]),
      [
        ["anime-gen", [3]],
        ["face-gen", [2]],
        ["paint-gen", [1]],
        ["photo-gen", [0]],
      ],
    );
    const scoredReals: string[] = [];
    for (const f of plan.folds) {
      const train = new Set(f.train.map(line));
      const test = f.test.map((l) => ({ path: line(l), origin: Number(l.split(",")[1]), content: Number(l.split(",")[2]) }));
      assert.ok(
        test.every((t) => !train.has(t.path)),
        `${f.source}: a scored image is in training`,
      );
      assert.ok(
        [...train].every((p) => sourceOf(p) !== f.source),
        `${f.source}: trained on its own source`,
      );
      const mine = records.filter((r) => r.origin === 1 && sourceOf(r.path) === f.source).map((r) => r.path);
      assert.deepEqual(
        test
          .filter((t) => t.origin === 1)
          .map((t) => t.path)
          .sort(),
        mine.sort(),
        `${f.source}: scores all of its synthetic images`,
      );
      assert.ok(
        test.filter((t) => t.origin === 0).every((t) => f.contents.includes(t.content)),
        `${f.source}: reals of its content types only`,
      );
      assert.equal(train.size + test.length, records.length - records.filter((r) => !test.some((t) => t.path === r.path) && !train.has(r.path)).length);
      scoredReals.push(...test.filter((t) => t.origin === 0).map((t) => t.path));
    }
    // every real image of a scored content type, in exactly one fold
    assert.deepEqual(
      scoredReals.sort(),
      records
        .filter((r) => r.origin === 0)
        .map((r) => r.path)
        .sort(),
    );
    // one fold scores photos: it gets all 12 photo reals (and trains on none)
    assert.equal(plan.folds[3]!.test.filter((l) => l.split(",")[1] === "0").length, 12);
    assert.deepEqual(planFolds(records, sources, 7), plan, "the same seed, the same folds");
    const two = planFolds(records, sources, 7, ["photo-gen", "face-gen"]);
    assert.deepEqual(
      two.folds.map((f) => f.source),
      ["face-gen", "photo-gen"],
    );
    // a second source of photos: the 12 photo reals are dealt between the two photo folds, by the seed
    const shared = await readSources(sourcesFile);
    for (const r of records) if (r.path.startsWith("sd_photos_fake/")) shared.byPath.set(r.path, { source: "sd-photos", generator: "x" });
    const split = planFolds(records, shared, 7);
    const photoReals = (s: number, src: string) =>
      planFolds(records, shared, s)
        .folds.find((f) => f.source === src)!
        .test.filter((l) => l.split(",")[1] === "0");
    assert.equal(photoReals(7, "photo-gen").length, 6);
    assert.equal(photoReals(7, "sd-photos").length, 6);
    assert.ok(photoReals(7, "photo-gen").every((l) => !photoReals(7, "sd-photos").includes(l)));
    assert.ok(split.folds.find((f) => f.source === "sd-photos")!.train.every((l) => !photoReals(7, "sd-photos").includes(l)));
    assert.notDeepEqual(photoReals(8, "photo-gen"), photoReals(7, "photo-gen"), "another seed, another split");
    assert.throws(() => planFolds(records, sources, 7, ["nope"]), /--holdout: no synthetic images from source "nope"/);
    assert.throws(() => recipeArgs("--epochs 1 --seed 3", "--represent"), /--represent: --seed is set by eval loso/);
  });

  test("eval loso trains and scores each fold, writes one row per source, and resumes without redoing a fold", { skip }, () => {
    const out = path.join(tmpDir(), "loso");
    const args = [
      "eval",
      "loso",
      all,
      "--root",
      root,
      "--sources",
      sourcesFile,
      "--out",
      out,
      "--holdout",
      "photo-gen,paint-gen",
      "--represent",
      "--method ce --epochs 1 --batch 8 --crop 32 --layers 1,1,1,1 --width 0.0625 --workers 1 --threads 1",
      "--classifier",
      "--epochs 1 --batch 8 --crop 32 --workers 1 --threads 1",
      "--bootstrap",
      "100",
    ];
    const r = cli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^fold 1\/2 paint-gen: training on \d+ images, then scoring \d+ \(Paintings\)$/m);
    assert.match(r.stderr, /^fold 2\/2 photo-gen: done in [\d.]+ s: Photos AUC /m);
    const result = JSON.parse(readFileSync(path.join(out, "loso.json"), "utf8"));
    assert.deepEqual(
      result.folds.flatMap((f: { rows: { label: string; synthetic: number; real: number }[] }) => f.rows.map((x) => [x.label, x.synthetic, x.real])),
      [
        ["paint-gen / Paintings", 8, 4],
        ["photo-gen / Photos", 12, 12],
      ],
    );
    for (const f of result.folds) {
      const train = readFileSync(path.join(out, "folds", f.source === "paint-gen" ? "1-paint-gen" : "2-photo-gen", "train.txt"), "utf8")
        .trim()
        .split("\n");
      assert.ok(train.every((l) => sourceOf(line(l)) !== f.source));
      const row = f.rows[0];
      assert.ok(row.auc.lo <= row.auc.value && row.auc.value <= row.auc.hi);
    }
    assert.match(readFileSync(path.join(out, "loso.md"), "utf8"), /\| photo-gen \/ Photos +\| +12 +\| +12 +\|/);
    const again = cli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^fold 1\/2 paint-gen: done earlier: Paintings AUC /m);
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, "loso.json"), "utf8")).folds, result.folds);
    const changed = cli([...args.slice(0, -2), "--bootstrap", "50"]);
    assert.equal(changed.code, 2);
    assert.match(changed.stderr, /holds folds of other settings/);
  });
});
