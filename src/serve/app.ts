/**
 * `imaginet serve` as a library: a fastify app with the routes of docs/serve-api.md, and
 * `startServer`, which loads the detectors, listens, and closes by draining in-flight requests.
 */
import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import fastifyMultipart from "@fastify/multipart";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { SessionOptions } from "../runtime/session.js";
import { PACKAGE_ROOT } from "../util/package.js";
import { bearerMatches, checkBindAuth, needsToken } from "./auth.js";
import { describeDetector, loadServedDetector, type DetectorInput, type ServedDetector } from "./detectors.js";
import { HttpError, RETRY_AFTER_S, toApiError } from "./errors.js";
import { ServeMetrics } from "./metrics.js";
import { allUnreadable, scoreImages, type ImageError, type ImageInput } from "./score.js";
import * as schemas from "./schemas.js";

export interface ServeOptions {
  detectors: readonly DetectorInput[];
  host: string;
  /** 0: any free port */
  port: number;
  /** images per onnxruntime run */
  batch: number;
  /** how long an image waits for others to join its batch */
  batchWaitMs: number;
  /** images waiting per detector before requests get 503 */
  queue: number;
  token?: string;
  /** serve beyond loopback without a token, on purpose */
  noAuth?: boolean;
  maxBodyBytes: number;
  maxPixels: number;
  maxImages: number;
  timeoutMs: number;
  /** the built web page (default: dist/web of this package) */
  webRoot?: string;
  session?: SessionOptions;
}

export interface Server {
  /** http://host:port */
  url: string;
  app: FastifyInstance;
  detectors: readonly ServedDetector[];
  /** stops accepting, lets in-flight requests finish, releases the models */
  close(): Promise<void>;
}

export const DEFAULT_WEB_ROOT = path.join(PACKAGE_ROOT, "dist", "web");

const NO_PAGE = `<!doctype html><html lang="en"><meta charset="utf-8"><title>imaginet serve</title>
<p>The web page is not built. Run <code>npm run build</code> in the imaginet folder (it writes <code>dist/web/</code>), then restart <code>imaginet serve</code>.
The API works without it: see <a href="/openapi.json">/openapi.json</a>.</p></html>\n`;

export async function startServer(opts: ServeOptions): Promise<Server> {
  checkBindAuth(opts.host, opts.token, opts.noAuth ?? false);
  const detectors: ServedDetector[] = [];
  const metrics = new ServeMetrics(() => Object.fromEntries(detectors.map((d) => [d.module.name, d.batcher.depth])));
  for (const d of opts.detectors) {
    detectors.push(
      await loadServedDetector(d, { maxBatch: opts.batch, waitMs: opts.batchWaitMs, capacity: opts.queue }, opts.session ?? {}, (name, n) => metrics.batchSize.observe({ detector: name }, n)),
    );
  }
  const inFlight = new Set<Promise<unknown>>();
  const app = await buildApp(opts, detectors, metrics, inFlight);
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await release(detectors);
    throw err;
  }
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    app,
    detectors,
    async close() {
      await app.close();
      // a request whose client went away is no longer a connection fastify waits for: its work still is
      await Promise.allSettled(inFlight);
      await release(detectors);
    },
  };
}

async function release(detectors: readonly ServedDetector[]): Promise<void> {
  await Promise.all(detectors.map((d) => d.session.release()));
}

/** `inFlight`: each detect request's work while it runs (closing waits for it before releasing the models). */
export async function buildApp(opts: ServeOptions, detectors: readonly ServedDetector[], metrics: ServeMetrics, inFlight = new Set<Promise<unknown>>()): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: opts.maxBodyBytes, forceCloseConnections: "idle" });
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: "imaginet serve", version: "1", description: "Detection of synthetic (AI-generated) images; see docs/serve-api.md" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
  });
  await app.register(fastifyMultipart);
  app.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: "buffer", bodyLimit: opts.maxBodyBytes }, (_req, body, done) => done(null, body));

  app.addHook("onRequest", async (req) => {
    if (opts.token !== undefined && needsToken(req.url) && !bearerMatches(req.headers.authorization, opts.token)) {
      throw new HttpError(401, "unauthorized", "this server needs Authorization: Bearer TOKEN", { "www-authenticate": "Bearer" });
    }
    // a multipart body is streamed past fastify's bodyLimit: refuse a declared size here, count the parts below
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > opts.maxBodyBytes) throw new HttpError(413, "body_too_large", `the body is ${declared} bytes; the limit is ${opts.maxBodyBytes}`);
  });
  // a response finished while closing ends its connection: a keep-alive client would otherwise hold
  // the close for fastify's keepAliveTimeout (72 s), since only connections idle when it began are closed
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (_req, reply) => {
    if (closing) reply.header("connection", "close");
  });
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler(async (err, _req, reply) => {
    const e = toApiError(err);
    if (e.status >= 500 && e.code === "internal") process.stderr.write(`imaginet serve: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    metrics.rejections.inc({ reason: e.code });
    return reply
      .code(e.status)
      .headers(e.headers)
      .send({ error: { code: e.code, message: e.message } });
  });
  app.setNotFoundHandler(async (req, reply) => reply.code(404).send({ error: { code: "not_found", message: `no ${req.method} ${req.url.split("?")[0]}` } }));

  const byName = new Map(detectors.map((d) => [d.module.name, d]));

  // the limits let a client (the page) size its requests: at most maxImages images adding up to at most maxBodyBytes
  const limits = { maxImages: opts.maxImages, maxBodyBytes: opts.maxBodyBytes, maxPixels: opts.maxPixels };
  app.get("/healthz", { schema: schemas.healthz }, async () => ({ ok: true, detectors: detectors.map((d) => d.module.name), limits }));
  app.get("/metrics", { schema: schemas.metrics }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  app.get("/v1/detectors", { schema: schemas.detectors }, async () => detectors.map(describeDetector));
  app.get<{ Params: { name: string } }>("/v1/detectors/:name/model.onnx", { schema: schemas.model }, async (req, reply) => {
    const d = byName.get(req.params.name);
    if (!d) throw new HttpError(404, "unknown_detector", `no detector "${req.params.name}" is served (${[...byName.keys()].join(", ")})`);
    if (!d.onnx || !d.onnxSha256) throw new HttpError(404, "no_single_file_model", `${d.module.name}'s model keeps its weights in a side file (past 2 GB): it is not served`);
    const etag = `"${d.onnxSha256}"`;
    reply.header("etag", etag).header("cache-control", "no-cache");
    if (req.headers["if-none-match"] === etag) return reply.code(304).send();
    return reply.type("application/octet-stream").send(Buffer.from(d.onnx.buffer, d.onnx.byteOffset, d.onnx.byteLength));
  });

  app.post<{ Querystring: { detectors?: string; heatmap?: string } }>("/v1/detect", { schema: schemas.detect }, async (req) => {
    const chosen = chooseDetectors(req.query.detectors, byName, detectors);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), opts.timeoutMs);
    const timedOut = new Promise<never>((_, reject) =>
      ac.signal.addEventListener("abort", () => reject(new HttpError(503, "timeout", `the request took longer than ${opts.timeoutMs} ms`, { "retry-after": String(RETRY_AFTER_S) })), { once: true }),
    );
    const work = (async () => {
      const images = await readImages(req, opts);
      return scoreImages(images, chosen, { maxPixels: opts.maxPixels, heatmap: req.query.heatmap === "1", signal: ac.signal });
    })();
    work.catch(() => {}); // past the timeout nobody awaits it
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work)).catch(() => {});
    try {
      const images = await Promise.race([work, timedOut]);
      for (const im of images) metrics.images.inc({ outcome: "error" in im ? im.error.code : "scored" });
      const errors = images.filter((im): im is ImageError => "error" in im);
      if (errors.length === images.length) throw allUnreadable(errors);
      return { images };
    } finally {
      clearTimeout(timer);
      ac.abort(); // drops this request's images still waiting for a batch (no-op once answered)
    }
  });

  const webRoot = opts.webRoot ?? DEFAULT_WEB_ROOT;
  if (existsSync(path.join(webRoot, "index.html"))) await app.register(fastifyStatic, { root: webRoot, prefix: "/", setHeaders: pageHeaders });
  else app.get("/", { schema: { hide: true } }, async (_req, reply) => reply.type("text/html; charset=utf-8").send(NO_PAGE));
  return app;
}

/**
 * The page's files: cross-origin isolated (COOP/COEP), which onnxruntime-web needs for WASM threads,
 * and JavaScript (the bundle, the runtime's .mjs) as text/javascript. No CSP is set; one would need
 * 'wasm-unsafe-eval' in script-src for the in-browser mode.
 */
function pageHeaders(reply: FastifyReply, file: string): void {
  reply.header("cross-origin-opener-policy", "same-origin").header("cross-origin-embedder-policy", "require-corp");
  if (file.endsWith(".js") || file.endsWith(".mjs")) reply.header("content-type", "text/javascript; charset=utf-8");
}

function chooseDetectors(query: string | undefined, byName: ReadonlyMap<string, ServedDetector>, all: readonly ServedDetector[]): ServedDetector[] {
  if (query === undefined || query.trim() === "") return [...all];
  const names = [...new Set(query.split(",").map((s) => s.trim()))].filter((s) => s !== "");
  const unknown = names.filter((n) => !byName.has(n));
  if (unknown.length > 0) throw new HttpError(400, "unknown_detector", `unknown detector ${unknown.map((n) => `"${n}"`).join(", ")}: this server runs ${[...byName.keys()].join(", ")}`);
  return names.map((n) => byName.get(n)!);
}

/** The images of a multipart body (its file parts, any field name) or of a raw image body. */
async function readImages(req: FastifyRequest, opts: ServeOptions): Promise<ImageInput[]> {
  if (req.isMultipart()) {
    const out: ImageInput[] = [];
    let total = 0;
    const limits = { fileSize: opts.maxBodyBytes, files: opts.maxImages + 1, fields: 64, parts: opts.maxImages + 65 };
    for await (const part of req.parts({ limits })) {
      if (part.type !== "file") continue;
      if (out.length >= opts.maxImages) throw new HttpError(413, "too_many_images", `more than ${opts.maxImages} images in one request`);
      const bytes = await part.toBuffer();
      total += bytes.length;
      if (total > opts.maxBodyBytes) throw new HttpError(413, "body_too_large", `the images add up to more than ${opts.maxBodyBytes} bytes`);
      out.push({ name: part.filename || part.fieldname || `image-${out.length + 1}`, bytes });
    }
    if (out.length === 0) throw new HttpError(400, "no_image", "the multipart body has no file part");
    return out;
  }
  if (Buffer.isBuffer(req.body)) {
    if (req.body.length === 0) throw new HttpError(400, "no_image", "the body is empty");
    return [{ name: "image", bytes: req.body }];
  }
  throw new HttpError(415, "unsupported_media_type", "send multipart/form-data, or a raw body with an image/* content type");
}
