#!/usr/bin/env node
/**
 * Builds the web page (web/) into dist/web/: index.html, app.css, app.js (the page with the project's
 * own preprocessing and onnxruntime-web bundled by esbuild), and onnxruntime-web's WASM runtime in
 * dist/web/ort/. `npm run build` and `prepare` (so `npm ci`) run it.
 */
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "dist", "web");
const ortDist = path.dirname(createRequire(import.meta.url).resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm"));
/** the runtime files onnxruntime-web's default build loads (WASM with SIMD and threads, and WebGPU through JSEP) */
const ORT_FILES = ["ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"];

rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, "ort"), { recursive: true });
await build({
  entryPoints: [path.join(root, "web", "main.ts")],
  outfile: path.join(out, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  // the runtime's .mjs and .wasm are loaded from dist/web/ort/ (ort.env.wasm.wasmPaths), not inlined
  conditions: ["onnxruntime-web-use-extern-wasm"],
  // only the recipes' compression steps load sharp, and no detector's preprocessing has one
  external: ["sharp"],
  logLevel: "warning",
});
for (const f of ["index.html", "app.css"]) copyFileSync(path.join(root, "web", f), path.join(out, f));
for (const f of ORT_FILES) copyFileSync(path.join(ortDist, f), path.join(out, "ort", f));
console.log(`web page built into ${path.relative(process.cwd(), out) || "."}`);
