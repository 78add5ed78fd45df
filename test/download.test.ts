import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { c as tarCreate } from "tar";
import type { Source } from "../src/data/sources.js";
import { ChecksumMismatchError, downloadFile, HttpStatusError } from "../src/data/download/http.js";
import { downloadDriveFile, parseDriveConfirmPage } from "../src/data/download/drive.js";
import { extractArchive, placeExtracted, UnsafeArchiveEntryError } from "../src/data/download/extract.js";
import { downloadFfhq, parseFfhqList, pixelMd5 } from "../src/data/download/ffhq.js";
import { huggingFaceAuthHeaders, kaggleAuthHeaders, MissingCredentialsError } from "../src/data/download/credentials.js";
import { downloadAnnotations, downloadSource, markerPath } from "../src/data/download/index.js";
import { driveConfirmPage, serveBytes, TestServer, type Handler } from "./support/http-server.js";
import { makeZip } from "./support/zip.js";

const srv = new TestServer();
/** a second origin, to check that credentials are not forwarded across a redirect */
const cdn = new TestServer();
let tmp = "";

before(async () => {
  await srv.start();
  await cdn.start();
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "imaginet-download-test-"));
});

after(async () => {
  await srv.stop();
  await cdn.stop();
  await fsp.rm(tmp, { recursive: true, force: true });
});

let dirCount = 0;
async function freshDir(): Promise<string> {
  const dir = path.join(tmp, `d${dirCount++}`);
  await fsp.mkdir(dir, { recursive: true });
  return dir;
}

const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");
const md5 = (b: Buffer): string => createHash("md5").update(b).digest("hex");
const fast = { retries: 5, baseDelayMs: 5, maxDelayMs: 50 };

/** The first request gets half the body and a dropped connection; later ones are served normally. */
function dropHalfwayOnce(data: Buffer, half: number): Handler {
  let calls = 0;
  const normal = serveBytes(data);
  return (req, res, url) => {
    if (calls++ > 0) return normal(req, res, url);
    res.writeHead(200, { "content-length": data.length });
    res.write(data.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 20));
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/") + (e.isDirectory() ? "/" : ""));
  }
  return out.sort();
}

// ---------------------------------------------------------------- archives

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fsp.writeFile(path.join(dir, rel), content);
  }
}

// ---------------------------------------------------------------- http

describe("downloadFile", () => {
  test("plain download with the right sha256 lands under its name, no .part", async () => {
    const data = randomBytes(50_000);
    srv.routes.set("/plain.bin", serveBytes(data));
    const dest = path.join(await freshDir(), "plain.bin");
    const r = await downloadFile({ url: `${srv.base}/plain.bin`, dest, sha256: sha256(data), size: data.length, ...fast });
    assert.equal(r.status, "downloaded");
    assert.equal(r.sha256, sha256(data));
    assert.deepEqual(await fsp.readFile(dest), data);
    assert.equal(existsSync(`${dest}.part`), false);

    const again = await downloadFile({ url: `${srv.base}/plain.bin`, dest, sha256: sha256(data), ...fast });
    assert.equal(again.status, "skipped-verified");
    assert.equal(srv.requests("/plain.bin").length, 1);
  });

  test("a connection dropped half way is resumed with a Range request", async () => {
    const data = randomBytes(300_000);
    const half = 150_000;
    srv.routes.set("/drop.bin", dropHalfwayOnce(data, half));
    const dest = path.join(await freshDir(), "drop.bin");
    const seen: number[] = [];
    const r = await downloadFile({ url: `${srv.base}/drop.bin`, dest, sha256: sha256(data), ...fast, onProgress: (n) => seen.push(n) });
    const reqs = srv.requests("/drop.bin");
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]?.headers.range, undefined);
    assert.equal(reqs[1]?.headers.range, `bytes=${half}-`);
    assert.equal(r.status, "resumed");
    assert.deepEqual(await fsp.readFile(dest), data);
    assert.equal(seen.at(-1), data.length);
  });

  test("a stalled transfer times out and resumes", async () => {
    const data = randomBytes(100_000);
    let calls = 0;
    const normal = serveBytes(data);
    srv.routes.set("/stall.bin", (req, res, url) => {
      if (calls++ > 0) return normal(req, res, url);
      res.writeHead(200, { "content-length": data.length });
      res.write(data.subarray(0, 40_000)); // and then nothing
    });
    const dest = path.join(await freshDir(), "stall.bin");
    await downloadFile({ url: `${srv.base}/stall.bin`, dest, sha256: sha256(data), ...fast, stallTimeoutMs: 150 });
    assert.equal(srv.requests("/stall.bin")[1]?.headers.range, "bytes=40000-");
    assert.deepEqual(await fsp.readFile(dest), data);
  });

  test("a complete .part answered with 416 is verified and kept", async () => {
    const data = randomBytes(10_000);
    srv.routes.set("/complete.bin", serveBytes(data));
    const dest = path.join(await freshDir(), "complete.bin");
    await fsp.writeFile(`${dest}.part`, data);
    const r = await downloadFile({ url: `${srv.base}/complete.bin`, dest, sha256: sha256(data), ...fast });
    assert.equal(r.status, "resumed");
    assert.equal(srv.requests("/complete.bin")[0]?.headers.range, `bytes=${data.length}-`);
    assert.deepEqual(await fsp.readFile(dest), data);
  });

  test("a server that ignores Range gets the file from the start", async () => {
    const data = randomBytes(20_000);
    srv.routes.set("/norange.bin", (_req, res) => res.writeHead(200, { "content-length": data.length }).end(data));
    const dest = path.join(await freshDir(), "norange.bin");
    await fsp.writeFile(`${dest}.part`, Buffer.from("stale garbage"));
    const r = await downloadFile({ url: `${srv.base}/norange.bin`, dest, sha256: sha256(data), ...fast });
    assert.equal(r.status, "downloaded");
    assert.deepEqual(await fsp.readFile(dest), data);
  });

  test("an abort stops at once, without retrying, and keeps the .part for later", async () => {
    srv.routes.set("/slow.bin", (_req, res) => {
      res.writeHead(200, { "content-length": 100_000 });
      res.write(Buffer.alloc(10_000));
    });
    const dest = path.join(await freshDir(), "slow.bin");
    const ac = new AbortController();
    const started = downloadFile({ url: `${srv.base}/slow.bin`, dest, signal: ac.signal, ...fast, onProgress: (n) => n >= 10_000 && ac.abort() });
    await assert.rejects(started, { name: "AbortError" });
    assert.equal(srv.requests("/slow.bin").length, 1);
    assert.equal((await fsp.stat(`${dest}.part`)).size, 10_000);
    assert.equal(existsSync(dest), false);
  });

  test("a wrong checksum throws expected vs actual and leaves nothing", async () => {
    const data = Buffer.from("the real content");
    srv.routes.set("/wrong.bin", serveBytes(data));
    const dest = path.join(await freshDir(), "wrong.bin");
    const expected = "0".repeat(64);
    await assert.rejects(downloadFile({ url: `${srv.base}/wrong.bin`, dest, sha256: expected, ...fast }), (err: unknown) => {
      assert.ok(err instanceof ChecksumMismatchError);
      assert.match(err.message, new RegExp(`expected ${expected}, got ${sha256(data)}`));
      return true;
    });
    assert.equal(existsSync(dest), false);
    assert.equal(existsSync(`${dest}.part`), false);
  });

  test("a size announced differently from the expected one fails before downloading", async () => {
    srv.routes.set("/size.bin", serveBytes(randomBytes(1000)));
    const dest = path.join(await freshDir(), "size.bin");
    await assert.rejects(downloadFile({ url: `${srv.base}/size.bin`, dest, size: 999, ...fast }), /size mismatch.*expected 999 bytes/);
    assert.equal(existsSync(`${dest}.part`), false);
  });

  test("5xx is retried, 404 is not", async () => {
    const data = Buffer.from("after two failures");
    let calls = 0;
    srv.routes.set("/flaky.bin", (req, res, url) => {
      if (calls++ < 2) res.writeHead(500).end("oops");
      else serveBytes(data)(req, res, url);
    });
    const dest = path.join(await freshDir(), "flaky.bin");
    await downloadFile({ url: `${srv.base}/flaky.bin`, dest, ...fast });
    assert.equal(srv.requests("/flaky.bin").length, 3);
    assert.deepEqual(await fsp.readFile(dest), data);

    const missing = path.join(path.dirname(dest), "missing.bin");
    await assert.rejects(downloadFile({ url: `${srv.base}/missing.bin`, dest: missing, ...fast }), (err: unknown) => {
      assert.ok(err instanceof HttpStatusError);
      assert.equal(err.status, 404);
      assert.match(err.message, /HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/missing\.bin/);
      return true;
    });
    assert.equal(srv.requests("/missing.bin").length, 1);
    assert.equal(existsSync(missing), false);
  });

  test("401/403 say credentials are missing or refused; 429 honours a capped Retry-After", async () => {
    srv.routes.set("/denied.bin", (_req, res) => res.writeHead(403).end());
    const dir = await freshDir();
    await assert.rejects(downloadFile({ url: `${srv.base}/denied.bin`, dest: path.join(dir, "d"), ...fast }), /HTTP 403 .*credentials are missing or were refused/);
    assert.equal(srv.requests("/denied.bin").length, 1);

    let calls = 0;
    srv.routes.set("/busy.bin", (req, res, url) => {
      if (calls++ === 0) res.writeHead(429, { "retry-after": "3600" }).end();
      else serveBytes(Buffer.from("ok"))(req, res, url);
    });
    const started = Date.now();
    await downloadFile({ url: `${srv.base}/busy.bin`, dest: path.join(dir, "busy"), ...fast });
    assert.ok(Date.now() - started < 2000, "Retry-After is capped by maxDelayMs");
  });

  test("redirects are followed, and credentials are not sent to another origin", async () => {
    const data = Buffer.from("redirected content");
    cdn.routes.set("/blob", serveBytes(data));
    srv.routes.set("/hop1", (_req, res) => res.writeHead(302, { location: "/hop2" }).end());
    srv.routes.set("/hop2", (_req, res) => res.writeHead(307, { location: `${cdn.base}/blob` }).end());
    const dest = path.join(await freshDir(), "r.bin");
    await downloadFile({ url: `${srv.base}/hop1`, dest, headers: { authorization: "Bearer secret" }, ...fast });
    assert.deepEqual(await fsp.readFile(dest), data);
    assert.equal(srv.requests("/hop2")[0]?.headers.authorization, "Bearer secret");
    assert.equal(cdn.requests("/blob")[0]?.headers.authorization, undefined);

    srv.routes.set("/loop", (_req, res) => res.writeHead(302, { location: "/loop" }).end());
    await assert.rejects(downloadFile({ url: `${srv.base}/loop`, dest: `${dest}2`, ...fast }), /too many redirects/);
  });
});

// ---------------------------------------------------------------- drive

describe("Google Drive", () => {
  const file = randomBytes(30_000);

  test("the virus-scan confirmation form is followed to the real file", async () => {
    srv.routes.set("/drive/download", (req, res, url) => {
      const q = url.searchParams;
      if (q.get("id") === "BIG" && q.get("confirm") === "t0k&en" && q.get("uuid") === "u-123") return serveBytes(file)(req, res, url);
      if (q.get("id") === "BIG") return res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(driveConfirmPage(`${srv.base}/drive/download`, "BIG"));
      res.writeHead(404).end();
    });
    const dest = path.join(await freshDir(), "big.zip");
    const r = await downloadDriveFile({ id: "BIG", dest, driveBase: `${srv.base}/drive/download`, sha256: sha256(file), ...fast });
    assert.equal(r.sha256, sha256(file));
    assert.deepEqual(await fsp.readFile(dest), file);
    const reqs = srv.requests("/drive/download").filter((s) => s.query.get("id") === "BIG");
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]?.query.get("export"), "download");
    assert.equal(reqs[1]?.query.get("confirm"), "t0k&en");
  });

  test("the older confirm link is followed, with its cookie", async () => {
    srv.routes.set("/uc", (req, res, url) => {
      const q = url.searchParams;
      if (q.get("confirm") === "AbC1" && req.headers.cookie === "download_warning_1=AbC1") return serveBytes(file)(req, res, url);
      res
        .writeHead(200, { "content-type": "text/html", "set-cookie": "download_warning_1=AbC1; Path=/; HttpOnly" })
        .end(`<html><body>Google Drive can't scan this file. <a id="uc-download-link" class="x" href="/uc?export=download&amp;confirm=AbC1&amp;id=OLD">Download anyway</a></body></html>`);
    });
    const dest = path.join(await freshDir(), "old.zip");
    await downloadDriveFile({ id: "OLD", dest, driveBase: `${srv.base}/uc`, ...fast });
    assert.deepEqual(await fsp.readFile(dest), file);
  });

  test("a quota-exceeded page is a clear error and writes nothing", async () => {
    srv.routes.set("/drive-quota/download", (_req, res) =>
      res
        .writeHead(200, { "content-type": "text/html" })
        .end(
          `<html><head><title>Google Drive - Quota exceeded</title></head><body><p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try accessing the file again later.</p></body></html>`,
        ),
    );
    const dest = path.join(await freshDir(), "quota.zip");
    await assert.rejects(downloadDriveFile({ id: "QUOTA1", dest, driveBase: `${srv.base}/drive-quota/download`, ...fast }), /Google Drive refuses file QUOTA1 for now: its download quota is exceeded/);
    assert.deepEqual(await fsp.readdir(path.dirname(dest)), []);
  });

  test("an HTML error page for a file that is not public says so", async () => {
    srv.routes.set("/drive-private/download", (_req, res) =>
      res
        .writeHead(403, { "content-type": "text/html" })
        .end(`<html><head><title>Google Drive</title></head><body><a href="https://accounts.google.com/ServiceLogin?continue=x">Sign in</a></body></html>`),
    );
    const dest = path.join(await freshDir(), "private.zip");
    await assert.rejects(downloadDriveFile({ id: "PRIV", dest, driveBase: `${srv.base}/drive-private/download`, ...fast }), /asks to sign in for file PRIV: the file is not shared publicly/);
    assert.equal(srv.requests("/drive-private/download").length, 1);
  });

  test("parseDriveConfirmPage returns null for a page with neither form nor link", () => {
    assert.equal(parseDriveConfirmPage("<html><body>Sign in</body></html>", "https://drive.google.com/uc"), null);
  });
});

// ---------------------------------------------------------------- extraction

describe("extraction", () => {
  test("a zip with ../evil.txt fails naming the entry and leaves nothing", async () => {
    const parent = await freshDir();
    const root = path.join(parent, "root");
    await fsp.mkdir(root);
    const archive = path.join(parent, "evil.zip");
    await fsp.writeFile(
      archive,
      makeZip([
        { name: "progan_val/ok.txt", data: "fine" },
        { name: "../evil.txt", data: "pwned" },
      ]),
    );
    await assert.rejects(extractArchive(archive, "zip", root, ["progan_val"]), (err: unknown) => {
      assert.ok(err instanceof UnsafeArchiveEntryError);
      assert.match(err.message, /^evil\.zip: refusing to extract entry "\.\.\/evil\.txt"/);
      return true;
    });
    assert.equal(existsSync(path.join(parent, "evil.txt")), false);
    assert.deepEqual(await fsp.readdir(root), []);
  });

  test("absolute and backslash-escaping zip entries are refused too", async () => {
    const dir = await freshDir();
    for (const name of ["/tmp/abs.txt", "a/..\\..\\win.txt", "C:/x.txt"]) {
      const archive = path.join(dir, "bad.zip");
      await fsp.writeFile(archive, makeZip([{ name, data: "x" }]));
      const root = path.join(dir, "root");
      await assert.rejects(extractArchive(archive, "zip", root, ["x"]), UnsafeArchiveEntryError, name);
      assert.deepEqual(await fsp.readdir(root), []);
    }
  });

  test("a zip symlink is refused, wherever it points", async () => {
    const dir = await freshDir();
    const archive = path.join(dir, "link.zip");
    const root = path.join(dir, "root");
    for (const target of ["../../outside", "."]) {
      await fsp.writeFile(
        archive,
        makeZip([
          { name: "x/link", data: target, mode: 0o120777 },
          { name: "x/link/f.txt", data: "via link" },
        ]),
      );
      await assert.rejects(extractArchive(archive, "zip", root, ["x"]), {
        message: `link.zip: refusing to extract entry "x/link": it is a symbolic link (to "${target}"), and archives may not hold links; nothing was extracted`,
      });
      assert.deepEqual(await fsp.readdir(root), []);
    }
  });

  test("a good zip is placed by folder name; an ImageNet-style zip goes into its one folder", async () => {
    const dir = await freshDir();
    const root = path.join(dir, "root");
    const a = path.join(dir, "a.zip");
    await fsp.writeFile(a, makeZip([{ name: "progan_val/" }, { name: "progan_val/car/0_real/1.png", data: "p1" }, { name: "__MACOSX/._junk", data: "j" }]));
    assert.deepEqual(await extractArchive(a, "zip", root, ["progan_val"]), ["progan_val"]);
    const b = path.join(dir, "b.zip");
    await fsp.writeFile(
      b,
      makeZip([
        { name: "ILSVRC/Data/CLS-LOC/train/n1/x.JPEG", data: "jpg" },
        { name: "LOC_synset_mapping.txt", data: "n1 thing" },
      ]),
    );
    assert.deepEqual(await extractArchive(b, "zip", root, ["imagenet"]), ["imagenet"]);
    assert.deepEqual(await listFiles(root), [
      "imagenet/",
      "imagenet/ILSVRC/",
      "imagenet/ILSVRC/Data/",
      "imagenet/ILSVRC/Data/CLS-LOC/",
      "imagenet/ILSVRC/Data/CLS-LOC/train/",
      "imagenet/ILSVRC/Data/CLS-LOC/train/n1/",
      "imagenet/ILSVRC/Data/CLS-LOC/train/n1/x.JPEG",
      "imagenet/LOC_synset_mapping.txt",
      "progan_val/",
      "progan_val/car/",
      "progan_val/car/0_real/",
      "progan_val/car/0_real/1.png",
    ]);
  });

  test("a tar.gz with a single 000/ folder becomes journeydb/", async () => {
    const dir = await freshDir();
    const src = path.join(dir, "src");
    await writeTree(src, { "000/a.jpg": "A", "000/sub/b.jpg": "B" });
    const archive = path.join(dir, "000.tgz");
    await tarCreate({ gzip: true, file: archive, cwd: src, portable: true }, ["000"]);
    const root = path.join(dir, "root");
    assert.deepEqual(await extractArchive(archive, "tar.gz", root, ["journeydb"]), ["journeydb"]);
    assert.deepEqual(await listFiles(root), ["journeydb/", "journeydb/a.jpg", "journeydb/sub/", "journeydb/sub/b.jpg"]);
  });

  test("a tar with a symlink pointing outside is refused and leaves nothing", async () => {
    const dir = await freshDir();
    const src = path.join(dir, "src");
    await writeTree(src, { "000/a.jpg": "A" });
    await fsp.symlink("../../../../etc", path.join(src, "000", "escape"));
    const archive = path.join(dir, "bad.tar");
    await tarCreate({ file: archive, cwd: src, portable: true, follow: false }, ["000"]);
    const root = path.join(dir, "root");
    await assert.rejects(extractArchive(archive, "tar", root, ["journeydb"]), (err: unknown) => {
      assert.ok(err instanceof UnsafeArchiveEntryError);
      assert.equal(err.message, 'bad.tar: refusing to extract entry "000/escape": it is a symbolic link (to "../../../../etc"), and archives may not hold links; nothing was extracted');
      return true;
    });
    assert.deepEqual(await fsp.readdir(root), []);
  });

  test("a tar whose symlinks each point inside is refused at its first link", async () => {
    const dir = await freshDir();
    const src = path.join(dir, "src");
    await writeTree(src, { "000/a.jpg": "A" });
    // each target is inside on its own; together a → b/.. → <root>/.. is not
    await fsp.symlink(".", path.join(src, "b"));
    await fsp.symlink("b/..", path.join(src, "a"));
    const archive = path.join(dir, "chain.tar");
    await tarCreate({ file: archive, cwd: src, portable: true, follow: false }, ["000", "b", "a"]);
    const root = path.join(dir, "root");
    await assert.rejects(extractArchive(archive, "tar", root, ["journeydb"]), /entry "b": it is a symbolic link \(to "\."\), and archives may not hold links/);
    assert.deepEqual(await fsp.readdir(root), []);
  });

  test("placement merges into existing folders and refuses to clobber different files", async () => {
    const dir = await freshDir();
    const root = path.join(dir, "root");
    await writeTree(root, { "dalle3/same.png": "S", "dalle3/other.png": "O" });
    const staging = path.join(root, ".imaginet-staging-t1");
    await writeTree(staging, { "wrap/dalle3/same.png": "S", "wrap/dalle3/new.png": "N", "wrap/sd_faces_fake/f.png": "F" });
    assert.deepEqual((await placeExtracted(staging, root, ["dalle3", "sd_faces_fake"])).sort(), ["dalle3", "sd_faces_fake"]);
    assert.equal(await fsp.readFile(path.join(root, "dalle3/new.png"), "utf8"), "N");
    assert.equal(await fsp.readFile(path.join(root, "sd_faces_fake/f.png"), "utf8"), "F");

    const staging2 = path.join(root, ".imaginet-staging-t2");
    await writeTree(staging2, { "dalle3/other.png": "DIFFERENT", "dalle3/fresh.png": "x" });
    await assert.rejects(placeExtracted(staging2, root, ["dalle3"]), /already exist with different content: dalle3\/other\.png/);
    assert.equal(existsSync(path.join(root, "dalle3/fresh.png")), false, "nothing moves when there is a conflict");

    const staging3 = path.join(root, ".imaginet-staging-t3");
    await writeTree(staging3, { "x/a": "1", "y/b": "2" });
    await assert.rejects(placeExtracted(staging3, root, ["dalle3", "sd_faces_fake"]), /found x\/, y\/ at the top of the archive, expected some of dalle3, sd_faces_fake/);
  });
});

// ---------------------------------------------------------------- FFHQ

describe("FFHQ", () => {
  function pixels(width: number, height: number, channels: 1 | 3 | 4, seed: number): Buffer {
    const b = Buffer.alloc(width * height * channels);
    for (let i = 0; i < b.length; i++) b[i] = (i * 31 + seed * 17 + (i >> 5)) & 255;
    return b;
  }

  async function png(raw: Buffer, width: number, height: number, channels: 1 | 3 | 4): Promise<Buffer> {
    const img = sharp(raw, { raw: { width, height, channels } });
    return (channels === 1 ? img.toColourspace("b-w") : img).png().toBuffer();
  }

  test("pixelMd5 matches the md5 of the raw pixels in the image's own mode", async () => {
    for (const channels of [1, 3, 4] as const) {
      const raw = pixels(7, 5, channels, channels);
      assert.equal(await pixelMd5(await png(raw, 7, 5, channels)), md5(raw), `${channels} channel(s)`);
    }
    const deep = await sharp(Buffer.alloc(4 * 4 * 3), { raw: { width: 4, height: 4, channels: 3 } })
      .toColourspace("rgb16")
      .png()
      .toBuffer();
    await assert.rejects(pixelMd5(deep), /16-bit/);
  });

  test("the list parser names file and line on a malformed line", () => {
    const ok = "1YuTabkFi_920KtawDjtCiiD4xNQiL3xx,cbe383f6-c209-41b5-a95e-0f159d11d8a5.png,b6820fccdd3cf8e3f42328380c8ec3f1\r\n";
    assert.deepEqual(parseFfhqList(ok, "l.txt"), [{ driveId: "1YuTabkFi_920KtawDjtCiiD4xNQiL3xx", name: "cbe383f6-c209-41b5-a95e-0f159d11d8a5.png", md5: "b6820fccdd3cf8e3f42328380c8ec3f1" }]);
    assert.throws(() => parseFfhqList(`${ok}id,only-two\n`, "l.txt"), /^Error: l\.txt:2: expected "drive_id,file_name,md5"/);
    assert.throws(() => parseFfhqList(`x,../up.png,${"a".repeat(32)}\n`, "l.txt"), /l\.txt:1:/);
  });

  test("each image is checked by pixel md5; a mismatch fails alone, is retried once, and leaves nothing", async () => {
    const rawA = pixels(8, 6, 3, 1);
    const rawB = pixels(5, 4, 4, 2);
    const files = new Map([
      ["FA", await png(rawA, 8, 6, 3)],
      ["FB", await png(rawB, 5, 4, 4)],
    ]);
    srv.routes.set("/ffhq-drive/download", (req, res, url) => {
      const data = files.get(url.searchParams.get("id") ?? "");
      if (data) serveBytes(data, "image/png")(req, res, url);
      else res.writeHead(404).end();
    });
    const list = `FA,a.png,${md5(rawA)}\nFB,b.png,${"f".repeat(32)}\n`;
    const dir = path.join(await freshDir(), "ffhq");
    const opts = { dir, jobs: 2, driveBase: `${srv.base}/ffhq-drive/download`, ...fast };
    const r = await downloadFfhq(parseFfhqList(list), opts);
    assert.equal(r.downloaded, 1);
    assert.equal(r.skipped, 0);
    assert.equal(r.failed.length, 1);
    assert.equal(r.failed[0]?.name, "b.png");
    assert.match(r.failed[0]?.reason ?? "", new RegExp(`pixel md5 mismatch .*expected f{32}, got ${md5(rawB)}`));
    assert.deepEqual(await fsp.readdir(dir), ["a.png"]);
    const countB = () => srv.requests("/ffhq-drive/download").filter((s) => s.query.get("id") === "FB").length;
    assert.equal(countB(), 2, "a mismatching image is fetched twice");

    const again = await downloadFfhq(parseFfhqList(list), opts);
    assert.deepEqual([again.downloaded, again.skipped, again.failed.length], [0, 1, 1]);
    const verified = await downloadFfhq(parseFfhqList(list).slice(0, 1), { ...opts, verifyExisting: true });
    assert.deepEqual([verified.downloaded, verified.skipped], [0, 1]);
  });
});

// ---------------------------------------------------------------- credentials and sources

describe("credentials", () => {
  test("missing Kaggle and Hugging Face credentials name the variables and the help", async () => {
    const home = await freshDir();
    await assert.rejects(kaggleAuthHeaders({ env: {}, homeDir: home, help: "GET A TOKEN" }), (err: unknown) => {
      assert.ok(err instanceof MissingCredentialsError);
      assert.deepEqual(err.missing, ["KAGGLE_USERNAME", "KAGGLE_KEY"]);
      assert.match(err.message, /KAGGLE_USERNAME and KAGGLE_KEY are not set, and .*kaggle\.json does not exist\. To fix: GET A TOKEN/);
      return true;
    });
    await assert.rejects(kaggleAuthHeaders({ env: { KAGGLE_USERNAME: "u" }, homeDir: home }), /missing Kaggle credentials: KAGGLE_KEY is not set/);
    await assert.rejects(huggingFaceAuthHeaders({ env: {}, homeDir: home, help: "ACCEPT TERMS" }), /HF_TOKEN is not set.*To fix: ACCEPT TERMS/);
  });

  test("credentials come from the environment or kaggle.json", async () => {
    const home = await freshDir();
    assert.deepEqual(await huggingFaceAuthHeaders({ env: { HUGGING_FACE_HUB_TOKEN: "hf_x" }, homeDir: home }), { authorization: "Bearer hf_x" });
    await writeTree(home, { ".kaggle/kaggle.json": JSON.stringify({ username: "ann", key: "k3y" }) });
    assert.deepEqual(await kaggleAuthHeaders({ env: {}, homeDir: home }), { authorization: `Basic ${Buffer.from("ann:k3y").toString("base64")}` });
  });

  test("a Kaggle source is fetched with Basic auth, extracted into its folder, and marked done", async () => {
    const zip = makeZip([
      { name: "ILSVRC/Data/x.JPEG", data: "jpeg" },
      { name: "LOC_val_solution.csv", data: "csv" },
    ]);
    const expectedAuth = `Basic ${Buffer.from("kuser:kkey").toString("base64")}`;
    srv.routes.set("/kaggle/api/v1/competitions/data/download-all/imagenet-comp", (req, res) => {
      if (req.headers.authorization !== expectedAuth) return res.writeHead(401).end();
      res.writeHead(302, { location: `${cdn.base}/signed/imagenet.zip?sig=1` }).end();
    });
    cdn.routes.set("/signed/imagenet.zip", serveBytes(zip, "application/zip"));
    const source: Source = {
      id: "imagenet-test",
      title: "ImageNet (test)",
      folders: ["imagenet"],
      homepage: "https://example.invalid",
      fetch: [{ kind: "kaggle-competition", competition: "imagenet-comp", file: "imagenet-comp.zip" }],
      archive: "zip",
      credentials: { env: ["KAGGLE_USERNAME", "KAGGLE_KEY"], help: "kaggle help" },
    };
    const root = await freshDir();
    const opts = { root, env: { KAGGLE_USERNAME: "kuser", KAGGLE_KEY: "kkey" }, homeDir: root, kaggleBase: `${srv.base}/kaggle/api/v1`, progress: false, ...fast };
    const r = await downloadSource(source, opts);
    assert.equal(r.complete, true);
    assert.deepEqual(r.placed, ["imagenet"]);
    assert.equal(r.files[0]?.sha256, sha256(zip));
    assert.equal(cdn.requests("/signed/imagenet.zip")[0]?.headers.authorization, undefined);
    assert.equal(await fsp.readFile(path.join(root, "imagenet/ILSVRC/Data/x.JPEG"), "utf8"), "jpeg");
    assert.equal(await fsp.readFile(path.join(root, "imagenet/LOC_val_solution.csv"), "utf8"), "csv");
    assert.deepEqual(await fsp.readdir(path.join(root, ".imaginet-downloads")), ["imagenet-test.done.json"], "the archive is removed after extraction");
    const marker = JSON.parse(await fsp.readFile(markerPath(root, source.id), "utf8")) as { files: { sha256: string; bytes: number }[] };
    assert.equal(marker.files[0]?.sha256, sha256(zip));
    assert.equal(marker.files[0]?.bytes, zip.length);

    const before = srv.seen.length;
    const again = await downloadSource(source, opts);
    assert.equal(again.alreadyDone, true);
    assert.equal(srv.seen.length, before);

    await assert.rejects(downloadSource(source, { ...opts, force: true, env: {} }), /missing Kaggle credentials: KAGGLE_USERNAME and KAGGLE_KEY are not set.*kaggle help/);
    await assert.rejects(downloadSource(source, { ...opts, force: true, env: { KAGGLE_USERNAME: "kuser", KAGGLE_KEY: "wrong" } }), /HTTP 401 .*credentials are missing or were refused.*kaggle help/);
  });

  test("a gated Hugging Face tar.gz is fetched with a Bearer token and renamed into place", async () => {
    const dir = await freshDir();
    await writeTree(path.join(dir, "src"), { "000/x.jpg": "X" });
    const tgz = path.join(dir, "000.tgz");
    await tarCreate({ gzip: true, file: tgz, cwd: path.join(dir, "src"), portable: true }, ["000"]);
    const data = await fsp.readFile(tgz);
    srv.routes.set("/hf/000.tgz", (req, res, url) => {
      if (req.headers.authorization !== "Bearer hf_secret") return res.writeHead(401).end();
      serveBytes(data)(req, res, url);
    });
    const source: Source = {
      id: "journeydb-test",
      title: "JourneyDB (test)",
      folders: ["journeydb"],
      homepage: "https://example.invalid",
      fetch: [{ kind: "url", url: "https://huggingface.co/datasets/x/000.tgz", file: "journeydb-000.tgz", auth: "huggingface", sha256: sha256(data) }],
      archive: "tar.gz",
      credentials: { env: ["HF_TOKEN"], help: "hf help" },
    };
    const root = path.join(dir, "root");
    const rewriteUrl = (u: string): string => u.replace("https://huggingface.co/datasets/x", `${srv.base}/hf`);
    const r = await downloadSource(source, { root, env: { HF_TOKEN: "hf_secret" }, homeDir: dir, rewriteUrl, keepArchives: true, progress: false, ...fast });
    assert.deepEqual(r.placed, ["journeydb"]);
    assert.equal(await fsp.readFile(path.join(root, "journeydb/x.jpg"), "utf8"), "X");
    assert.ok(existsSync(path.join(root, ".imaginet-downloads/journeydb-000.tgz")), "keepArchives keeps it");
  });
});

// ---------------------------------------------------------------- annotations

describe("downloadAnnotations", () => {
  test("files without a published checksum are recorded on first use and verified later", async () => {
    let train = Buffer.from("./imagenet/a.JPEG,0,0,4,8\n");
    const test1 = Buffer.from("./dalle3/b.png,1,0,3,7\n");
    srv.routes.set("/ann/train_annotations.txt", (req, res, url) => serveBytes(train, "text/plain")(req, res, url));
    srv.routes.set("/ann/test_annotations.txt", serveBytes(test1, "text/plain"));
    const upstream = "https://raw.example.invalid/annotations";
    const entries = [
      { file: "train_annotations.txt", url: `${upstream}/train_annotations.txt` },
      { file: "test_annotations.txt", url: `${upstream}/test_annotations.txt`, sha256: sha256(test1), size: test1.length },
    ];
    const dir = await freshDir();
    const opts = { rewriteUrl: (u: string) => u.replace(upstream, `${srv.base}/ann`), ...fast };
    const first = await downloadAnnotations(dir, entries, opts);
    assert.equal(first.warnings.length, 1);
    assert.match(first.warnings[0] ?? "", /train_annotations\.txt: upstream publishes no checksum; recorded its sha256 .*checksums\.json \(trust on first use\)/);
    const recorded = JSON.parse(await fsp.readFile(path.join(dir, "checksums.json"), "utf8")) as Record<string, string>;
    assert.deepEqual(recorded, { "train_annotations.txt": sha256(train) });
    assert.deepEqual(
      first.files.map((f) => f.file),
      ["test_annotations.txt", "train_annotations.txt"],
    );

    const second = await downloadAnnotations(dir, entries, opts);
    assert.deepEqual(second.warnings, []);
    assert.ok(second.files.every((f) => f.status === "skipped-verified"));

    const original = train;
    train = Buffer.from("./imagenet/a.JPEG,1,0,0,0\n");
    await assert.rejects(downloadAnnotations(dir, entries, { ...opts, force: true }), /sha256 mismatch for .*train_annotations\.txt.*recorded in .*checksums\.json when the file was first downloaded/);
    assert.deepEqual(await fsp.readFile(path.join(dir, "train_annotations.txt")), original, "the verified copy stays");
    assert.equal(existsSync(path.join(dir, "train_annotations.txt.part")), false);
  });
});
