/**
 * Hostile inputs for reports, eval import, calibration files and annotation lists: each case's files
 * are written under `<dir>/report/<case>/` (see test/hostile-report.test.ts for what each must do).
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { evaluateRun } from "../../../src/eval/evaluate.js";
import { readRun } from "../../../src/eval/results.js";
import { REPO } from "../../helpers.js";

const FIXTURE_RUN = path.join(REPO, "test/fixtures/evaluate");
const IMAGE = path.join(REPO, "test/fixtures/decode/rgb.png");

/** A detector name that is HTML, Markdown and CSV markup at once. */
export const HOSTILE_NAME = 'Evil" onerror=alert(1) <script>x</script> | *b* & `c`, _d_';

/** Two names that map to the same characters when made a file name. */
export const COLLIDING_NAMES = ["Det<1", "Det>1"] as const;

/** The fixture run (test/fixtures/evaluate) under another detector name. */
export function runNamed(dir: string, name: string): string {
  cpSync(FIXTURE_RUN, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(dir, "run.json"), "utf8")) as { detector: { name: string } };
  manifest.detector.name = name;
  writeFileSync(path.join(dir, "run.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

type Builder = (dir: string) => void | Promise<void>;

const CASES: Record<string, Builder> = {
  // 8: a name with ` onerror=`, tags and Markdown/CSV specials: escaped everywhere, the report written whole
  "hostile-name": (d) => void runNamed(path.join(d, "run"), HOSTILE_NAME),
  // 9: names that slug alike get files of their own
  "colliding-names": (d) => COLLIDING_NAMES.forEach((n, i) => runNamed(path.join(d, `run${i}`), n)),
  // 8: a destination that cannot be written (report.html is a folder): nothing is written
  "out-blocked": (d) => {
    runNamed(path.join(d, "run"), "Blocked");
    mkdirSync(path.join(d, "out", "report.html"), { recursive: true });
  },
  // 8: a run whose metrics.json breaks rendering (ROC arrays of different lengths): nothing is written
  "render-failure": async (d) => {
    const run = runNamed(path.join(d, "run"), "Broken");
    const e = await evaluateRun(await readRun(run), { seed: 42, resamples: 0 });
    e.detection!.roc.fpr.pop();
    writeFileSync(path.join(run, "metrics.json"), `${JSON.stringify(e)}\n`);
  },
  // 11: the same odd path in the annotation file and the scores
  "double-slash-paths": (d) => {
    writeFileSync(path.join(d, "test.txt"), "./a//r0.webp,0,0,4,8\n./a//s0.webp,1,0,0,0\n");
    writeFileSync(path.join(d, "scores.csv"), "path,score\n./a//r0.webp,-1.5\n./a//s0.webp,2.25\n");
  },
  // 11: a score for a path outside the dataset root
  "score-path-escape": (d) => {
    writeFileSync(path.join(d, "test.txt"), "./a/r0.webp,0,0,4,8\n");
    writeFileSync(path.join(d, "scores.csv"), "path,score\n./a/r0.webp,-1.5\n./a/../../x.webp,2\n");
  },
  // 11: an absolute score path
  "score-path-absolute": (d) => {
    writeFileSync(path.join(d, "test.txt"), "./a/r0.webp,0,0,4,8\n");
    writeFileSync(path.join(d, "scores.csv"), "path,score\n/etc/r0.webp,-1.5\n");
  },
  // 12: JSON's 1e999 is Infinity
  "calibration-infinite": (d) => {
    cpSync(IMAGE, path.join(d, "img.png"));
    writeFileSync(path.join(d, "cal.json"), '{"a": 1e999, "b": 0}\n');
  },
  // 12: a required key missing
  "calibration-missing-b": (d) => {
    cpSync(IMAGE, path.join(d, "img.png"));
    writeFileSync(path.join(d, "cal.json"), '{"a": 1.5}\n');
  },
  // 12: a key a calibration file does not have (a typo for "b")
  "calibration-unknown-key": (d) => {
    cpSync(IMAGE, path.join(d, "img.png"));
    writeFileSync(path.join(d, "cal.json"), '{"a": 1.5, "B": 0.5}\n');
  },
  // 12: a run's metrics.json from a run without calibration images
  "calibration-metrics-without": (d) => {
    cpSync(IMAGE, path.join(d, "img.png"));
    writeFileSync(path.join(d, "metrics.json"), '{"detector": "x", "calibration": null}\n');
  },
  // identical repeated lines (as upstream's group test files have): counted once, with a warning
  "repeated-lines": (d) => {
    mkdirSync(path.join(d, "root", "a"), { recursive: true });
    for (const f of ["r0.png", "r1.png"]) cpSync(IMAGE, path.join(d, "root", "a", f));
    writeFileSync(path.join(d, "list.txt"), "./a/r0.png,0,0,4,8\n./a/r1.png,0,0,4,8\n./a/r0.png,0,0,4,8\n./a//r1.png,0,0,4,8\n");
  },
  // a repeat with other labels
  "conflicting-repeat": (d) => {
    mkdirSync(path.join(d, "root"), { recursive: true });
    writeFileSync(path.join(d, "list.txt"), "./a/r0.png,0,0,4,8\n./a/r1.png,0,0,4,8\n./a/r0.png,0,1,4,8\n");
  },
};

export async function makeCorpus(dir: string): Promise<string[]> {
  for (const [name, build] of Object.entries(CASES)) {
    const d = path.join(dir, "report", name);
    mkdirSync(d, { recursive: true });
    await build(d);
  }
  return Object.keys(CASES);
}
