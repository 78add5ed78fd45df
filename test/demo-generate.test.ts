import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { readImagiNetFile, type ImagiNetRecord } from "../src/data/annotations.js";
import { CONTENTS } from "../src/data/labels.js";
import { generateBenchmark, GENERATORS, PRESETS, type BenchmarkResult, type Counts } from "../src/demo/generate/index.js";
import { loadSharp } from "../src/image/sharp.js";
import { tmpDir } from "./helpers.js";

/** Every file under `root`, relative, sorted. */
function listFiles(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(root, r));
    else out.push(r);
  }
  return out.sort();
}

function auc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

interface Stats {
  width: number;
  height: number;
  format: string;
  /** mean brightness, and red / blue share of the total (whole image) */
  bright: number;
  red: number;
  blue: number;
  /** high-frequency energy: mean squared residual of luminance minus its 4-neighbour mean (centre 96×96) */
  hf: number;
  /** phase dependence of the residual's power at period 2 (Bayer / upsampling phase), relative */
  phase2: number;
  /** between-phase variance of the mean residual at period 8 (fixed periodic patterns), relative */
  periodic8: number;
}

async function stats(file: string): Promise<Stats> {
  const sharp = await loadSharp();
  const meta = await sharp(file).metadata();
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const w = info.width;
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < data.length; i += 3) {
    r += data[i]!;
    g += data[i + 1]!;
    b += data[i + 2]!;
  }
  const C = 96;
  const x0 = ((w - C) >> 1) & ~7;
  const y0 = ((info.height - C) >> 1) & ~7;
  const Y = new Float64Array(C * C);
  for (let y = 0; y < C; y++) {
    for (let x = 0; x < C; x++) {
      const o = ((y + y0) * w + x + x0) * 3;
      Y[y * C + x] = 0.299 * data[o]! + 0.587 * data[o + 1]! + 0.114 * data[o + 2]!;
    }
  }
  const pow2 = new Float64Array(4);
  const mean8 = new Float64Array(64);
  let hf = 0;
  let n = 0;
  for (let y = 8; y < C - 8; y++) {
    for (let x = 8; x < C - 8; x++) {
      const i = y * C + x;
      const e = Y[i]! - 0.25 * (Y[i - 1]! + Y[i + 1]! + Y[i - C]! + Y[i + C]!);
      hf += e * e;
      const q = (y & 1) * 2 + (x & 1);
      const k = (y & 7) * 8 + (x & 7);
      pow2[q] = pow2[q]! + e * e;
      mean8[k] = mean8[k]! + e;
      n++;
    }
  }
  hf /= n;
  const p = [...pow2].map((v) => v / (n / 4));
  const pm = p.reduce((a, v) => a + v, 0) / 4;
  const m8 = [...mean8].map((v) => v / (n / 64));
  const mm = m8.reduce((a, v) => a + v, 0) / 64;
  const total = r + g + b + 1e-9;
  return {
    width: info.width,
    height: info.height,
    format: meta.format ?? "?",
    bright: total / (data.length || 1),
    red: r / total,
    blue: b / total,
    hf,
    phase2: Math.sqrt(p.reduce((a, v) => a + (v - pm) ** 2, 0) / 4) / (pm + 1e-9),
    periodic8: m8.reduce((a, v) => a + (v - mm) ** 2, 0) / 64 / (hf + 1e-9),
  };
}

const SMALL: Counts = { trainPerSpecific: 12, testPerSpecific: 4, calibrationPerClass: 8 };
const TINY: Counts = { trainPerSpecific: 1, testPerSpecific: 1, calibrationPerClass: 2 };

describe("demo benchmark generator", () => {
  let root: string;
  let gen: BenchmarkResult;
  const records = new Map<string, ImagiNetRecord[]>();

  before(async () => {
    root = path.join(tmpDir("imaginet-demo-"), "bench");
    gen = await generateBenchmark({ root, seed: 11, size: SMALL, concurrency: 2 });
    for (const [name, file] of Object.entries({ train: gen.files.train, test: gen.files.test, calibration: gen.files.calibration, ...gen.files.groups })) {
      records.set(name, (await readImagiNetFile(file)).records);
    }
  });

  test("presets and counts: real balanced to synthetic in every split", () => {
    assert.ok(PRESETS.fast.trainPerSpecific < PRESETS.full.trainPerSpecific);
    assert.equal(gen.skipped, false);
    assert.deepEqual(gen.summary, { train: { real: 96, synthetic: 96 }, test: { real: 32, synthetic: 32 }, calibration: { real: 8, synthetic: 8 } });
    assert.equal(gen.images, 272);
  });

  test("annotation files parse with the project's parser, reference existing images, and hold what upstream's do", () => {
    const train = records.get("train")!;
    const test_ = records.get("test")!;
    const calib = records.get("calibration")!;
    assert.equal(train.length, 192);
    assert.equal(test_.length, 64);
    assert.equal(calib.length, 16);
    const all = [...train, ...test_, ...calib];
    assert.equal(new Set(all.map((r) => r.path)).size, all.length, "no image in two splits");
    for (const r of all) assert.ok(statSync(path.join(root, r.path)).size > 0, r.path);
    // every generator in train and test, with its ImagiNet labels
    for (const split of [train, test_]) {
      for (const g of GENERATORS) assert.equal(split.filter((r) => r.specific === g.specific).length, split === train ? 12 : 4, `${g.slug}`);
    }
    for (const r of all) assert.equal(r.origin === 0, r.group === 4 && r.specific === 8);
    // per-group files: the group's synthetic test images and as many real ones; together the whole test set
    const testPaths = new Set(test_.map((r) => r.path));
    const union: string[] = [];
    for (const [g, name] of ["gan", "sd", "midjourney", "dalle3"].entries()) {
      const recs = records.get(name)!;
      const synth = recs.filter((r) => r.origin === 1);
      assert.ok(synth.length > 0 && synth.every((r) => r.group === g), name);
      assert.equal(recs.filter((r) => r.origin === 0).length, synth.length, `${name}: balanced`);
      assert.equal(synth.length, test_.filter((r) => r.group === g).length);
      for (const r of recs) assert.ok(testPaths.has(r.path));
      union.push(...recs.map((r) => r.path));
    }
    assert.deepEqual(union.sort(), [...testPaths].sort());
    assert.equal(calib.filter((r) => r.origin === 0).length, 8);
  });

  test("fairness: sizes, file formats and content types are the same for both classes, per content type and per group file", async () => {
    const all = [...records.get("train")!, ...records.get("test")!, ...records.get("calibration")!];
    const sharp = await loadSharp();
    const key = async (r: ImagiNetRecord): Promise<string> => {
      const m = await sharp(path.join(root, r.path)).metadata();
      assert.equal(m.format === "jpeg" ? "jpg" : m.format, path.extname(r.path).slice(1), "extension matches the encoded format");
      return `${CONTENTS[r.content]} ${m.width}x${m.height} ${m.format}`;
    };
    const hist = async (recs: ImagiNetRecord[]): Promise<Record<string, number>> => {
      const h: Record<string, number> = {};
      for (const r of recs) {
        const k = await key(r);
        h[k] = (h[k] ?? 0) + 1;
      }
      return h;
    };
    const real = await hist(all.filter((r) => r.origin === 0));
    assert.deepEqual(await hist(all.filter((r) => r.origin === 1)), real);
    assert.ok(Object.keys(real).length >= 8, "several sizes and formats are in use");
    for (const name of ["gan", "midjourney"]) {
      const recs = records.get(name)!;
      assert.deepEqual(await hist(recs.filter((r) => r.origin === 1)), await hist(recs.filter((r) => r.origin === 0)), name);
    }
  });

  test("signal: a hand-made residual statistic separates every generator group from real; brightness and colour do not", async () => {
    const all = [...records.get("train")!, ...records.get("test")!];
    const s = new Map<string, Stats>();
    for (const r of all) s.set(r.path, await stats(path.join(root, r.path)));
    const real = all.filter((r) => r.origin === 0).map((r) => s.get(r.path)!);
    const synth = all.filter((r) => r.origin === 1);
    for (const k of ["bright", "red", "blue"] as const) {
      const a = auc(
        synth.map((r) => s.get(r.path)![k]),
        real.map((x) => x[k]),
      );
      assert.ok(Math.abs(a - 0.5) < 0.12, `${k} must not separate synthetic from real (AUC ${a.toFixed(3)})`);
    }
    for (const [g, name] of ["gan", "sd", "midjourney", "dalle3"].entries()) {
      const pos = synth.filter((r) => r.group === g).map((r) => s.get(r.path)!);
      const seps: string[] = [];
      let best = 0;
      for (const k of ["hf", "phase2", "periodic8"] as const) {
        const a = auc(
          pos.map((x) => x[k]),
          real.map((x) => x[k]),
        );
        seps.push(`${k} ${a.toFixed(2)}`);
        best = Math.max(best, Math.abs(a - 0.5));
      }
      if (process.env.DEMO_STATS) console.log(name, seps.join(", "));
      assert.ok(best >= 0.35, `${name}: no statistic separates it from real (${seps.join(", ")})`);
      const b = auc(
        pos.map((x) => x.bright),
        real.map((x) => x.bright),
      );
      assert.ok(Math.abs(b - 0.5) < 0.3, `${name}: brightness separates it from real (AUC ${b.toFixed(3)})`);
    }
  });

  test("same seed → byte-identical output whatever the worker count; a matching root is skipped; another seed differs", async () => {
    const base = tmpDir("imaginet-demo-det-");
    const a = path.join(base, "a");
    const b = path.join(base, "b");
    const c = path.join(base, "c");
    await generateBenchmark({ root: a, seed: 5, size: TINY, concurrency: 1 });
    await generateBenchmark({ root: b, seed: 5, size: TINY, concurrency: 2 });
    const files = listFiles(a);
    assert.deepEqual(listFiles(b), files);
    assert.ok(files.length > 40);
    for (const f of files) assert.ok(readFileSync(path.join(a, f)).equals(readFileSync(path.join(b, f))), `${f} differs`);

    let progress = 0;
    const again = await generateBenchmark({ root: a, seed: 5, size: TINY, onProgress: (d) => (progress = d) });
    assert.equal(again.skipped, true);
    assert.equal(progress, again.images);

    await generateBenchmark({ root: c, seed: 6, size: TINY, concurrency: 1 });
    const images = files.filter((f) => !f.startsWith("annotations/") && !f.endsWith(".json"));
    const same = images.filter((f) => {
      try {
        return readFileSync(path.join(a, f)).equals(readFileSync(path.join(c, f)));
      } catch {
        return false;
      }
    });
    assert.equal(same.length, 0, `identical images across seeds: ${same.join(", ")}`);

    // other parameters in the same root: regenerated, and no stale images stay behind
    const other = await generateBenchmark({ root: a, seed: 6, size: { ...TINY, calibrationPerClass: 1 }, concurrency: 1 });
    assert.equal(other.skipped, false);
    const listed = new Set(
      (await Promise.all(Object.values({ t: other.files.train, e: other.files.test, c: other.files.calibration }).map((f) => readImagiNetFile(f)))).flatMap((x) => x.records.map((r) => r.path)),
    );
    assert.deepEqual(
      listFiles(a)
        .filter((f) => !f.startsWith("annotations/") && !f.endsWith(".json"))
        .sort(),
      [...listed].sort(),
    );
  });
});
