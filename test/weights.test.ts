/** `imaginet weights` end to end: the CLI in a child process against a real loopback server, the catalogue's own sources mirrored to it. */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, promises as fsp } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { DRIVE_BASE } from "../src/data/download/drive.js";
import { formatBytes } from "../src/util/progress.js";
import { findWeights, readLock, verifyWeights, weightsCacheDir, weightsFiles } from "../src/weights/index.js";
import { WILD } from "../src/detectors/wild.js";
import { cliAsync, REPO, tmpDir } from "./helpers.js";
import { serveBytes, serveDrive, TestServer } from "./support/http-server.js";
import { makeZip } from "./support/zip.js";

const GRIP = "https://www.grip.unina.it/download/prog/GANdetection/weights";
const UPSTREAM = "https://raw.githubusercontent.com/delyan-boychev/imaginet/main";
const CORVI_ID = "1sAoAuOGCWS4dAMBhDkRHgBf4SgBgvkVf";
const srv = new TestServer();

const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");
const grag = randomBytes(40_000);
const latent = randomBytes(30_000);
const progan = randomBytes(20_000);
const corviZip = makeZip([
  { name: "weights/" },
  { name: "weights/Grag2021_progan/model_epoch_best.pth", data: progan },
  { name: "weights/Grag2021_latent/model_epoch_best.pth", data: latent },
  { name: "weights/README.txt", data: "not a checkpoint" },
]);

before(async () => {
  await srv.start();
  srv.routes.set("/grip/gandetection_resnet50nodown_stylegan2.pth", serveBytes(grag));
  srv.routes.set("/drive/download", serveDrive({ [CORVI_ID]: corviZip }, DRIVE_BASE));
});
after(() => srv.stop());

/** `imaginet weights …` with IMAGINET_HOME = home, every catalogue URL this test serves mirrored to the loopback server. */
function weights(home: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const mirrors = ["download"].includes(args[0] ?? "")
    ? ["--retries", "0", "--mirror", `${GRIP}=${srv.base}/grip`, "--mirror", `${DRIVE_BASE}=${srv.base}/drive/download`, "--mirror", `${UPSTREAM}=${srv.base}/upstream`]
    : [];
  return cliAsync(["weights", ...args, ...mirrors], { env: { IMAGINET_HOME: home } });
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    .sort();
}

describe("imaginet weights", () => {
  test("the cache folder: IMAGINET_HOME, else an absolute XDG_CACHE_HOME, else ~/.cache", () => {
    assert.equal(weightsCacheDir({ IMAGINET_HOME: "/h", XDG_CACHE_HOME: "/x" }), "/h/weights");
    assert.equal(weightsCacheDir({ XDG_CACHE_HOME: "/x" }), "/x/imaginet/weights");
    assert.match(weightsCacheDir({ XDG_CACHE_HOME: "relative" }), /\/\.cache\/imaginet\/weights$/);
  });

  test("a URL source: downloaded, its size and sha256 recorded in the lock, `path` prints it, a second download fetches nothing", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    const file = path.join(cache, "grag2021", "gandetection_resnet50nodown_stylegan2.pth");
    const r = await weights(home, "download", "grag2021");
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.stdout, `grag2021: downloaded ${formatBytes(grag.length)}, sha256 recorded in ${path.join(cache, "weights.lock.json")}\n  ${file}\n`);
    assert.deepEqual(await fsp.readFile(file), grag);
    const lock = await readLock(cache);
    assert.deepEqual(Object.keys(lock.weights), ["grag2021"]);
    const entry = lock.weights.grag2021!;
    assert.equal(entry.source, `${GRIP}/gandetection_resnet50nodown_stylegan2.pth`);
    assert.deepEqual(
      entry.files.map(({ path: p, size, sha256: s }) => ({ path: p, size, sha256: s })),
      [{ path: "grag2021/gandetection_resnet50nodown_stylegan2.pth", size: grag.length, sha256: sha256(grag) }],
    );

    const p = await weights(home, "path", "grag2021");
    assert.deepEqual(p, { code: 0, stdout: `${file}\n`, stderr: "" });
    const requests = srv.requests("/grip/gandetection_resnet50nodown_stylegan2.pth").length;
    const again = await weights(home, "download", "grag2021");
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `grag2021: already in the cache, sha256 as recorded\n  ${file}\n`);
    assert.equal(srv.requests("/grip/gandetection_resnet50nodown_stylegan2.pth").length, requests, "nothing fetched");
  });

  test("a Google Drive zip source: the confirmation form is followed, the members are extracted and `path` prints them in member order", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    const before = srv.requests("/drive/download").length;
    const r = await weights(home, "download", "corvi2022", "--json");
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const drive = srv.requests("/drive/download").slice(before);
    assert.deepEqual(
      drive.map((s) => [s.query.get("id"), s.query.get("confirm")]),
      [
        [CORVI_ID, null],
        [CORVI_ID, "t0k&en"],
      ],
    );
    const members = ["corvi2022/weights/Grag2021_latent/model_epoch_best.pth", "corvi2022/weights/Grag2021_progan/model_epoch_best.pth"];
    const [outcome] = JSON.parse(r.stdout);
    assert.deepEqual(outcome, {
      ok: true,
      name: "corvi2022",
      files: members.map((m) => path.join(cache, m)),
      lock: path.join(cache, "weights.lock.json"),
      status: "downloaded",
      bytes: corviZip.length,
      recorded: true,
    });
    assert.deepEqual(await listFiles(cache), [...members, "weights.lock.json"], "only the named members are kept; the archive and staging folder are gone");
    assert.deepEqual(await fsp.readFile(path.join(cache, members[0]!)), latent);
    assert.deepEqual(await fsp.readFile(path.join(cache, members[1]!)), progan);
    const entry = (await readLock(cache)).weights.corvi2022!;
    assert.deepEqual(entry.archive, { file: "weights.zip", size: corviZip.length, sha256: sha256(corviZip) });
    assert.deepEqual(
      entry.files.map((f) => f.sha256),
      [sha256(latent), sha256(progan)],
    );
    assert.equal(entry.source, `drive:${CORVI_ID}`);

    const p = await weights(home, "path", "corvi2022");
    assert.deepEqual(p, { code: 0, stdout: members.map((m) => `${path.join(cache, m)}\n`).join(""), stderr: "" });
  });

  test("a tampered file: `verify` exits 1 naming the file, the recorded and the actual sha256; `path` refuses it; a download fetches it again", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    assert.equal((await weights(home, "download", "corvi2022")).code, 0);
    const file = path.join(cache, "corvi2022/weights/Grag2021_progan/model_epoch_best.pth");
    const tampered = Buffer.concat([progan, Buffer.from("x")]);
    await fsp.writeFile(file, tampered);
    const lock = path.join(cache, "weights.lock.json");
    const expected = `${file}: sha256 ${sha256(tampered)} differs from ${sha256(progan)}, recorded in ${lock} when it was downloaded: the file has changed; run \`imaginet weights download corvi2022\` to fetch it again`;

    const v = await weights(home, "verify");
    assert.deepEqual(v, { code: 1, stdout: `corvi2022: FAILED: ${expected}\n`, stderr: "" });
    const p = await weights(home, "path", "corvi2022");
    assert.deepEqual(p, { code: 2, stdout: "", stderr: `imaginet: error: ${expected}\n` });

    const again = await weights(home, "download", "corvi2022");
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.ok(again.stdout.startsWith(`corvi2022: downloaded ${formatBytes(corviZip.length)}, sha256 as recorded\n`), again.stdout);
    assert.deepEqual(await fsp.readFile(file), progan);
    assert.deepEqual(await weights(home, "verify", "corvi2022"), { code: 0, stdout: "corvi2022: ok\n", stderr: "" });
  });

  test("the cheap check at use: a file with the recorded size and mtime is not hashed; `verify` hashes in full", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    assert.equal((await weights(home, "download", "grag2021")).code, 0);
    const source = findWeights("grag2021")[0]!;
    const file = (await weightsFiles([source], { cacheDir: cache }))[0]!;
    const st = await fsp.stat(file);
    const flipped = Buffer.from(grag);
    flipped[0] = (flipped[0] ?? 0) ^ 0xff;
    await fsp.writeFile(file, flipped);
    // the recorded mtime is in whole milliseconds; set it back to the middle of that millisecond (seconds as a double are not exact)
    await fsp.utimes(file, st.atime, (Math.floor(st.mtimeMs) + 0.5) / 1000);
    assert.deepEqual(await weightsFiles([source], { cacheDir: cache }), [file]);
    const [result] = await verifyWeights([source], { cacheDir: cache });
    assert.equal(result?.ok, false);
    assert.match(result?.problems[0] ?? "", new RegExp(`sha256 ${sha256(flipped)} differs from ${sha256(grag)}`));
  });

  test("--sha256 pins the download: a mismatch is refused and nothing is left in the cache; a match is recorded", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    const wrong = "0".repeat(64);
    const dest = path.join(cache, "grag2021", "gandetection_resnet50nodown_stylegan2.pth");
    const r = await weights(home, "download", "grag2021", "--sha256", wrong);
    assert.deepEqual(r, {
      code: 1,
      stdout: `grag2021: FAILED: sha256 mismatch for ${dest} (from ${srv.base}/grip/gandetection_resnet50nodown_stylegan2.pth): expected ${wrong}, got ${sha256(grag)}\n`,
      stderr: "",
    });
    assert.deepEqual(await fsp.readdir(cache), [], "no file, no .part, no folder, no lock");

    const ok = await weights(home, "download", "grag2021", "--sha256", sha256(grag).toUpperCase());
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal((await readLock(cache)).weights.grag2021?.files[0]?.sha256, sha256(grag));

    const conflict = await weights(home, "download", "grag2021", "--sha256", wrong);
    assert.equal(conflict.code, 1);
    assert.equal(conflict.stdout, `grag2021: FAILED: --sha256 is ${wrong} but the sha256 recorded in ${path.join(cache, "weights.lock.json")} is ${sha256(grag)}; nothing was downloaded\n`);

    const two = await weights(home, "download", "grag2021", "corvi2022", "--sha256", wrong);
    assert.deepEqual(two, { code: 2, stdout: "", stderr: "imaginet: error: --sha256 pins one file: give exactly one name, not 2\n" });
    const bad = await weights(home, "download", "grag2021", "--sha256", "abc");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--sha256 expects 64 hexadecimal digits, got "abc"/);
  });

  test("a published sha256 is checked on download; a file removed by hand must come back as recorded", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    const published = findWeights("wu2023-anchors")[0]!.sha256!;
    srv.routes.set("/upstream/annotations/lasted_anchor.txt", serveBytes(Buffer.from("./not/the/list.png\n")));
    const r = await weights(home, "download", "wu2023-anchors");
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^wu2023-anchors: FAILED: sha256 mismatch for .*lasted_anchor\\.txt \\(from .*\\): expected ${published}, got ${sha256("./not/the/list.png\n")}\\n$`));

    assert.equal((await weights(home, "download", "grag2021")).code, 0);
    await fsp.rm(path.join(cache, "grag2021", "gandetection_resnet50nodown_stylegan2.pth"));
    srv.routes.set("/grip/gandetection_resnet50nodown_stylegan2.pth", serveBytes(randomBytes(100)));
    try {
      const changed = await weights(home, "download", "grag2021");
      assert.equal(changed.code, 1);
      assert.match(changed.stdout, new RegExp(`^grag2021: FAILED: sha256 mismatch for .*: expected ${sha256(grag)}, got [0-9a-f]{64}\\n$`));
    } finally {
      srv.routes.set("/grip/gandetection_resnet50nodown_stylegan2.pth", serveBytes(grag));
    }
  });

  test("`path` before a download: exit 2 with the command that downloads it; `verify NAME` lists it as not downloaded", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    const p = await weights(home, "path", "corvi2022");
    assert.deepEqual(p, { code: 2, stdout: "", stderr: `imaginet: error: the weights "corvi2022" are not downloaded (cache: ${cache}): run \`imaginet weights download corvi2022\`\n` });
    await assert.rejects(weightsFiles(findWeights("wu2023"), { cacheDir: cache }), {
      name: "InputError",
      message: `the weights "wu2023", "wu2023-anchors" are not downloaded (cache: ${cache}): run \`imaginet weights download wu2023 wu2023-anchors\``,
    });
    const v = await weights(home, "verify", "npr");
    assert.deepEqual(v, { code: 1, stdout: "npr: FAILED: not downloaded: run `imaginet weights download npr`\n", stderr: "" });
    const unknown = await weights(home, "path", "nope");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown weights "nope": expected one of grag2021, corvi2022, /);
  });

  test("`remove` deletes the files and the lock entry; removing again says there is nothing", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    assert.equal((await weights(home, "download", "grag2021")).code, 0);
    assert.equal((await weights(home, "download", "corvi2022")).code, 0);
    assert.deepEqual(await weights(home, "remove", "corvi2022"), { code: 0, stdout: "corvi2022: removed\n", stderr: "" });
    assert.equal(existsSync(path.join(cache, "corvi2022")), false);
    assert.deepEqual(Object.keys((await readLock(cache)).weights), ["grag2021"]);
    assert.deepEqual(await weights(home, "remove", "corvi2022"), { code: 0, stdout: "corvi2022: not in the cache, nothing to remove\n", stderr: "" });
  });

  test("`list --json`: every catalogue entry, where it comes from, whether it is in the cache", async () => {
    const home = tmpDir();
    const cache = path.join(home, "weights");
    assert.equal((await weights(home, "download", "grag2021")).code, 0);
    const r = await weights(home, "list", "--json");
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.cache, cache);
    assert.deepEqual(
      out.weights.map((w: { name: string; downloaded: boolean }) => [w.name, w.downloaded]),
      [
        ["grag2021", true],
        ["corvi2022", false],
        ["imaginet", false],
        ["corvi2022-imaginet", false],
        ["wu2023", false],
        ["wu2023-anchors", false],
        ["cnndetection", false],
        ["cnndetection-p0.1", false],
        ["npr", false],
        ["clip-vit-l14", false],
        ["univfd-probe", false],
      ],
    );
    const corvi = out.weights.find((w: { name: string }) => w.name === "corvi2022");
    assert.equal(corvi.drive, CORVI_ID);
    assert.deepEqual(corvi.files, [path.join(cache, "corvi2022/weights/Grag2021_latent/model_epoch_best.pth"), path.join(cache, "corvi2022/weights/Grag2021_progan/model_epoch_best.pth")]);
    const clip = out.weights.find((w: { name: string }) => w.name === "clip-vit-l14");
    assert.equal(clip.sha256, clip.url.split("/").at(-2), "OpenAI's URL carries the file's sha256");
    // the weights that ship in the repository need no download and are listed apart
    assert.deepEqual(out.bundled, [{ detector: "wild", file: path.join(REPO, "models", "wild.safetensors"), sha256: WILD.bundled!.sha256 }]);
  });
});
