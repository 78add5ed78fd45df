/**
 * `imaginet weights list | download NAME… | verify [NAME…] | path NAME | remove NAME…`: published
 * detector weights by name, in the cache folder (src/weights).
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import * as path from "node:path";
import { DETECTORS } from "../../detectors/index.js";
import type { WeightsSource } from "../../detectors/types.js";
import { InputError } from "../../util/errors.js";
import { formatBytes } from "../../util/progress.js";
import { PACKAGE_ROOT } from "../../util/package.js";
import { renderTable } from "../../util/table.js";
import {
  checkpointPaths,
  downloadWeights,
  findWeights,
  isDownloaded,
  removeWeights,
  readLock,
  verifyWeights,
  weightsCacheDir,
  weightsCatalog,
  weightsFiles,
  type WeightsDownloadReport,
} from "../../weights/index.js";
import { action, eachUntilInterrupted, EXIT_OK, EXIT_PROBLEMS, mirrorOption, mirrorRewriter, parseNonNegativeInt, printJson, type Mirror } from "../common.js";

interface CommonOpts {
  cache?: string;
  json?: boolean;
}

function cacheOption(): Option {
  return new Option("--cache <dir>", "the weights cache folder").default(undefined, "$IMAGINET_HOME/weights, else $XDG_CACHE_HOME/imaginet/weights, else ~/.cache/imaginet/weights");
}

function cacheDirOf(opts: CommonOpts): string {
  return path.resolve(opts.cache ?? weightsCacheDir());
}

function parseSha256(v: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(v)) throw new InvalidArgumentError(`--sha256 expects 64 hexadecimal digits, got "${v}"`);
  return v.toLowerCase();
}

function describeSource(s: WeightsSource): string {
  return s.url ?? `Google Drive ${s.drive}`;
}

export function registerWeights(program: Command): void {
  const weights = program.command("weights").description("published detector weights by name, in a cache folder: list, download, verify, path, remove");
  registerList(weights);
  registerDownloadWeights(weights);
  registerVerifyWeights(weights);
  registerPath(weights);
  registerRemove(weights);
}

function registerList(weights: Command): void {
  weights
    .command("list")
    .description("list the known weights, where each comes from, and which are in the cache")
    .addOption(cacheOption())
    .option("--json", "print the list as JSON")
    .action(
      action(async (opts: CommonOpts) => {
        const cacheDir = cacheDirOf(opts);
        const rows = await Promise.all(
          weightsCatalog().map(async (s) => ({ ...s, downloaded: await isDownloaded(s, { cacheDir }), files: checkpointPaths(s).map((rel) => path.join(cacheDir, rel)) })),
        );
        const bundled = DETECTORS.flatMap((d) => (d.bundled ? [{ detector: d.name, file: path.join(PACKAGE_ROOT, d.bundled.file), sha256: d.bundled.sha256 }] : []));
        if (opts.json) return printJson({ cache: cacheDir, weights: rows, bundled });
        const table = rows.map((r) => [r.name, r.downloaded ? "yes" : "-", describeSource(r), r.description]);
        const shipped = bundled.map((b) => `shipped with imaginet (no download): ${b.detector} (${b.file})\n`).join("");
        process.stdout.write(`${renderTable(["name", "downloaded", "fetched from", "what"], table)}\ncache: ${cacheDir}\n${shipped}`);
      }),
    );
}

interface DownloadOpts extends CommonOpts {
  sha256?: string;
  retries: number;
  mirror: Mirror[];
}

type Outcome = ({ ok: true } & WeightsDownloadReport) | { name: string; ok: false; error: string };

function registerDownloadWeights(weights: Command): void {
  weights
    .command("download")
    .description("fetch weights into the cache: resumable, retried, checked against the lock file's sha256 (recorded at the first download)")
    .argument("<names...>", "weights names (see `imaginet weights list`), or all")
    .addOption(new Option("--sha256 <hex>", "the sha256 the downloaded file must have (one name only); a mismatch is refused and nothing is kept").argParser(parseSha256))
    .option("--retries <n>", "retries per file", parseNonNegativeInt("--retries"), 5)
    .addOption(mirrorOption())
    .addOption(cacheOption())
    .option("--json", "print the outcome as JSON")
    .action(
      action(async (names: string[], opts: DownloadOpts) => {
        const sources = names.includes("all") ? [...weightsCatalog()] : names.flatMap(findWeights); // unknown names fail before any transfer
        if (opts.sha256 && sources.length !== 1) throw new InputError(`--sha256 pins one file: give exactly one name, not ${sources.length}`);
        const common = {
          cacheDir: cacheDirOf(opts),
          retries: opts.retries,
          sha256: opts.sha256,
          rewriteUrl: mirrorRewriter(opts.mirror),
          progress: opts.json ? false : undefined,
        };
        const outcomes = await eachUntilInterrupted<WeightsSource, Outcome>(
          sources,
          async (s, signal) => ({ ok: true, ...(await downloadWeights(s, { ...common, signal })) }),
          (s, error) => ({ name: s.name, ok: false, error }),
        );
        if (opts.json) printJson(outcomes);
        else process.stdout.write(outcomes.map(formatOutcome).join(""));
        return outcomes.length === sources.length && outcomes.every((o) => o.ok) ? EXIT_OK : EXIT_PROBLEMS;
      }),
    );
}

function formatOutcome(o: Outcome): string {
  if (!o.ok) return `${o.name}: FAILED: ${o.error}\n`;
  const what = o.status === "present" ? "already in the cache, sha256 as recorded" : `downloaded ${formatBytes(o.bytes)}${o.recorded ? `, sha256 recorded in ${o.lock}` : ", sha256 as recorded"}`;
  return `${o.name}: ${what}\n${o.files.map((f) => `  ${f}\n`).join("")}`;
}

function registerVerifyWeights(weights: Command): void {
  weights
    .command("verify")
    .description("hash the cached weights in full and compare them with the sha256 recorded in the lock file")
    .argument("[names...]", "weights names (default: every downloaded one)")
    .addOption(cacheOption())
    .option("--json", "print the outcome as JSON")
    .action(
      action(async (names: string[], opts: CommonOpts) => {
        const cacheDir = cacheDirOf(opts);
        const sources = names.length > 0 ? names.flatMap(findWeights) : await downloadedSources(cacheDir);
        const results = await verifyWeights(sources, { cacheDir });
        const ok = results.every((r) => r.ok);
        if (opts.json) printJson({ ok, cache: cacheDir, weights: results });
        else if (results.length === 0) process.stdout.write(`no weights downloaded in ${cacheDir}\n`);
        else process.stdout.write(results.map((r) => (r.ok ? `${r.name}: ok\n` : r.problems.map((p) => `${r.name}: FAILED: ${p}\n`).join(""))).join(""));
        return ok ? EXIT_OK : EXIT_PROBLEMS;
      }),
    );
}

/** The catalogue's sources that have a lock entry. */
async function downloadedSources(cacheDir: string): Promise<WeightsSource[]> {
  const lock = await readLock(cacheDir);
  return weightsCatalog().filter((s) => lock.weights[s.name] !== undefined);
}

function registerPath(weights: Command): void {
  weights
    .command("path")
    .description("print the checkpoint file(s) of downloaded weights, one per line (a zip source: its members, in order)")
    .argument("<name>", "weights name")
    .addOption(cacheOption())
    .option("--json", "print {name, files} as JSON")
    .action(
      action(async (name: string, opts: CommonOpts) => {
        const files = await weightsFiles(findWeights(name), { cacheDir: cacheDirOf(opts) });
        if (opts.json) printJson({ name, files });
        else process.stdout.write(files.map((f) => `${f}\n`).join(""));
      }),
    );
}

function registerRemove(weights: Command): void {
  weights
    .command("remove")
    .description("delete weights from the cache and forget their recorded sha256")
    .argument("<names...>", "weights names")
    .addOption(cacheOption())
    .option("--json", "print the outcome as JSON")
    .action(
      action(async (names: string[], opts: CommonOpts) => {
        const sources = names.flatMap(findWeights);
        const cacheDir = cacheDirOf(opts);
        const results: { name: string; removed: boolean }[] = [];
        for (const s of sources) results.push({ name: s.name, removed: await removeWeights(s, { cacheDir }) });
        if (opts.json) printJson(results);
        else process.stdout.write(results.map((r) => `${r.name}: ${r.removed ? "removed" : "not in the cache, nothing to remove"}\n`).join(""));
      }),
    );
}
