/** What every command shares: error reporting, exit codes, option parsers, JSON output. */
import { CommanderError, InvalidArgumentError, Option, type Command } from "commander";
import { repeatsWarning, type AnnotationFile } from "../data/annotations.js";
import { InputError, ProblemsError } from "../util/errors.js";

export const EXIT_OK = 0;
/** the command ran, and what it checked is not in order (missing files, failed downloads); also an internal error */
export const EXIT_PROBLEMS = 1;
/** bad usage or bad input (malformed annotation file, unknown option) */
export const EXIT_USAGE = 2;

/** The system errors that mean a path the user gave does not work (missing, not a folder, not allowed). */
const PATH_ERRORS = new Set(["ENOENT", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "EEXIST", "ELOOP", "ENAMETOOLONG"]);

/** An input problem: an InputError, or a system error about a path the user named (`-o` under a file). */
function isInputProblem(err: unknown): boolean {
  return err instanceof InputError || (err instanceof Error && PATH_ERRORS.has((err as NodeJS.ErrnoException).code ?? ""));
}

/** The exit code of an error, by its type: never by its message. */
export function exitCodeOf(err: unknown): number {
  if (isInputProblem(err)) return EXIT_USAGE;
  if (err instanceof ProblemsError) return EXIT_PROBLEMS;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  return EXIT_PROBLEMS;
}

/** The one-line `{"error": …}` that `--json` prints on stderr in place of `imaginet: error: …`. */
export function jsonError(message: string, exitCode: number, where: { file?: unknown; line?: unknown } = {}): string {
  const error = {
    message,
    exitCode,
    ...(typeof where.file === "string" ? { file: where.file } : {}),
    ...(typeof where.line === "number" ? { line: where.line } : {}),
  };
  return `${JSON.stringify({ error })}\n`;
}

/**
 * Prints an error that ended a command and returns its exit code. An error that is none of
 * InputError, ProblemsError or a path error is a bug or a system failure (EIO, a full disk): it is
 * called an internal error and exits 1.
 */
export function reportError(err: unknown, json: boolean): number {
  const code = exitCodeOf(err);
  const text = err instanceof Error ? err.message : String(err);
  const expected = isInputProblem(err) || err instanceof ProblemsError;
  const message = expected ? text : `internal error: ${text} (set IMAGINET_DEBUG=1 to print the stack trace)`;
  const where = (err ?? {}) as { file?: unknown; line?: unknown };
  process.stderr.write(json ? jsonError(message, code, where) : `imaginet: error: ${message}\n`);
  if (process.env.IMAGINET_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return code;
}

/** Runs a command body; reports any error (as JSON under `--json`) and sets the exit code. */
// biome-ignore lint/suspicious/noConfusingVoidType: a command body returns its exit code, or nothing for 0
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? EXIT_OK;
    } catch (err) {
      const cmd = args.at(-1) as Command;
      process.exitCode = reportError(err, Boolean(cmd.opts().json));
    }
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One JSON value on one line (JSON Lines: `detect --json` prints one per image as it is scored). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/* Every numeric option goes through one of these: the value is checked whole ("1.5" is not an
 * integer, "12abc" is not a number) and the message names the option. */

function parseNumber(name: string, v: string, expected: string, ok: (n: number) => boolean): number {
  const n = v.trim() === "" ? NaN : Number(v);
  if (!Number.isFinite(n) || !ok(n)) throw new InvalidArgumentError(`${name} must be ${expected}, got "${v}"`);
  return n;
}

export function parsePositiveInt(name: string): (v: string) => number {
  return (v) => parseNumber(name, v, "a positive integer", (n) => Number.isSafeInteger(n) && n >= 1);
}

export function parseNonNegativeInt(name: string): (v: string) => number {
  return (v) => parseNumber(name, v, "a non-negative integer", (n) => Number.isSafeInteger(n) && n >= 0);
}

export function parseIntAtLeast(name: string, lo: number): (v: string) => number {
  return (v) => parseNumber(name, v, `an integer of at least ${lo}`, (n) => Number.isSafeInteger(n) && n >= lo);
}

export function parseIntInRange(name: string, lo: number, hi: number): (v: string) => number {
  return (v) => parseNumber(name, v, `an integer ${lo}-${hi}`, (n) => Number.isInteger(n) && n >= lo && n <= hi);
}

export function parsePositiveNumber(name: string): (v: string) => number {
  return (v) => parseNumber(name, v, "a positive number", (n) => n > 0);
}

/** A number strictly between lo and hi (a rate: `--target-fpr`). */
export function parseNumberBetween(name: string, lo: number, hi: number): (v: string) => number {
  return (v) => parseNumber(name, v, `a number between ${lo} and ${hi}`, (n) => n > lo && n < hi);
}

/** `--seed`: a non-negative integer up to 2^32 - 1 (every generator takes a 32-bit seed). */
export const parseSeed = parseIntInRange("--seed", 0, 2 ** 32 - 1);

/** A fixed-length list of positive integers, e.g. `--layers 3,4,6,3`. */
export function parsePositiveIntList(name: string, length: number): (v: string) => number[] {
  return (v) => {
    const parts = v.split(",");
    const ok = parts.length === length && parts.every((p) => /^\s*\d+\s*$/.test(p) && Number(p) >= 1);
    if (!ok) throw new InvalidArgumentError(`${name} expects ${length} positive integers like ${[3, 4, 6, 3].slice(0, length).join(",")}, got "${v}"`);
    return parts.map(Number);
  };
}

/** A repeatable option's collector: `--weights a.pth --weights b.pth` → ["a.pth", "b.pth"]. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--workers`, stated the same way everywhere: its default says what it is, the library computes it. */
export function workersOption(what: string, defaultText: string): Option {
  return new Option("--workers <n>", `worker threads ${what}`).argParser(parsePositiveInt("--workers")).default(undefined, defaultText);
}

/** `-o, --out`: the one output path (a file or a folder, as its placeholder says) of every command that writes; required unless it has a default. */
export function outOption(placeholder: "<file>" | "<dir>", description: string, defaultValue?: string): Option {
  const o = new Option(`-o, --out ${placeholder}`, description);
  return defaultValue === undefined ? o.makeOptionMandatory() : o.default(defaultValue);
}

/** One warning on stderr per file with identical repeats (they are counted once; see `repeatsWarning`). */
export function warnRepeats(files: readonly AnnotationFile[]): void {
  for (const af of files) {
    const w = repeatsWarning(af);
    if (w) process.stderr.write(`imaginet: warning: ${w}\n`);
  }
}

export type Mirror = readonly [from: string, to: string];

/** `--mirror FROM=TO` (repeatable), checked as it is parsed. */
function parseMirror(v: string, previous: Mirror[]): Mirror[] {
  const eq = v.indexOf("=");
  if (eq <= 0 || eq === v.length - 1) throw new InvalidArgumentError(`--mirror expects FROM=TO (two URL prefixes), got "${v}"`);
  return [...previous, [v.slice(0, eq), v.slice(eq + 1)]];
}

/** `--mirror FROM=TO` of every command that downloads (a mirror, or a test server; Google Drive: FROM https://drive.usercontent.google.com/download). */
export function mirrorOption(): Option {
  return new Option("--mirror <from=to>", "fetch URLs starting with FROM from TO instead (repeatable)").argParser(parseMirror).default([], "none");
}

/** Requests for URLs starting with a mirror's FROM go to its TO instead. */
export function mirrorRewriter(pairs: readonly Mirror[]): ((url: string) => string) | undefined {
  if (pairs.length === 0) return undefined;
  return (url) => {
    for (const [from, to] of pairs) if (url.startsWith(from)) return to + url.slice(from.length);
    return url;
  };
}

/**
 * Runs `each` on the items in turn until they are done or Ctrl-C aborts the signal (the transfer in
 * progress stops and resumes on the next run); an item that throws becomes `failed(item, message)`.
 * Returns the outcomes of the items reached.
 */
export async function eachUntilInterrupted<T, O>(items: readonly T[], each: (item: T, signal: AbortSignal) => Promise<O>, failed: (item: T, message: string) => O): Promise<O[]> {
  const abort = new AbortController();
  const onSigint = (): void => abort.abort(new Error("interrupted: run the same command again to resume"));
  process.once("SIGINT", onSigint);
  const outcomes: O[] = [];
  try {
    for (const item of items) {
      if (abort.signal.aborted) break;
      try {
        outcomes.push(await each(item, abort.signal));
      } catch (err) {
        outcomes.push(failed(item, err instanceof Error ? err.message : String(err)));
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
  return outcomes;
}
