#!/usr/bin/env node
/**
 * Builds native/build/imaginet_codec.node (native/codec/*.cc) with g++ directly: the test-set
 * builder's JPEG decode, compression round trip, lossless WebP save and Lanczos-4 resize on the
 * system's libjpeg-turbo and libwebp (Debian: libjpeg62-turbo-dev, libwebp-dev; scripts/setup.sh
 * installs them). Needs no libtorch. Rebuilt only when a source or a flag changes.
 *
 * The addon is optional: without it (no compiler, no headers, a failed build) the builder uses
 * sharp with the same pixels, so a failure here is reported and the install goes on.
 *
 * Usage: node scripts/build-codec.mjs [--force] [--verbose]   (env: CXX, IMAGINET_SKIP_NATIVE=1 skips it)
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SRC = path.join(REPO, "native", "codec");
const TARGET = path.join(REPO, "native", "build", "imaginet_codec.node");
const force = process.argv.includes("--force");
const verbose = process.argv.includes("--verbose");

function skip(msg) {
  console.error(`build-codec: ${msg}; the test-set builder will use sharp (same pixels, slower)`);
  process.exit(0);
}

if (process.env.IMAGINET_SKIP_NATIVE === "1") skip("skipped (IMAGINET_SKIP_NATIVE=1)");

const nodeHeaders = [process.env.IMAGINET_NODE_HEADERS, path.resolve(process.execPath, "..", "..", "include", "node"), "/usr/include/node", "/usr/local/include/node"].find(
  (d) => d && existsSync(path.join(d, "node_api.h")),
);
if (!nodeHeaders) skip("Node headers not found (node_api.h; Debian: libnode-dev, or set IMAGINET_NODE_HEADERS)");
let addonApi;
try {
  addonApi = path.dirname(createRequire(path.join(REPO, "package.json")).resolve("node-addon-api/package.json"));
} catch {
  skip("node-addon-api not found");
}
for (const [header, pkg] of [
  ["jpeglib.h", "libjpeg62-turbo-dev"],
  ["webp/encode.h", "libwebp-dev"],
]) {
  if (!["/usr/include", "/usr/local/include"].some((d) => existsSync(path.join(d, header)))) skip(`${header} not found (Debian: ${pkg}; bash scripts/setup.sh installs it)`);
}

const cxx = process.env.CXX || "g++";
// -O3: the resize kernel's loops are vectorised only at -O3 (about 2× at -O2's speed)
const cflags = ["-std=c++17", "-O3", "-fPIC", "-fvisibility=hidden", "-DNAPI_VERSION=8", "-DNAPI_CPP_EXCEPTIONS", ...[nodeHeaders, addonApi].flatMap((d) => ["-isystem", d])];
const libs = ["-ljpeg", "-lwebp"];
const sources = readdirSync(SRC)
  .filter((f) => f.endsWith(".cc"))
  .sort()
  .map((f) => path.join(SRC, f));
const key = createHash("sha256")
  .update([cxx, ...cflags, ...libs, ...sources.map((f) => readFileSync(f, "utf8"))].join("\0"))
  .digest("hex");
const stamp = `${TARGET}.stamp`;
if (!force && existsSync(TARGET) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) {
  console.log(`build-codec: ${path.relative(REPO, TARGET)} is up to date`);
  process.exit(0);
}
mkdirSync(path.dirname(TARGET), { recursive: true });
const args = [...cflags, "-shared", ...sources, "-o", TARGET, ...libs];
if (verbose) console.log([cxx, ...args].join(" "));
const r = spawnSync(cxx, args, { stdio: "inherit" });
if (r.error || r.status !== 0) skip(`${cxx} failed (${r.error?.message ?? `exit ${r.status}`})`);
writeFileSync(stamp, key);
console.log(`build-codec: built ${path.relative(REPO, TARGET)}`);
