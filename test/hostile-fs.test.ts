/** Hostile input for dataset download and prune: each case of test/support/hostile/fs.ts and its exact outcome. */
import assert from "node:assert/strict";
import { existsSync, promises as fsp } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { applyPrune, planPrune } from "../src/data/prune.js";
import { readImageList } from "../src/runtime/detect.js";
import { InputError, ProblemsError } from "../src/util/errors.js";
import { cli, cliAsync, tmpDir } from "./helpers.js";
import { serveBytes, TestServer } from "./support/http-server.js";
import { makeCorpus, OUTSIDE_CONTENT, SYNTHETIC_ARCHIVE } from "./support/hostile/fs.js";

const DRIVE = "https://drive.usercontent.google.com/download";
const srv = new TestServer();
let corpus = "";

before(async () => {
  await srv.start();
  corpus = tmpDir("imaginet-hostile-");
  await makeCorpus(corpus);
});
after(() => srv.stop());

const caseDir = (name: string): string => path.join(corpus, "fs", name);

/** `dataset download imaginet-synthetic`, its Drive archive served from `archive`. */
async function downloadSynthetic(root: string, archive: string, ...more: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  srv.routes.set("/drive", serveBytes(await fsp.readFile(archive)));
  return cliAsync(["dataset", "download", "imaginet-synthetic", "--root", root, "--retries", "0", "--mirror", `${DRIVE}=${srv.base}/drive`, ...more]);
}

describe("hostile input: dataset download", () => {
  test("archive-planted-link: an archive holding a symlink is refused whole, so a later archive cannot write through it", async () => {
    const dir = caseDir("archive-planted-link");
    const root = path.join(dir, "root");
    const first = await downloadSynthetic(root, path.join(dir, "archive1.zip"));
    assert.equal(first.code, 1, first.stderr);
    assert.equal(
      first.stdout,
      `imaginet-synthetic: FAILED: ${SYNTHETIC_ARCHIVE}: refusing to extract entry "wrapper/dalle3/up": it is a symbolic link (to "../.."), and archives may not hold links; nothing was extracted\n`,
    );
    assert.deepEqual(await fsp.readdir(root), [".imaginet-downloads"], "nothing placed, no staging folder left");
    // the refused archive is kept in .imaginet-downloads; drop it so that archive 2 is fetched
    await fsp.rm(path.join(root, ".imaginet-downloads", SYNTHETIC_ARCHIVE));

    const second = await downloadSynthetic(root, path.join(dir, "archive2.zip"), "--force");
    assert.equal(second.code, 0, second.stderr + second.stdout);
    assert.match(second.stdout, /^imaginet-synthetic: ok, .* fetched, placed in dalle3\n$/);
    assert.equal((await fsp.lstat(path.join(root, "dalle3/up"))).isDirectory(), true, "up/ is a real folder, not a link");
    assert.equal(await fsp.readFile(path.join(root, "dalle3/up/evil.txt"), "utf8"), "written through a planted link");
    assert.deepEqual((await fsp.readdir(dir)).sort(), ["archive1.zip", "archive2.zip", "root"], "nothing written beside the root");
  });

  test("placement-through-link: a symlink already in the root is never written through; nothing moves", async () => {
    const dir = caseDir("placement-through-link");
    const root = path.join(dir, "root");
    const r = await downloadSynthetic(root, path.join(dir, "archive2.zip"));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stdout,
      `imaginet-synthetic: FAILED: cannot place the extracted files under ${root}: dalle3/up is a symbolic link, and a download never writes through a link (replace the link with the folder it points to, or download into that folder's own root)\n`,
    );
    assert.deepEqual(await fsp.readdir(path.join(dir, "outside")), []);
    assert.deepEqual((await fsp.readdir(root)).sort(), [".imaginet-downloads", "dalle3"], "no staging folder left");
    assert.deepEqual(await fsp.readdir(path.join(root, "dalle3")), ["up"]);
  });
});

describe("hostile input: dataset prune", () => {
  test("prune-referenced-link: what a referenced symlink leads to (a file, a chain, a linked folder) is kept, and verify passes after", () => {
    const dir = caseDir("prune-referenced-link");
    const root = path.join(dir, "root");
    const list = path.join(dir, "list.txt");
    const r = cli(["dataset", "prune", "--root", root, list, "--yes", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.missing, []);
    assert.deepEqual(out.keptLinks, ["dalle3_addition"]);
    assert.deepEqual(
      out.unreferenced.map((u: { path: string }) => u.path),
      ["store/junk.png", "store2/junk.png"],
    );
    assert.deepEqual(out.result, { deleted: 2, bytes: out.bytes, removedDirs: 0 });
    for (const kept of ["store/a.png", "store/b.png", "store2/c.png", "dalle3/a.png", "dalle3/b.png", "dalle3/b-hop.png", "dalle3_addition/c.png"]) {
      assert.equal(existsSync(path.join(root, kept)), true, kept);
    }
    const v = cli(["dataset", "verify", "--root", root, list]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test("prune-race: a folder swapped for a symlink to the outside between plan and delete stops the delete; the outside file stays", async () => {
    const dir = caseDir("prune-race");
    const root = path.join(dir, "root");
    const plan = await planPrune(root, new Set(["dalle3/a.png"]), { progress: false });
    assert.deepEqual(
      plan.unreferenced.map((u) => u.path),
      ["victim/junk.png"],
    );
    await fsp.rm(path.join(root, "victim"), { recursive: true });
    await fsp.symlink(path.join(dir, "outside"), path.join(root, "victim"));
    await assert.rejects(applyPrune(plan, { progress: false }), (err: unknown) => {
      assert.ok(err instanceof ProblemsError);
      assert.equal(
        err.message,
        `stopped after deleting 0 files: ${plan.root}/victim changed since the scan (it is now a symbolic link, not a folder), so victim/junk.png and the files after it were not deleted; run prune again`,
      );
      return true;
    });
    assert.equal(await fsp.readFile(path.join(dir, "outside/junk.png"), "utf8"), OUTSIDE_CONTENT);
    assert.equal(existsSync(path.join(root, "dalle3/a.png")), true);
  });

  test("prune-non-utf8-name: names that are not valid UTF-8 or hold a newline are listed escaped and deleted, a look-alike name apart", async () => {
    const dir = caseDir("prune-non-utf8-name");
    const root = path.join(dir, "root");
    const list = path.join(dir, "list.txt");
    const dry = cli(["dataset", "prune", "--root", root, list, "--json"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout).unreferenced, [
      { path: "dalle3/bad\\x5cxff.png", bytes: 2 },
      { path: "dalle3/bad\\xff.png", bytes: 1 },
      { path: "dalle3/new\\x0aline.png", bytes: 1 },
    ]);
    const text = cli(["dataset", "prune", "--root", root, list]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^unreferenced: 3 files, 4 B$/m);
    const real = cli(["dataset", "prune", "--root", root, list, "--yes", "--json"]);
    assert.equal(real.code, 0, real.stderr);
    assert.deepEqual(JSON.parse(real.stdout).result, { deleted: 3, bytes: 4, removedDirs: 0 });
    assert.deepEqual(await fsp.readdir(path.join(root, "dalle3"), { encoding: "buffer" }), [Buffer.from("a.png")]);
  });
});

describe("hostile input: anchor lists", () => {
  test("anchors-escape: a path that climbs out with .. or is absolute is refused naming the file and line", async () => {
    const dir = caseDir("anchors-escape");
    const anchors = path.join(dir, "anchors");
    const climbs = path.join(anchors, "climbs.txt");
    await assert.rejects(readImageList(climbs), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.message, `${climbs}:2: path "../secret.png" escapes the anchor root ${anchors}`);
      return true;
    });
    const absolute = path.join(anchors, "absolute.txt");
    const r = cli(["convert", "--weights", path.join(dir, "none.pth"), "--detector", "wu2023", "--anchors", absolute, "-o", path.join(dir, "out.onnx")]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `imaginet: error: ${absolute}:2: absolute path ${JSON.stringify(path.join(dir, "secret.png"))}: paths must be relative to the anchor root ${anchors}\n`);
    assert.equal(existsSync(path.join(dir, "out.onnx")), false);
  });
});
