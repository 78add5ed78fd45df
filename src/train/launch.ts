/**
 * `--nproc N`: starts N local ranks of the same command, as `torchrun --nproc-per-node N` would:
 * each child gets MASTER_ADDR=127.0.0.1, a free MASTER_PORT, RANK = LOCAL_RANK, WORLD_SIZE = N.
 * When a rank fails the others are ended too; the result is the first failing rank's exit code.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

/** A port that was free a moment ago on 127.0.0.1 (the OS's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** The command line without `--nproc N` / `--nproc=N`. */
export function withoutNproc(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--nproc") i++;
    else if (!args[i]!.startsWith("--nproc=")) out.push(args[i]!);
  }
  return out;
}

/** Runs this CLI's command line once per rank; resolves to 0 when every rank succeeded. */
export async function launchLocalRanks(nproc: number): Promise<number> {
  const port = await freePort();
  const args = [...process.execArgv, process.argv[1]!, ...withoutNproc(process.argv.slice(2))];
  const children: ChildProcess[] = [];
  let failed: number | null = null;
  const exits = Array.from({ length: nproc }, (_, rank) => {
    const env = { ...process.env, MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(nproc), LOCAL_WORLD_SIZE: String(nproc) };
    const child = spawn(process.execPath, args, { env, stdio: "inherit" });
    children.push(child);
    return new Promise<number>((resolve) => {
      child.on("exit", (code, signal) => {
        const c = code ?? (signal ? 128 + 1 : 1);
        if (c !== 0 && failed === null) {
          failed = c;
          process.stderr.write(`rank ${rank} exited with ${signal ?? c}: ending the other ranks\n`);
          for (const other of children) if (other !== child && other.exitCode === null) other.kill("SIGTERM");
        }
        resolve(c);
      });
    });
  });
  // Ctrl-C reaches every rank through the terminal's process group: each stops after the same step
  const ignore = () => {};
  process.on("SIGINT", ignore);
  try {
    await Promise.all(exits);
  } finally {
    process.off("SIGINT", ignore);
  }
  return failed ?? 0;
}
