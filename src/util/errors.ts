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
