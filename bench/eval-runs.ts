/**
 * Benchmark (not a test): evaluating 40,000 images × 5 detectors with 1,000-resample bootstrap
 * intervals on every headline number (group, specific-generator, content and all-image rows), from
 * saved runs, end to end (read, calibrate, evaluate, write metrics.json), then the report.
 *
 *   npm run build && node --import tsx bench/eval-runs.ts
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Rng } from "../src/util/rng.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
if (!existsSync(path.join(repo, "dist/cli/main.js"))) throw new Error("run `npm run build` first: the benchmark times the built CLI");
const work = path.join(repo, ".bench", "eval-runs");
rmSync(work, { recursive: true, force: true });
const GROUPS = ["gan", "sd", "midjourney", "dalle3"];
const SPECIFIC: number[][] = [[0, 1, 2], [3, 4, 5], [6], [7]];
const PER_GROUP = [7500, 7500, 2500, 2500]; // synthetic = real per group file, 40,000 in all, as ImagiNet's test set

function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

const dirs: string[] = [];
for (let d = 0; d < 5; d++) {
  const rng = new Rng(d, "bench-eval");
  const lines: string[] = [];
  let k = 0;
  GROUPS.forEach((g, gi) => {
    for (let i = 0; i < PER_GROUP[gi]!; i++) {
      const s = SPECIFIC[gi]![rng.int(0, SPECIFIC[gi]!.length - 1)]!;
      lines.push(JSON.stringify({ path: `testset/x/${k++}.webp`, labels: [1, rng.int(0, 3), gi, s], split: g, score: normal(rng) + 0.5 + d * 0.2 }));
      lines.push(JSON.stringify({ path: `testset/x/${k++}.webp`, labels: [0, rng.int(0, 3), 4, 8], split: g, score: normal(rng) }));
    }
  });
  const calib = Array.from({ length: 80 }, (_, i) => JSON.stringify({ path: `c/${i}.webp`, labels: i % 2 ? [1, 0, 0, 0] : [0, 0, 4, 8], score: normal(rng) + (i % 2 ? 0.5 + d * 0.2 : 0) }));
  const dir = path.join(work, `det${d}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "predictions.jsonl"), `${lines.join("\n")}\n`);
  writeFileSync(path.join(dir, "calibration.jsonl"), `${calib.join("\n")}\n`);
  writeFileSync(
    path.join(dir, "run.json"),
    JSON.stringify({
      schema: "imaginet-run/1",
      detector: { name: `Detector ${d}`, weightsSha256: null },
      annotations: [],
      recipeHash: null,
      seed: null,
      software: {},
      hardware: { cpu: "", cores: 2, memoryGiB: 24, accelerator: null },
      batchSize: null,
      precision: null,
      wallSeconds: null,
      createdAt: "2026-01-01T00:00:00Z",
    }),
  );
  dirs.push(dir);
}

function time(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ["dist/cli/main.js", ...args], { cwd: repo, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

const evalSeconds = time(["eval", "run", ...dirs, "--bootstrap", "1000", "--json"]);
const reportSeconds = time(["report", ...dirs, "--out", path.join(work, "report"), "--json"]);
console.log(`40,000 images × 5 detectors, 1,000 bootstrap resamples (ACC and AUC intervals on 17 rows per detector)`);
console.log(`imaginet eval run: ${evalSeconds.toFixed(2)} s (target < 10 s)`);
console.log(`imaginet report:   ${reportSeconds.toFixed(2)} s`);
