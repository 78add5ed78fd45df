#!/usr/bin/env node
import { CommanderError } from "commander";
import { EXIT_OK, exitCodeOf, reportError } from "./common.js";
import { buildProgram } from "./program.js";

// `imaginet … | head -1`: the reader went away; stop quietly, as Unix tools do
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(EXIT_OK);
  throw err;
});

const json = process.argv.slice(2).includes("--json");
try {
  await buildProgram({ jsonErrors: json }).parseAsync(process.argv);
} catch (err) {
  // --help and --version end here with 0, usage errors (printed already) with 2; command bodies
  // report their own errors (common.ts action), so anything else escaped them
  process.exitCode = err instanceof CommanderError ? exitCodeOf(err) : reportError(err, json);
}
