import type { Command } from "commander";
import { mergeRuns } from "../../eval/shards.js";
import { action, outOption, printJson } from "../common.js";

export function registerEvalMerge(evalCmd: Command): void {
  evalCmd
    .command("merge")
    .description("join the shards of `eval detect --shard K/N` into the run one unsharded `eval detect` writes (wallSeconds: the shards' sum; createdAt: the latest shard's)")
    .argument("<shards...>", "the shards' --out folders, all N of them, in any order")
    .addOption(outOption("<dir>", "run directory to write"))
    .option("--json", "print the report as JSON")
    .action(
      action(async (dirs: string[], opts: { out: string; json?: boolean }) => {
        const r = await mergeRuns(dirs, opts.out);
        if (r.hardwareDiffers) process.stderr.write(`imaginet: warning: the shards ran on different hardware; ${opts.out}/run.json records shard 1's\n`);
        if (opts.json) return printJson(r);
        process.stdout.write(
          `${r.out}: ${r.predictions} test predictions${r.calibration !== null ? `, ${r.calibration} calibration predictions` : ""} from ${r.shards} shards; next: imaginet eval run ${r.out}\n`,
        );
      }),
    );
}
