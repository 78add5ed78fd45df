import type { Command } from "commander";
import { applyPrune, planPrune } from "../../data/prune.js";
import { defaultAnnotationFiles, loadReferences } from "../../data/references.js";
import { formatBytes } from "../../util/progress.js";
import { renderTable } from "../../util/table.js";
import { action, EXIT_OK, EXIT_PROBLEMS, printJson, warnRepeats } from "../common.js";

export function registerPrune(dataset: Command): void {
  dataset
    .command("prune")
    .description("remove files under the root that no annotation file references (dry run unless --yes)")
    .argument("[annotations...]", "annotation files (default: train_annotations.txt, calibration.txt, test_annotations.txt in ROOT/annotations)")
    .requiredOption("--root <dir>", "dataset root")
    .option("--yes", "really delete (default: only list what would go)")
    .option("--force", "delete even though some referenced files are missing")
    .option("--json", "print the plan (and result) as JSON")
    .action(
      action(async (files: string[], opts: { root: string; yes?: boolean; force?: boolean; json?: boolean }) => {
        const annotationFiles = files.length > 0 ? files : defaultAnnotationFiles(opts.root);
        const refs = await loadReferences(annotationFiles);
        warnRepeats(refs.files);
        const plan = await planPrune(opts.root, refs.paths, { progress: opts.json ? false : undefined });
        const refused = plan.missing.length > 0 && !opts.force;
        const willDelete = Boolean(opts.yes) && !refused;
        const result = willDelete ? await applyPrune(plan, { progress: opts.json ? false : undefined }) : null;
        if (opts.json) {
          printJson({ ...plan, missing: plan.missing, repeatedLines: refs.repeatedLines, dryRun: !willDelete, refused, result });
        } else {
          const out: string[] = [];
          out.push(`referenced: ${plan.referenced}, present: ${plan.present}, missing: ${plan.missing.length}`);
          if (plan.keptLinks.length > 0) out.push(`left alone (symlinked folders holding referenced files): ${plan.keptLinks.join(", ")}`);
          for (const m of plan.missing.slice(0, 5)) out.push(`  missing: ${m}`);
          out.push(`unreferenced: ${plan.unreferenced.length} files, ${formatBytes(plan.bytes)}`);
          if (plan.byFolder.length > 0)
            out.push(
              renderTable(
                ["folder", "files", "bytes"],
                plan.byFolder.map((f) => [f.folder, f.files, formatBytes(f.bytes)]),
              ),
            );
          if (refused) out.push(`refusing to prune: ${plan.missing.length} referenced files are missing (is the root complete? use --force to prune anyway)`);
          else if (result) out.push(`deleted ${result.deleted} files (${formatBytes(result.bytes)}) and ${result.removedDirs} emptied folders`);
          else out.push("dry run: nothing deleted (pass --yes to delete)");
          process.stdout.write(`${out.join("\n")}\n`);
        }
        return refused ? EXIT_PROBLEMS : EXIT_OK;
      }),
    );
}
