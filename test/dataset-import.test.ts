/**
 * `imaginet dataset import` on small generated stand-ins (a quoted comma, a 2×2 grid, an uneven grid,
 * a watermarked image, a non-ASCII name, names that collide once made safe), with exact outputs; the
 * errors (sha256 mismatch, malformed CSV) through the CLI; and the real wild-dev when it is present.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { readImagiNetFile } from "../src/data/annotations.js";
import { importLabels, safeSegment } from "../src/data/import.js";
import { CsvError, parseCsvRecords } from "../src/util/csv.js";
import { cli, REPO, tmpDir } from "./helpers.js";

const HEADER = "path,origin,content,group,generator,source_repo,source_commit,source_path,sha256,width,height,format,tiles,license_note";

/** Deterministic noise: every pixel differs, so a tile cut one pixel off would not match. */
function noise(width: number, height: number, seed: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  let s = seed;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    px[i] = s >>> 24;
  }
  return px;
}

interface StandIn {
  path: string;
  labels: string; // origin,content,group,generator
  tiles: string;
  make: () => Promise<Buffer>;
}

const raw = (w: number, h: number, seed: number) => sharp(noise(w, h, seed), { raw: { width: w, height: h, channels: 3 } });

const STAND_INS: StandIn[] = [
  { path: "images/alpha/grid.jpg", labels: "1,1,1,SD-1.x", tiles: "tiles=2x2", make: () => raw(32, 16, 1).jpeg({ quality: 90 }).toBuffer() },
  { path: "images/alpha/a, b.png", labels: "0,0,4,real", tiles: "tiles=1x1", make: () => raw(5, 4, 2).png().toBuffer() },
  { path: "images/alpha/odd.png", labels: "1,3,5,glide", tiles: "tiles=2x2", make: () => raw(9, 7, 3).png().toBuffer() },
  { path: "images/beta/wm.jpg", labels: "1,3,3,DALL-E-2", tiles: "tiles=1x1;watermark=bottom-right-16px", make: () => raw(40, 50, 4).jpeg({ quality: 90 }).toBuffer() },
  { path: "images/beta/Tōhaku ü.webp", labels: "1,1,2,Midjourney", tiles: "tiles=1x1", make: () => raw(6, 6, 5).webp({ lossless: true }).toBuffer() },
  { path: "images/beta/x y.png", labels: "0,1,4,real", tiles: "tiles=1x1", make: () => raw(3, 3, 6).png().toBuffer() },
  { path: "images/beta/X_y.png", labels: "1,0,0,GAN-unknown", tiles: "tiles=1x1", make: () => raw(3, 3, 7).png().toBuffer() },
];

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
/** the suffix a colliding name gets: 8 hex digits of the SHA-256 of its original path */
const suffix = (p: string) => `-${sha(p).slice(0, 8)}`;
const quote = (s: string) => (s.includes(",") ? `"${s}"` : s);

/** Writes the stand-ins and their labels.csv; `edit` may change a row's line. */
async function makeStandIns(root: string, edit: (line: string, i: number) => string = (l) => l): Promise<{ csv: string; bytes: Buffer[] }> {
  const bytes: Buffer[] = [];
  const lines = [HEADER];
  for (const [i, s] of STAND_INS.entries()) {
    const b = await s.make();
    bytes.push(b);
    await mkdir(path.dirname(path.join(root, s.path)), { recursive: true });
    await writeFile(path.join(root, s.path), b);
    const meta = await sharp(b).metadata();
    const line = `${quote(s.path)},${s.labels},o/r,c0ffee,${quote(s.path.slice(7))},${sha(b)},${meta.width},${meta.height},${meta.format},${s.tiles},"MIT, or so"`;
    lines.push(edit(line, i));
  }
  const csv = path.join(root, "labels.csv");
  await writeFile(csv, `${lines.join("\n")}\n`);
  return { csv, bytes };
}

async function pixels(input: Buffer | string, region?: { left: number; top: number; width: number; height: number }): Promise<Buffer> {
  const img = sharp(input);
  return (region ? img.extract(region) : img).raw().toBuffer();
}

const read = (root: string, f: string) => readFileSync(path.join(root, f), "utf8");

describe("parseCsvRecords", () => {
  test("quoted commas, doubled quotes and line breaks inside quotes; each record keeps the line it starts on", () => {
    const text = '\ufeffa,b\r\n"x, y","say ""hi"""\n\n"two\nlines",z\nlast,""';
    assert.deepEqual(parseCsvRecords(text, "f.csv"), [
      { fields: ["a", "b"], line: 1 },
      { fields: ["x, y", 'say "hi"'], line: 2 },
      { fields: ["two\nlines", "z"], line: 4 },
      { fields: ["last", ""], line: 6 },
    ]);
  });

  test("malformed quoting is an error naming the line", () => {
    const err = (text: string) => {
      try {
        parseCsvRecords(text, "f.csv");
      } catch (e) {
        assert.ok(e instanceof CsvError);
        return e.message;
      }
      assert.fail("parsed");
    };
    assert.equal(err('a,b\nc,"d\ne,f\n'), "f.csv:2: unterminated quoted field: the file ends before its closing quote");
    assert.equal(err('a,b\nc,d"e\n'), 'f.csv:2: a quote inside an unquoted field: quote the whole field and double the quote ("")');
    assert.equal(err('a,b\n"x"y,z\n'), "f.csv:2: text after a closing quote: a quoted field must end at a comma or the end of the line");
    assert.equal(err('a,"b\nc,"d"\n'), "f.csv:1: a quoted field opened on this line closes on line 2 and text follows the quote: is a closing quote missing on line 1?");
  });
});

test("safeSegment: ASCII letters, digits, . _ - only; accents dropped; no leading dot", () => {
  assert.equal(safeSegment("Hasegawa Tōhaku_0.66.jpg"), "Hasegawa_Tohaku_0.66.jpg");
  assert.equal(safeSegment("Fred Mitchell,_0.44"), "Fred_Mitchell__0.44");
  assert.equal(safeSegment("Frank O'Meara (1)"), "Frank_O_Meara_1_");
  assert.equal(safeSegment("..hidden"), "_hidden");
  assert.equal(safeSegment("東京"), "_");
});

describe("dataset import on stand-ins", () => {
  test("exact annotations, sources.csv and mapping.csv; grids cut into equal cells; watermark cropped; pixels lossless; deterministic", async () => {
    const root = tmpDir();
    const { csv, bytes } = await makeStandIns(root);
    const out = path.join(root, "out");
    const s = await importLabels(csv, { imagesRoot: root, out, progress: false });

    const xy = `images/beta/x_y${suffix("images/beta/x y.png")}.png`;
    const Xy = `images/beta/X_y${suffix("images/beta/X_y.png")}.png`;
    const expected = [
      // path, labels, source, generator, wild group, original, region
      ["images/alpha/a_b.png", "0,0,4,8", "alpha", "real", 4, "images/alpha/a, b.png", "0,0,5,4"],
      ["images/alpha/grid_r0c0.png", "1,1,1,3", "alpha", "SD-1.x", 1, "images/alpha/grid.jpg", "0,0,16,8"],
      ["images/alpha/grid_r0c1.png", "1,1,1,3", "alpha", "SD-1.x", 1, "images/alpha/grid.jpg", "16,0,16,8"],
      ["images/alpha/grid_r1c0.png", "1,1,1,3", "alpha", "SD-1.x", 1, "images/alpha/grid.jpg", "0,8,16,8"],
      ["images/alpha/grid_r1c1.png", "1,1,1,3", "alpha", "SD-1.x", 1, "images/alpha/grid.jpg", "16,8,16,8"],
      ["images/alpha/odd_r0c0.png", "1,3,1,3", "alpha", "glide", 5, "images/alpha/odd.png", "0,0,4,3"],
      ["images/alpha/odd_r0c1.png", "1,3,1,3", "alpha", "glide", 5, "images/alpha/odd.png", "4,0,4,3"],
      ["images/alpha/odd_r1c0.png", "1,3,1,3", "alpha", "glide", 5, "images/alpha/odd.png", "0,3,4,3"],
      ["images/alpha/odd_r1c1.png", "1,3,1,3", "alpha", "glide", 5, "images/alpha/odd.png", "4,3,4,3"],
      ["images/beta/Tohaku_u.webp", "1,1,2,6", "beta", "Midjourney", 2, "images/beta/Tōhaku ü.webp", "0,0,6,6"],
      [Xy, "1,0,0,0", "beta", "GAN-unknown", 0, "images/beta/X_y.png", "0,0,3,3"],
      ["images/beta/wm.png", "1,3,3,7", "beta", "DALL-E-2", 3, "images/beta/wm.jpg", "0,0,40,32"],
      [xy, "0,1,4,8", "beta", "real", 4, "images/beta/x y.png", "0,0,3,3"],
    ] as const;
    const shaOf = (original: string) => sha(bytes[STAND_INS.findIndex((x) => x.path === original)]!);
    assert.equal(read(out, "annotations/all.txt"), expected.map((e) => `./${e[0]},${e[1]}\n`).join(""));
    assert.equal(read(out, "annotations/sources.csv"), `path,source,generator,group,content\n${expected.map((e) => `${e[0]},${e[2]},${e[3]},${e[4]},${e[1].split(",")[1]}\n`).join("")}`);
    assert.equal(read(out, "annotations/mapping.csv"), `path,original_path,original_sha256,left,top,width,height\n${expected.map((e) => `${e[0]},${quote(e[5])},${shaOf(e[5])},${e[6]}\n`).join("")}`);
    // ImagiNet's own reader takes the annotation file
    assert.equal((await readImagiNetFile(path.join(out, "annotations/all.txt"))).records.length, expected.length);

    // 1×1 images keep their bytes; cut regions are PNGs holding exactly the decoded pixels of their region
    for (const e of expected) {
      const original = path.join(root, e[5]);
      const [left, top, width, height] = e[6].split(",").map(Number) as [number, number, number, number];
      const written = path.join(out, e[0]);
      if (e[0].endsWith(".png") && (e[0].includes("_r") || e[0].endsWith("wm.png"))) {
        assert.equal((await sharp(written).metadata()).format, "png");
        assert.deepEqual(await pixels(written), await pixels(original, { left, top, width, height }), e[0]);
      } else assert.deepEqual(readFileSync(written), readFileSync(original), e[0]);
    }

    assert.deepEqual(
      { inputs: s.inputs, outputs: s.outputs, tiled: s.tiled, watermarked: s.watermarked, renamed: s.renamed, suffixed: s.suffixed, uneven: s.uneven },
      { inputs: 7, outputs: 13, tiled: 2, watermarked: 1, renamed: 3, suffixed: 2, uneven: [{ path: "images/alpha/odd.png", width: 9, height: 7, tiles: "2x2" }] },
    );
    assert.deepEqual(s.counts, [
      { source: "alpha", origin: 0, content: 0, images: 1 },
      { source: "alpha", origin: 1, content: 1, images: 4 },
      { source: "alpha", origin: 1, content: 3, images: 4 },
      { source: "beta", origin: 0, content: 1, images: 1 },
      { source: "beta", origin: 1, content: 0, images: 1 },
      { source: "beta", origin: 1, content: 1, images: 1 },
      { source: "beta", origin: 1, content: 3, images: 1 },
    ]);

    // the same input gives the same bytes; no temp file is left behind
    const again = path.join(root, "again");
    await importLabels(csv, { imagesRoot: root, out: again, progress: false });
    const files = (dir: string) =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
        .sort();
    assert.deepEqual(files(again), files(out));
    for (const f of files(out)) assert.deepEqual(readFileSync(path.join(again, f)), readFileSync(path.join(out, f)), f);
    assert.equal(files(out).filter((f) => f.endsWith(".tmp")).length, 0);
  });

  test("CLI: --json summary; images root defaults to the CSV's folder", async () => {
    const root = tmpDir();
    const { csv } = await makeStandIns(root);
    const out = path.join(root, "out");
    const r = cli(["dataset", "import", csv, "-o", out, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.outputs, 13);
    assert.equal(s.files.annotations, path.join(out, "annotations", "all.txt"));
  });

  test("a sha256 mismatch: exit 1 naming the file and its line, nothing written", async () => {
    const root = tmpDir();
    const { csv } = await makeStandIns(root, (l, i) => (i === 3 ? l.replace(/,[0-9a-f]{64},/, `,${"0".repeat(64)},`) : l));
    const out = path.join(root, "out");
    const r = cli(["dataset", "import", csv, "-o", out]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /1 input image do not match .*labels\.csv; nothing was written:\n {2}images\/beta\/wm\.jpg \(.*labels\.csv:5\): sha256 [0-9a-f]{64} does not match the labels' 0{64}/);
    assert.equal(existsSync(out), false);
  });

  test("a malformed CSV: exit 2 with the file and line (an unterminated quote; a comma left unquoted; a bad code)", async () => {
    const root = tmpDir();
    const cases: [number, (l: string) => string, RegExp][] = [
      [2, (l) => l.replace('"MIT, or so"', '"MIT, or so'), /a quoted field opened on this line closes on line 3 and text follows the quote: is a closing quote missing on line 2\?/],
      [3, (l) => l.replace('"images/alpha/a, b.png"', "images/alpha/a, b.png"), /expected 14 fields as in the header, found 15/],
      [6, (l) => l.replace(",1,1,2,", ",1,1,7,"), /group must be an integer 0-5, got "7"/],
    ];
    for (const [line, edit, message] of cases) {
      const { csv } = await makeStandIns(root, (l, i) => (i + 2 === line ? edit(l) : l));
      const r = cli(["dataset", "import", csv, "-o", path.join(root, "out"), "--json"]);
      assert.equal(r.code, 2, r.stderr);
      const { error } = JSON.parse(r.stderr);
      assert.equal(error.file, csv);
      assert.equal(error.line, line, error.message);
      assert.match(error.message, message);
    }
  });
});

const WILD = path.resolve(REPO, "..", "shared", "data", "wild-dev");

test("the real wild-dev: outputs per source, origin and content after tile splitting", { skip: !existsSync(path.join(WILD, "labels.csv")) && "../shared/data/wild-dev is absent" }, async () => {
  const out = path.join(tmpDir(), "wild");
  const s = await importLabels(path.join(WILD, "labels.csv"), { imagesRoot: WILD, out, progress: false });
  const table = s.counts.map((c) => `${c.source} ${c.origin} ${c.content} ${c.images}`);
  assert.deepEqual(table, [
    "ats 1 1 2720",
    "ats 1 3 1280",
    "cifake-selva 0 0 60",
    "cifake-selva 1 3 64",
    "dcsan-imagen 1 3 161",
    "imagenet 0 0 350",
    "irinainina_artquiz 0 1 230",
    "ml72 0 0 10",
    "ml72 1 0 48",
    "ml72 1 2 2",
    "rslang_paintings 0 1 208",
    "sd-cheatsheet 1 0 8",
    "sd-cheatsheet 1 1 308",
    "sd-cheatsheet 1 3 4",
  ]);
  assert.deepEqual([s.inputs, s.outputs, s.tiled, s.watermarked, s.uneven.length], [2206, 5453, 1081, 4, 0]);
});
