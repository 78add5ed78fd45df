/** What every command shares: error reporting, exit codes, JSON output. */
import { InvalidArgumentError } from "commander";

export const EXIT_OK = 0;
/** the command ran, and what it checked is not in order (missing files, failed downloads) */
export const EXIT_PROBLEMS = 1;
/** bad usage or bad input (malformed annotation file, unknown option) */
export const EXIT_USAGE = 2;

/** Runs a command body; prints any error as `imaginet: error: …` and sets the exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? EXIT_OK;
    } catch (err) {
      let msg = err instanceof Error ? err.message : String(err);
      if (msg.includes(": duplicate path ") && !msg.includes("with other labels")) msg += " (pass --allow-duplicates to accept repeated lines)";
      process.stderr.write(`imaginet: error: ${msg}\n`);
      if (process.env.IMAGINET_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = EXIT_USAGE;
    }
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function parsePositiveInt(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`);
    return n;
  };
}

export function parsePositiveNumber(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number, got "${v}"`);
    return n;
  };
}

export function parseIntInRange(name: string, lo: number, hi: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`${name} must be an integer ${lo}-${hi}, got "${v}"`);
    return n;
  };
}

/** A repeatable option's collector: `--weights a.pth --weights b.pth` → ["a.pth", "b.pth"]. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
