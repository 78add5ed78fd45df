/**
 * Benchmark (not a test): the perturbed test-set builder, ours against a Python reference (PIL +
 * OpenCV, the same recipe, multiprocessing) on the same 500 real photos with the same worker count,
 * in one run. Prints, for each, the wall time, images/s, and the CPU seconds of the whole process
 * tree (user + system, from /usr/bin/time: the cost per worker, which a busy machine does not
 * distort as it does the wall time), and the ratios at equal lossless WebP effort: 0 (this
 * builder's default) and 4 (Pillow's default, hence upstream's `save_testset.py`).
 *
 *   npm run build && node --import tsx bench/testset.ts [--images 500] [--workers 2] [--rounds 1]
 *
 * Each round runs ours and the reference back to back at effort 0, then at effort 4; with several
 * rounds each side's line is its run with the least CPU time (the least disturbed by other jobs).
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
const rounds = numberArg("--rounds", 1);
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

interface Timing {
  wall: number;
  cpu: number;
}

function time(cmd: string, args: string[]): Timing {
  const report = path.join(work, "time.txt");
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "%U %S", "-o", report, cmd, ...args], { encoding: "utf8", cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
  const wall = (performance.now() - t0) / 1000;
  const [user, sys] = readFileSync(report, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number);
  return { wall, cpu: user! + sys! };
}

// warm the page cache for both sides
time(process.execPath, [
  "-e",
  `for (const l of require("fs").readFileSync(${JSON.stringify(ann)},"utf8").trim().split("\\n")) require("fs").readFileSync(require("path").join(${JSON.stringify(wild)}, l.slice(2, l.length - 8)))`,
]);
const ours = (effort: number): Timing => {
  const out = path.join(work, `ours-effort${effort}`);
  rmSync(out, { recursive: true, force: true }); // a second round must build, not resume
  return time(process.execPath, ["dist/cli/main.js", "testset", "build", "--root", wild, "--out", out, "--workers", String(workers), "--webp-effort", String(effort), "--json", ann]);
};
const reference = (method: number): Timing => {
  const out = path.join(work, `reference-m${method}`);
  rmSync(out, { recursive: true, force: true });
  return time("/usr/bin/python3", [path.join(here, "testset_reference.py"), "--root", wild, "--out", out, "--workers", String(workers), "--webp-method", String(method), ann]);
};
/** The least CPU time over the rounds (each side's run least disturbed by the machine's other jobs), and the wall time of that run. */
const best = (runs: Timing[]): Timing => runs.reduce((a, b) => (b.cpu < a.cpu ? b : a));
// ours and the reference back to back at each effort, `rounds` times: both sides see the same load
const runs: Record<"ours0" | "ref0" | "ours4" | "ref4", Timing[]> = { ours0: [], ref0: [], ours4: [], ref4: [] };
for (let r = 0; r < rounds; r++) {
  runs.ours0.push(ours(0));
  runs.ref0.push(reference(0));
  runs.ours4.push(ours(4));
  runs.ref4.push(reference(4));
}
const [ours0, ref0, ours4, ref4] = [best(runs.ours0), best(runs.ref0), best(runs.ours4), best(runs.ref4)];

const line = (name: string, t: Timing): string =>
  `${name.padEnd(44)} ${t.wall.toFixed(2).padStart(7)} s  ${(N / t.wall).toFixed(1).padStart(6)} images/s   CPU ${t.cpu.toFixed(2).padStart(7)} s  ${((1000 * t.cpu) / N).toFixed(1).padStart(6)} ms/image`;
const ratio = (ref: Timing, us: Timing): string => `${(ref.cpu / us.cpu).toFixed(2)}x per CPU second, ${(ref.wall / us.wall).toFixed(2)}x wall`;
console.log(`images: ${N} (${photos.length} distinct real photos), workers: ${workers}, rounds: ${rounds} (each line: the round with the least CPU)`);
console.log(line("imaginet testset build, WebP effort 0", ours0));
console.log(line("imaginet testset build, WebP effort 4", ours4));
console.log(line("Python reference (PIL+cv2), WebP method 0", ref0));
console.log(line("Python reference (PIL+cv2), WebP method 4", ref4));
console.log(`ours/reference at equal effort 0: ${ratio(ref0, ours0)}`);
console.log(`ours/reference at equal effort 4: ${ratio(ref4, ours4)}`);
console.log(`each side at its default (ours 0, Pillow 4): ${ratio(ref4, ours0)}`);
const perRound = (o: Timing[], r: Timing[]): string => o.map((t, i) => (r[i]!.cpu / t.cpu).toFixed(2)).join(", ");
console.log(`per round, reference/ours CPU: effort 0 ${perRound(runs.ours0, runs.ref0)}; effort 4 ${perRound(runs.ours4, runs.ref4)}`);
