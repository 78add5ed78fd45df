import { Option, type Command } from "commander";
import * as path from "node:path";
import { runDemo, STAGES, type StageName } from "../../demo/run.js";
import { native } from "../../engine/native.js";
import type { TrainEvent } from "../../train/loop.js";
import { Progress } from "../../util/progress.js";
import { renderTable } from "../../util/table.js";
import { action, outOption, parsePositiveInt, parseSeed, printJson, workersOption } from "../common.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("the built-in benchmark: generate a small ImagiNet-format dataset, build its perturbed test set, train a detector, calibrate, evaluate both tracks, report, time — no download")
    .addOption(outOption("<dir>", "where everything goes", "imaginet-demo"))
    .option("--seed <n>", "seed of the whole run", parseSeed, 1)
    .option("--fast", "the same path at toy size (under a minute; for tests)")
    .addOption(new Option("--from <stage>", "rerun from this stage").choices(STAGES))
    .addOption(new Option("--epochs <n>", "representation epochs: more is slower and more accurate").argParser(parsePositiveInt("--epochs")).default(undefined, "40, with --fast 20"))
    .addOption(
      new Option(
        "--method <m>",
        "the representation's objective: ce (cross-entropy on the group labels) or selfcon (upstream's; learns this benchmark far more slowly: 160 epochs, about 50 min on 2 cores, meet the targets)",
      )
        .choices(["ce", "selfcon"])
        .default(undefined, "ce"),
    )
    .addOption(workersOption("for images", "half the cores"))
    .addOption(new Option("--threads <n>", "libtorch threads").argParser(parsePositiveInt("--threads")).default(undefined, "every core"))
    .option("--json", "print the result as JSON")
    .action(
      action(async (o: { out: string; seed: number; fast?: boolean; from?: StageName; epochs?: number; method?: "selfcon" | "ce"; workers?: number; threads?: number; json?: boolean }) => {
        native(); // no libtorch engine: fail before the first stage writes anything
        const started = performance.now();
        let bar: Progress | null = null;
        const r = await runDemo({
          out: path.resolve(o.out),
          seed: o.seed,
          fast: Boolean(o.fast),
          ...(o.from ? { from: o.from } : {}),
          ...(o.epochs ? { epochs: o.epochs } : {}),
          ...(o.method ? { method: o.method } : {}),
          ...(o.workers ? { workers: o.workers } : {}),
          ...(o.threads ? { threads: o.threads } : {}),
          log: (line) => {
            if (!o.json) process.stderr.write(`${line}\n`);
          },
          onTrainEvent: (stage, e: TrainEvent) => {
            if (o.json) return;
            if (e.type === "step") {
              if (!bar) bar = new Progress(`${stage} epoch ${e.epoch}`, { total: e.steps, unit: "batch" });
              bar.setSuffix(`loss ${e.loss.toFixed(4)}`);
              bar.tick();
            } else {
              bar?.finish();
              bar = null;
              process.stderr.write(`${stage} epoch ${e.epoch}/${e.epochs}: loss ${e.loss.toFixed(4)}, ${e.imagesPerSecond.toFixed(0)} img/s\n`);
            }
          },
        });
        const total = (performance.now() - started) / 1000;
        if (o.json) return printJson({ ...r, totalSeconds: total });
        const timing = renderTable(
          ["stage", "seconds", "", "notes"],
          r.timing.map((t) => [t.stage, t.seconds.toFixed(1), t.reused ? "(reused)" : "", t.note]),
        );
        process.stdout.write(`${r.markdown}\n## Timing (this run: ${total.toFixed(1)} s)\n${timing}\n\nreport: ${r.report}\n`);
      }),
    );
}
