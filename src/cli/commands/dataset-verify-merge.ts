import type { Command } from "commander";
import { promises as fsp } from "node:fs";
import { mergeVerifyReports, type VerifyReport } from "../../data/verify.js";
import { InputError } from "../../util/errors.js";
import { inShardOrder } from "../../util/shard.js";
import { action, EXIT_OK, EXIT_PROBLEMS, printJson } from "../common.js";
import { formatVerify } from "./dataset-verify.js";

/** A shard's `dataset verify --json` report. */
type ShardReport = VerifyReport & { repeatedLines: unknown; shard?: { index: number; count: number; items: [number, number]; total: number; examples: number } };

async function readReport(file: string): Promise<ShardReport & { shard: NonNullable<ShardReport["shard"]> }> {
  const text = await fsp.readFile(file, "utf8");
  let r: ShardReport;
  try {
    r = JSON.parse(text) as ShardReport;
  } catch {
    throw new InputError(`${file}: not JSON (save \`dataset verify --shard K/N --json\`'s output)`);
  }
  if (!r.shard) throw new InputError(`${file}: not the report of a shard (no "shard": run \`dataset verify --shard K/N --json\`)`);
  return { ...r, shard: r.shard };
}

/** What must agree between the shards: all but their counts, examples and time. */
function sameCheck(r: ShardReport): string {
  return JSON.stringify([r.root, r.annotationFiles, r.deep, r.repeatedLines, r.shard?.examples]);
}

export function registerVerifyMerge(dataset: Command): void {
  dataset
    .command("verify-merge")
    .description("join the --json reports of `dataset verify --shard K/N` into the report of one unsharded verify (seconds: the shards' sum)")
    .argument("<reports...>", "the shards' JSON reports, all N of them, in any order")
    .option("--json", "print the report as JSON")
    .action(
      action(async (files: string[], opts: { json?: boolean }) => {
        const reports = await Promise.all(files.map(readReport));
        const shards = inShardOrder(reports.map((r, i) => ({ ...r, index: r.shard.index, count: r.shard.count, part: r.shard.items, total: r.shard.total, name: files[i]! })));
        const first = shards[0]!;
        const other = shards.find((s) => sameCheck(s) !== sameCheck(first));
        if (other) throw new InputError(`${other.name} and ${first.name} are shards of different checks (root, annotation files, --deep or --examples differ)`);
        const merged = mergeVerifyReports(shards, first.shard.examples);
        if (opts.json) printJson({ ...merged, repeatedLines: first.repeatedLines });
        else process.stdout.write(formatVerify(merged));
        return merged.ok ? EXIT_OK : EXIT_PROBLEMS;
      }),
    );
}
