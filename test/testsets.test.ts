/**
 * Upstream's Corvi and Practical test sets as dataset sources: download from a loopback Google Drive,
 * the extracted layout, `dataset verify` on their annotation formats, and the corvi256 build from
 * the downloaded tree. Stand-in images: test/fixtures/corvi256 (scripts/fixtures/make_corvi256_fixtures.py).
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { DRIVE_BASE } from "../src/data/download/drive.js";
import type { VerifyReport } from "../src/data/verify.js";
import { loadReferences } from "../src/data/references.js";
import { CORVI_SYNTHETIC_FOLDERS, SOURCES, sourceOfPath } from "../src/data/sources.js";
import { cliAsync, HAVE_SHARED, REPO, SHARED, tmpDir } from "./helpers.js";
import { serveDrive, TestServer } from "./support/http-server.js";
import { makeZip } from "./support/zip.js";

const FIX = path.join(REPO, "test", "fixtures", "corvi256");
const CORVI_ID = "1grvgKiIq0ny8ImQzSUXPk3nd-AMEDjNb";
const DALLE = "dalle_2/DALL·E 2022-10-23 10.40.58 - A cat, a dog.png";
const SYNTHETIC = ["progan_lsun/airplane_00001.png", "biggan_256/biggan_1_2.png", DALLE, "glide_text2img_valid/edge.png"];
const REAL = ["real_ucid/ucid00001.png", "real_coco_valid/000000000001.jpg"];
/** annotations_corvi.txt's format: path,origin,generator (progan 0, biggan 3, dalle2 7, glide 8) */
const CORVI_LIST = `${SYNTHETIC[0]},1,0\n${SYNTHETIC[1]},1,3\n${SYNTHETIC[2]},1,7\n${SYNTHETIC[3]},1,8\n${REAL[0]},0,0\n${REAL[1]},0,0\n`;

const srv = new TestServer();
const mirror = (): string[] => ["--mirror", `${DRIVE_BASE}=${srv.base}/drive/download`, "--retries", "0"];

before(async () => {
  await srv.start();
  // the layout csv_operations.py's defaults point at: TestSet/<generator folders> and TestSet/operations.csv
  const zip = makeZip([
    { name: "TestSet/" },
    ...SYNTHETIC.map((p) => ({ name: `TestSet/${p}`, data: readFileSync(path.join(FIX, "src", p)) })),
    { name: "TestSet/operations.csv", data: readFileSync(path.join(FIX, "operations.csv")) },
  ]);
  srv.routes.set("/drive/download", serveDrive({ [CORVI_ID]: zip }, DRIVE_BASE));
});
after(() => srv.stop());

async function verify(root: string, list: string): Promise<{ code: number; report: VerifyReport }> {
  const r = await cliAsync(["dataset", "verify", "--root", root, list, "--json"]);
  return { code: r.code, report: JSON.parse(r.stdout) };
}

function bySource(report: VerifyReport): Record<string, [number, number]> {
  return Object.fromEntries(report.sources.map((s) => [s.source, [s.present, s.missing]]));
}

describe("the Corvi and Practical test sets as sources", () => {
  test("the registry: every path of upstream's Corvi and Practical lists belongs to its test-set source", { skip: !HAVE_SHARED && "../shared/imaginet not present" }, async () => {
    assert.deepEqual(
      SOURCES.filter((s) => s.testSet).map((s) => s.id),
      ["corvi-testset", "corvi-testset-real", "practical-testset"],
    );
    assert.equal(CORVI_SYNTHETIC_FOLDERS.length, 30);
    const dir = path.join(SHARED, "additional_annotations");
    const refs = await loadReferences(readdirSync(dir).map((f) => path.join(dir, f)));
    const counts: Record<string, number> = {};
    for (const p of refs.paths) {
      const id = sourceOfPath(p)?.id ?? "unknown";
      counts[id] = (counts[id] ?? 0) + 1;
    }
    assert.deepEqual(counts, { "corvi-testset": 16000, "corvi-testset-real": 5000, "practical-testset": 5854 });
  });

  test("corvi-testset: Drive archive → extracted folders and operations.csv → verify passes → corvi256 build → verify passes; a missing file is reported", async () => {
    const root = tmpDir();
    const dl = await cliAsync(["dataset", "download", "corvi-testset", "--root", root, ...mirror()]);
    assert.equal(dl.code, 0, dl.stderr + dl.stdout);
    assert.match(dl.stdout, /^corvi-testset: ok, .* fetched, placed in biggan_256, dalle_2, glide_text2img_valid, operations\.csv, progan_lsun$/m);
    assert.deepEqual(readdirSync(root).sort(), [".imaginet-downloads", "biggan_256", "dalle_2", "glide_text2img_valid", "operations.csv", "progan_lsun"]);
    for (const p of SYNTHETIC) assert.ok(readFileSync(path.join(root, p)).equals(readFileSync(path.join(FIX, "src", p))), p);

    const list = path.join(tmpDir(), "annotations_corvi.txt");
    writeFileSync(list, CORVI_LIST);
    const before = await verify(root, list);
    assert.equal(before.code, 1, "the real images are not in the archive");
    assert.deepEqual(bySource(before.report), { "corvi-testset": [4, 0], "corvi-testset-real": [0, 2] });

    for (const p of REAL) {
      mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      cpSync(path.join(FIX, "src", p), path.join(root, p));
    }
    const ok = await verify(root, list);
    assert.equal(ok.code, 0, JSON.stringify(ok.report));
    assert.deepEqual(bySource(ok.report), { "corvi-testset": [4, 0], "corvi-testset-real": [2, 0] });

    const out = tmpDir();
    const build = await cliAsync(["testset", "build", "--recipe", "corvi256", "--root", root, "--out", out, list]);
    assert.equal(build.code, 0, build.stderr + build.stdout);
    assert.match(build.stdout, /: 6 built, 0 already there, 0 failed of 6 /);
    const built = await verify(out, list);
    assert.equal(built.code, 0, JSON.stringify(built.report));
    assert.deepEqual(built.report.sources[0]?.formats, { jpeg: 4 }, "csv_operations.py writes JPEG under the original names");

    rmSync(path.join(root, DALLE));
    const missing = await cliAsync(["dataset", "verify", "--root", root, list]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^corvi-testset +4 +3 +1 /m);
    assert.ok(missing.stdout.includes(`  missing: ${DALLE}\n`), missing.stdout);
  });

  test("corvi256 with an annotation file lists only what operations.csv has rows for", async () => {
    const root = tmpDir();
    cpSync(path.join(FIX, "operations.csv"), path.join(root, "operations.csv"));
    const list = path.join(root, "list.txt");
    writeFileSync(list, "stable_diffusion_256/x.png,1,10\n");
    const r = await cliAsync(["testset", "build", "--recipe", "corvi256", "--root", root, "--out", tmpDir(), list]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /operations\.csv has no row for 1 annotated image\(s\), e\.g\. stable_diffusion_256\/x\.png/);
  });

  test("practical-testset: no automatic download (the archive needs the license form's password); placed by hand it verifies, a missing file is reported", async () => {
    const root = tmpDir();
    const dl = await cliAsync(["dataset", "download", "practical-testset", "--root", root]);
    assert.equal(dl.code, 1);
    assert.match(dl.stdout, /^practical-testset: FAILED: .*cannot be downloaded automatically: get it from https:\/\/github\.com\/HighwayWu\/LASTED .*password/m);
    assert.equal(existsSync(path.join(root, "AIDraw_1122")), false);

    const files = { "AIDraw_1122/Fake/DreamBooth/0.png": SYNTHETIC[0]!, "AIDraw_1122/Real/alexandra_petruk/271.jpg": REAL[1]! };
    for (const [dst, src] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, dst)), { recursive: true });
      cpSync(path.join(FIX, "src", src), path.join(root, dst));
    }
    const list = path.join(tmpDir(), "Test_DreamBooth_num2.txt");
    writeFileSync(list, "AIDraw_1122/Fake/DreamBooth/0.png 1\nAIDraw_1122/Real/alexandra_petruk/271.jpg 0\n");
    const ok = await verify(root, list);
    assert.equal(ok.code, 0, JSON.stringify(ok.report));
    assert.deepEqual(bySource(ok.report), { "practical-testset": [2, 0] });

    rmSync(path.join(root, "AIDraw_1122/Real/alexandra_petruk/271.jpg"));
    const missing = await verify(root, list);
    assert.equal(missing.code, 1);
    assert.deepEqual(bySource(missing.report), { "practical-testset": [1, 1] });
    assert.equal(missing.report.sources[0]?.examples[0]?.path, "AIDraw_1122/Real/alexandra_petruk/271.jpg");
  });
});
