/**
 * A small example dataset root in ImagiNet's layout: real and synthetic images in the upstream source
 * folders, the three annotation files that reference them, and a few unreferenced files (as a fresh
 * download has) for `prune` to find. Deterministic for a seed.
 */
import * as path from "node:path";
import { loadSharp } from "../image/sharp.js";
import { writeFileAtomic } from "../util/fs.js";
import { Rng } from "../util/rng.js";
import { InputError } from "../util/errors.js";

interface ExampleKind {
  dir: string;
  ext: "jpg" | "JPEG" | "png" | "webp";
  labels: [number, number, number, number];
}

/** One folder per source the example covers, with its ImagiNet labels (origin, content, group, specific). */
const KINDS: ExampleKind[] = [
  { dir: "imagenet/ILSVRC/Data/CLS-LOC/val", ext: "JPEG", labels: [0, 0, 4, 8] },
  { dir: "val2017", ext: "jpg", labels: [0, 0, 4, 8] },
  { dir: "progan_val/cat/0_real", ext: "png", labels: [0, 0, 4, 8] },
  { dir: "wikiart/Impressionism", ext: "jpg", labels: [0, 1, 4, 8] },
  { dir: "ffhq", ext: "png", labels: [0, 2, 4, 8] },
  { dir: "danbooru2021", ext: "jpg", labels: [0, 3, 4, 8] },
  { dir: "progan_val/cat/1_fake", ext: "png", labels: [1, 0, 0, 0] },
  { dir: "imagenet_stylegan", ext: "png", labels: [1, 0, 0, 1] },
  { dir: "wikiart_stylegan", ext: "png", labels: [1, 1, 0, 2] },
  { dir: "sd_photos_fake", ext: "webp", labels: [1, 0, 1, 3] },
  { dir: "sdxl_faces_fake", ext: "webp", labels: [1, 2, 1, 4] },
  { dir: "animaginexl_paintings_fake", ext: "webp", labels: [1, 1, 1, 5] },
  { dir: "journeydb", ext: "jpg", labels: [1, 3, 2, 6] },
  { dir: "dalle3", ext: "png", labels: [1, 3, 3, 7] },
];

async function makeImage(rng: Rng, ext: ExampleKind["ext"], width: number, height: number): Promise<Buffer> {
  const px = Buffer.alloc(width * height * 3);
  const base = [rng.int(0, 255), rng.int(0, 255), rng.int(0, 255)];
  for (let i = 0; i < px.length; i++) px[i] = Math.max(0, Math.min(255, base[i % 3]! + rng.int(-40, 40)));
  const sharp = await loadSharp();
  const img = sharp(px, { raw: { width, height, channels: 3 } });
  if (ext === "png") return img.png().toBuffer();
  if (ext === "webp") return img.webp({ quality: 90 }).toBuffer();
  return img.jpeg({ quality: 90 }).toBuffer();
}

/**
 * Per-group test files in the layout of upstream's `test_annotations_{gan,sd,midjourney,dalle3}.txt`:
 * each group's synthetic test images with as many real ones (dealt out in turn).
 */
async function writeGroupTestFiles(root: string, testLines: string[]): Promise<string[]> {
  const groups = ["gan", "sd", "midjourney", "dalle3"];
  const real = testLines.filter((l) => l.endsWith(",4,8"));
  const files: string[] = [];
  let next = 0;
  for (const [g, name] of groups.entries()) {
    const synthetic = testLines.filter((l) => l.split(",")[3] === String(g));
    const lines = [...synthetic, ...synthetic.map(() => real[next++ % real.length]!)];
    const f = path.join(root, "annotations", `test_annotations_${name}.txt`);
    await writeFileAtomic(f, `${lines.join("\n")}\n`);
    files.push(f);
  }
  return files;
}

export interface ExampleResult {
  root: string;
  images: number;
  unreferenced: number;
  annotationFiles: string[];
}

export async function makeExampleDataset(root: string, opts: { seed?: number; perKind?: number; size?: number } = {}): Promise<ExampleResult> {
  const seed = opts.seed ?? 42;
  const perKind = opts.perKind ?? 4;
  if (perKind < 4) throw new InputError(`per-kind must be at least 4, so that train, calibration and test each hold every kind (got ${perKind})`);
  const size = opts.size ?? 64;
  const lines: string[] = [];
  for (const kind of KINDS) {
    for (let i = 0; i < perKind; i++) {
      const rel = `${kind.dir}/${String(i).padStart(5, "0")}.${kind.ext}`;
      // sizes vary around `size`, not square, as real sources do
      const rng = new Rng(seed, rel);
      await writeFileAtomic(path.join(root, rel), await makeImage(rng, kind.ext, size + rng.int(0, size >> 2), size + rng.int(0, size >> 2)));
      lines.push(`./${rel},${kind.labels.join(",")}`);
    }
  }
  // by image number within its kind: 2/4 train, 1/4 calibration, 1/4 test (every kind in each)
  const split = { train: [] as string[], calibration: [] as string[], test: [] as string[] };
  lines.forEach((l, i) => (i % 4 < 2 ? split.train : i % 4 === 2 ? split.calibration : split.test).push(l));
  const files = {
    "train_annotations.txt": split.train,
    "calibration.txt": split.calibration,
    "test_annotations.txt": split.test,
  };
  const annotationFiles: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const f = path.join(root, "annotations", name);
    await writeFileAtomic(f, `${content.join("\n")}\n`);
    annotationFiles.push(f);
  }
  const extras = ["val2017/unused_000.jpg", "val2017/unused_001.jpg", "wikiart/Baroque/unused_002.jpg"];
  for (const rel of extras) await writeFileAtomic(path.join(root, rel), await makeImage(new Rng(seed, rel), "jpg", size, size));
  annotationFiles.push(...(await writeGroupTestFiles(root, split.test)));
  return { root, images: lines.length, unreferenced: extras.length, annotationFiles };
}
