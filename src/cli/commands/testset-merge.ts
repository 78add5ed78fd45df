import type { Command } from "commander";
import { mergeTestset } from "../../data/testset/merge.js";
import { action, EXIT_OK, EXIT_PROBLEMS, outOption, printJson } from "../common.js";

export function registerTestsetMerge(testset: Command): void {
  testset
    .command("merge")
    .description("join the shards of `testset build --shard K/N` into the test set one unsharded build writes, byte for byte")
    .argument("<shards...>", "the shards' --out folders, all N of them, in any order")
    .addOption(outOption("<dir>", "where to write the test set (images are hard-linked from the shards where the file system allows)"))
    .option("--json", "print the report as JSON")
    .addHelpText("after", "\nExit code: 0 when every image was built, 1 when some failed (listed in OUT/errors.jsonl), 2 when the shards do not make one build.")
    .action(
      action(async (dirs: string[], opts: { out: string; json?: boolean }) => {
        const report = await mergeTestset(dirs, opts.out);
        if (opts.json) printJson(report);
        else process.stdout.write(`${report.out}: ${report.images} images from ${report.shards} shards${report.failed > 0 ? `, ${report.failed} failed (errors.jsonl)` : ""}\n`);
        return report.failed === 0 ? EXIT_OK : EXIT_PROBLEMS;
      }),
    );
}
