import { InvalidArgumentError, type Command } from "commander";
import * as path from "node:path";
import { runDemo, STAGES, type StageName } from "../../demo/run.js";
import type { TrainEvent } from "../../train/loop.js";
import { Progress } from "../../util/progress.js";
import { renderTable } from "../../util/table.js";
import { action, parsePositiveInt, printJson } from "../common.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("the built-in benchmark: generate a small ImagiNet-format dataset, build its perturbed test set, train a detector (SelfCon), calibrate, evaluate both tracks, report, time — no download")
    .option("--out <dir>", "where everything goes", "imaginet-demo")
    .option("--seed <n>", "seed of the whole run", (v) => Number.parseInt(v, 10), 1)
    .option("--fast", "the same path at toy size (under a minute; for tests)")
    .option("--from <stage>", `rerun from this stage: ${STAGES.join(", ")}`, (v: string) => {
      if (!(STAGES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${STAGES.join(", ")}`);
      return v;
    })
    .option("--epochs <n>", "representation (SelfCon) epochs: more is slower and more accurate (default: 14, with --fast 10; 160 meets the accuracy targets, about 50 min on 2 cores)", parsePositiveInt("--epochs"))
    .option("--workers <n>", "worker threads for images (default: half the cores)", parsePositiveInt("--workers"))
    .option("--threads <n>", "libtorch threads (default: every core)", parsePositiveInt("--threads"))
    .option("--json", "print the result as JSON")
    .action(
      action(async (o: { out: string; seed: number; fast?: boolean; from?: StageName; epochs?: number; workers?: number; threads?: number; json?: boolean }) => {
        const started = performance.now();
        let bar: Progress | null = null;
        const r = await runDemo({
          out: path.resolve(o.out),
          seed: o.seed,
          fast: Boolean(o.fast),
          ...(o.from ? { from: o.from } : {}),
          ...(o.epochs ? { epochs: o.epochs } : {}),
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
