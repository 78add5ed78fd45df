import type { Command } from "commander";
import { SOURCES, type FetchSpec } from "../../data/sources.js";
import { renderTable } from "../../util/table.js";
import { action, printJson } from "../common.js";

function describeFetch(f: FetchSpec): string {
  switch (f.kind) {
    case "url":
      return f.url;
    case "drive":
      return `Google Drive ${f.id}`;
    case "kaggle-competition":
      return `Kaggle competition ${f.competition}`;
    case "ffhq-list":
      return "Google Drive, one file per image (ffhq_filenames.txt)";
  }
}

export function registerSources(dataset: Command): void {
  dataset
    .command("sources")
    .description("list the upstream sources: the folder each must sit in under the root, and how it is fetched")
    .option("--json", "print the registry as JSON")
    .action(
      action(async (opts: { json?: boolean }) => {
        if (opts.json) return printJson(SOURCES);
        const rows = SOURCES.map((s) => [
          s.id,
          s.folders.length > 3 ? `${s.folders.slice(0, 3).join(" ")} (+${s.folders.length - 3} more)` : s.folders.join(" "),
          s.fetch.length > 0 ? s.fetch.map(describeFetch).join("; ") : `by hand: ${s.homepage}`,
          s.credentials ? s.credentials.env.join("+") : "",
        ]);
        process.stdout.write(`${renderTable(["source", "folders under root", "fetched from", "needs"], rows)}\n`);
      }),
    );
}
