/** src/train: the learning-rate schedule against PyTorch 1.13's schedulers, and the training loader. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { makeExampleDataset } from "../src/data/example.js";
import { readAnnotationFile, type ImagiNetRecord } from "../src/data/annotations.js";
import { TRAIN } from "../src/image/recipes.js";
import { balanceClasses, epochOrder, itemsFromRecords, TrainLoader, type TrainItem } from "../src/train/data.js";
import { learningRate } from "../src/train/schedule.js";
import { REPO, tmpDir } from "./helpers.js";

describe("learning-rate schedule", () => {
  const ref = JSON.parse(readFileSync(path.join(REPO, "test/fixtures/train/schedule.json"), "utf8")) as Record<string, { lr: number; epochs: number; warm: number; lrs: number[] }>;
  for (const [name, c] of Object.entries(ref)) {
    test(`${name}: warm-up then cosine equals torch's SequentialLR(LinearLR, CosineAnnealingLR) at every epoch`, () => {
      c.lrs.forEach((want, i) => {
        const got = learningRate(c, i + 1);
        assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(want, 1e-12) + 1e-18, `epoch ${i + 1}: ${got} vs ${want}`);
      });
    });
  }
  test("epochs outside the run are refused", () => {
    assert.throws(() => learningRate({ lr: 1, epochs: 5, warm: 1 }, 0), /outside 1\.\.5/);
    assert.throws(() => learningRate({ lr: 1, epochs: 5, warm: 1 }, 6), /outside/);
  });
});

describe("training loader", () => {
  let root = "";
  let items: TrainItem[] = [];
  before(async () => {
    root = tmpDir();
    await makeExampleDataset(root, { seed: 3 });
    const f = await readAnnotationFile(path.join(root, "annotations", "train_annotations.txt"), { format: "imaginet" });
    items = itemsFromRecords(f.records as ImagiNetRecord[]);
  });

  test("the epoch order is a seeded permutation; class balancing draws each class equally often", () => {
    const a = epochOrder(items, 1, 1);
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      items.map((_, i) => i),
    );
    assert.deepEqual(epochOrder(items, 1, 1), a);
    assert.notDeepEqual(epochOrder(items, 1, 2), a);
    const many: TrainItem[] = Array.from({ length: 4000 }, (_, i) => ({ path: `${i}`, labels: [i % 10 === 0 ? 1 : 0, 0, i % 10 === 0 ? 0 : 4, 0] }));
    const drawn = epochOrder(many, 5, 1, "origin");
    const synthetic = drawn.filter((i) => many[i]!.labels[0] === 1).length;
    assert.ok(Math.abs(synthetic / drawn.length - 0.5) < 0.03, `${synthetic} of ${drawn.length}`);
  });

  test("content balancing: each content type's real and synthetic images equally often; one-origin content types never drawn", () => {
    // photos: 100 real, 10 synthetic; art: 10 real, 300 synthetic; uncategorised (3): 50 synthetic only
    const cells: [origin: number, content: number, n: number][] = [
      [0, 0, 100],
      [1, 0, 10],
      [0, 1, 10],
      [1, 1, 300],
      [1, 3, 50],
    ];
    const many: TrainItem[] = cells.flatMap(([origin, content, n]) =>
      Array.from({ length: n }, (_, i) => ({ path: `${origin}/${content}/${i}`, labels: [origin, content, origin === 0 ? 4 : 1, 0] as const })),
    );
    const { classes, excluded } = balanceClasses(many, "content");
    assert.deepEqual(
      classes.map((c) => c.length),
      [100, 10, 10, 300],
    );
    assert.deepEqual(
      excluded,
      Array.from({ length: 50 }, (_, i) => 420 + i),
    );
    const drawn = epochOrder(many, 5, 1, "content");
    assert.equal(drawn.length, many.length);
    const count = (origin: number, content: number) => drawn.filter((i) => many[i]!.labels[0] === origin && many[i]!.labels[1] === content).length;
    assert.equal(count(1, 3), 0);
    // each of the four cells is drawn with probability 1/4: within 4 binomial standard deviations
    const sd = Math.sqrt(drawn.length * 0.25 * 0.75);
    for (const [origin, content] of cells.slice(0, 4)) assert.ok(Math.abs(count(origin, content) - drawn.length / 4) < 4 * sd, `${origin}/${content}: ${count(origin, content)}`);
    assert.throws(() => epochOrder(many.slice(420), 5, 1, "content"), /no content type has both/);
  });

  test("batches: two views of 32×32 crops, labels in order, identical for 0 and 2 workers", async () => {
    const run = async (workers: number) => {
      const loader = new TrainLoader({ root, items, recipe: TRAIN, crop: 32, views: 2, batchSize: 4, seed: 9, workers });
      const out = [];
      for await (const b of loader.epoch(1)) out.push(b);
      await loader.close();
      return out;
    };
    const inline = await run(0);
    const workers = await run(2);
    assert.equal(inline.length, Math.ceil(items.length / 4));
    assert.deepEqual(workers, inline);
    const b = inline[0]!;
    assert.equal(b.views.length, 2);
    assert.equal(b.views[0]!.length, b.size * 3 * 32 * 32);
    assert.notDeepEqual(b.views[0], b.views[1], "two views are two augmentations");
    const order = epochOrder(items, 9, 1);
    assert.deepEqual([...b.labels.subarray(0, 4)], [...items[order[0]!]!.labels]);
  });

  test("the decoded-image cache changes nothing: two epochs equal with and without it, inline and in 2 workers", async () => {
    const run = async (workers: number, cacheBytes: number) => {
      const loader = new TrainLoader({ root, items, recipe: TRAIN, crop: 32, views: 1, batchSize: 4, seed: 9, workers, cacheBytes });
      const out = [];
      for (const e of [1, 2]) for await (const b of loader.epoch(e)) out.push(b);
      await loader.close();
      return out;
    };
    const plain = await run(0, 0);
    assert.deepEqual(await run(0, 1 << 30), plain);
    assert.deepEqual(await run(2, 1 << 30), plain);
    // a budget that holds only some of the images: the rest are decoded every time
    assert.deepEqual(await run(0, 64 * 64 * 3 * 3), plain);
  });

  test("an unreadable training image stops the epoch with its path", async () => {
    const loader = new TrainLoader({ root, items: [{ path: "missing.png", labels: [0, 0, 4, 8] }], recipe: TRAIN, crop: 32, views: 1, batchSize: 1, seed: 1, workers: 0 });
    await assert.rejects(async () => {
      for await (const _ of loader.epoch(1)) void _;
    }, /training image .*missing\.png/);
    await loader.close();
  });
});
