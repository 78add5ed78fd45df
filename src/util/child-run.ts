/**
 * Runs imaginet's own commands as child processes, each a resumable step: `eval loso`'s folds and
 * the wild detector's training script chain `train represent`, `train classifier`, `eval detect`, …
 */
import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { ProblemsError } from "./errors.js";
import { writeFileAtomic } from "./fs.js";

/**
 * How to start the imaginet CLI: by default as this process runs (the bin, or src/cli/main.ts under
 * tsx, with the same node flags); a script that is not the CLI itself gives its own.
 */
export function imaginetCommand(): string[] {
  return [...process.execArgv, process.argv[1]!];
}

/** Runs an imaginet command; its stdout (the --json result) is returned, its stderr shown when verbose or kept for the error. */
export function runImaginet(args: string[], verbose: boolean, cli: readonly string[] = imaginetCommand()): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      if (verbose) process.stderr.write(d);
      else stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new ProblemsError(`\`imaginet ${args.join(" ")}\` exited with ${code}${stderr ? `:\n${stderr.trimEnd()}` : ""}`));
    });
  });
}

export const exists = (file: string): Promise<boolean> =>
  fsp.access(file).then(
    () => true,
    () => false,
  );

/** Runs one step unless its marker exists; the marker holds the command's --json result. */
export async function runStep(marker: string, args: string[], verbose: boolean, cli?: readonly string[]): Promise<Record<string, unknown>> {
  if (await exists(marker)) return JSON.parse(await fsp.readFile(marker, "utf8")) as Record<string, unknown>;
  const out = await runImaginet([...args, "--json"], verbose, cli);
  await writeFileAtomic(marker, out);
  return JSON.parse(out) as Record<string, unknown>;
}

/** A training stage's --resume when an earlier, interrupted run left checkpoints in its folder. */
export async function resumeArgs(dir: string): Promise<string[]> {
  const names = await fsp.readdir(path.join(dir, "checkpoints")).catch(() => [] as string[]);
  return names.some((n) => n.endsWith(".pth")) ? ["--resume"] : [];
}
