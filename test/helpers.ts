import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The upstream files the team shares beside the repository (CI has them too). */
export const SHARED = path.resolve(REPO, "..", "shared", "imaginet");
export const HAVE_SHARED = existsSync(SHARED);

export function tmpDir(prefix = "imaginet-test-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs the CLI from source, as a user would run the built bin. */
export function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO, "src/cli/main.ts"), ...args], {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, ...opts.env },
    encoding: "utf8",
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The CLI in a child process without blocking this one (for tests that serve HTTP from here, or
 * that must not hang: past `timeoutMs` the child is killed and the code is -1).
 */
export function cliAsync(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const options = { cwd: REPO, env: { ...process.env, ...opts.env }, encoding: "utf8" as const, timeout: opts.timeoutMs ?? 0, killSignal: "SIGKILL" as const };
    execFile(process.execPath, ["--import", "tsx", path.join(REPO, "src/cli/main.ts"), ...args], options, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The values of JSON Lines output (`detect --json`: one object per image), untyped as JSON.parse's. */
// biome-ignore lint/suspicious/noExplicitAny: JSON.parse's own type; tests read the fields they assert
export function jsonLines(text: string): any[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
}

/** `imaginet serve --port 0 --json ARGS` in a child process; resolves once it printed its address. */
export function cliServe(args: string[]): Promise<{ url: string; child: ReturnType<typeof spawn>; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "src/cli/main.ts"), "serve", "--port", "0", "--json", ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve({ url: JSON.parse(out.split("\n")[0]!).url, child, exit });
    });
    void exit.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}
