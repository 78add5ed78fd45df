/**
 * Benchmark (not a test): the perturbed test-set builder, ours against a Python reference (PIL +
 * OpenCV, the same recipe, multiprocessing) on the same 500 real photos with the same worker count,
 * in one run. Prints images/s for each and the ratio.
 *
 *   npm run build && node --import tsx bench/testset.ts [--images 500] [--workers 2]
 *
 * Photos come from ../shared/data/wild-dev (its real images, reused from the start if fewer than asked).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { numberArg } from "./support.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..");
const N = numberArg("--images", 500);
const workers = numberArg("--workers", os.availableParallelism());
const wild = path.resolve(repo, "..", "shared", "data", "wild-dev");
if (!existsSync(path.join(wild, "labels.csv"))) throw new Error(`${wild}/labels.csv not found: the benchmark needs ../shared/data/wild-dev`);
if (!existsSync(path.join(repo, "dist/cli/main.js"))) throw new Error("run `npm run build` first: the benchmark times the built CLI");

/** labels.csv rows: path is the first field (quoted when it holds commas), origin the second. */
function realPhotos(): string[] {
  const out: string[] = [];
  for (const line of readFileSync(path.join(wild, "labels.csv"), "utf8").split("\n").slice(1)) {
    const m = /^("(?:[^"]|"")*"|[^,]*),(\d)/.exec(line);
    if (!m) continue;
    const p = m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replace(/""/g, '"') : m[1]!;
    if (m[2] === "0") out.push(p);
  }
  return out;
}

const photos = realPhotos();
const work = path.join(repo, ".bench", "testset");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
// labels alternate real / GAN only so the builder has a list to write; they do not change the work
const lines = Array.from({ length: N }, (_, i) => `./${photos[i % photos.length]},${i % 2 === 0 ? "0,0,4,8" : "1,0,0,1"}`);
const ann = path.join(work, "bench_annotations.txt");
writeFileSync(ann, `${lines.join("\n")}\n`);

function time(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return (performance.now() - t0) / 1000;
}

// warm the page cache for both sides
time(process.execPath, [
  "-e",
  `for (const l of require("fs").readFileSync(${JSON.stringify(ann)},"utf8").trim().split("\\n")) require("fs").readFileSync(require("path").join(${JSON.stringify(wild)}, l.slice(2, l.length - 8)))`,
]);
const ours = time(process.execPath, ["dist/cli/main.js", "testset", "build", "--root", wild, "--out", path.join(work, "ours"), "--workers", String(workers), "--json", ann]);
// the same WebP encoder effort as Pillow's default (method 4): identical pixels, smaller files
const ours4 = time(process.execPath, [
  "dist/cli/main.js",
  "testset",
  "build",
  "--root",
  wild,
  "--out",
  path.join(work, "ours-effort4"),
  "--workers",
  String(workers),
  "--webp-effort",
  "4",
  "--json",
  ann,
]);
const reference = (method: number): number =>
  time("/usr/bin/python3", [
    path.join(here, "testset_reference.py"),
    "--root",
    wild,
    "--out",
    path.join(work, `reference-m${method}`),
    "--workers",
    String(workers),
    "--webp-method",
    String(method),
    ann,
  ]);
const ref0 = reference(0);
const ref4 = reference(4);

console.log(`images: ${N} (${photos.length} distinct real photos), workers: ${workers}`);
console.log(`imaginet testset build:      ${ours.toFixed(2)} s  ${(N / ours).toFixed(1)} images/s  (lossless WebP effort 0, the default)`);
console.log(`  with --webp-effort 4:      ${ours4.toFixed(2)} s  ${(N / ours4).toFixed(1)} images/s  (Pillow's default WebP method)`);
console.log(`Python reference (PIL+cv2), WebP method 0: ${ref0.toFixed(2)} s  ${(N / ref0).toFixed(1)} images/s`);
console.log(`Python reference (PIL+cv2), WebP method 4: ${ref4.toFixed(2)} s  ${(N / ref4).toFixed(1)} images/s  (Pillow's default)`);
console.log(`throughput ratio ours/reference at equal WebP effort: ${(ref0 / ours).toFixed(2)}x (effort 0), ${(ref4 / ours4).toFixed(2)}x (effort 4)`);
console.log(`each side at its default: ${(ref4 / ours).toFixed(2)}x`);
