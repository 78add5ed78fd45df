/**
 * The web page (web/, built into dist/web/) in real Chromium, served by a real loopback HTTP server
 * with real files: the built page, the detector's ONNX model at the API contract's URL
 * (docs/serve-api.md) and a /v1/detectors document made from the real detector module. The
 * in-browser mode (onnxruntime-web, the project's own preprocessing) must give onnxruntime-node's
 * score (`detect`) on the same file.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { buildFromCheckpoints } from "../src/detectors/build.js";
import { findDetector } from "../src/detectors/index.js";
import type { DetectorModule } from "../src/detectors/types.js";
import { detect } from "../src/runtime/detect.js";
import type { DetectorInfo } from "../web/api.js";
import { REPO, tmpDir } from "./helpers.js";
import { type Handler, TestServer } from "./support/http-server.js";
import { f32Tolerance, forwardOperations, relErr } from "./support/tolerance.js";

const CHROMIUM = "/usr/bin/chromium";
const skip = !existsSync(CHROMIUM) && `${CHROMIUM} absent (run scripts/setup.sh as root to install chromium)`;
/** Set to regenerate the committed reference screenshot. */
const UPDATE = process.env.UPDATE_WEB_FIXTURES === "1";
const WEB = path.join(REPO, "dist", "web");
const MODELS = path.join(REPO, "test/fixtures/models");
/** served detectors: a binary one, Corvi2022 (its logit map becomes the heatmap) and the generator-group identifier */
const SERVED = [
  { name: "grag2021", checkpoint: "grag_tiny.pth" },
  { name: "corvi2022", checkpoint: "corvi_tiny.pth" },
  { name: "imaginet-id", checkpoint: "imaginet_id_tiny.pth" },
];
const REFERENCE = path.join(REPO, "test/fixtures/web/page.png");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".map": "application/json",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".json": "application/json",
};

/** A file as the server sends it, cross-origin isolated (COOP/COEP) so that onnxruntime-web may use threads. */
function serve(data: Buffer, type: string): Handler {
  return (_req, res) => {
    res
      .writeHead(200, {
        "content-type": type,
        "content-length": data.length,
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-embedder-policy": "require-corp",
      })
      .end(data);
  };
}

/** The contract's /v1/detectors entry for a module served from `model` (ONNX bytes). */
function detectorInfo(d: DetectorModule, weights: Buffer): DetectorInfo {
  return {
    name: d.name,
    title: d.title,
    output: d.output,
    inputs: { recipe: d.preprocess.recipe, normalization: d.preprocess.normalization },
    calibration: null,
    needsCalibration: d.needsCalibration ?? null,
    weightsSha256: [createHash("sha256").update(weights).digest("hex")],
    model: `/v1/detectors/${d.name}/model.onnx`,
  };
}

interface CardText {
  name: string;
  status: string;
  /** per detector: the score and p (binary), the groups' probabilities (identification) */
  detectors: Record<string, { score: number; p: number; groups: string[] }>;
  heatmap: boolean;
  text: string;
}

describe("the web page in Chromium: in-browser detection", { skip }, () => {
  const server = new TestServer();
  const dir = tmpDir("imaginet-web-");
  const files = {
    png: path.join(dir, "photo.png"),
    webp: path.join(dir, "photo.webp"),
    jpeg: path.join(dir, "photo.jpg"),
    rotated: path.join(REPO, "test/fixtures/decode/jpeg_exif_rotated.jpg"),
  };
  const modelFiles = new Map<string, string>();
  const tolerances = new Map<string, number>();
  // biome-ignore lint/suspicious/noExplicitAny: playwright-core is imported lazily (the suite skips without Chromium)
  let browser: any;

  before(async () => {
    const built = spawnSync(process.execPath, [path.join(REPO, "scripts/build-web.mjs")], { encoding: "utf8" });
    assert.equal(built.status, 0, built.stderr);
    const source = path.join(REPO, "test/fixtures/image/photo.png");
    writeFileSync(files.png, readFileSync(source));
    await sharp(source).webp({ lossless: true }).toFile(files.webp);
    await sharp(source).jpeg({ quality: 90 }).toFile(files.jpeg);

    const infos: DetectorInfo[] = [];
    for (const s of SERVED) {
      const d = findDetector(s.name);
      const checkpoint = path.join(MODELS, s.checkpoint);
      const model = (await buildFromCheckpoints(d, checkpoint)).onnx;
      assert.equal(model.external, undefined, "the test model keeps its weights inline");
      modelFiles.set(d.name, path.join(dir, `${d.name}.onnx`));
      writeFileSync(modelFiles.get(d.name)!, model.model);
      server.routes.set(`/v1/detectors/${d.name}/model.onnx`, serve(Buffer.from(model.model), TYPES[".onnx"]!));
      infos.push(detectorInfo(d, readFileSync(checkpoint)));
      const weights = [...stateDict(await readTorchCheckpoint(checkpoint))].filter(([k]) => k.endsWith(".weight")).map(([, t]) => t.shape);
      // photo.png (192×144) is reflect-padded to 256×256
      tolerances.set(d.name, f32Tolerance(forwardOperations(weights, 256 * 256)));
    }
    server.routes.set("/v1/detectors", serve(Buffer.from(JSON.stringify(infos)), TYPES[".json"]!));

    for (const f of readdirSync(WEB, { recursive: true, withFileTypes: true })) {
      if (!f.isFile()) continue;
      const rel = path.relative(WEB, path.join(f.parentPath, f.name)).split(path.sep).join("/");
      const handler = serve(readFileSync(path.join(WEB, rel)), TYPES[path.extname(rel)] ?? "application/octet-stream");
      server.routes.set(`/${rel}`, handler);
      if (rel === "index.html") server.routes.set("/", handler);
    }
    await server.start();

    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--font-render-hinting=none"],
    });
  });

  after(async () => {
    await browser?.close();
    await server.stop();
  });

  /** Opens the page, picks the files through its file input in the in-browser mode, and reads the cards. */
  async function scoreInPage(list: string[], viewport = { width: 1100, height: 900 }) {
    const page = await browser.newPage({ viewport, deviceScaleFactor: 1 });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on("request", (r: { url(): string }) => requests.push(r.url()));
    page.on("pageerror", (e: Error) => errors.push(e.message));
    await page.goto(`${server.base}/`, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    await page.check('input[name="mode"][value="local"]');
    await page.setInputFiles("#file", list);
    await page.waitForFunction((n: number) => document.querySelectorAll(".card:not([data-status=working])").length === n, list.length, { timeout: 120_000 });
    const cards: CardText[] = await page.$$eval(".card", (els: HTMLElement[]) =>
      els.map((c) => ({
        name: c.querySelector("h3")?.textContent ?? "",
        status: c.dataset.status ?? "",
        detectors: Object.fromEntries(
          [...c.querySelectorAll<HTMLElement>(".detector")].map((d) => [
            d.dataset.detector,
            { score: Number(d.dataset.score), p: Number(d.dataset.p), groups: [...d.querySelectorAll("dl.groups dt")].map((g) => g.textContent ?? "") },
          ]),
        ),
        heatmap: c.querySelector("figure canvas.heatmap") !== null && c.querySelector(".toggle input[type=checkbox]") !== null,
        text: c.textContent ?? "",
      })),
    );
    return { page, cards, requests, errors };
  }

  test("PNG and lossless WebP: the browser's scores are onnxruntime-node's (within 1e-4 and float32's bound); JPEG measured; EXIF orientation not applied", { timeout: 300_000 }, async (t) => {
    const list = [files.png, files.webp, files.jpeg, files.rotated];
    const { page, cards, requests, errors } = await scoreInPage(list);
    try {
      assert.deepEqual(errors, []);
      assert.ok(
        requests.every((u) => u.startsWith(server.base) || u.startsWith("blob:")),
        `the page fetched only from its own server: ${requests.filter((u) => !u.startsWith(server.base)).join(", ")}`,
      );
      for (const s of SERVED) assert.ok(requests.includes(`${server.base}/v1/detectors/${s.name}/model.onnx`), "the model comes from the contract's URL");
      assert.ok(!requests.some((u) => u.includes("/v1/detect") && !u.includes("/v1/detectors")), "nothing is uploaded");
      assert.deepEqual(
        cards.map((c) => [c.name, c.status]),
        list.map((f) => [path.basename(f), "done"]),
      );

      const kinds = ["PNG", "WebP", "JPEG", "EXIF-rotated JPEG"];
      for (const name of ["grag2021", "corvi2022"]) {
        const node = await detect(findDetector(name), modelFiles.get(name)!, list, { workers: 0 });
        const want = node.map((d) => ("score" in d ? d.score : Number.NaN));
        const got = cards.map((c) => c.detectors[name]!.score);
        const diffs = got.map((g, i) => Math.abs(g - want[i]!));
        t.diagnostic(`${name}: |browser − onnxruntime-node| ${kinds.map((k, i) => `${k} ${diffs[i]!.toExponential(2)}`).join(", ")} (scores ${want.map((x) => x.toFixed(6)).join(", ")})`);
        for (const i of [0, 1]) {
          assert.ok(diffs[i]! <= 1e-4, `${name} on ${cards[i]!.name}: |${got[i]} − ${want[i]}| > 1e-4`);
          const rel = relErr([got[i]!], [want[i]!]);
          assert.ok(rel <= tolerances.get(name)!, `${name} on ${cards[i]!.name}: relative error ${rel.toExponential(2)} > float32's bound ${tolerances.get(name)!.toExponential(2)}`);
        }
        // a rotated decode would feed the model other pixels: far past rounding
        assert.ok(diffs[3]! <= 1e-4, `${name}: the EXIF-rotated JPEG scores ${got[3]} in the browser, ${want[3]} on the server`);
        for (const [i, c] of cards.entries()) {
          const d = node[i]!;
          assert.ok("verdict" in d);
          const { p, score } = c.detectors[name]!;
          assert.match(c.text, new RegExp(`${d.verdict} · p = ${p.toFixed(3)} \\(uncalibrated\\) · threshold 0.5 · score ${score.toFixed(4)}`, "i"));
        }
      }
      const ids = await detect(findDetector("imaginet-id"), modelFiles.get("imaginet-id")!, list, { workers: 0 });
      for (const [i, c] of cards.entries()) {
        const d = ids[i]!;
        assert.ok("group" in d);
        assert.deepEqual(c.detectors["imaginet-id"]!.groups, ["gan", "sd", "midjourney", "dalle3"]);
        const shown = [...c.text.matchAll(/(gan|sd|midjourney|dalle3)(\d+\.\d) %/g)].map((m) => [m[1], Number(m[2])] as const);
        assert.equal(shown.length, 4, c.text);
        assert.equal(shown.reduce((a, b) => (b[1] > a[1] ? b : a))[0], d.group, "the top group is onnxruntime-node's");
        assert.ok(c.heatmap, "Corvi2022's logit map is overlaid, with its toggle");
        assert.match(c.text, /the image was not uploaded/);
      }

      // several images: the table, sorted by a column, and its CSV
      const rows = async () => page.$$eval("#table tbody tr", (trs: HTMLElement[]) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
      assert.equal((await rows()).length, list.length);
      await page.click("#table th:nth-child(2) button");
      const ascending = (await rows()).map((r: string[]) => Number(r[1]));
      assert.deepEqual(
        ascending,
        [...ascending].sort((a, b) => a - b),
      );
      assert.equal(await page.getAttribute("#table th:nth-child(2)", "aria-sort"), "ascending");
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#csv")]);
      const csv = readFileSync(await download.path(), "utf8")
        .trim()
        .split("\n");
      assert.equal(csv[0], "image,detector,score,p,calibrated,verdict,threshold,groups,where,error");
      assert.equal(csv.length, 1 + list.length * SERVED.length);
      assert.equal(Number(csv[1]!.split(",")[2]), cards[0]!.detectors.grag2021!.score, "the CSV carries the score at full precision");
    } finally {
      await page.close();
    }
  });

  test("one image: keyboard reaches the file input, the card reads on a phone, and the page looks as the reference", { timeout: 300_000 }, async (t) => {
    const { page, cards } = await scoreInPage([files.png], { width: 390, height: 844 });
    try {
      assert.equal(cards.length, 1);
      assert.match(cards[0]!.text, /(synthetic|real) · p = \d\.\d{3} \(uncalibrated\) · threshold 0\.5 · score -?\d+\.\d{4}/i);
      assert.match(cards[0]!.text, /Provenance/);
      assert.equal(await page.isVisible("#summary"), false, "one image has no table");
      const layout = await page.evaluate(() => ({ overflow: document.documentElement.scrollWidth > window.innerWidth }));
      assert.equal(layout.overflow, false, "no horizontal scrolling at 390 px");
      const fresh = await browser.newPage();
      await fresh.goto(`${server.base}/`, { waitUntil: "load" });
      await fresh.waitForSelector("body[data-ready=true]");
      const stops: string[] = [];
      for (let i = 0; i < 3; i++) {
        await fresh.keyboard.press("Tab");
        stops.push(await fresh.evaluate(() => document.activeElement?.id || (document.activeElement as HTMLInputElement | null)?.value || ""));
      }
      assert.deepEqual(stops, ["file", "server", "det-grag2021"], "Tab reaches the file input, the mode and the detectors");
      await fresh.close();

      const shot = path.join(dir, "page.png");
      await page.screenshot({ path: shot, fullPage: true, animations: "disabled" });
      t.diagnostic(`screenshot: ${shot}`);
      if (UPDATE) writeFileSync(REFERENCE, readFileSync(shot));
      const cur = await sharp(shot).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const ref = await sharp(REFERENCE).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual(
        [cur.info.width, cur.info.height],
        [ref.info.width, ref.info.height],
        `screenshot ${shot} has another size than ${REFERENCE} (fonts? rerun with UPDATE_WEB_FIXTURES=1 if intended)`,
      );
      let differing = 0;
      for (let i = 0; i < cur.data.length; i += 4) {
        const d = Math.max(Math.abs(cur.data[i]! - ref.data[i]!), Math.abs(cur.data[i + 1]! - ref.data[i + 1]!), Math.abs(cur.data[i + 2]! - ref.data[i + 2]!));
        if (d > 48) differing++;
      }
      const fraction = differing / (cur.info.width * cur.info.height);
      // font rasterisation may vary between Chromium builds; layout changes move far more than 1 %
      assert.ok(fraction < 0.01, `${(fraction * 100).toFixed(2)} % of pixels differ from ${REFERENCE} (see ${shot})`);
    } finally {
      await page.close();
    }
  });
});
