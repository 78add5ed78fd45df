/** The command tree of `imaginet`: every command, its options and its help (main.ts runs it). */
import { Command, Help, type Option } from "commander";
import { createRequire } from "node:module";
import { jsonError, EXIT_USAGE } from "./common.js";
import { registerDownload } from "./commands/dataset-download.js";
import { registerExample } from "./commands/dataset-example.js";
import { registerImport } from "./commands/dataset-import.js";
import { registerCalibrate } from "./commands/calibrate.js";
import { registerTrain } from "./commands/train.js";
import { registerDemo } from "./commands/demo.js";
import { registerConvert } from "./commands/convert.js";
import { registerDetect } from "./commands/detect.js";
import { registerEvalDetect } from "./commands/eval-detect.js";
import { registerEvalImport } from "./commands/eval-import.js";
import { registerEvalLoso } from "./commands/eval-loso.js";
import { registerEvalRun } from "./commands/eval-run.js";
import { registerEvalMerge } from "./commands/eval-merge.js";
import { registerInspect } from "./commands/dataset-inspect.js";
import { registerPrune } from "./commands/dataset-prune.js";
import { registerReport } from "./commands/report.js";
import { registerSources } from "./commands/dataset-sources.js";
import { registerVerify } from "./commands/dataset-verify.js";
import { registerVerifyMerge } from "./commands/dataset-verify-merge.js";
import { registerTestsetAudit } from "./commands/testset-audit.js";
import { registerTestsetBuild } from "./commands/testset-build.js";
import { registerTestsetMerge } from "./commands/testset-merge.js";
import { registerTestsetRecipe } from "./commands/testset-recipe.js";
import { registerServe } from "./commands/serve.js";
import { registerWeights } from "./commands/weights.js";

const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };

/**
 * Help states required options and defaults one way: "(required)", and "(default: …)" also for a
 * default the library computes (the option's value stays undefined, its description says what it is).
 */
function optionDescription(this: Help, option: Option): string {
  let text = Help.prototype.optionDescription.call(this, option);
  if (option.defaultValue === undefined && option.defaultValueDescription) text += ` (default: ${option.defaultValueDescription})`;
  if (option.mandatory) text += " (required)";
  return text;
}

/** `jsonErrors`: usage errors print as one `{"error": …}` line on stderr, without the help text. */
export function buildProgram(opts: { jsonErrors?: boolean } = {}): Command {
  const program = new Command("imaginet")
    .description("detect synthetic (AI-generated) images: the ImagiNet dataset, test set, detectors and evaluation")
    .version(pkg.version)
    .configureHelp({ optionDescription })
    .showHelpAfterError(!opts.jsonErrors)
    .exitOverride(); // subcommands inherit these settings as they are created
  if (opts.jsonErrors) program.configureOutput({ outputError: (str, write) => write(jsonError(str.trim().replace(/^error: /, ""), EXIT_USAGE)) });
  const dataset = program.command("dataset").description("get the ImagiNet dataset onto disk and check it");
  registerSources(dataset);
  registerVerify(dataset);
  registerVerifyMerge(dataset);
  registerPrune(dataset);
  registerDownload(dataset);
  registerInspect(dataset);
  registerExample(dataset);
  registerImport(dataset);
  const testset = program.command("testset").description("build and audit ImagiNet's perturbed test set");
  registerTestsetBuild(testset);
  registerTestsetMerge(testset);
  registerTestsetAudit(testset);
  registerTestsetRecipe(testset);
  const evalCmd = program.command("eval").description("evaluate detectors from saved per-image predictions");
  registerEvalImport(evalCmd);
  registerEvalDetect(evalCmd);
  registerEvalRun(evalCmd);
  registerEvalLoso(evalCmd);
  registerEvalMerge(evalCmd);
  registerReport(program);
  registerDetect(program);
  registerConvert(program);
  registerCalibrate(program);
  registerTrain(program);
  registerDemo(program);
  registerWeights(program);
  registerServe(program);
  return program;
}

/** Every runnable command (a leaf of the tree), as its words: ["dataset", "verify"], ["detect"], … */
export function leafCommands(cmd: Command, prefix: string[] = []): string[][] {
  if (cmd.commands.length === 0) return [prefix];
  return cmd.commands.flatMap((c) => leafCommands(c, [...prefix, c.name()]));
}
