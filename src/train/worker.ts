/**
 * Runs a training stage off the main thread, so that progress output and Ctrl-C stay responsive
 * while libtorch computes: events and the result are posted back; a "stop" message ends the run
 * after the current step (completed epochs are already checkpointed).
 */
import { parentPort, workerData } from "node:worker_threads";
import { postError, rebuildError, type PostedError } from "../util/errors.js";
import { startWorker } from "../util/worker.js";
import type { TrainEvent } from "./loop.js";
import { trainClassifier, trainRepresentation, type ClassifierOptions, type RepresentOptions, type StageHooks } from "./train.js";

export type StageRequest = { stage: "represent"; options: RepresentOptions } | { stage: "classifier"; options: ClassifierOptions };

type FromWorker =
  | { type: "event"; event: TrainEvent }
  | { type: "start"; info: Parameters<NonNullable<StageHooks["onStart"]>>[0] }
  | { type: "done"; result: unknown }
  | { type: "error"; error: PostedError };

export interface WorkerRun<R> {
  result: Promise<R>;
  /** ask the run to end after the current step */
  stop(): void;
  /** end it now (a partial epoch is lost; saved checkpoints stay) */
  kill(): Promise<void>;
}

/** Starts a stage in a worker thread. */
export function startTraining<R>(req: StageRequest, hooks: Pick<StageHooks, "onEvent" | "onStart"> = {}): WorkerRun<R> {
  const w = startWorker(new URL("./worker.js", import.meta.url), { kind: "train", req });
  const result = new Promise<R>((resolve, reject) => {
    w.on("message", (m: FromWorker) => {
      if (m.type === "event") hooks.onEvent?.(m.event);
      else if (m.type === "start") hooks.onStart?.(m.info);
      else if (m.type === "done") resolve(m.result as R);
      else reject(rebuildError(m.error));
    });
    w.on("error", reject);
    w.on("exit", (code) => reject(new Error(`the training worker exited (code ${code})`)));
  });
  return {
    result: result.finally(() => void w.terminate()),
    stop: () => w.postMessage("stop"),
    kill: async () => void (await w.terminate()),
  };
}

if (parentPort && (workerData as { data?: { kind?: string } } | null)?.data?.kind === "train") {
  const port = parentPort;
  const req = (workerData as { data: { req: StageRequest } }).data.req;
  let stop = false;
  port.on("message", (m) => {
    if (m === "stop") stop = true;
  });
  const hooks: StageHooks = {
    onEvent: (event) => port.postMessage({ type: "event", event } satisfies FromWorker),
    onStart: (info) => port.postMessage({ type: "start", info } satisfies FromWorker),
    shouldStop: () => stop,
  };
  const run = req.stage === "represent" ? trainRepresentation(req.options, hooks) : trainClassifier(req.options, hooks);
  run.then(
    (result) => {
      port.postMessage({ type: "done", result } satisfies FromWorker);
      port.close();
    },
    (err: unknown) => {
      port.postMessage({ type: "error", error: postError(err) } satisfies FromWorker);
      port.close();
    },
  );
}
