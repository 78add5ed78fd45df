import * as path from "node:path";
import { Option, type Command } from "commander";
import { importLabels } from "../../data/import.js";
import { CONTENTS, ORIGINS } from "../../data/labels.js";
import { renderTable } from "../../util/table.js";
import { action, outOption, printJson } from "../common.js";

export function registerImport(dataset: Command): void {
  dataset
    .command("import")
    .description("turn a labelled CSV of images (wild-dev's labels.csv columns) into an ImagiNet-format dataset root: grids cut into tiles, watermarks cropped, safe names, sources kept")
    .argument("<labels>", "the labels CSV (path,origin,content,group,generator,sha256,tiles,… with a header)")
    .addOption(new Option("--images-root <dir>", "folder the CSV's paths are relative to").default(undefined, "the CSV's folder"))
    .addOption(outOption("<dir>", "the dataset root to write (images/, annotations/all.txt, sources.csv, mapping.csv)"))
    .option("--json", "print the summary as JSON")
    .action(
      action(async (labels: string, opts: { imagesRoot?: string; out: string; json?: boolean }) => {
        const summary = await importLabels(labels, { imagesRoot: opts.imagesRoot ?? path.dirname(labels), out: opts.out, progress: opts.json ? false : undefined });
        if (opts.json) return printJson(summary);
        const out: string[] = [];
        out.push(
          `imported ${summary.inputs} images as ${summary.outputs} in ${summary.seconds.toFixed(1)} s: ${summary.tiled} grids cut into tiles, ${summary.watermarked} watermarks cropped, ${summary.renamed} names made safe (${summary.suffixed} with a suffix)`,
        );
        for (const u of summary.uneven) out.push(`  uneven grid (remainder left off): ${u.path} ${u.width}x${u.height} tiles=${u.tiles}`);
        out.push(
          renderTable(
            ["source", "origin", "content", "images"],
            summary.counts.map((c) => [c.source, ORIGINS[c.origin]!, CONTENTS[c.content]!, c.images]),
          ),
        );
        out.push(`annotations: ${summary.files.annotations}`, `sources: ${summary.files.sources}`, `mapping: ${summary.files.mapping}`);
        process.stdout.write(`${out.join("\n")}\n`);
      }),
    );
}
