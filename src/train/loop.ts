/**
 * The epoch loop shared by every training stage: the learning rate per epoch, one step per batch,
 * a JSONL metrics log, checkpoints every N epochs (and at the end), resume from the newest one,
 * and a stop with a clear message — keeping the last good checkpoint — when the loss is not finite.
 * Dropout and other global random draws are reseeded per epoch, so a resumed run continues exactly
 * as an uninterrupted one would.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import type { TorchValue } from "../checkpoint/index.js";
import { manualSeed, type Optimizer, type ParamStore } from "../engine/index.js";
import type { Batch, TrainLoader } from "./data.js";
import { checkpointPath, saveTrainCheckpoint } from "./checkpoint.js";
import { learningRate, type Schedule } from "./schedule.js";
import { ProblemsError } from "../util/errors.js";

/** What a stage gives the loop: a step per batch, its optimizer, and the stores a checkpoint holds. */
export interface Stage {
  step(batch: Batch): number;
  optimizer: Optimizer;
  stores: Record<string, ParamStore>;
}

export type TrainEvent =
  | { type: "step"; epoch: number; step: number; steps: number; loss: number; lr: number; imagesPerSecond: number }
  | { type: "epoch"; epoch: number; epochs: number; loss: number; lr: number; seconds: number; imagesPerSecond: number; checkpoint: string | null };

export interface LoopOptions {
  dir: string;
  stage: Stage;
  loader: TrainLoader;
  schedule: Schedule;
  seed: number;
  /** first epoch to run (1, or the resumed checkpoint's epoch + 1) */
  startEpoch: number;
  /** save every N epochs (the last epoch is always saved) */
  saveEvery: number;
  meta: Record<string, TorchValue>;
  /** the checkpoint a resumed run started from (named when a later loss is not finite) */
  resumedFrom?: string;
  onEvent?: (e: TrainEvent) => void;
  /** polled between steps; true ends the run after the current step without saving a partial epoch */
  shouldStop?: () => boolean;
  /** whether this process writes the log and checkpoints (default true; false on ranks other than 0 of a data-parallel run) */
  primary?: boolean;
}

/** The loss stopped being finite: the run ran and failed (exit 1), naming the last good checkpoint. */
export class TrainingDivergedError extends ProblemsError {}

/** A per-epoch seed for libtorch's global generator (dropout masks), from the run's seed. */
export function epochSeed(seed: number, epoch: number): number {
  return ((seed >>> 0) * 1_000_003 + epoch) % 2 ** 52;
}

export interface LoopResult {
  lastEpoch: number;
  lastCheckpoint: string | null;
  stopped: boolean;
}

export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const ckptDir = path.join(o.dir, "checkpoints");
  const primary = o.primary ?? true;
  if (primary) await fsp.mkdir(ckptDir, { recursive: true });
  const log = primary ? await fsp.open(path.join(o.dir, "metrics.jsonl"), "a") : null;
  let lastCheckpoint: string | null = o.resumedFrom ?? null;
  let lastEpoch = o.startEpoch - 1;
  try {
    for (let epoch = o.startEpoch; epoch <= o.schedule.epochs; epoch++) {
      const lr = learningRate(o.schedule, epoch);
      o.stage.optimizer.lr = lr;
      manualSeed(epochSeed(o.seed, epoch));
      const started = performance.now();
      let images = 0;
      let lossSum = 0;
      let steps = 0;
      const total = o.loader.batchesPerEpoch();
      for await (const batch of o.loader.epoch(epoch)) {
        const loss = o.stage.step(batch);
        steps++;
        images += batch.size;
        if (!Number.isFinite(loss)) {
          throw new TrainingDivergedError(
            `the loss became ${loss} at epoch ${epoch}, step ${steps}: training stopped. ` +
              (lastCheckpoint ?? "no checkpoint was saved yet") +
              (lastCheckpoint ? " is the last good checkpoint; resume from it with --resume, perhaps with a lower --lr" : "; try a lower --lr"),
          );
        }
        lossSum += loss;
        const ips = images / ((performance.now() - started) / 1000);
        const ev: TrainEvent = { type: "step", epoch, step: steps, steps: total, loss, lr, imagesPerSecond: ips };
        await log?.write(`${JSON.stringify(ev)}\n`);
        o.onEvent?.(ev);
        if (o.shouldStop?.()) return { lastEpoch, lastCheckpoint, stopped: true };
      }
      const seconds = (performance.now() - started) / 1000;
      let checkpoint: string | null = null;
      if (epoch % o.saveEvery === 0 || epoch === o.schedule.epochs) {
        checkpoint = checkpointPath(ckptDir, epoch);
        if (primary) await saveTrainCheckpoint(checkpoint, { stores: o.stage.stores, optimizerState: o.stage.optimizer.saveState(), epoch, meta: o.meta });
        lastCheckpoint = checkpoint;
      }
      lastEpoch = epoch;
      const ev: TrainEvent = { type: "epoch", epoch, epochs: o.schedule.epochs, loss: lossSum / Math.max(steps, 1), lr, seconds, imagesPerSecond: images / seconds, checkpoint };
      await log?.write(`${JSON.stringify(ev)}\n`);
      o.onEvent?.(ev);
    }
  } finally {
    await log?.close();
  }
  return { lastEpoch, lastCheckpoint, stopped: false };
}
