/**
 * What to generate: every image of the benchmark as a plain record (path, labels, size, file format,
 * encoder quality), decided before any pixel is drawn. Each synthetic image has a real "twin" with
 * the same split, content type, size, file format and encoder quality (its scene is drawn
 * independently), so the real and synthetic classes share these distributions exactly, overall,
 * per content type and per generator group: a detector cannot win by reading the file format, the
 * image size, the JPEG quality or the content type.
 */
import { CONTENTS, GROUPS, SPECIFIC_GROUP } from "../../data/labels.js";
import { Rng } from "../../util/rng.js";
import { GENERATORS } from "./generators.js";

export type Split = "train" | "test" | "calibration";
export type Format = "jpg" | "png" | "webp";

export interface Counts {
  /** synthetic training images per specific generator (8 generators); as many real ones */
  trainPerSpecific: number;
  /** synthetic test images per specific generator; as many real ones */
  testPerSpecific: number;
  /** calibration images per class (real, synthetic); synthetic ones spread over the generators */
  calibrationPerClass: number;
}

export const PRESETS: Record<"fast" | "full", Counts> = {
  fast: { trainPerSpecific: 24, testPerSpecific: 12, calibrationPerClass: 16 },
  full: { trainPerSpecific: 200, testPerSpecific: 50, calibrationPerClass: 40 },
};

export interface Item {
  /** unique key; with the seed, it determines every random choice for this image */
  id: string;
  /** path relative to the root (POSIX) */
  rel: string;
  split: Split;
  origin: 0 | 1;
  content: number;
  group: number;
  specific: number;
  width: number;
  height: number;
  format: Format;
  /** JPEG / WebP quality (unused for PNG) */
  quality: number;
  /** for a real image, the id of its synthetic twin; for a synthetic one, its own id */
  pair: string;
}

/**
 * Output sizes (width × height), shared by both classes; picked with these weights. Multiples of 8
 * (the SD decoder's latent grid is 1/8 of the image), at least 160 so that 96×96 training crops
 * still vary.
 */
export const SIZES: readonly { w: number; h: number; weight: number }[] = [
  { w: 192, h: 192, weight: 0.5 },
  { w: 224, h: 160, weight: 0.25 },
  { w: 160, h: 224, weight: 0.25 },
];

/**
 * File-format mix per content type (index = content id), shared by both classes: photos mostly
 * JPEG (as cameras and most photo sets), faces mostly PNG (as FFHQ), all types have some of each.
 */
export const FORMAT_MIX: readonly Record<Format, number>[] = [
  { jpg: 0.5, png: 0.25, webp: 0.25 },
  { jpg: 0.5, png: 0.2, webp: 0.3 },
  { jpg: 0.25, png: 0.5, webp: 0.25 },
  { jpg: 0.4, png: 0.3, webp: 0.3 },
];

/** JPEG and WebP quality range (inclusive), the same for both classes. */
export const QUALITY: readonly [number, number] = [85, 95];

function weighted<T>(rng: Rng, entries: [T, number][]): T {
  let u = rng.next() * entries.reduce((a, [, w]) => a + w, 0);
  for (const [v, w] of entries) {
    if ((u -= w) < 0) return v;
  }
  return entries[entries.length - 1]![0];
}

const pad = (n: number): string => String(n).padStart(5, "0");

/** The full list of images, synthetic ones each followed by their real twin. */
export function planItems(seed: number, counts: Counts): Item[] {
  const items: Item[] = [];
  const perSplit: [Split, number[]][] = [
    ["train", GENERATORS.flatMap((g) => Array<number>(counts.trainPerSpecific).fill(g.specific))],
    ["test", GENERATORS.flatMap((g) => Array<number>(counts.testPerSpecific).fill(g.specific))],
    ["calibration", Array.from({ length: counts.calibrationPerClass }, (_, i) => i % GENERATORS.length)],
  ];
  for (const [split, specifics] of perSplit) {
    const seen = new Map<number, number>();
    let realIndex = 0;
    for (const specific of specifics) {
      const gen = GENERATORS[specific]!;
      const k = seen.get(specific) ?? 0;
      seen.set(specific, k + 1);
      const id = `${split}/${gen.slug}/${k}`;
      const rng = new Rng(seed, `plan:${id}`);
      // content types cycle per generator (every generator covers all four evenly), from a seeded start
      const start = new Rng(seed, `plan:${split}/${gen.slug}`).int(0, 3);
      const content = (start + k) % CONTENTS.length;
      const size = weighted(
        rng,
        SIZES.map((s) => [s, s.weight]),
      );
      const format = weighted(rng, Object.entries(FORMAT_MIX[content]!) as [Format, number][]);
      const quality = rng.int(QUALITY[0], QUALITY[1]);
      const common = { split, content, width: size.w, height: size.h, format, quality, pair: id };
      items.push({ ...common, id, rel: `${split}/${CONTENTS[content]}/${gen.slug}/${pad(k)}.${format}`, origin: 1, group: SPECIFIC_GROUP[specific]!, specific });
      const rid = `${split}/real/${realIndex}`;
      items.push({ ...common, id: rid, rel: `${split}/${CONTENTS[content]}/real/${pad(realIndex)}.${format}`, origin: 0, group: 4, specific: 8 });
      realIndex++;
    }
  }
  return items;
}

export function annotationLine(it: Item): string {
  return `./${it.rel},${it.origin},${it.content},${it.group},${it.specific}`;
}

/** Annotation file name → its lines, in ImagiNet's layout. */
export function annotationFiles(items: Item[]): Record<string, string[]> {
  const byId = new Map(items.map((it) => [it.id, it]));
  const test = items.filter((it) => it.split === "test");
  const files: Record<string, string[]> = {
    "train_annotations.txt": items.filter((it) => it.split === "train").map(annotationLine),
    "test_annotations.txt": test.map(annotationLine),
    "test_calibration.txt": items.filter((it) => it.split === "calibration").map(annotationLine),
  };
  // per-group test files: the group's synthetic test images, each followed by its real twin
  for (const [g, name] of GROUPS.slice(0, 4).entries()) {
    const lines: string[] = [];
    for (const it of test) {
      if (it.origin !== 0 || byId.get(it.pair)!.group !== g) continue;
      lines.push(annotationLine(byId.get(it.pair)!), annotationLine(it));
    }
    files[`test_annotations_${name}.txt`] = lines;
  }
  return files;
}
