#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { createRequire } from "node:module";
import { EXIT_USAGE } from "./common.js";
import { registerDownload } from "./commands/dataset-download.js";
import { registerExample } from "./commands/dataset-example.js";
import { registerCalibrate } from "./commands/calibrate.js";
import { registerTrain } from "./commands/train.js";
import { registerDemo } from "./commands/demo.js";
import { registerConvert, registerDetect } from "./commands/detect.js";
import { registerEvalDetect } from "./commands/eval-detect.js";
import { registerEvalImport } from "./commands/eval-import.js";
import { registerEvalRun } from "./commands/eval-run.js";
import { registerInspect } from "./commands/dataset-inspect.js";
import { registerPrune } from "./commands/dataset-prune.js";
import { registerReport } from "./commands/report.js";
import { registerSources } from "./commands/dataset-sources.js";
import { registerVerify } from "./commands/dataset-verify.js";
import { registerTestsetAudit } from "./commands/testset-audit.js";
import { registerTestsetBuild } from "./commands/testset-build.js";
import { registerTestsetRecipe } from "./commands/testset-recipe.js";

const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };

export function buildProgram(): Command {
  const program = new Command("imaginet")
    .description("detect synthetic (AI-generated) images: the ImagiNet dataset, test set, detectors and evaluation")
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  const dataset = program.command("dataset").description("get the ImagiNet dataset onto disk and check it").exitOverride();
  registerSources(dataset);
  registerVerify(dataset);
  registerPrune(dataset);
  registerDownload(dataset);
  registerInspect(dataset);
  registerExample(dataset);
  const testset = program.command("testset").description("build and audit ImagiNet's perturbed test set").exitOverride();
  registerTestsetBuild(testset);
  registerTestsetAudit(testset);
  registerTestsetRecipe(testset);
  const evalCmd = program.command("eval").description("evaluate detectors from saved per-image predictions").exitOverride();
  registerEvalImport(evalCmd);
  registerEvalDetect(evalCmd);
  registerEvalRun(evalCmd);
  registerReport(program);
  registerDetect(program);
  registerConvert(program);
  registerCalibrate(program);
  registerTrain(program);
  registerDemo(program);
  for (const c of [...dataset.commands, ...testset.commands, ...evalCmd.commands, ...program.commands]) c.exitOverride();
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here with exit code 0; usage errors were already printed
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else throw err;
}
