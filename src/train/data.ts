/**
 * Training batches from annotation records: each image decoded and augmented in worker threads
 * (the training recipe, then a random crop), one or two views per image, normalised to NCHW
 * float32. Every random choice comes from the seed: the epoch's order from (seed, epoch), each
 * view's augmentation from (seed, epoch, position, path, view), so batches are identical whatever
 * the worker count. The next batch is prepared while the caller trains on the current one.
 */
import { IMAGENET_NORMALIZATION } from "../detectors/types.js";
import * as path from "node:path";
import type { ImagiNetRecord } from "../data/annotations.js";
import type { Recipe } from "../image/recipe.js";
import { Preparer } from "../runtime/prepare.js";
import { Rng } from "../util/rng.js";
import { InputError } from "../util/errors.js";
import { rankSlots } from "./distributed.js";

/** (origin, content, group, specific) per image, as upstream's label rows. */
export const LABEL_COLUMNS = 4;

export interface TrainItem {
  /** path relative to the dataset root */
  path: string;
  labels: readonly [number, number, number, number];
}

export function itemsFromRecords(records: readonly ImagiNetRecord[]): TrainItem[] {
  return records.map((r) => ({ path: r.path, labels: [r.origin, r.content, r.group, r.specific] }));
}

export interface LoaderOptions {
  root: string;
  items: readonly TrainItem[];
  /** the augmentation recipe (e.g. TRAIN); a random crop of `crop` is appended when crop is given */
  recipe: Recipe;
  crop?: number;
  /** augmented views per image (2 for two-view contrastive training) */
  views: 1 | 2;
  batchSize: number;
  seed: number;
  workers: number;
  /** keep decoded images in memory up to this many bytes (each is then decoded once, not every epoch) */
  cacheBytes?: number;
  /** draw each epoch's images with replacement, equally often per class (see Balance) */
  balanceBy?: Balance;
  /** drop the last, smaller batch (as upstream's loaders with BN in train mode need) */
  dropLast?: boolean;
  /** data-parallel: this rank's share of each (global) batch, by the DistributedSampler rule (rankSlots) */
  rank?: { rank: number; size: number };
}

export interface Batch {
  /** one NCHW float32 tensor's data per view */
  views: Float32Array[];
  /** [size, 4] row-major label rows */
  labels: Int32Array;
  size: number;
  height: number;
  width: number;
}

/** The recipe with a final random crop (the training crop), when `crop` is given. */
export function withCrop(recipe: Recipe, crop?: number): Recipe {
  if (crop === undefined) return recipe;
  return { ...recipe, name: `${recipe.name}+crop${crop}`, steps: [...recipe.steps, { op: "random_crop", size: crop }] };
}

/**
 * What a balanced epoch draws equally often: each origin (real, synthetic), each generator group,
 * or each (content type, origin) pair among the content types that have both real and synthetic
 * images — so that neither the class nor the content type predicts the label. Images of a content
 * type with only one origin are then never drawn (balanceClasses lists them).
 */
export type Balance = "origin" | "group" | "content";

/** The classes a balanced epoch draws from, each a list of item positions, in a fixed order; and the positions left out. */
export function balanceClasses(items: readonly TrainItem[], balanceBy: Balance): { classes: number[][]; excluded: number[] } {
  const key = (it: TrainItem) => (balanceBy === "origin" ? it.labels[0] : balanceBy === "group" ? it.labels[2] : it.labels[1] * 2 + it.labels[0]);
  const byClass = new Map<number, number[]>();
  items.forEach((it, i) => {
    const c = key(it);
    const members = byClass.get(c);
    if (members) members.push(i);
    else byClass.set(c, [i]);
  });
  const excluded: number[] = [];
  if (balanceBy === "content") {
    for (const [c, members] of byClass) {
      const other = c % 2 === 0 ? c + 1 : c - 1;
      if (!byClass.has(other)) excluded.push(...members);
    }
    for (const i of excluded) byClass.delete(key(items[i]!));
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b).map((c) => byClass.get(c)!);
  return { classes, excluded: excluded.sort((a, b) => a - b) };
}

/** The positions of one epoch: a seeded shuffle, or a seeded class-balanced draw with replacement. */
export function epochOrder(items: readonly TrainItem[], seed: number, epoch: number, balanceBy?: Balance): number[] {
  const n = items.length;
  if (balanceBy) {
    const { classes } = balanceClasses(items, balanceBy);
    if (classes.length === 0) throw new InputError(`--balance ${balanceBy}: no content type has both real and synthetic images`);
    const rng = new Rng(seed, `balanced/${epoch}`);
    return Array.from({ length: n }, () => {
      const members = classes[rng.int(0, classes.length - 1)]!;
      return members[rng.int(0, members.length - 1)]!;
    });
  }
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed, `shuffle/${epoch}`);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

export class TrainLoader {
  private readonly preparer: Preparer;

  constructor(private readonly o: LoaderOptions) {
    if (o.items.length === 0) throw new InputError("no training images");
    this.preparer = new Preparer({ recipe: withCrop(o.recipe, o.crop), normalization: IMAGENET_NORMALIZATION }, o.workers, o.seed, o.cacheBytes ?? 0);
  }

  batchesPerEpoch(): number {
    const n = this.o.items.length;
    return this.o.dropLast ? Math.floor(n / this.o.batchSize) : Math.ceil(n / this.o.batchSize);
  }

  /** the images at these slots of the epoch's order; each view's augmentation is seeded by its slot */
  private async batch(epoch: number, order: readonly number[], slots: readonly number[]): Promise<Batch> {
    const items = slots.map((s) => this.o.items[order[s]!]!);
    const views = await Promise.all(
      Array.from({ length: this.o.views }, (_, v) => Promise.all(items.map((it, k) => this.preparer.prepare(path.join(this.o.root, it.path), `${epoch}/${slots[k]}/${it.path}/${v}`)))),
    );
    const first = views[0]![0]!;
    if ("error" in first) throw new InputError(`training image ${first.file}: ${first.error}`);
    const { width, height } = first;
    const per = 3 * width * height;
    const out = views.map((vs) => {
      const data = new Float32Array(vs.length * per);
      vs.forEach((p, k) => {
        if ("error" in p) throw new InputError(`training image ${p.file}: ${p.error}`);
        if (p.width !== width || p.height !== height) throw new InputError(`training image ${p.file} came out ${p.width}×${p.height}, not ${width}×${height}: give a crop size`);
        data.set(p.chw, k * per);
      });
      return data;
    });
    const labels = new Int32Array(items.length * LABEL_COLUMNS);
    items.forEach((it, k) => labels.set(it.labels, k * LABEL_COLUMNS));
    return { views: out, labels, size: items.length, height, width };
  }

  /** The batches of one epoch, each prepared while the caller works on the one before. */
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    const order = epochOrder(this.o.items, this.o.seed, epoch, this.o.balanceBy);
    const starts: number[] = [];
    for (let s = 0; s < order.length; s += this.o.batchSize) if (!this.o.dropLast || s + this.o.batchSize <= order.length) starts.push(s);
    const make = (s: number) => {
      const global = Array.from({ length: Math.min(this.o.batchSize, order.length - s) }, (_, k) => s + k);
      const p = this.batch(epoch, order, this.o.rank ? rankSlots(global, this.o.rank.rank, this.o.rank.size) : global);
      // a prefetched batch may fail before it is awaited: that must not count as an unhandled rejection
      p.catch(() => undefined);
      return p;
    };
    let next = starts.length > 0 ? make(starts[0]!) : null;
    for (let b = 0; b < starts.length; b++) {
      const current = next!;
      next = b + 1 < starts.length ? make(starts[b + 1]!) : null;
      yield await current;
    }
  }

  async close(): Promise<void> {
    await this.preparer.close();
  }
}
