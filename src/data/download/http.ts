/**
 * A resumable, verifying HTTP(S) downloader on node:http/node:https.
 *
 * Data goes to `dest + ".part"`; only a complete body whose size and checksums match is fsynced and
 * renamed to `dest`, so the final name never holds a partial or unverified file.
 */
import * as http from "node:http";
import * as https from "node:https";
import { createHash, type Hash } from "node:crypto";
import { createReadStream, promises as fsp } from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface ChecksumMismatch {
  /** what was compared: "size", "sha256", "md5", or a caller's own check (e.g. "pixel md5") */
  what: string;
  expected: string;
  actual: string;
}

export interface DownloadOptions {
  url: string;
  /** final path; the transfer is written to `dest + ".part"` */
  dest: string;
  headers?: Record<string, string>;
  size?: number;
  sha256?: string;
  md5?: string;
  /** an extra check on the finished file (run on the .part before the rename, and on an existing dest) */
  verify?: (file: string) => Promise<ChecksumMismatch | undefined>;
  /** retries after the first attempt (default 5) */
  retries?: number;
  /** first backoff delay; doubles per retry (default 1000 ms) */
  baseDelayMs?: number;
  /** cap for the backoff and for Retry-After (default 60 s) */
  maxDelayMs?: number;
  /** abort an attempt when no data arrives for this long (default 60 s) */
  stallTimeoutMs?: number;
  maxRedirects?: number;
  /** download even when `dest` exists and checks out (it is replaced only by a verified copy) */
  force?: boolean;
  /** a text/html response is not the file: throw HtmlPageError with the page instead of saving it */
  htmlIsError?: boolean;
  /** bytes of the file on disk so far (resumed bytes included), and the total when known */
  onProgress?: (received: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export type DownloadStatus = "downloaded" | "resumed" | "skipped-verified" | "skipped-size" | "skipped-present";

export interface DownloadResult {
  path: string;
  bytes: number;
  /** undefined only when an existing file was kept without hashing it ("skipped-size", "skipped-present") */
  sha256: string | undefined;
  /**
   * downloaded/resumed: fetched now (resumed = continued a .part); skipped-verified: dest existed and
   * matched the checksum; skipped-size: dest existed with the expected size (no checksum known);
   * skipped-present: dest existed and nothing was known to check it against
   */
  status: DownloadStatus;
}

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DownloadError";
  }
}

export class HttpStatusError extends DownloadError {
  constructor(
    readonly status: number,
    url: string,
    readonly retryAfterMs?: number,
  ) {
    super(describeStatus(status, url), url, status === 408 || status === 429 || status >= 500);
    this.name = "HttpStatusError";
  }
}

export class ChecksumMismatchError extends DownloadError {
  constructor(
    url: string,
    readonly file: string,
    readonly mismatch: ChecksumMismatch,
  ) {
    super(`${mismatch.what} mismatch for ${file} (from ${url}): expected ${mismatch.expected}, got ${mismatch.actual}`, url, false);
    this.name = "ChecksumMismatchError";
  }
}

/** The server answered with an HTML page where a file was expected (see `htmlIsError`). */
export class HtmlPageError extends DownloadError {
  constructor(
    url: string,
    readonly status: number,
    readonly body: string,
    /** `name=value` pairs from Set-Cookie, for a follow-up request */
    readonly cookies: string[],
  ) {
    super(`${url} returned an HTML page (HTTP ${status}) instead of the file`, url, false);
    this.name = "HtmlPageError";
  }
}

function describeStatus(status: number, url: string): string {
  if (status === 401 || status === 403) {
    return `HTTP ${status} from ${url}: credentials are missing or were refused (check the token and that you accepted the dataset's terms)`;
  }
  if (status === 404) return `HTTP 404 from ${url}: not found`;
  return `HTTP ${status} from ${url}`;
}

const DEFAULTS = { retries: 5, baseDelayMs: 1000, maxDelayMs: 60_000, stallTimeoutMs: 60_000, maxRedirects: 10 };
const HTML_PAGE_LIMIT = 2 * 1024 * 1024;

type Algorithm = "sha256" | "md5";

export async function hashFile(file: string, algorithms: readonly Algorithm[]): Promise<Record<Algorithm, string>> {
  const hashes = algorithms.map((a) => [a, createHash(a)] as const);
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) for (const [, h] of hashes) h.update(chunk);
  return Object.fromEntries(hashes.map(([a, h]) => [a, h.digest("hex")])) as Record<Algorithm, string>;
}

export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  if (!opts.force) {
    const existing = await checkExisting(opts);
    if (existing) return existing;
  }
  await fsp.mkdir(path.dirname(opts.dest), { recursive: true });
  const part = `${opts.dest}.part`;
  const retries = opts.retries ?? DEFAULTS.retries;
  let failures = 0;
  let furthest = await fileSize(part);
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const done = await attempt(opts, part);
      return await finish(opts, part, done);
    } catch (err) {
      if (err instanceof RestartSignal) continue;
      // An abort surfaces as whatever the socket reported; give the caller the signal's reason.
      opts.signal?.throwIfAborted();
      const retryable = err instanceof DownloadError ? err.retryable : isNetworkError(err);
      if (!retryable) throw err;
      // An attempt that got further than ever before does not use up a retry: long transfers over a
      // flaky link should keep going as long as they advance.
      const now = await fileSize(part);
      if (now > furthest) furthest = now;
      else failures++;
      if (failures > retries) {
        throw new DownloadError(`download of ${opts.url} failed after ${failures} attempts: ${errorMessage(err)}`, opts.url, false, {
          cause: err,
        });
      }
      await sleep(backoffMs(opts, failures, err), undefined, { signal: opts.signal });
    }
  }
}

function backoffMs(opts: DownloadOptions, failures: number, err: unknown): number {
  const cap = opts.maxDelayMs ?? DEFAULTS.maxDelayMs;
  if (err instanceof HttpStatusError && err.retryAfterMs !== undefined) return Math.min(cap, err.retryAfterMs);
  const base = (opts.baseDelayMs ?? DEFAULTS.baseDelayMs) * 2 ** (failures - 1);
  return Math.min(cap, base * (0.75 + Math.random() * 0.5));
}

async function checkExisting(opts: DownloadOptions): Promise<DownloadResult | undefined> {
  const st = await fsp.stat(opts.dest).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const base = { path: opts.dest, bytes: st.size };
  if (opts.sha256 || opts.md5 || opts.verify) {
    const checked = await verifyFile(opts, opts.dest, st.size).catch(() => undefined);
    return !checked || checked.mismatch ? undefined : { ...base, sha256: checked.sha256, status: "skipped-verified" };
  }
  if (opts.size !== undefined) return st.size === opts.size ? { ...base, sha256: undefined, status: "skipped-size" } : undefined;
  return { ...base, sha256: undefined, status: "skipped-present" };
}

interface Completed {
  bytes: number;
  /** hashes of the whole file when they could be computed while writing */
  hashes?: Record<Algorithm, string>;
  resumed: boolean;
}

/** Thrown inside an attempt when the .part must be discarded and the transfer started over at once. */
class RestartSignal extends Error {}

async function attempt(opts: DownloadOptions, part: string): Promise<Completed> {
  const offset = await fileSize(part);
  const headers: Record<string, string> = { "accept-encoding": "identity", ...opts.headers };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  const { res, url } = await get(new URL(opts.url), headers, opts);
  try {
    return await handleResponse(opts, part, offset, res, url);
  } finally {
    res.destroy();
  }
}

async function handleResponse(opts: DownloadOptions, part: string, offset: number, res: http.IncomingMessage, url: URL): Promise<Completed> {
  const status = res.statusCode ?? 0;
  if (status === 416 && offset > 0) return await rangeNotSatisfiable(opts, part, offset, res);
  // An HTML error page (not a retryable status) goes to the caller too: it may say why (e.g. a quota).
  const htmlPage = opts.htmlIsError && isHtml(res) && (status === 200 || status === 206 || (status >= 400 && status < 500 && status !== 408 && status !== 429));
  if (htmlPage) throw new HtmlPageError(url.href, status, await readText(res, HTML_PAGE_LIMIT), cookiesOf(res));
  if (status !== 200 && status !== 206) {
    throw new HttpStatusError(status, url.href, retryAfterMs(res.headers["retry-after"]));
  }
  const length = headerInt(res.headers["content-length"]);
  let start = 0;
  let total = length;
  if (status === 206) {
    const range = parseContentRange(res.headers["content-range"]);
    if (!range || range.start !== offset) {
      if (offset === 0) throw new DownloadError(`unexpected partial response from ${url.href}`, url.href, false);
      await fsp.rm(part, { force: true });
      throw new RestartSignal();
    }
    start = offset;
    total = range.total;
  }
  await checkAnnouncedSize(opts, part, total);
  const body = await writeBody(opts, part, start, res, total);
  const expected = length === undefined ? undefined : start + length;
  if (expected !== undefined && body.bytes < expected) {
    throw new DownloadError(`connection closed after ${body.bytes} of ${expected} bytes from ${url.href}`, url.href, true);
  }
  return { ...body, resumed: start > 0 };
}

/** A 416 to our Range request usually means the .part is already complete. */
async function rangeNotSatisfiable(opts: DownloadOptions, part: string, offset: number, res: http.IncomingMessage): Promise<Completed> {
  const total = parseContentRange(res.headers["content-range"])?.total ?? opts.size;
  if (total === offset) return { bytes: offset, resumed: true };
  await fsp.rm(part, { force: true });
  throw new RestartSignal();
}

async function checkAnnouncedSize(opts: DownloadOptions, part: string, total: number | undefined): Promise<void> {
  if (opts.size === undefined || total === undefined || total === opts.size) return;
  await fsp.rm(part, { force: true });
  throw new ChecksumMismatchError(opts.url, opts.dest, { what: "size", expected: `${opts.size} bytes`, actual: `${total} bytes (announced by the server)` });
}

async function writeBody(opts: DownloadOptions, part: string, start: number, res: http.IncomingMessage, total: number | undefined): Promise<{ bytes: number; hashes: Record<Algorithm, string> }> {
  const algorithms = wantedAlgorithms(opts);
  // Resumed bytes are hashed from disk, so a resumed download is verified as a whole.
  const hashes = await prefixHashes(part, algorithms, start);
  const handle = await fsp.open(part, start > 0 ? "r+" : "w");
  let bytes = start;
  try {
    opts.onProgress?.(bytes, total);
    for await (const chunk of res as AsyncIterable<Buffer>) {
      await handle.write(chunk, 0, chunk.length, bytes);
      for (const h of hashes.values()) h.update(chunk);
      bytes += chunk.length;
      opts.onProgress?.(bytes, total);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { bytes, hashes: Object.fromEntries([...hashes].map(([a, h]) => [a, h.digest("hex")])) as Record<Algorithm, string> };
}

async function prefixHashes(part: string, algorithms: Algorithm[], start: number): Promise<Map<Algorithm, Hash>> {
  const hashes = new Map(algorithms.map((a) => [a, createHash(a)] as const));
  if (start === 0) return hashes;
  const stream = createReadStream(part, { end: start - 1 });
  for await (const chunk of stream as AsyncIterable<Buffer>) for (const h of hashes.values()) h.update(chunk);
  return hashes;
}

function wantedAlgorithms(opts: DownloadOptions): Algorithm[] {
  return opts.md5 ? ["sha256", "md5"] : ["sha256"];
}

async function finish(opts: DownloadOptions, part: string, done: Completed): Promise<DownloadResult> {
  const { sha256, mismatch } = await verifyFile(opts, part, done.bytes, done.hashes).catch(async (err: unknown) => {
    await fsp.rm(part, { force: true });
    throw err;
  });
  if (mismatch) {
    await fsp.rm(part, { force: true });
    throw new ChecksumMismatchError(opts.url, opts.dest, mismatch);
  }
  await fsp.rename(part, opts.dest);
  return { path: opts.dest, bytes: done.bytes, sha256, status: done.resumed ? "resumed" : "downloaded" };
}

async function verifyFile(opts: DownloadOptions, file: string, bytes: number, known?: Record<Algorithm, string>): Promise<{ sha256: string; mismatch?: ChecksumMismatch }> {
  const hashes = known ?? (await hashFile(file, wantedAlgorithms(opts)));
  const sha256 = hashes.sha256;
  if (opts.size !== undefined && bytes !== opts.size) {
    return { sha256, mismatch: { what: "size", expected: `${opts.size} bytes`, actual: `${bytes} bytes` } };
  }
  for (const a of ["sha256", "md5"] as const) {
    const want = opts[a]?.toLowerCase();
    if (want && hashes[a] !== want) return { sha256, mismatch: { what: a, expected: want, actual: hashes[a] } };
  }
  const mismatch = opts.verify ? await opts.verify(file) : undefined;
  return { sha256, mismatch };
}

interface Response {
  res: http.IncomingMessage;
  /** the URL that answered, after redirects */
  url: URL;
}

/** GET with redirects; credentials and cookies are not forwarded to another origin. */
async function get(url: URL, headers: Record<string, string>, opts: DownloadOptions): Promise<Response> {
  const maxRedirects = opts.maxRedirects ?? DEFAULTS.maxRedirects;
  let current = url;
  let sent = headers;
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(current, sent, opts);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(status) || !location) return { res, url: current };
    res.resume();
    if (hop >= maxRedirects) throw new DownloadError(`too many redirects (more than ${maxRedirects}) from ${url.href}`, url.href, false);
    const next = new URL(location, current);
    if (next.origin !== current.origin) sent = withoutCredentials(sent);
    current = next;
  }
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !["authorization", "cookie"].includes(k.toLowerCase())));
}

function requestOnce(url: URL, headers: Record<string, string>, opts: DownloadOptions): Promise<http.IncomingMessage> {
  const client = url.protocol === "https:" ? https : url.protocol === "http:" ? http : undefined;
  if (!client) return Promise.reject(new DownloadError(`unsupported URL protocol: ${url.href}`, url.href, false));
  const stallMs = opts.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: "GET", headers, signal: opts.signal }, resolve);
    // The socket timeout also covers the body: it fires whenever no data flows for stallMs.
    req.setTimeout(stallMs, () => {
      req.destroy(new DownloadError(`no data from ${url.href} for ${stallMs / 1000} s`, url.href, true));
    });
    req.on("error", reject);
    req.end();
  });
}

function isHtml(res: http.IncomingMessage): boolean {
  return /^\s*text\/html\b/i.test(res.headers["content-type"] ?? "");
}

async function readText(res: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    n += chunk.length;
    if (n >= limit) break;
  }
  return Buffer.concat(chunks).toString("utf8");
}

function cookiesOf(res: http.IncomingMessage): string[] {
  return (res.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]?.trim() ?? "").filter((c) => c.includes("="));
}

function headerInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

/** `bytes START-END/TOTAL` or `bytes *\/TOTAL` (total may be `*`). */
export function parseContentRange(value: string | undefined): { start?: number; total?: number } | undefined {
  const m = /^\s*bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/i.exec(value ?? "");
  if (!m) return undefined;
  return {
    start: m[1] === undefined ? undefined : Number(m[1]),
    total: m[3] === undefined || m[3] === "*" ? undefined : Number(m[3]),
  };
}

/** Retry-After as seconds or an HTTP date, in ms. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

async function fileSize(file: string): Promise<number> {
  const st = await fsp.stat(file).catch(() => undefined);
  return st?.size ?? 0;
}

const NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "ENETUNREACH", "ENETDOWN", "EHOSTUNREACH", "EAI_AGAIN", "ERR_STREAM_PREMATURE_CLOSE"]);

function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error) || err.name === "AbortError") return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && NETWORK_CODES.has(code)) || err.message === "aborted";
}

function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.message === "aborted" ? "the connection was closed before the end of the body" : err.message;
}
