import { Option, type Command } from "commander";
import * as path from "node:path";
import { downloadAnnotations, downloadSource, type SourceDownloadReport } from "../../data/download/index.js";
import { findSource, SOURCES, UPSTREAM_ANNOTATIONS } from "../../data/sources.js";
import { formatBytes } from "../../util/progress.js";
import { action, eachUntilInterrupted, EXIT_OK, EXIT_PROBLEMS, mirrorOption, mirrorRewriter, parseNonNegativeInt, parsePositiveInt, printJson, type Mirror } from "../common.js";

const ANNOTATIONS = "annotations";

interface DownloadOpts {
  root: string;
  jobs?: number;
  retries: number;
  keepArchives?: boolean;
  force?: boolean;
  verifyExisting?: boolean;
  mirror: Mirror[];
  json?: boolean;
}

type Outcome =
  | { source: string; ok: true; report?: SourceDownloadReport; files?: string[]; warnings?: string[] }
  | { source: string; ok: false; error: string; failedImages?: { name: string; reason: string }[] };

export function registerDownload(dataset: Command): void {
  dataset
    .command("download")
    .description("fetch sources into the dataset root: resumable, retried, verified, extracted safely")
    .argument(
      "[sources...]",
      `source ids (see \`imaginet dataset sources\`), "${ANNOTATIONS}" for the upstream annotation files, or "all" (ImagiNet's sources, not the Corvi and Practical test sets)`,
      [ANNOTATIONS],
    )
    .requiredOption("--root <dir>", "dataset root")
    .addOption(new Option("--jobs <n>", "parallel transfers").argParser(parsePositiveInt("--jobs")).default(undefined, "4; FFHQ images 8"))
    .option("--retries <n>", "retries per file", parseNonNegativeInt("--retries"), 5)
    .option("--keep-archives", "keep downloaded archives in ROOT/.imaginet-downloads after extracting")
    .option("--force", "fetch again even if a source is marked done")
    .option("--verify-existing", "FFHQ: re-check the pixel md5 of images already present")
    .addOption(mirrorOption())
    .option("--json", "print the outcome as JSON")
    .addHelpText(
      "after",
      "\nCredentials are read from the environment: KAGGLE_USERNAME and KAGGLE_KEY (or ~/.kaggle/kaggle.json) for ImageNet,\nHF_TOKEN for JourneyDB. Interrupted transfers resume on the next run.",
    )
    .action(
      action(async (names: string[], opts: DownloadOpts) => {
        const ids = names.includes("all") ? [ANNOTATIONS, ...SOURCES.filter((s) => !s.testSet).map((s) => s.id)] : names;
        const sources = ids.map((id) => (id === ANNOTATIONS ? ANNOTATIONS : findSource(id))); // unknown ids fail before any transfer
        const common = {
          jobs: opts.jobs,
          retries: opts.retries,
          force: opts.force,
          rewriteUrl: mirrorRewriter(opts.mirror),
          progress: opts.json ? false : undefined,
        };
        const outcomes = await eachUntilInterrupted<(typeof sources)[number], Outcome>(
          sources,
          async (s, signal) => {
            const id = s === ANNOTATIONS ? ANNOTATIONS : s.id;
            if (!opts.json) process.stderr.write(`${id}: fetching\n`);
            if (s === ANNOTATIONS) {
              const r = await downloadAnnotations(path.join(opts.root, ANNOTATIONS), UPSTREAM_ANNOTATIONS, { ...common, signal });
              return { source: id, ok: true, files: r.files.map((f) => f.file), warnings: r.warnings };
            }
            const report = await downloadSource(s, { ...common, signal, root: opts.root, keepArchives: opts.keepArchives, verifyExisting: opts.verifyExisting });
            return report.complete ? { source: id, ok: true, report } : { source: id, ok: false, error: `${report.ffhq?.failed.length ?? 0} images failed`, failedImages: report.ffhq?.failed };
          },
          (s, error) => ({ source: s === ANNOTATIONS ? ANNOTATIONS : s.id, ok: false, error }),
        );
        if (opts.json) printJson(outcomes);
        else process.stdout.write(formatOutcomes(outcomes));
        return outcomes.length === sources.length && outcomes.every((o) => o.ok) ? EXIT_OK : EXIT_PROBLEMS;
      }),
    );
}

function formatOutcomes(outcomes: Outcome[]): string {
  let out = "";
  for (const o of outcomes) {
    if (!o.ok) {
      out += `${o.source}: FAILED: ${o.error}\n`;
      for (const f of o.failedImages?.slice(0, 5) ?? []) out += `  ${f.name}: ${f.reason}\n`;
    } else if (o.report) {
      const r = o.report;
      const bytes = r.files.reduce((a, f) => a + f.bytes, 0);
      out += r.alreadyDone
        ? `${o.source}: already complete (use --force to fetch again)\n`
        : `${o.source}: ok, ${formatBytes(bytes)} fetched, placed in ${r.placed.join(", ") || "(nothing)"}${r.ffhq ? ` (${r.ffhq.downloaded} images downloaded, ${r.ffhq.skipped} already present)` : ""}\n`;
    } else {
      out += `${o.source}: ok, ${o.files?.length ?? 0} files\n`;
      for (const w of o.warnings ?? []) out += `  warning: ${w}\n`;
    }
  }
  return out;
}
