/**
 * Benchmark (not a test): `imaginet serve` under load on loopback, with autocannon, bounded in
 * time: throughput and p50/p99 latency at 1, 4 and 16 concurrent clients (one image per request; 16
 * three times, to tell warm-up from a leak), errors, RSS (server and autocannon share the process)
 * after each level; beside `detect`'s batch throughput on the same model and image.
 *
 *   node --import tsx bench/serve-load.ts [--seconds 10] [--detector corvi2022 --weights FILE] [--size 256]
 *
 * Default model: the test fixture corvi_tiny.pth (a reduced-width Corvi2022), so it runs anywhere.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { findDetector } from "../src/detectors/index.js";
import { detect, loadModel } from "../src/runtime/detect.js";
import { startServer } from "../src/serve/app.js";
import { argValue, numberArg } from "./support.js";

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
const autocannon = createRequire(import.meta.url)("autocannon") as (opts: Record<string, unknown>) => Promise<CannonResult>;

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const seconds = numberArg("--seconds", 10);
const size = numberArg("--size", 256);
const spec = findDetector(argValue("--detector") ?? "corvi2022");
const weights = argValue("--weights") ?? path.join(repo, "test/fixtures/models/corvi_tiny.pth");
const batch = numberArg("--batch", 16);

const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const noise = Buffer.alloc(size * size * 3);
for (let i = 0, x = 1; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
const png = await sharp(noise, { raw: { width: size, height: size, channels: 3 } })
  .png()
  .toBuffer();

const model = await loadModel(spec, [weights]);

// detect's batch throughput on the same image, as files
const dir = path.join(repo, ".bench", "serve-load");
mkdirSync(dir, { recursive: true });
const files = Array.from({ length: 128 }, (_, i) => path.join(dir, `${i}.png`));
for (const f of files) writeFileSync(f, png);
const t0 = performance.now();
await detect(spec, model, files, { batchSize: batch, workers: 1 });
const detectRate = files.length / ((performance.now() - t0) / 1000);

const server = await startServer({
  detectors: [{ module: spec, model, weights: [weights] }],
  host: "127.0.0.1",
  port: 0,
  batch,
  batchWaitMs: 5,
  queue: 64,
  maxBodyBytes: 50 * 2 ** 20,
  maxPixels: 1 << 26,
  maxImages: 32,
  timeoutMs: 30_000,
});
const rssBefore = process.memoryUsage().rss;
console.log(`${spec.name} (${path.basename(weights)}), ${size}×${size} PNG, --batch ${batch}, ${seconds} s per level`);
console.log(`detect (batch ${batch}, one decode worker): ${detectRate.toFixed(1)} img/s`);
console.log("clients  req/s   p50 ms  p99 ms  errors  non-2xx  RSS after");
// 16 clients three times: RSS that grows on the first pass (onnxruntime's arena sizing itself to new
// batch shapes) and then stays put is warm-up; RSS that keeps growing pass after pass is a leak
for (const connections of [1, 4, 16, 16, 16]) {
  const r = await autocannon({ url: `${server.url}/v1/detect`, method: "POST", headers: { "content-type": "image/png" }, body: png, connections, duration: seconds });
  console.log(
    `${String(connections).padStart(7)}  ${r.requests.average.toFixed(1).padStart(6)}  ${String(r.latency.p50).padStart(6)}  ${String(r.latency.p99).padStart(6)}  ${String(r.errors + r.timeouts).padStart(6)}  ${String(r.non2xx).padStart(7)}  ${mb(process.memoryUsage().rss)}`,
  );
}
const rssAfter = process.memoryUsage().rss;
const m = await (await fetch(`${server.url}/metrics`)).text();
const sum = Number(/^imaginet_batch_size_sum\{[^}]*\} (\S+)$/m.exec(m)?.[1]);
const count = Number(/^imaginet_batch_size_count\{[^}]*\} (\S+)$/m.exec(m)?.[1]);
console.log(`mean batch ${(sum / count).toFixed(2)} over ${count} runs; RSS ${mb(rssBefore)} before, ${mb(rssAfter)} after`);
await server.close();
