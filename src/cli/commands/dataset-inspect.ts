import type { Command } from "commander";
import { readAnnotationFile, type AnnotationFile, type AnnotationFormat, type ImagiNetRecord } from "../../data/annotations.js";
import { CONTENTS, GROUPS, ORIGINS, SPECIFICS } from "../../data/labels.js";
import { countBy, type SplitKey } from "../../data/tracks.js";
import { renderTable } from "../../util/table.js";
import { action, printJson, warnRepeats } from "../common.js";

const NAMES: Record<SplitKey, readonly string[]> = { origin: ORIGINS, content: CONTENTS, group: GROUPS, specific: SPECIFICS };

export interface FileStats {
  file: string;
  format: AnnotationFormat;
  records: number;
  /** lines that repeat an earlier line (same path and labels), counted once in `records` */
  repeatedLines: number;
  counts: Record<string, Record<string, number>>;
}

export function statsOf(af: AnnotationFile): FileStats {
  const counts: Record<string, Record<string, number>> = {};
  if (af.format === "imaginet") {
    const recs = af.records as ImagiNetRecord[];
    for (const key of ["origin", "group", "specific", "content"] as const) {
      counts[key] = Object.fromEntries([...countBy(recs, key)].map(([id, n]) => [NAMES[key][id]!, n]));
    }
  } else {
    counts.origin = {};
    for (const r of af.records) counts.origin[r.originName] = (counts.origin[r.originName] ?? 0) + 1;
  }
  return { file: af.file, format: af.format, records: af.records.length, repeatedLines: af.repeats.length, counts };
}

export function registerInspect(dataset: Command): void {
  dataset
    .command("inspect")
    .description("validate annotation files (any upstream format) and count images per label")
    .argument("<annotations...>", "annotation files")
    .option("--json", "print the counts as JSON")
    .action(
      action(async (files: string[], opts: { json?: boolean }) => {
        const parsed: AnnotationFile[] = [];
        for (const f of files) parsed.push(await readAnnotationFile(f));
        warnRepeats(parsed);
        const stats = parsed.map(statsOf);
        if (opts.json) return printJson(stats);
        for (const s of stats) {
          process.stdout.write(`${s.file}: ${s.format} format, ${s.records} images\n`);
          for (const [key, c] of Object.entries(s.counts)) {
            process.stdout.write(
              `${renderTable(
                [key, "images"],
                Object.entries(c).map(([k, n]) => [k, n]),
              )}\n\n`,
            );
          }
        }
      }),
    );
}
