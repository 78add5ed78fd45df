/**
 * Benchmark (not a test): `imaginet dataset verify` on a generated tree of 200k small image files,
 * beside a Python reference that does the same work (existence + header read per file, as a
 * straightforward upstream-style script would). Prints both times and the ratio.
 *
 *   npm run bench            (or: node --import tsx bench/verify.ts [--files N])
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { numberArg } from "./support.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..");
const N = numberArg("--files", 200_000);
const root = path.join(repo, ".bench", `verify-${N}`);
const ann = path.join(root, "annotations", "test_annotations.txt");

// a 1×1 PNG: the smallest real image file
const PNG = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082", "hex");
const FOLDERS = [
  "imagenet/ILSVRC/Data/CLS-LOC/val",
  "val2017",
  "ffhq",
  "wikiart/Impressionism",
  "danbooru2021",
  "photozilla/dataset/nature",
  "imagenet_stylegan",
  "sd_photos_fake",
  "journeydb",
  "dalle3",
];

if (!existsSync(ann)) {
  process.stderr.write(`generating ${N} files under ${root} ...\n`);
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    const folder = FOLDERS[i % FOLDERS.length]!;
    const sub = `${folder}/${String(Math.floor(i / 10000)).padStart(2, "0")}`;
    if (i % 10000 < FOLDERS.length) mkdirSync(path.join(root, sub), { recursive: true });
    const rel = `${sub}/${String(i).padStart(7, "0")}.png`;
    writeFileSync(path.join(root, rel), PNG);
    lines.push(`./${rel},0,0,4,8`);
  }
  mkdirSync(path.dirname(ann), { recursive: true });
  writeFileSync(ann, `${lines.join("\n")}\n`);
}

function time(cmd: string, args: string[]): { seconds: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: repo });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return { seconds, out: r.stdout };
}

// warm the page cache once so both sides read from memory
time(process.execPath, ["--import", "tsx", "src/cli/main.ts", "dataset", "verify", "--root", root, ann, "--json"]);
const ours = time(process.execPath, ["--import", "tsx", "src/cli/main.ts", "dataset", "verify", "--root", root, ann, "--json"]);
const report = JSON.parse(ours.out) as { ok: boolean; referenced: number; seconds: number };
if (!report.ok || report.referenced !== N) throw new Error("verify did not find every file");
const ref = time("python3", [path.join(here, "verify_reference.py"), root, ann]);
if (ref.out.trim() !== `${N} 0`) throw new Error(`reference disagrees: ${ref.out}`);

console.log(`files: ${N}`);
console.log(`imaginet dataset verify (whole command): ${ours.seconds.toFixed(2)} s  (checks alone: ${report.seconds.toFixed(2)} s, ${Math.round(N / report.seconds)} files/s)`);
console.log(`python reference (exists + header read):  ${ref.seconds.toFixed(2)} s`);
console.log(`ratio reference/ours (whole command): ${(ref.seconds / ours.seconds).toFixed(2)}x`);
