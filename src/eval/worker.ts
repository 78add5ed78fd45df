/** Evaluates one run in a worker thread, so several runs use all cores. */
import { parentPort, workerData } from "node:worker_threads";
import { evaluateRun, type EvaluateOptions } from "./evaluate.js";
import { readRun } from "./results.js";
import { postError } from "../util/errors.js";

const data = (workerData as { data?: { kind?: string; dir: string; options: EvaluateOptions } } | null)?.data;
if (parentPort && data?.kind === "evaluate") {
  const port = parentPort;
  readRun(data.dir)
    .then((run) => port.postMessage({ ok: true, evaluation: evaluateRun(run, data.options) }))
    .catch((err: unknown) => port.postMessage({ ok: false, error: postError(err) }));
}
