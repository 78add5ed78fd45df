/**
 * The published package works: `npm pack`, then `npm install -g` of the tarball on a clean prefix
 * gives an `imaginet` that runs a detector, and builds the training addon where libtorch is present.
 * Slow (a registry install and the addon's compile, about 4 minutes), so it runs only with
 * IMAGINET_TEST_PACKAGE=1.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { jsonLines, REPO, tmpDir } from "./helpers.js";

const skip = process.env.IMAGINET_TEST_PACKAGE !== "1" && "set IMAGINET_TEST_PACKAGE=1 to run the packaging test";
const LIBTORCH = existsSync("/usr/include/torch/csrc/api/include/torch/torch.h");

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? REPO, env: { ...process.env, ...opts.env }, encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe("npm pack → npm install -g", { skip }, () => {
  test("the installed imaginet detects, and has the training addon where libtorch is present", { timeout: 15 * 60_000 }, () => {
    const dir = tmpDir();
    run("npm", ["pack", "--pack-destination", dir]);
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack wrote a tarball");
    const prefix = path.join(dir, "prefix");
    // onnxruntime-node's own install script would download its CUDA provider (README: "As a package")
    run("npm", ["install", "-g", "--prefix", prefix, path.join(dir, tarball)], { cwd: dir, env: { ONNXRUNTIME_NODE_INSTALL: "skip" } });
    const bin = path.join(prefix, "bin", "imaginet");
    const installed = path.join(prefix, "lib", "node_modules", "imaginet");
    assert.match(run(bin, ["--version"], { cwd: dir }), /^\d+\.\d+\.\d+\n$/);

    const image = path.join(REPO, "test", "fixtures", "image", "photo.png");
    const rows = jsonLines(run(bin, ["detect", image, "--detector", "grag2021", "--weights", path.join(REPO, "test/fixtures/models/grag_tiny.pth"), "--json"], { cwd: dir }));
    assert.equal(rows.length, 1);
    assert.equal(rows[0].file, image);
    assert.ok(Number.isFinite(rows[0].score), JSON.stringify(rows[0]));

    assert.equal(existsSync(path.join(installed, "native", "build", "imaginet_torch.node")), LIBTORCH, "the addon is built exactly where libtorch is present");
    const engine = path.join(installed, "dist", "engine", "index.js");
    const probe = `import(${JSON.stringify(engine)}).then((m) => console.log(m.nativeAvailable()))`;
    assert.equal(run(process.execPath, ["-e", probe], { cwd: dir }).trim(), String(LIBTORCH));
  });
});
