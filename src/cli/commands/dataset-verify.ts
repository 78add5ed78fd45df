import type { Command } from "commander";
import { defaultAnnotationFiles, loadReferences } from "../../data/references.js";
import { verifyDataset, type VerifyReport } from "../../data/verify.js";
import { DEFAULT_MAX_PIXELS } from "../../image/decode.js";
import { resolveShard, shardRange } from "../../util/shard.js";
import { renderTable } from "../../util/table.js";
import { addShardOptions, type ShardCliOptions } from "../shard-options.js";
import { action, EXIT_OK, EXIT_PROBLEMS, parsePositiveInt, printJson, workersOption, warnRepeats } from "../common.js";

export function registerVerify(dataset: Command): void {
  const cmd = dataset
    .command("verify")
    .description("check that every image the annotation files reference is present and is an image")
    .argument("[annotations...]", "annotation files (default: train_annotations.txt, calibration.txt, test_annotations.txt in ROOT/annotations)")
    .requiredOption("--root <dir>", "dataset root")
    .option("--deep", "decode every image and report corrupt or truncated ones")
    .option("--max-pixels <n>", "with --deep: images with more pixels count as corrupt", parsePositiveInt("--max-pixels"), DEFAULT_MAX_PIXELS)
    .addOption(workersOption("for the header checks", "one per core"))
    .option("--examples <n>", "example paths shown per problem and source", parsePositiveInt("--examples"), 5)
    .option("--json", "print the report as JSON");
  addShardOptions(cmd, "`imaginet dataset verify-merge` of the shards' --json reports").action(
    action(async (files: string[], opts: ShardCliOptions & { root: string; deep?: boolean; maxPixels: number; workers?: number; examples: number; json?: boolean }) => {
      const annotationFiles = files.length > 0 ? files : defaultAnnotationFiles(opts.root);
      const refs = await loadReferences(annotationFiles);
      warnRepeats(refs.files);
      const all = [...refs.paths];
      const shard = resolveShard(opts);
      const items = shard ? shardRange(all.length, shard) : undefined;
      const report = await verifyDataset(opts.root, annotationFiles, items ? all.slice(...items) : all, {
        deep: opts.deep,
        maxPixels: opts.maxPixels,
        workers: opts.workers,
        examples: opts.examples,
        progress: opts.json ? false : undefined,
      });
      const part = shard && items ? { shard: { index: shard.index, count: shard.count, items, total: all.length, examples: opts.examples } } : {};
      if (opts.json) printJson({ ...report, repeatedLines: refs.repeatedLines, ...part });
      else process.stdout.write(`${shard && items ? `shard ${shard.index}/${shard.count}: files ${items[0] + 1}-${items[1]} of ${all.length}\n` : ""}${formatVerify(report)}`);
      return report.ok ? EXIT_OK : EXIT_PROBLEMS;
    }),
  );
}

export function formatVerify(r: VerifyReport): string {
  const rows = r.sources.map((s) => [
    s.source,
    s.referenced,
    s.present,
    s.missing,
    s.unreadable,
    s.notImage,
    ...(r.deep ? [s.corrupt] : []),
    Object.entries(s.formats)
      .map(([f, n]) => `${f} ${n}`)
      .join(", "),
  ]);
  const total = (k: "referenced" | "present" | "missing" | "unreadable" | "notImage" | "corrupt"): number => r.sources.reduce((a, s) => a + s[k], 0);
  rows.push(["total", total("referenced"), total("present"), total("missing"), total("unreadable"), total("notImage"), ...(r.deep ? [total("corrupt")] : []), ""]);
  const header = ["source", "referenced", "present", "missing", "unreadable", "not image", ...(r.deep ? ["corrupt"] : []), "formats"];
  let out = `${renderTable(header, rows)}\n`;
  for (const s of r.sources) {
    for (const e of s.examples) out += `  ${e.status}: ${e.path}${e.reason !== e.status ? ` (${e.reason})` : ""}\n`;
  }
  out += r.ok
    ? `OK: all ${r.referenced} referenced files are present${r.deep ? " and decode" : ""} (${r.seconds.toFixed(2)} s)\n`
    : `PROBLEMS: ${r.referenced - total("present")} of ${r.referenced} referenced files are not usable (${r.seconds.toFixed(2)} s)\n`;
  return out;
}
