/** `imaginet dataset download` end to end: the CLI in a child process against a real loopback server. */
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { makeExampleDataset } from "../src/data/example.js";
import { UPSTREAM_ANNOTATIONS } from "../src/data/sources.js";
import { cliAsync, HAVE_SHARED, SHARED, tmpDir } from "./helpers.js";
import { serveBytes, TestServer } from "./support/http-server.js";
import { makeZip } from "./support/zip.js";

const UPSTREAM = "https://raw.githubusercontent.com/delyan-boychev/imaginet/main";
const COCO = "http://images.cocodataset.org";
const srv = new TestServer();
let example = "";

before(async () => {
  await srv.start();
  example = path.join(tmpDir(), "example");
  await makeExampleDataset(example, { seed: 3, perKind: 4, size: 32 });
  // COCO val2017 as a zip with the val2017/ folder at its top, as the real archive has
  const items = readdirSync(path.join(example, "val2017"))
    .filter((f) => !f.startsWith("unused"))
    .map((f) => ({ name: `val2017/${f}`, data: readFileSync(path.join(example, "val2017", f)) }));
  srv.routes.set("/coco/zips/val2017.zip", serveBytes(makeZip([{ name: "val2017/" }, ...items])));
});
after(() => srv.stop());

describe("dataset download (CLI)", () => {
  test("upstream annotation files: pinned checksums verified, unpublished ones recorded on first use", { skip: !HAVE_SHARED && "../shared/imaginet not present" }, async () => {
    for (const a of UPSTREAM_ANNOTATIONS) {
      const local = a.sha256 ? path.join(SHARED, "annotations", a.file) : path.join(example, "annotations", a.file);
      srv.routes.set(`/upstream/annotations/${a.file}`, serveBytes(readFileSync(local)));
    }
    const root = tmpDir();
    const r = await cliAsync(["dataset", "download", "annotations", "--root", root, "--mirror", `${UPSTREAM}=${srv.base}/upstream`, "--json"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const [outcome] = JSON.parse(r.stdout);
    assert.equal(outcome.ok, true);
    assert.equal(outcome.files.length, UPSTREAM_ANNOTATIONS.length);
    assert.equal(outcome.warnings.length, 2, "train_annotations.txt and calibration.txt have no published checksum");
    assert.match(outcome.warnings[0], /^calibration\.txt: upstream publishes no checksum; recorded its sha256 [0-9a-f]{64} in /);
    assert.match(outcome.warnings[1], /^train_annotations\.txt: upstream publishes no checksum/);
    for (const a of UPSTREAM_ANNOTATIONS) assert.equal(existsSync(path.join(root, "annotations", a.file)), true, a.file);
    const recorded = JSON.parse(readFileSync(path.join(root, "annotations", "checksums.json"), "utf8"));
    assert.ok(JSON.stringify(recorded).includes("train_annotations.txt"));
  });

  test("a source archive is fetched, extracted into its folder, and the root then verifies", async () => {
    const root = tmpDir();
    const r = await cliAsync(["dataset", "download", "coco-val2017", "--root", root, "--mirror", `${COCO}=${srv.base}/coco`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^coco-val2017: ok, .* fetched, placed in val2017$/m);
    assert.deepEqual(readdirSync(path.join(root, "val2017")).sort(), ["00000.jpg", "00001.jpg", "00002.jpg", "00003.jpg"]);
    assert.deepEqual(readdirSync(path.join(root, ".imaginet-downloads")), ["coco-val2017.done.json"], "archive removed after extraction");
    const ann = path.join(example, "annotations", "val.txt");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(ann, `${["00000", "00001", "00002", "00003"].map((n) => `./val2017/${n}.jpg,0,0,4,8`).join("\n")}\n`);
    const v = await cliAsync(["dataset", "verify", "--root", root, ann]);
    assert.equal(v.code, 0, v.stdout);
    const again = await cliAsync(["dataset", "download", "coco-val2017", "--root", root, "--mirror", `${COCO}=${srv.base}/coco`]);
    assert.match(again.stdout, /coco-val2017: already complete/);
    assert.equal(srv.requests("/coco/zips/val2017.zip").length, 1, "a completed source is not fetched again");
  });

  test("a failing source is reported, the others still run, and the exit code says so", async () => {
    const root = tmpDir();
    const r = await cliAsync(["dataset", "download", "coco-train2017", "coco-val2017", "--root", root, "--retries", "0", "--mirror", `${COCO}=${srv.base}/coco`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^coco-train2017: FAILED: .*404.*$/m);
    assert.match(r.stdout, /^coco-val2017: ok/m);
    assert.equal(existsSync(path.join(root, "train2017")), false);
  });

  test("missing credentials are named before anything is fetched", async () => {
    const root = tmpDir();
    const r = await cliAsync(["dataset", "download", "journeydb", "--root", root, "--json"], {
      env: { HF_TOKEN: "", HUGGING_FACE_HUB_TOKEN: "", HF_HOME: root, HF_TOKEN_PATH: path.join(root, "none") },
    });
    assert.equal(r.code, 1);
    const [o] = JSON.parse(r.stdout);
    assert.equal(o.ok, false);
    assert.match(o.error, /HF_TOKEN/);
    const bad = await cliAsync(["dataset", "download", "--root", root, "--mirror", "nonsense"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--mirror expects FROM=TO/);
  });
});
