import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as path from "node:path";
import { parseAnnotations, readAnchorList, readAnnotationFile, repeatsWarning, type ImagiNetRecord } from "../src/data/annotations.js";
import { countBy } from "../src/data/tracks.js";
import { HAVE_SHARED, SHARED } from "./helpers.js";

const ann = (f: string): string => path.join(SHARED, "annotations", f);
const add = (f: string): string => path.join(SHARED, "additional_annotations", f);

async function imaginet(file: string, keepRepeats = false): Promise<ImagiNetRecord[]> {
  const af = await readAnnotationFile(file, { keepRepeats });
  assert.equal(af.format, "imaginet");
  return af.records as ImagiNetRecord[];
}

const asObject = (m: Map<number, number>): Record<number, number> => Object.fromEntries(m);

describe("upstream annotation files", { skip: !HAVE_SHARED && "../shared/imaginet not present" }, () => {
  test("test_annotations.txt: 20000 real / 20000 synthetic, upstream per-generator, group and content counts", async () => {
    const recs = await imaginet(ann("test_annotations.txt"));
    assert.equal(recs.length, 40000);
    assert.deepEqual(asObject(countBy(recs, "origin")), { 0: 20000, 1: 20000 });
    const synthetic = recs.filter((r) => r.origin === 1);
    // ProGAN, StyleGAN-XL, StyleGAN3, SD v2.1, SDXL v1.0, Animagine XL, Midjourney, DALL·E 3
    assert.deepEqual(asObject(countBy(synthetic, "specific")), { 0: 1500, 1: 3750, 2: 2250, 3: 3197, 4: 3178, 5: 1125, 6: 2500, 7: 2500 });
    assert.deepEqual(asObject(countBy(synthetic, "group")), { 0: 7500, 1: 7500, 2: 2500, 3: 2500 });
    // content balance: photos, paintings, faces, uncategorized — the same for real and synthetic
    assert.deepEqual(asObject(countBy(synthetic, "content")), { 0: 6000, 1: 4500, 2: 4500, 3: 5000 });
    assert.deepEqual(
      asObject(
        countBy(
          recs.filter((r) => r.origin === 0),
          "content",
        ),
      ),
      { 0: 6000, 1: 4500, 2: 4500, 3: 5000 },
    );
    const first = recs[0]!;
    assert.equal(first.path, "imagenet/ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00039402.JPEG");
    assert.equal(first.originName, "real");
    assert.equal(first.groupName, "real");
  });

  // upstream's original-image group files repeat some real images (identical lines); each line is one perturbed image
  // [first repeated path, its first line, the line repeating it, repeated lines in the file]
  const repeats = {
    gan: ["photozilla/dataset/food/50603.jpg", 7796, 7808, 29],
    sd: ["photozilla/dataset/nature/33213.jpg", 7530, 8556, 20],
    midjourney: null,
    dalle3: ["photozilla/dataset/nature/53289.jpg", 2589, 3381, 6],
  } as const;
  for (const [group, id, n] of [
    ["gan", 0, 7500],
    ["sd", 1, 7500],
    ["midjourney", 2, 2500],
    ["dalle3", 3, 2500],
  ] as const) {
    test(`test_${group}.txt and test_annotations_${group}.txt: ${n} real / ${n} ${group}`, async () => {
      for (const f of [`test_${group}.txt`, `test_annotations_${group}.txt`]) {
        const recs = await imaginet(ann(f), true);
        assert.deepEqual(asObject(countBy(recs, "group")), { [id]: n, 4: n }, f);
      }
      const rep = repeats[group];
      const merged = await readAnnotationFile(ann(`test_annotations_${group}.txt`));
      assert.equal(merged.repeats.length, rep?.[3] ?? 0);
      assert.equal(merged.records.length, 2 * n - merged.repeats.length, "each repeat is counted once");
      if (rep !== null) {
        assert.deepEqual(merged.repeats[0], { path: rep[0], line: rep[2], firstLine: rep[1] });
        assert.equal(
          repeatsWarning(merged),
          `${merged.file}: ${rep[3]} lines repeat an earlier line with the same path and labels and were counted once (first: ${merged.file}:${rep[2]}, repeating line ${rep[1]})`,
        );
      }
    });
  }

  test("test_all.txt is the union of the four perturbed group files; calibration is 40 + 40", async () => {
    const all = await imaginet(ann("test_all.txt"));
    assert.deepEqual(asObject(countBy(all, "origin")), { 0: 20000, 1: 20000 });
    const calib = await imaginet(ann("test_calibration.txt"));
    assert.deepEqual(asObject(countBy(calib, "origin")), { 0: 40, 1: 40 });
    const allPaths = new Set(all.map((r) => r.path));
    assert.ok(calib.every((r) => allPaths.has(r.path)));
  });

  test("LASTED anchor lists: 100 real images in each format", async () => {
    for (const [f, format] of [
      [ann("lasted_anchor.txt"), "imaginet"],
      [add("anchor_lasted_corvi.txt"), "corvi"],
      [add("anchor_lasted_practical.txt"), "practical"],
    ] as const) {
      const af = await readAnchorList(f);
      assert.equal(af.format, format, f);
      assert.equal(af.records.length, 100, f);
    }
  });

  test("Corvi set: 21000 images, 5000 real, generator counts; paths with commas", async () => {
    const af = await readAnnotationFile(add("annotations_corvi.txt"));
    assert.equal(af.format, "corvi");
    assert.equal(af.records.length, 21000);
    const gens: Record<string, number> = {};
    for (const r of af.records) {
      if (r.format !== "corvi") throw new Error("not corvi");
      const k = r.genName ?? "real";
      gens[k] = (gens[k] ?? 0) + 1;
    }
    assert.deepEqual(gens, {
      real: 5000,
      progan: 1000,
      stylegan2: 1000,
      stylegan3: 1000,
      biggan: 1000,
      eg3d: 1000,
      taming_trans: 2000,
      dalle_mini: 1000,
      dalle2: 1000,
      glide: 1000,
      latent_diff: 3000,
      stable_diff: 1000,
      adm: 2000,
    });
    const calib = await readAnnotationFile(add("annotations_calib_corvi.txt"));
    assert.equal(calib.records.length, 48);
    assert.deepEqual(
      calib.records.map((r) => r.format === "corvi" && r.gen),
      new Array(48).fill(null),
      "two-field variant: no generator",
    );
    const comma = af.records.find((r) => r.path.endsWith("trees, and houses.png"));
    assert.ok(comma && comma.format === "corvi", "a path with commas is kept whole");
    assert.equal(comma.path, "dalle_2/DALL·E 2022-10-23 23.31.07 - A clock tower stands near a road, trees, and houses.png");
    assert.equal(comma.genName, "dalle2");
  });

  test("Practical set: each file holds the count in its name, half real and half synthetic", async () => {
    for (const [f, n] of [
      ["Test_DreamBooth_num1052.txt", 1052],
      ["Test_MidjourneyV4_num1354.txt", 1354],
      ["Test_MidjourneyV5_num2000.txt", 2000],
      ["Test_NightCafe_num1300.txt", 1300],
      ["Test_StableAI_num1290.txt", 1290],
      ["Test_YiJian_num796.txt", 796],
    ] as const) {
      const af = await readAnnotationFile(add(f));
      assert.equal(af.format, "practical", f);
      assert.equal(af.records.length, n, f);
      assert.equal(af.records.filter((r) => r.origin === 1).length, n / 2, f);
    }
    const calib = await readAnnotationFile(add("annotations_calib_practical.txt"));
    assert.deepEqual(Object.fromEntries([0, 1].map((o) => [o, calib.records.filter((r) => r.origin === o).length])), { 0: 12, 1: 12 });
  });
});

describe("parsing and bad input", () => {
  const bad = (text: string, message: string, format?: "imaginet" | "corvi" | "practical"): void => {
    assert.throws(
      () => parseAnnotations(text, "x.txt", { format }),
      (err: Error) => {
        assert.equal(err.message, message);
        return true;
      },
    );
  };

  test("records carry ids and names", () => {
    const af = parseAnnotations("./sdxl_faces_fake/a.webp,1,2,1,4\n", "x.txt");
    assert.deepEqual(af.records[0], {
      format: "imaginet",
      path: "sdxl_faces_fake/a.webp",
      line: 1,
      origin: 1,
      originName: "synthetic",
      content: 2,
      contentName: "faces",
      group: 1,
      groupName: "sd",
      specific: 4,
      specificName: "SDXL v1.0",
    });
    const c = parseAnnotations("progan_lsun/x.png,1,0\nreal/y.png,0,0\n", "c.txt");
    assert.deepEqual(
      c.records.map((r) => (r.format === "corvi" ? [r.gen, r.genName] : null)),
      [
        [0, "progan"],
        [0, null],
      ],
    );
    const p = parseAnnotations("AIDraw/Real/a b.jpg 0\n", "p.txt");
    assert.equal(p.format, "practical");
    assert.equal(p.records[0]!.path, "AIDraw/Real/a b.jpg");
  });

  test("Windows line endings, a byte-order mark and trailing blank lines are accepted", () => {
    const af = parseAnnotations("\ufeff./a.png,0,0,4,8\r\n./b.png,1,3,3,7\r\n\r\n\n  \n", "x.txt");
    assert.deepEqual(
      af.records.map((r) => [r.path, r.line]),
      [
        ["a.png", 1],
        ["b.png", 2],
      ],
    );
  });

  test("malformed lines name file, line and what was expected", () => {
    bad("./a.png,0,0,4,8\n./b.png,0,0,4\n", 'x.txt:2: malformed line "./b.png,0,0,4": expected "path,origin,content,group,specific" (ImagiNet format), found 4 comma-separated fields');
    bad("./a.png,0,0,4,8\n./b.png,0,x,4,8\n", 'x.txt:2: malformed line "./b.png,0,x,4,8": expected "path,origin,content,group,specific" (ImagiNet format), found 5 comma-separated fields');
    bad("a.png 1\nb.png\n", 'x.txt:2: malformed line "b.png": expected "path label" (Practical format, space separated)');
    bad("a.png,1,0\nb.png,1\n", 'x.txt:2: malformed line "b.png,1": expected "path,origin,gen" (Corvi format), found 2 comma-separated fields');
    bad(
      "just some text\n",
      'x.txt:1: unrecognised line "just some text": expected one of "path,origin,content,group,specific" (ImagiNet format), "path,origin,gen" (Corvi format), "path,origin" (two-field Corvi format), "path label" (Practical format, space separated)',
    );
    bad("./a.png,0,0,4,8\n\n./b.png,0,0,4,8\n", 'x.txt:2: blank line: expected "path,origin,content,group,specific" (ImagiNet format)');
    bad("\n\n", "x.txt:1: empty annotation file: expected at least one line");
    bad("a.png,0\n", 'x.txt:1: malformed line "a.png,0": expected "path,origin,content,group,specific" (ImagiNet format), found 2 comma-separated fields', "imaginet");
  });

  test("ids out of range and inconsistent labels are rejected", () => {
    bad("./a.png,2,0,4,8\n", "x.txt:1: origin id 2 out of range: expected 0-1 (0 real, 1 synthetic)");
    bad("./a.png,1,4,0,0\n", "x.txt:1: content id 4 out of range: expected 0-3 (0 photos, 1 paintings, 2 faces, 3 uncategorized)");
    bad("./a.png,1,0,5,0\n", "x.txt:1: group id 5 out of range: expected 0-4 (0 gan, 1 sd, 2 midjourney, 3 dalle3, 4 real)");
    bad(
      "./a.png,1,0,0,9\n",
      "x.txt:1: specific model id 9 out of range: expected 0-8 (0 ProGAN, 1 StyleGAN-XL, 2 StyleGAN3, 3 SD v2.1, 4 SDXL v1.0, 5 Animagine XL, 6 Midjourney, 7 DALL·E 3, 8 real)",
    );
    bad("./a.png,1,0,0,4\n", "x.txt:1: specific model 4 (SDXL v1.0) belongs to group 1 (sd), not to group 0 (gan)");
    bad("./a.png,0,0,1,3\n", "x.txt:1: a real image (origin 0) must have group 4 (real) and specific model 8 (real), got group 1 and specific model 3");
    bad("./a.png,1,0,4,8\n", "x.txt:1: a synthetic image (origin 1) must have a generator group 0-3 and specific model 0-7, got group 4 and specific model 8");
    bad(
      "a.png,1,12\n",
      "x.txt:1: generator id 12 out of range: expected 0-11 (0 progan, 1 stylegan2, 2 stylegan3, 3 biggan, 4 eg3d, 5 taming_trans, 6 dalle_mini, 7 dalle2, 8 glide, 9 latent_diff, 10 stable_diff, 11 adm)",
    );
    bad("a.png 2\n", "x.txt:1: origin id 2 out of range: expected 0-1 (0 real, 1 synthetic)");
  });

  test("identical repeats are merged (kept with keepRepeats) and listed; conflicting repeats, absolute and escaping paths are rejected", () => {
    const merged = parseAnnotations("./a/b.png,0,0,4,8\n./c.png,0,0,4,8\na/./b.png,0,0,4,8\n", "x.txt");
    assert.deepEqual(
      merged.records.map((r) => [r.path, r.line]),
      [
        ["a/b.png", 1],
        ["c.png", 2],
      ],
    );
    assert.deepEqual(merged.repeats, [{ path: "a/b.png", line: 3, firstLine: 1 }]);
    assert.equal(repeatsWarning(merged), "x.txt: 1 line repeats an earlier line with the same path and labels and was counted once (first: x.txt:3, repeating line 1)");
    assert.equal(repeatsWarning(parseAnnotations("./a.png,0,0,4,8\n", "x.txt")), null);
    const kept = parseAnnotations("./a.png,0,0,4,8\n./a.png,0,0,4,8\n", "x.txt", { keepRepeats: true });
    assert.deepEqual(
      kept.records.map((r) => r.line),
      [1, 2],
    );
    assert.equal(kept.repeats.length, 1);
    for (const keepRepeats of [false, true]) {
      assert.throws(() => parseAnnotations("./a.png,0,0,4,8\n./a.png,0,1,4,8\n", "x.txt", { keepRepeats }), {
        name: "AnnotationError",
        message: 'x.txt:2: duplicate path "a.png" with other labels than x.txt:1',
      });
    }
    bad("/etc/passwd,0,0,4,8\n", 'x.txt:1: absolute path "/etc/passwd": paths must be relative to the dataset root');
    bad("C:\\data\\a.png,0,0,4,8\n", 'x.txt:1: absolute path "C:\\\\data\\\\a.png": paths must be relative to the dataset root');
    bad("./ok.png,0,0,4,8\n../outside.png,0,0,4,8\n", 'x.txt:2: path "../outside.png" escapes the dataset root');
    bad("./a/../../outside.png,0,0,4,8\n", 'x.txt:1: path "./a/../../outside.png" escapes the dataset root');
    bad("./a/,0,0,4,8\n", 'x.txt:1: path "./a/" names a folder, not a file');
    // a `..` that stays inside the root is normalised, as upstream's os.path.normpath does
    assert.equal(parseAnnotations("./a/../b.png,0,0,4,8\n", "x.txt").records[0]!.path, "b.png");
  });

  test("anchor lists must be real", async () => {
    const { writeFileSync } = await import("node:fs");
    const { tmpDir } = await import("./helpers.js");
    const f = path.join(tmpDir(), "anchors.txt");
    writeFileSync(f, "a.jpg 0\nb.jpg 1\n");
    await assert.rejects(readAnchorList(f), { message: `${f}:2: anchor images must be real (label 0), got 1` });
  });

  test("a missing file is reported with its path", async () => {
    await assert.rejects(readAnnotationFile("/nonexistent/ann.txt"), { message: "/nonexistent/ann.txt: cannot read annotation file (ENOENT)" });
  });
});
