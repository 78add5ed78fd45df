/**
 * imaginet serve against real servers on 127.0.0.1: the library's startServer in this process
 * (real fixtures through the real ONNX builder and onnxruntime), and the CLI in a child process for
 * the bind refusal, SIGTERM's drain and parity with `imaginet detect --json`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { IMAGINET_ID } from "../src/detectors/imaginet.js";
import { CORVI2022 } from "../src/detectors/corvi2022.js";
import type { Provenance } from "../src/provenance/index.js";
import { buildModel } from "../src/runtime/detect.js";
import { startServer, type Server, type ServeOptions } from "../src/serve/app.js";
import type { DetectorInput } from "../src/serve/detectors.js";
import { InputError } from "../src/util/errors.js";
import { IMAGES_PER_REQUEST, requestGroups } from "../web/api.js";
import { corruptIdat, noisePng, onePixelByteChanged, pngDeclaring, SVG_BOMB } from "./support/hostile/media.js";
import { cliAsync, cliServe, jsonLines, REPO, tmpDir } from "./helpers.js";

const CORVI_PTH = path.join(REPO, "test/fixtures/models/corvi_tiny.pth");
const ID_PTH = path.join(REPO, "test/fixtures/models/imaginet_id_tiny.pth");
const dir = tmpDir();
const TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

let corvi: DetectorInput;
let id: DetectorInput;

const BASE: Omit<ServeOptions, "detectors"> = {
  host: "127.0.0.1",
  port: 0,
  batch: 8,
  batchWaitMs: 5,
  queue: 64,
  maxBodyBytes: 1 << 20,
  maxPixels: 1 << 20,
  maxImages: 3,
  timeoutMs: 30_000,
  webRoot: path.join(dir, "no-page"),
  session: { intraOpNumThreads: 1 },
};

/** The signed JPEG fixture and the signed PNG with one pixel byte changed (test/provenance.test.ts reads them whole). */
function c2paFiles(): [Buffer, Buffer] {
  return [readFileSync(path.join(REPO, "test/fixtures/c2pa/signed.jpg")), onePixelByteChanged(readFileSync(path.join(REPO, "test/fixtures/c2pa/signed.png")))];
}

const servers: Server[] = [];
async function serve(opts: Partial<ServeOptions> = {}): Promise<Server> {
  const s = await startServer({ ...BASE, detectors: [corvi], ...opts });
  servers.push(s);
  return s;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies; tests read the fields they assert
async function json(res: Response): Promise<any> {
  return res.json();
}

function form(files: { name: string; bytes: Uint8Array; type?: string }[]): FormData {
  const f = new FormData();
  for (const x of files) f.append("image", new Blob([x.bytes as Uint8Array<ArrayBuffer>], { type: x.type ?? "application/octet-stream" }), x.name);
  return f;
}

const postRaw = (s: Server, bytes: Uint8Array, type = "image/png", query = "") =>
  fetch(`${s.url}/v1/detect${query}`, { method: "POST", headers: { "content-type": type }, body: bytes as Uint8Array<ArrayBuffer> });

before(async () => {
  corvi = { module: CORVI2022, model: await buildModel(CORVI2022, [CORVI_PTH]), weights: [CORVI_PTH] };
  id = { module: IMAGINET_ID, model: await buildModel(IMAGINET_ID, [ID_PTH]), weights: [ID_PTH] };
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe("endpoints", () => {
  let s: Server;
  before(async () => {
    s = await serve({ detectors: [corvi, id] });
  });

  test("/healthz, /v1/detectors with each model's sha256, the ONNX bytes served with their ETag", async () => {
    assert.deepEqual(await json(await fetch(`${s.url}/healthz`)), { ok: true, detectors: ["corvi2022", "imaginet-id"], limits: { maxImages: 3, maxBodyBytes: 1 << 20, maxPixels: 1 << 20 } });
    const list = await json(await fetch(`${s.url}/v1/detectors`));
    assert.deepEqual(
      list.map((d: { name: string }) => d.name),
      ["corvi2022", "imaginet-id"],
    );
    const [c, i] = list;
    assert.deepEqual(c.weightsSha256, [sha256(readFileSync(CORVI_PTH))]);
    assert.deepEqual(c.inputs, { recipe: CORVI2022.preprocess.recipe, normalization: CORVI2022.preprocess.normalization, size: 256 });
    assert.equal(c.calibration, null);
    assert.equal(c.groups, undefined);
    assert.deepEqual(i.groups, ["gan", "sd", "midjourney", "dalle3"]);
    const res = await fetch(`${s.url}${c.model}`);
    assert.equal(res.status, 200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(sha256(bytes), c.modelSha256);
    assert.deepEqual(bytes, s.detectors[0]!.onnx, "the bytes the session runs");
    assert.equal(res.headers.get("etag"), `"${c.modelSha256}"`);
    assert.equal((await fetch(`${s.url}${c.model}`, { headers: { "if-none-match": `"${c.modelSha256}"` } })).status, 304);
    const missing = await fetch(`${s.url}/v1/detectors/nope/model.onnx`);
    assert.equal(missing.status, 404);
    assert.equal((await json(missing)).error.code, "unknown_detector");
  });

  test("POST /v1/detect: a raw body and a multipart body of several images, heatmap and groups", async () => {
    const a = await noisePng(7);
    const b = await sharp(await noisePng(8))
      .resize(300, 200)
      .jpeg()
      .toBuffer();
    const raw = await json(await postRaw(s, a));
    assert.equal(raw.images.length, 1);
    const [im] = raw.images;
    assert.equal(im.sha256, sha256(a));
    assert.deepEqual([im.width, im.height], [64, 64]);
    const [rc, ri] = im.results;
    assert.equal(rc.detector, "corvi2022");
    assert.equal(typeof rc.score, "number");
    assert.equal(rc.calibrated, false);
    assert.equal(rc.threshold, 0.5);
    assert.equal(rc.verdict, rc.p >= 0.5 ? "synthetic" : "real");
    assert.equal(rc.preprocessing, "reflect-pad to 256, centre crop 256");
    assert.equal(rc.heatmap, undefined, "only on heatmap=1");
    assert.equal(ri.detector, "imaginet-id");
    assert.ok(Math.abs(Object.values(ri.groups as Record<string, number>).reduce((x, y) => x + y, 0) - 1) < 1e-12);
    assert.deepEqual(im.provenance, { c2pa: { present: false }, digitalSourceType: null, software: null });

    const res = await fetch(`${s.url}/v1/detect?heatmap=1&detectors=corvi2022`, {
      method: "POST",
      body: form([
        { name: "a.png", bytes: a },
        { name: "b.jpg", bytes: b },
      ]),
    });
    assert.equal(res.status, 200);
    const multi = await json(res);
    assert.deepEqual(
      multi.images.map((x: { name: string }) => x.name),
      ["a.png", "b.jpg"],
    );
    assert.equal(multi.images[0].results.length, 1);
    assert.equal(multi.images[0].results[0].score, rc.score, "the same image scores the same alone or in a batch of two");
    const h = multi.images[1].results[0].heatmap;
    const heat = Buffer.from(h.png, "base64");
    const meta = await sharp(heat).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ["png", h.width, h.height, 1]);
    const png = await sharp(heat).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    assert.equal(Math.min(...png.data), 0);
    assert.equal(Math.max(...png.data), 255);
    assert.ok(h.min < h.max);
  });

  test("C2PA through POST /v1/detect: a signed JPEG is Valid with its signer untrusted, a signed PNG with one pixel byte changed is Invalid", async () => {
    const [signedJpg, changedPng] = c2paFiles();
    const res = await fetch(`${s.url}/v1/detect?detectors=corvi2022`, {
      method: "POST",
      body: form([
        { name: "signed.jpg", bytes: signedJpg },
        { name: "changed.png", bytes: changedPng },
      ]),
    });
    assert.equal(res.status, 200);
    const served = (await json(res)).images.map((im: { provenance: Provenance }) => im.provenance.c2pa);
    const pick = (c: Provenance["c2pa"]) => ("validationState" in c ? [c.validationState, c.signatureValid, c.signerTrusted, c.failures, c.actions[0]?.digitalSourceType] : c);
    assert.deepEqual(served.map(pick), [
      ["Valid", true, false, ["signingCredential.untrusted"], TRAINED],
      ["Invalid", false, false, ["signingCredential.untrusted", "assertion.dataHash.mismatch"], TRAINED],
    ]);
  });

  test("/metrics, /openapi.json and the page's stand-in without a build", async () => {
    const m = await (await fetch(`${s.url}/metrics`)).text();
    for (const name of ["imaginet_http_requests_total", "imaginet_http_request_duration_seconds_bucket", "imaginet_batch_size_bucket", "imaginet_queue_depth", "imaginet_rejections_total"]) {
      assert.match(m, new RegExp(`^${name}`, "m"), name);
    }
    assert.match(m, /^imaginet_queue_depth\{detector="corvi2022"\} 0$/m);
    const api = await json(await fetch(`${s.url}/openapi.json`));
    assert.match(api.openapi, /^3\./);
    for (const p of ["/healthz", "/metrics", "/v1/detectors", "/v1/detectors/{name}/model.onnx", "/v1/detect"]) assert.ok(api.paths[p], p);
    const page = await fetch(`${s.url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /npm run build/);
    const nothing = await fetch(`${s.url}/nothing-here`);
    assert.equal(nothing.status, 404);
    assert.equal((await json(nothing)).error.code, "not_found");
  });
});

test("the page's request groups keep within /healthz's limits: the image count, then the bytes; an oversized file alone", () => {
  const sizes = (groups: { size: number }[][]) => groups.map((g) => g.map((f) => f.size));
  const files = [5, 5, 5, 5, 5].map((size) => ({ size }));
  assert.deepEqual(sizes(requestGroups(files, { maxImages: 2, maxBodyBytes: 100 })), [[5, 5], [5, 5], [5]]);
  assert.deepEqual(sizes(requestGroups(files, { maxImages: 32, maxBodyBytes: 12 })), [[5, 5], [5, 5], [5]]);
  assert.deepEqual(sizes(requestGroups([{ size: 3 }, { size: 50 }, { size: 3 }], { maxImages: 32, maxBodyBytes: 10 })), [[3], [50], [3]]);
  const many = Array.from({ length: 40 }, () => ({ size: 1 }));
  assert.deepEqual(
    requestGroups(many, { maxImages: 64, maxBodyBytes: 1e9 }).map((g) => g.length),
    [IMAGES_PER_REQUEST, IMAGES_PER_REQUEST, 40 - 2 * IMAGES_PER_REQUEST],
    "never more than the page's own per-request count",
  );
});

test("GET / serves the built page when dist/web exists", async () => {
  const web = path.join(dir, "web");
  mkdirSync(path.join(web, "assets"), { recursive: true });
  writeFileSync(path.join(web, "index.html"), "<!doctype html><title>page</title>");
  writeFileSync(path.join(web, "assets", "app.js"), "console.log(1)");
  writeFileSync(path.join(web, "assets", "rt.mjs"), "export {}");
  writeFileSync(path.join(web, "assets", "rt.wasm"), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  const s = await serve({ webRoot: web });
  const root = await fetch(`${s.url}/`);
  assert.equal(await root.text(), "<!doctype html><title>page</title>");
  assert.equal(await (await fetch(`${s.url}/assets/app.js`)).text(), "console.log(1)");
  // cross-origin isolated, so that onnxruntime-web may use threads; JavaScript and WASM typed as browsers want them
  for (const [file, type] of [
    ["/", "text/html; charset=utf-8"],
    ["/assets/app.js", "text/javascript; charset=utf-8"],
    ["/assets/rt.mjs", "text/javascript; charset=utf-8"],
    ["/assets/rt.wasm", "application/wasm"],
  ]) {
    const res = await fetch(`${s.url}${file}`);
    assert.equal(res.headers.get("content-type"), type, file);
    assert.equal(res.headers.get("cross-origin-opener-policy"), "same-origin", file);
    assert.equal(res.headers.get("cross-origin-embedder-policy"), "require-corp", file);
  }
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200, "the API's routes before the page's files");
});

describe("every bad input gets its 4xx JSON error, and the server keeps serving", () => {
  let s: Server;
  before(async () => {
    s = await serve();
  });

  const expectError = async (res: Response, status: number, code: string) => {
    assert.equal(res.status, status, code);
    const body = await json(res);
    assert.equal(body.error.code, code);
    assert.equal(typeof body.error.message, "string");
  };

  test("the contract's table", async () => {
    const png = await noisePng(3);
    const cases: [string, () => Promise<Response>, number, string][] = [
      ["not an image", () => postRaw(s, Buffer.from("hello, not an image")), 415, "unsupported_image"],
      ["truncated", () => postRaw(s, png.subarray(0, png.length >> 1)), 415, "unsupported_image"],
      ["corrupt zlib data", () => postRaw(s, corruptIdat(png, true)), 415, "unsupported_image"],
      ["SVG (raw)", () => postRaw(s, Buffer.from(SVG_BOMB), "image/svg+xml"), 415, "unsupported_image"],
      ["SVG (multipart)", () => fetch(`${s.url}/v1/detect`, { method: "POST", body: form([{ name: "bomb.svg", bytes: Buffer.from(SVG_BOMB), type: "image/svg+xml" }]) }), 415, "unsupported_image"],
      ["decompression bomb (30000×30000 declared)", () => postRaw(s, pngDeclaring(30000, 30000)), 413, "too_many_pixels"],
      ["body past --max-body-mb (raw)", () => postRaw(s, Buffer.alloc((1 << 20) + 1)), 413, "body_too_large"],
      [
        "body past --max-body-mb (multipart)",
        () =>
          fetch(`${s.url}/v1/detect`, {
            method: "POST",
            body: form([
              { name: "a", bytes: Buffer.alloc(600_000) },
              { name: "b", bytes: Buffer.alloc(600_000) },
            ]),
          }),
        413,
        "body_too_large",
      ],
      ["more than --max-images", () => fetch(`${s.url}/v1/detect`, { method: "POST", body: form([1, 2, 3, 4].map((i) => ({ name: `${i}.png`, bytes: png }))) }), 413, "too_many_images"],
      ["unknown detector", () => postRaw(s, png, "image/png", "?detectors=corvi2022,nope"), 400, "unknown_detector"],
      ["no image at all", () => fetch(`${s.url}/v1/detect`, { method: "POST", body: form([]) }), 400, "no_image"],
      ["not an image type", () => fetch(`${s.url}/v1/detect`, { method: "POST", headers: { "content-type": "text/plain" }, body: "x" }), 415, "unsupported_media_type"],
    ];
    for (const [what, send, status, code] of cases) {
      await test(what, async () => expectError(await send(), status, code));
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200, `still serving after: ${what}`);
    }
  });

  test("a body declaring 2 GB is refused before it is read", async () => {
    const res = await fetch(`${s.url}/v1/detect`, {
      method: "POST",
      headers: { "content-type": "image/png", "content-length": String(2 ** 31) },
      body: new ReadableStream({
        pull(c) {
          c.enqueue(new Uint8Array(65536));
        },
      }),
      duplex: "half",
    } as RequestInit).catch((err: Error) => err);
    // the server answers 413 and closes; a client still sending may see the reset instead
    if (res instanceof Response) await expectError(res, 413, "body_too_large");
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
  });

  test("in a request of several images, an unreadable one gets its own error and the rest are scored", async () => {
    const res = await fetch(`${s.url}/v1/detect`, {
      method: "POST",
      body: form([
        { name: "ok.png", bytes: await noisePng(4) },
        { name: "huge.png", bytes: pngDeclaring(30000, 30000) },
        { name: "svg.png", bytes: Buffer.from(SVG_BOMB) },
      ]),
    });
    assert.equal(res.status, 200);
    const body = await json(res);
    assert.equal(body.images[0].results.length, 1);
    assert.equal(body.images[1].error.code, "too_many_pixels");
    assert.equal(body.images[2].error.code, "unsupported_image");
    assert.equal(body.images[2].name, "svg.png");
  });
});

test("concurrent requests share onnxruntime runs: the batch size histogram sees batches of more than one", async () => {
  const s = await serve({ batch: 8, batchWaitMs: 200 });
  const png = await noisePng(5);
  const bodies = await Promise.all(Array.from({ length: 6 }, () => postRaw(s, png).then(json)));
  const sizes = bodies.map((b) => b.images[0].results[0].timings.batchSize as number);
  assert.ok(Math.max(...sizes) > 1, `batch sizes ${sizes}`);
  assert.equal(new Set(bodies.map((b) => b.images[0].results[0].score)).size, 1, "the same image scores the same in any batch");
  const m = await (await fetch(`${s.url}/metrics`)).text();
  const sum = Number(/^imaginet_batch_size_sum\{detector="corvi2022"\} (\S+)$/m.exec(m)?.[1]);
  const count = Number(/^imaginet_batch_size_count\{detector="corvi2022"\} (\S+)$/m.exec(m)?.[1]);
  assert.equal(sum, 6);
  assert.ok(count < 6 && sum / count > 1, `${count} runs for 6 images`);
});

test("overload: past --queue images waiting, 503 overloaded with Retry-After; a request past --timeout-ms gets 503 timeout", async () => {
  const s = await serve({ batch: 2, batchWaitMs: 400, queue: 1 });
  const png = await noisePng(6);
  const res = await Promise.all(Array.from({ length: 4 }, () => postRaw(s, png)));
  const statuses = res.map((r) => r.status);
  assert.ok(statuses.includes(200), `${statuses}`);
  const refused = res.filter((r) => r.status === 503);
  assert.ok(refused.length > 0, `${statuses}`);
  for (const r of refused) {
    assert.equal(r.headers.get("retry-after"), "1");
    assert.equal((await json(r)).error.code, "overloaded");
  }
  const m = await (await fetch(`${s.url}/metrics`)).text();
  assert.match(m, new RegExp(`^imaginet_rejections_total\\{reason="overloaded"\\} ${refused.length}$`, "m"));

  const slow = await serve({ batchWaitMs: 2000, timeoutMs: 100 });
  const t = await postRaw(slow, png);
  assert.equal(t.status, 503);
  assert.equal((await json(t)).error.code, "timeout");
  assert.equal(slow.detectors[0]!.batcher.depth, 0, "its image left the queue");
});

describe("auth", () => {
  test("with a token, /v1/ and /metrics need it (compared whole); the page and /healthz do not", async () => {
    const s = await serve({ token: "s3cret" });
    const get = (p: string, auth?: string) => fetch(`${s.url}${p}`, auth ? { headers: { authorization: auth } } : {});
    const none = await get("/v1/detectors");
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), "Bearer");
    assert.equal((await json(none)).error.code, "unauthorized");
    for (const wrong of ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "Bearer "]) assert.equal((await get("/v1/detectors", wrong)).status, 401, wrong);
    assert.equal((await get("/metrics")).status, 401);
    assert.equal((await postRaw(s, await noisePng())).status, 401);
    assert.equal((await get("/v1/detectors", "Bearer s3cret")).status, 200);
    assert.equal((await get("/metrics", "Bearer s3cret")).status, 200);
    assert.equal((await get("/healthz")).status, 200);
    assert.equal((await get("/")).status, 200);
  });

  test("beyond loopback: refused without a token or --no-auth; --no-auth serves without one", async () => {
    await assert.rejects(startServer({ ...BASE, detectors: [corvi], host: "0.0.0.0" }), (e) => e instanceof InputError && /--token T .* or --no-auth/.test(e.message));
    const r = await cliAsync(["serve", "--detector", "corvi2022", "--weights", CORVI_PTH, "--host", "0.0.0.0", "--port", "0", "--json"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(JSON.parse(r.stderr).error.message, /binding 0\.0\.0\.0 exposes the API/);
    const open = await serve({ host: "0.0.0.0", noAuth: true });
    const port = new URL(open.url).port;
    assert.equal((await fetch(`http://127.0.0.1:${port}/v1/detectors`)).status, 200);
  });
});

test("SIGTERM: the request in flight completes and its connection closes, then the process exits 0; scored images and their C2PA findings equal `imaginet detect --json`", async () => {
  const [signedJpg, changedPng] = c2paFiles();
  const files = { "parity.png": await noisePng(9), "signed.jpg": signedJpg, "changed.png": changedPng };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, name), bytes);
  const { url, child, exit } = await cliServe(["--detector", "corvi2022", "--weights", CORVI_PTH, "--batch-wait-ms", "1500"]);
  const inFlight = fetch(`${url}/v1/detect`, { method: "POST", body: form(Object.entries(files).map(([name, bytes]) => ({ name, bytes }))) });
  await new Promise((r) => setTimeout(r, 500));
  child.kill("SIGTERM");
  const res = await inFlight;
  assert.equal(res.status, 200);
  // its connection ends with it: a keep-alive connection left open held the exit for fastify's keepAliveTimeout (72 s)
  assert.equal(res.headers.get("connection"), "close");
  const served = (await json(res)).images;
  assert.equal(await exit, 0);

  const d = await cliAsync(["detect", ...Object.keys(files).map((f) => path.join(dir, f)), "--detector", "corvi2022", "--weights", CORVI_PTH, "--json", "--workers", "1"]);
  assert.equal(d.code, 0, d.stderr);
  const lines = new Map(jsonLines(d.stdout).map((l) => [path.basename(l.file), l]));
  for (const im of served) {
    const line = lines.get(im.name);
    const r = im.results[0];
    assert.deepEqual({ score: r.score, p: r.p, calibrated: r.calibrated, verdict: r.verdict }, { score: line.score, p: line.p, calibrated: line.calibrated, verdict: line.verdict }, im.name);
    assert.deepEqual(im.provenance, line.provenance, im.name);
  }
  assert.deepEqual(
    served.map((im: { provenance: Provenance }) => im.provenance.c2pa.present && "validationState" in im.provenance.c2pa && im.provenance.c2pa.validationState),
    [false, "Valid", "Invalid"],
  );
});
