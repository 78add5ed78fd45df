import type { Command } from "commander";
import { auditTestset, type AuditReport } from "../../data/testset/audit.js";
import { auditFiles } from "../../data/testset/plan.js";
import { renderTable } from "../../util/table.js";
import { action, EXIT_OK, EXIT_PROBLEMS, printJson } from "../common.js";

export function registerTestsetAudit(testset: Command): void {
  testset
    .command("audit")
    .description("formats, JPEG qualities and sizes per split and label; flags real/synthetic differences a detector could exploit")
    .argument("<dir>", "a built test set (with test_{group}.txt) or a dataset root (with annotations/)")
    .argument("[annotations...]", "annotation files (default: DIR/test_{gan,sd,midjourney,dalle3}.txt, else the original-image test files in DIR/annotations)")
    .option("--json", "print the report as JSON")
    .addHelpText("after", "\nExit code: 0 when nothing is flagged, 1 when a split is flagged.")
    .action(
      action(async (dir: string, files: string[], opts: { json?: boolean }) => {
        const chosen = files.length > 0 ? files : auditFiles(dir);
        const report = await auditTestset(dir, chosen, { progress: opts.json ? false : undefined });
        if (opts.json) printJson(report);
        else process.stdout.write(formatAudit(report));
        return report.flags.length === 0 ? EXIT_OK : EXIT_PROBLEMS;
      }),
    );
}

function formatAudit(r: AuditReport): string {
  const rows = r.groups.map((g) => [
    g.split,
    g.content,
    g.label,
    g.images,
    Object.entries(g.formats)
      .map(([f, n]) => `${f} ${n}`)
      .join(", "),
    g.jpegQuality.count > 0 ? `${g.jpegQuality.min}-${g.jpegQuality.max} (median ${g.jpegQuality.median})` : "",
    g.medianPixels,
    g.medianBytesPerPixel.toFixed(3),
  ]);
  let out = `${renderTable(["split", "content", "label", "images", "formats", "JPEG quality", "median px", "bytes/px"], rows)}\n`;
  out += r.flags.length === 0 ? "no differences between real and synthetic above the thresholds\n" : `${r.flags.length} flagged:\n`;
  for (const f of r.flags) out += `  ${f.split} ${f.content}: ${f.kind}: ${f.detail}\n`;
  return out;
}
