/**
 * The error types the CLI maps to exit codes (src/cli/common.ts), so commands never match message
 * text. Library code throws these; anything else that escapes a command is an internal failure.
 */

/** Bad usage or bad input (an option's value, a malformed file, an unsafe path): exit 2. */
export class InputError extends Error {
  override name = "InputError";
}

/** The command ran and what it checked is not in order (missing files, failed downloads): exit 1. */
export class ProblemsError extends Error {
  override name = "ProblemsError";
}

/** An error as a worker thread posts it: its message and which of the types above it was. */
export interface PostedError {
  message: string;
  kind: "input" | "problems" | "internal";
}

export function postError(err: unknown): PostedError {
  const message = err instanceof Error ? err.message : String(err);
  return { message, kind: err instanceof InputError ? "input" : err instanceof ProblemsError ? "problems" : "internal" };
}

/** The posted error rebuilt on the receiving thread, with its type (so the CLI's exit code survives the thread boundary). */
export function rebuildError(e: PostedError): Error {
  return e.kind === "input" ? new InputError(e.message) : e.kind === "problems" ? new ProblemsError(e.message) : new Error(e.message);
}
