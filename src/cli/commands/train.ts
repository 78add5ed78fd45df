import { Option, type Command } from "commander";
import { native } from "../../engine/native.js";
import { checkPrecision } from "../../engine/runtime.js";
import type { TrainEvent } from "../../train/loop.js";
import type { Balance } from "../../train/data.js";
import type { SelfConLoss } from "../../train/steps.js";
import { checkpointToResume, DEFAULT_CACHE_MB, RESNET50_SIZE, writeRunConfig, type ClassifierOptions, type CommonOptions, type RepresentOptions } from "../../train/train.js";
import { defaultWorkers } from "../../runtime/detect.js";
import { startTraining, type StageRequest } from "../../train/worker.js";
import { DEFAULT_DIST_TIMEOUT_S, launchEnv } from "../../train/distributed.js";
import { launchLocalRanks } from "../../train/launch.js";
import { Progress } from "../../util/progress.js";
import { action, EXIT_OK, EXIT_PROBLEMS, outOption, parseNonNegativeInt, parsePositiveInt, parsePositiveIntList, parsePositiveNumber, parseSeed, printJson, workersOption } from "../common.js";

interface CommonCli {
  root: string;
  out: string;
  epochs: number;
  batch: number;
  lr: number;
  crop: number;
  seed: number;
  workers?: number;
  threads?: number;
  cacheMb: number;
  saveEvery: number;
  resume?: boolean;
  device: string;
  precision: "fp32" | "bf16";
  balance?: Balance;
  json?: boolean;
  nproc: number;
  distTimeout: number;
}

function addCommon(cmd: Command, d: { epochs: number; batch: number; lr: number; saveEvery: number }): Command {
  return cmd
    .requiredOption("--root <dir>", "dataset root the annotation paths are relative to")
    .addOption(outOption("<dir>", "run folder: checkpoints/, metrics.jsonl, config.json"))
    .option("--epochs <n>", "epochs", parsePositiveInt("--epochs"), d.epochs)
    .option("--batch <n>", "batch size", parsePositiveInt("--batch"), d.batch)
    .option("--lr <x>", "learning rate", parsePositiveNumber("--lr"), d.lr)
    .option("--crop <n>", "random crop after the augmentation (upstream: 256)", parsePositiveInt("--crop"), 96)
    .option("--seed <n>", "seed of every random choice (order, augmentation, initialisation, dropout)", parseSeed, 42)
    .addOption(workersOption("decoding and augmenting images", "half the cores"))
    .addOption(new Option("--threads <n>", "libtorch threads").argParser(parsePositiveInt("--threads")).default(undefined, "every core"))
    .option("--cache-mb <n>", "decoded images kept in memory, MiB (0: decode every epoch)", parseNonNegativeInt("--cache-mb"), DEFAULT_CACHE_MB)
    .option("--save-every <n>", "checkpoint every n epochs (the last epoch is always saved)", parsePositiveInt("--save-every"), d.saveEvery)
    .option("--resume", "continue from the newest checkpoint in --out")
    .addOption(
      new Option(
        "--balance <label>",
        "draw images equally often per class: origin, group, or content (each content type's real and synthetic images equally; content types with one origin are left out)",
      ).choices(["origin", "group", "content"]),
    )
    .addOption(new Option("--device <device>", "where to train").choices(["cpu", "cuda"]).default("cpu"))
    .addOption(
      new Option("--precision <p>", "fp32, or bf16 autocast for the forward pass and loss (CUDA, or a CPU with AVX-512 BF16 / AMX; weights and optimizer stay fp32)")
        .choices(["fp32", "bf16"])
        .default("fp32"),
    )
    .option("--nproc <n>", "data-parallel: start n local ranks (torchrun, srun or a cluster can start them instead: docs/scale-out.md)", parsePositiveInt("--nproc"), 1)
    .option("--dist-timeout <s>", "data-parallel: seconds a rank waits for the others before it fails", parsePositiveNumber("--dist-timeout"), DEFAULT_DIST_TIMEOUT_S)
    .option("--json", "print the result as JSON");
}

/** the precision, once the device can run it (checkPrecision) */
function checkedPrecision(device: string, precision: "fp32" | "bf16"): "fp32" | "bf16" {
  checkPrecision(device, precision);
  return precision;
}

function common(annotations: string[], o: CommonCli): CommonOptions {
  return {
    root: o.root,
    annotations,
    out: o.out,
    epochs: o.epochs,
    batchSize: o.batch,
    lr: o.lr,
    crop: o.crop,
    seed: o.seed,
    workers: o.workers ?? defaultWorkers(),
    ...(o.threads ? { threads: o.threads } : {}),
    cacheMb: o.cacheMb,
    saveEvery: o.saveEvery,
    resume: o.resume ?? false,
    device: o.device,
    ...(checkedPrecision(o.device, o.precision) === "bf16" ? { precision: "bf16" as const } : {}),
    ...(o.balance ? { balance: o.balance } : {}),
    distTimeout: o.distTimeout,
  };
}

/** Runs a stage in a worker with a progress bar per epoch; Ctrl-C stops after the current step, twice ends it at once. */
async function run(req: StageRequest, json: boolean, nproc: number): Promise<number> {
  // no libtorch engine, or nothing to resume: fail here, before the run folder is written
  native();
  if (req.options.resume) await checkpointToResume(req.options.out);
  const launch = launchEnv();
  if (!launch && nproc > 1) return launchLocalRanks(nproc);
  // rank 0 of a data-parallel run speaks for it; the others only train
  const primary = !launch || launch.rank === 0;
  if (primary) await writeRunConfig(req.options.out, req);
  let bar: Progress | null = null;
  const onEvent = (e: TrainEvent) => {
    if (e.type === "step") {
      if (!bar) bar = new Progress(`epoch ${e.epoch}`, { total: e.steps, unit: "batch", enabled: json ? false : undefined });
      bar.setSuffix(`loss ${e.loss.toFixed(4)} ${e.imagesPerSecond.toFixed(0)} img/s`);
      bar.tick();
    } else {
      bar?.finish();
      bar = null;
      if (!json)
        process.stderr.write(
          `epoch ${e.epoch}/${e.epochs}: loss ${e.loss.toFixed(4)}, lr ${e.lr.toPrecision(3)}, ${e.imagesPerSecond.toFixed(0)} img/s, ${e.seconds.toFixed(1)} s${e.checkpoint ? ` → ${e.checkpoint}` : ""}\n`,
        );
    }
  };
  const w = startTraining<{ lastEpoch: number; lastCheckpoint: string | null; stopped: boolean; detector?: string | null }>(req, {
    onEvent,
    onStart: (i) => {
      if (!json)
        process.stderr.write(
          `${req.stage}: ${i.images} images${i.unused ? ` (${i.unused} never drawn: their content type has one origin only)` : ""}, ${i.batchesPerEpoch} batches per epoch, epochs ${i.startEpoch}..${i.epochs}${i.resumedFrom ? ` (resumed from ${i.resumedFrom})` : ""}\n`,
        );
    },
  });
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write("\nstopping after this step (completed epochs are saved; --resume continues); Ctrl-C again to quit now\n");
      w.stop();
    } else void w.kill().then(() => process.exit(130));
  };
  process.on("SIGINT", onSigint);
  try {
    const r = await w.result;
    if (!primary) return r.stopped ? EXIT_PROBLEMS : EXIT_OK;
    if (json) printJson({ stage: req.stage, ...r });
    else process.stdout.write(`${r.stopped ? "stopped" : "done"} after epoch ${r.lastEpoch}: ${r.detector ?? r.lastCheckpoint ?? "no checkpoint yet"}\n`);
    return r.stopped ? EXIT_PROBLEMS : EXIT_OK;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

export function registerTrain(program: Command): void {
  const train = program.command("train").description("train detectors on the libtorch engine (CPU, or CUDA where libtorch has it)").exitOverride();
  addCommon(
    train
      .command("represent")
      .description("representation learning: upstream's SelfCon (supervised contrastive, origin + group labels) on the nodown ResNet-50, or cross-entropy")
      .argument("<annotations...>", "training annotation files (upstream: train_annotations.txt)"),
    { epochs: 400, batch: 200, lr: 0.005, saveEvery: 10 },
  )
    .addOption(new Option("--method <m>", "objective").choices(["selfcon", "ce"]).default("selfcon"))
    .option("--warm <n>", "warm-up epochs before the cosine", parseNonNegativeInt("--warm"), 10)
    .option("--layers <list>", "Bottleneck blocks per stage", parsePositiveIntList("--layers", 4), RESNET50_SIZE.layers)
    .option("--width <x>", "channel multiplier (1 = ResNet-50)", parsePositiveNumber("--width"), RESNET50_SIZE.width)
    .option("--feat-dim <n>", "SelfCon projection size", parsePositiveInt("--feat-dim"), 128)
    .option("--init <file>", "torchvision ResNet-50 state dict to start the encoder from (ImageNet weights)")
    .addOption(
      new Option(
        "--loss <name>",
        "SelfCon criterion: multilabel (upstream: ConLoss on origin + ConLoss on synthetic images' group), origin, or group (ConLoss on the group column, real as its own class)",
      )
        .choices(["multilabel", "origin", "group"])
        .default("multilabel"),
    )
    .option("--temperature <x>", "SelfCon temperature (upstream 0.07)", parsePositiveNumber("--temperature"), 0.07)
    .option("--nodown", "with --method ce: the nodown trunk (stem at stride 1, 8x downsampling, as SelfCon's) instead of torchvision's strided one")
    .addOption(new Option("--optimizer <name>", "sgd (upstream: momentum 0.9, weight decay 1e-4) or adam (weight decay 1e-4)").choices(["sgd", "adam"]).default("sgd"))
    .action(
      action(
        async (
          annotations: string[],
          o: CommonCli & {
            method: "selfcon" | "ce";
            warm: number;
            layers: [number, number, number, number];
            width: number;
            featDim: number;
            init?: string;
            optimizer: "sgd" | "adam";
            loss: SelfConLoss;
            temperature: number;
            nodown?: boolean;
          },
        ) => {
          const options: RepresentOptions = {
            ...common(annotations, o),
            method: o.method,
            warm: o.warm,
            size: { layers: o.layers, width: o.width },
            featDim: o.featDim,
            optimizer: o.optimizer,
            loss: o.loss,
            temperature: o.temperature,
            ...(o.nodown ? { nodown: true } : {}),
            ...(o.init ? { init: o.init } : {}),
          };
          return run({ stage: "represent", options }, Boolean(o.json), o.nproc);
        },
      ),
    );
  addCommon(
    train
      .command("classifier")
      .description("the linear stage: a classifier on the frozen encoder (its BN in train mode, as upstream); writes OUT/detector.pth for `imaginet detect --detector imaginet`")
      .argument("<annotations...>", "annotation files (upstream: calibration.txt)")
      .requiredOption("--encoder <ckpt>", "checkpoint of `imaginet train represent` (or upstream's)"),
    { epochs: 5, batch: 200, lr: 1e-4, saveEvery: 1 },
  )
    .addOption(new Option("--target <t>", "origin: real/synthetic detection (BCE); group: generator identification (4 classes, synthetic images)").choices(["origin", "group"]).default("origin"))
    .action(
      action(async (annotations: string[], o: CommonCli & { encoder: string; target: "origin" | "group" }) => {
        const options: ClassifierOptions = { ...common(annotations, o), encoder: o.encoder, target: o.target };
        return run({ stage: "classifier", options }, Boolean(o.json), o.nproc);
      }),
    );
}
