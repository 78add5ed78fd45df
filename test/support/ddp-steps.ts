/**
 * One rank of test/ddp.test.ts's parity run (launched with MASTER_ADDR, MASTER_PORT, RANK,
 * WORLD_SIZE): two data-parallel SGD steps of the SelfCon multilabel case on this rank's rows of
 * test/fixtures/train/selfcon_multilabel.pth, as scripts/fixtures/make_ddp_fixtures.py runs PyTorch's
 * DDP. Writes {losses, state: {key: values}} as JSON to argv[2] (rank 0 only). With argv[3] = "die"
 * rank 1 exits after joining the group, so rank 0's first collective must fail.
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { readTorchCheckpoint, stateDict } from "../../src/checkpoint/index.js";
import { destroyProcessGroup, setNumThreads } from "../../src/engine/index.js";
import { broadcastStore, joinProcessGroup, launchEnv, rankSlots } from "../../src/train/distributed.js";
import { createModel, exportStateDict, inferSpec, makeOptimizer, representationStep } from "../../src/train/steps.js";

const [out, mode] = process.argv.slice(2);
const env = launchEnv();
if (!env) throw new Error("ddp-steps: WORLD_SIZE is not set");
setNumThreads(1);
const fix = stateDict(await readTorchCheckpoint(path.join(import.meta.dirname, "..", "fixtures", "train", "selfcon_multilabel.pth")));
const init = new Map([...fix].filter(([k]) => k.startsWith("init.")).map(([k, v]) => [k.slice(5), v]));
const x = (await fix.get("x")!.read()) as Float32Array;
const labels = Array.from((await fix.get("labels")!.read()) as BigInt64Array, Number);
const [n, c, h, w] = fix.get("x")!.shape as [number, number, number, number];
const dp = joinProcessGroup(env, { device: "cpu", timeoutS: Number(process.env.DDP_TEST_TIMEOUT_S ?? 20) });
if (mode === "die" && dp.rank === 1) process.exit(7);
const rows = rankSlots(
  Array.from({ length: n }, (_, i) => i),
  dp.rank,
  dp.size,
);
const per = c * h * w;
const batchX = new Float32Array(rows.length * per);
rows.forEach((r, k) => batchX.set(x.subarray(r * per, (r + 1) * per), k * per));
const batchLabels = Int32Array.from(rows.flatMap((r) => labels.slice(r * 4, r * 4 + 4)));
const model = await createModel(inferSpec("selfcon", init), { from: init });
broadcastStore(model.params);
const opt = makeOptimizer(model, { name: "sgd", lr: 0.005, momentum: 0.9, weightDecay: 1e-4 });
const losses: number[] = [];
for (let s = 0; s < 2; s++) losses.push(representationStep(model, opt, { x: batchX, shape: [rows.length, c, h, w], labels: batchLabels }, { loss: "multilabel", dp }));
if (dp.rank === 0 && out) {
  const state = Object.fromEntries([...exportStateDict(model)].map(([k, v]) => [k, Array.from(v.data as ArrayLike<number | bigint>, Number)]));
  writeFileSync(out, JSON.stringify({ rows, losses, state }));
}
destroyProcessGroup();
