/**
 * The web page against the REAL server: `imaginet serve` (the CLI, in a child process) serving
 * Corvi2022 and the ImagiNet identifier from the test checkpoints, the page loaded from it in real
 * Chromium. An image uploaded through the page's file input must show on its card exactly what the
 * API answers for the same file and what `imaginet detect --json` prints; the in-browser mode, on the
 * model the server hands out, must agree with the server within 1e-4 on a PNG. With --token the page
 * asks for the token after a 401 and then works, in both modes.
 *
 * UPDATE_SERVE_SCREENSHOT=1 rewrites the README's screenshot (docs/serve-page.png) from this run.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { cliAsync, cliServe, jsonLines, REPO, tmpDir } from "./helpers.js";
import { f32Tolerance, forwardOperations, relErr } from "./support/tolerance.js";

const CHROMIUM = "/usr/bin/chromium";
const skip = !existsSync(CHROMIUM) && `${CHROMIUM} absent (run scripts/setup.sh as root to install chromium)`;
const CORVI_PTH = path.join(REPO, "test/fixtures/models/corvi_tiny.pth");
const ID_PTH = path.join(REPO, "test/fixtures/models/imaginet_id_tiny.pth");
const SERVED = ["--detector", "corvi2022", "--weights", CORVI_PTH, "--detector", "imaginet-id", "--weights", ID_PTH];
const SCREENSHOT = path.join(REPO, "docs/serve-page.png");
const UPDATE = process.env.UPDATE_SERVE_SCREENSHOT === "1";
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Card {
  name: string;
  status: string;
  text: string;
  /** per detector: score and p as the card carries them (binary), the groups' probabilities (identification) */
  detectors: Record<string, { score: number; p: number; groups: Record<string, number> }>;
  /** the heatmap overlay's pixels as signed alpha (+ red: synthetic, − blue: real), or null */
  heatmap: number[] | null;
}

interface Served {
  url: string;
  child: ChildProcess;
  exit: Promise<number | null>;
}

async function stop(s: Served | undefined): Promise<void> {
  if (!s) return;
  s.child.kill("SIGTERM");
  assert.equal(await s.exit, 0, "the server drains and exits 0");
}

// biome-ignore lint/suspicious/noExplicitAny: playwright-core's Page, imported lazily (the suite skips without Chromium)
type Page = any;

async function readCards(page: Page): Promise<Card[]> {
  return page.$$eval(".card", (els: HTMLElement[]) =>
    els.map((c) => {
      const canvas = c.querySelector<HTMLCanvasElement>("figure canvas.heatmap");
      let heatmap: number[] | null = null;
      if (canvas) {
        const px = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        heatmap = [];
        for (let i = 0; i < px.length; i += 4) heatmap.push(px[i]! > px[i + 2]! ? px[i + 3]! : -px[i + 3]!);
      }
      return {
        name: c.querySelector("h3")?.textContent ?? "",
        status: c.dataset.status ?? "",
        text: c.textContent ?? "",
        detectors: Object.fromEntries(
          [...c.querySelectorAll<HTMLElement>(".detector")].map((d) => [
            d.dataset.detector,
            {
              score: Number(d.dataset.score),
              p: Number(d.dataset.p),
              groups: Object.fromEntries([...d.querySelectorAll<HTMLElement>("dd[data-group]")].map((g) => [g.dataset.group, Number(g.dataset.p)])),
            },
          ]),
        ),
        heatmap,
      };
    }),
  );
}

/** Picks `file` through the page's file input in `mode` and waits for its card (the `n`th). */
async function upload(page: Page, file: string, mode: "server" | "local", n: number): Promise<Card> {
  await page.check(`input[name="mode"][value="${mode}"]`);
  await page.setInputFiles("#file", [file]);
  await page.waitForFunction((k: number) => document.querySelectorAll(".card:not([data-status=working])").length === k, n, { timeout: 120_000 });
  return (await readCards(page))[n - 1]!;
}

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON; tests read the fields they assert
async function apiDetect(url: string, file: string, token?: string): Promise<any> {
  const form = new FormData();
  form.append("image", new Blob([readFileSync(file)], { type: "image/png" }), path.basename(file));
  const res = await fetch(`${url}/v1/detect?heatmap=1`, { method: "POST", body: form, headers: token ? { authorization: `Bearer ${token}` } : {} });
  assert.equal(res.status, 200);
  return ((await res.json()) as { images: unknown[] }).images[0];
}

// the server serves the built page (dist/web) of this checkout
before(() => {
  if (skip) return;
  const built = spawnSync(process.execPath, [path.join(REPO, "scripts/build-web.mjs")], { encoding: "utf8" });
  assert.equal(built.status, 0, built.stderr);
});

describe("the web page served by imaginet serve, in Chromium", { skip }, () => {
  const dir = tmpDir("imaginet-serve-web-");
  const png = path.join(dir, "photo.png");
  let served: Served | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: playwright-core's Browser
  let browser: any;
  let page: Page;
  const errors: string[] = [];
  /** the page's own requests: URL → [status, content-type, headers] */
  const responses = new Map<string, { status: number; type: string; headers: Record<string, string> }>();
  const modelBodies = new Map<string, Buffer>();
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON
  let api: any;
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON
  let listed: any[];

  before(async () => {
    writeFileSync(png, readFileSync(path.join(REPO, "test/fixtures/image/photo.png")));
    served = await cliServe(SERVED);
    listed = (await (await fetch(`${served.url}/v1/detectors`)).json()) as typeof listed;
    api = await apiDetect(served.url, png);

    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--font-render-hinting=none"],
    });
    page = await browser.newPage({ viewport: { width: 1000, height: 800 }, deviceScaleFactor: 1 });
    page.on("pageerror", (e: Error) => errors.push(e.message));
    page.on("response", async (r: { url(): string; status(): number; headers(): Record<string, string>; body(): Promise<Buffer> }) => {
      const headers = r.headers();
      responses.set(r.url(), { status: r.status(), type: headers["content-type"] ?? "", headers });
      if (r.url().endsWith("/model.onnx")) modelBodies.set(r.url(), await r.body());
    });
    await page.goto(`${served.url}/`, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
  });

  after(async () => {
    await browser?.close();
    await stop(served);
  });

  test("the page is cross-origin isolated and lists the served detectors; its assets have the right types", async () => {
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true, "COOP/COEP on / and its assets");
    const root = responses.get(`${served!.url}/`)!;
    assert.equal(root.headers["cross-origin-opener-policy"], "same-origin");
    assert.equal(root.headers["cross-origin-embedder-policy"], "require-corp");
    assert.match(responses.get(`${served!.url}/app.js`)!.type, /^text\/javascript/);
    assert.deepEqual(await page.$$eval("#detectors input", (els: HTMLInputElement[]) => els.map((e) => e.id)), ["det-corvi2022", "det-imaginet-id"]);
    assert.equal(await page.isVisible("#auth"), false, "no token field without a 401");
  });

  test("server mode: the card shows the API's answer for the same file, which is `imaginet detect --json`'s", { timeout: 120_000 }, async () => {
    const card = await upload(page, png, "server", 1);
    assert.equal(card.status, "done", card.text);
    assert.equal(card.name, "photo.png");
    const [corvi, id] = api.results;

    // the card carries the API's numbers exactly, and prints them rounded
    assert.equal(card.detectors.corvi2022!.score, corvi.score);
    assert.equal(card.detectors.corvi2022!.p, corvi.p);
    assert.ok(card.text.includes(`${corvi.verdict} · p = ${corvi.p.toFixed(3)} (uncalibrated) · threshold 0.5 · score ${corvi.score.toFixed(4)}`), card.text);
    assert.deepEqual(Object.keys(card.detectors["imaginet-id"]!.groups), listed[1].groups, "the group bars in logit order");
    assert.deepEqual(card.detectors["imaginet-id"]!.groups, id.groups);
    for (const [g, p] of Object.entries(id.groups as Record<string, number>)) assert.ok(card.text.includes(`${g}${(p * 100).toFixed(1)} %`), `${g} ${p}`);
    assert.match(card.text, /Scored on the server\./);
    assert.match(card.text, /C2PA Content Credentials\s*none/);

    // the API's numbers are what `imaginet detect --json` prints for the file
    const dc = await cliAsync(["detect", png, "--detector", "corvi2022", "--weights", CORVI_PTH, "--json", "--workers", "1"]);
    assert.equal(dc.code, 0, dc.stderr);
    const [line] = jsonLines(dc.stdout);
    assert.deepEqual({ score: corvi.score, p: corvi.p, calibrated: corvi.calibrated, verdict: corvi.verdict }, { score: line.score, p: line.p, calibrated: line.calibrated, verdict: line.verdict });
    assert.deepEqual(api.provenance, line.provenance);
    const di = await cliAsync(["detect", png, "--detector", "imaginet-id", "--weights", ID_PTH, "--json", "--workers", "1"]);
    assert.equal(di.code, 0, di.stderr);
    const [idLine] = jsonLines(di.stdout);
    assert.deepEqual({ logits: id.logits, group: id.group }, { logits: idLine.logits, group: idLine.group });
    const top = Object.entries(card.detectors["imaginet-id"]!.groups).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    assert.equal(top, idLine.group);
  });

  test("in-browser mode on the same file: the model is the server's bytes, the score the server's within 1e-4, the heatmaps alike", { timeout: 300_000 }, async (t) => {
    const card = await upload(page, png, "local", 2);
    assert.equal(card.status, "done", card.text);
    assert.deepEqual(errors, []);
    assert.match(card.text, /the image was not uploaded/);
    const uploads = [...responses.keys()].filter((u) => u.includes("/v1/detect?"));
    assert.equal(uploads.length, 1, "only the server-mode upload");

    // the runtime's files as onnxruntime-web needs them, and threads (cross-origin isolated)
    const ort = [...responses.entries()].filter(([u]) => u.includes("/ort/"));
    assert.ok(
      ort.some(([u, r]) => u.endsWith(".mjs") && /^text\/javascript/.test(r.type)),
      JSON.stringify(ort),
    );
    assert.ok(
      ort.some(([u, r]) => u.endsWith(".wasm") && r.type === "application/wasm"),
      JSON.stringify(ort),
    );
    const threads = Math.min(4, await page.evaluate(() => navigator.hardwareConcurrency));
    assert.ok(card.text.includes(`Ran in this browser on WASM, ${threads} thread${threads === 1 ? "" : "s"}`), card.text);

    for (const d of listed) {
      const body = modelBodies.get(`${served!.url}${d.model}`);
      assert.ok(body, `the page fetched ${d.model}`);
      assert.equal(sha256(body), d.modelSha256, `${d.name}: the bytes the server runs`);
    }

    const [corvi, id] = api.results;
    const weights = [...stateDict(await readTorchCheckpoint(CORVI_PTH))].filter(([k]) => k.endsWith(".weight")).map(([, t]) => t.shape);
    // photo.png (192×144) is reflect-padded to 256×256
    const tolerance = f32Tolerance(forwardOperations(weights, 256 * 256));
    const got = card.detectors.corvi2022!.score;
    t.diagnostic(`corvi2022: browser ${got}, server ${corvi.score}, |Δ| ${Math.abs(got - corvi.score).toExponential(2)}, float32 bound (relative) ${tolerance.toExponential(2)}`);
    assert.ok(Math.abs(got - corvi.score) <= 1e-4, `browser ${got}, server ${corvi.score}`);
    assert.ok(relErr([got], [corvi.score]) <= tolerance, `relative error ${relErr([got], [corvi.score]).toExponential(2)} > float32's bound ${tolerance.toExponential(2)}`);
    const groups = card.detectors["imaginet-id"]!.groups;
    for (const g of listed[1].groups as string[]) assert.ok(Math.abs(groups[g]! - id.groups[g]) <= 1e-4, `${g}: ${groups[g]} vs ${id.groups[g]}`);

    // the overlay drawn from the server's 8-bit PNG (min…max linear) and from the browser's own logit map:
    // the PNG's rounding moves a value by at most span/510, an alpha of 200·|v|/scale by 200·span/(510·scale), plus 1 for both roundings
    const [server, local] = await readCards(page);
    const { min, max } = corvi.heatmap;
    const scale = Math.max(Math.abs(min), Math.abs(max));
    const bound = (200 * (max - min)) / (510 * scale) + 1 + 200 * tolerance;
    assert.equal(server!.heatmap!.length, local!.heatmap!.length);
    const worst = Math.max(...server!.heatmap!.map((a, i) => Math.abs(a - local!.heatmap![i]!)));
    t.diagnostic(`heatmap overlay: largest alpha difference ${worst} (bound ${bound.toFixed(2)})`);
    assert.ok(worst <= bound, `overlay alphas differ by ${worst} > ${bound.toFixed(2)}`);
  });

  test("the screenshot of the page with results", { timeout: 60_000 }, async (t) => {
    await page.evaluate(() => window.scrollTo(0, 0));
    const shot = path.join(dir, "serve-page.png");
    await page.screenshot({ path: shot, fullPage: true, animations: "disabled" });
    // a palette PNG keeps the README's image small
    const small = await sharp(shot).png({ palette: true, colours: 128, effort: 10 }).toBuffer();
    writeFileSync(shot, small);
    t.diagnostic(`screenshot: ${shot} (${small.length} bytes)`);
    if (UPDATE) writeFileSync(SCREENSHOT, small);
    assert.ok(existsSync(SCREENSHOT), `${SCREENSHOT} is missing: rerun with UPDATE_SERVE_SCREENSHOT=1`);
    assert.ok(statSync(SCREENSHOT).size < 200_000, `${SCREENSHOT} is ${statSync(SCREENSHOT).size} bytes`);
  });
});

describe("the page against a server with --token and --max-images 2", { skip }, () => {
  const TOKEN = "page-s3cret";
  const dir = tmpDir("imaginet-serve-web-auth-");
  const png = path.join(dir, "photo.png");
  let served: Served | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: playwright-core's Browser
  let browser: any;

  before(async () => {
    writeFileSync(png, readFileSync(path.join(REPO, "test/fixtures/image/photo.png")));
    served = await cliServe([...SERVED, "--token", TOKEN, "--max-images", "2"]);
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  after(async () => {
    await browser?.close();
    await stop(served);
  });

  test("a 401 shows the token field; with the token the upload works, and so does the in-browser mode's model fetch", { timeout: 300_000 }, async () => {
    const page = await browser.newPage();
    const unauthorized: string[] = [];
    page.on("response", (r: { url(): string; status(): number }) => {
      if (r.status() === 401) unauthorized.push(new URL(r.url()).pathname);
    });
    await page.goto(`${served!.url}/`, { waitUntil: "load" });
    await page.waitForSelector("#auth:not([hidden])", { timeout: 30_000 });
    assert.deepEqual(unauthorized, ["/v1/detectors"], "the page itself needs no token");
    assert.match(await page.textContent("#auth-why"), /needs an access token: .*401 unauthorized/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), "token", "the field takes the focus");

    await page.fill("#token", TOKEN);
    await page.click("#auth button[type=submit]");
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    assert.equal(await page.isVisible("#auth"), false);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("imaginet-token")), TOKEN, "kept for this tab");

    const card = await upload(page, png, "server", 1);
    assert.equal(card.status, "done", card.text);
    const api = await apiDetect(served!.url, png, TOKEN);
    assert.equal(card.detectors.corvi2022!.score, api.results[0]!.score);
    const local = await upload(page, png, "local", 2);
    assert.equal(local.status, "done", local.text);
    assert.ok(Math.abs(local.detectors.corvi2022!.score - api.results[0]!.score) <= 1e-4);
    assert.deepEqual(unauthorized, ["/v1/detectors"], "every later API call carried the token");
    await page.close();
  });
  test("five images dropped at once go as requests of at most --max-images (from /healthz), and every card is scored", { timeout: 300_000 }, async () => {
    const page = await browser.newPage();
    await page.addInitScript((t: string) => sessionStorage.setItem("imaginet-token", t), TOKEN);
    const detects: number[] = [];
    page.on("response", (r: { url(): string; status(): number }) => {
      if (r.url().includes("/v1/detect?")) detects.push(r.status());
    });
    await page.goto(`${served!.url}/`, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    const files = [1, 2, 3, 4, 5].map((i) => path.join(dir, `photo-${i}.png`));
    for (const f of files) writeFileSync(f, readFileSync(png));
    await page.check('input[name="mode"][value="server"]');
    await page.setInputFiles("#file", files);
    await page.waitForFunction(() => document.querySelectorAll(".card:not([data-status=working])").length === 5, undefined, { timeout: 120_000 });
    const cards = await readCards(page);
    assert.deepEqual(
      cards.map((c) => [c.name, c.status]),
      files.map((f) => [path.basename(f), "done"]),
      cards.map((c) => c.text).join("\n"),
    );
    assert.deepEqual(detects, [200, 200, 200], "2 + 2 + 1 images, no 413");
    const api = await apiDetect(served!.url, png, TOKEN);
    for (const c of cards) assert.equal(c.detectors.corvi2022!.score, api.results[0]!.score);
    await page.close();
  });
});
