/**
 * Benchmark and check (not a test): all-reduce across ranks through our c10d process group (NCCL on
 * --device cuda, one GPU per rank; Gloo on the CPU). Each rank fills a float32 tensor with rank + 1;
 * after a sum all-reduce every element must equal W(W+1)/2 exactly (small integers are exact in
 * float32). Rank 0 prints the median time and the bandwidths as nccl-tests defines them: algbw =
 * bytes / time, busbw = algbw · 2(W−1)/W.
 *
 *   node --import tsx bench/allreduce.ts --nproc N [--device cuda|cpu] [--mb 256] [--reps 10]
 * (--nproc starts N local ranks, as `imaginet train --nproc`; torchrun --no_python can start them instead)
 */
import { allReduce, barrier, destroyProcessGroup, full, setNumThreads } from "../src/engine/index.js";
import { joinProcessGroup, launchEnv } from "../src/train/distributed.js";
import { launchLocalRanks } from "../src/train/launch.js";
import { argValue, numberArg } from "./support.js";

const NPROC = numberArg("--nproc", 1);
const DEVICE = argValue("--device") ?? "cpu";
const MB = numberArg("--mb", 256);
const REPS = numberArg("--reps", 10);

const env = launchEnv();
if (!env) {
  if (NPROC < 2) throw new Error("give --nproc 2 or more (or start the ranks with torchrun)");
  process.exit(await launchLocalRanks(NPROC));
}
setNumThreads(1);
const device = DEVICE === "cuda" ? `cuda:${env.localRank}` : "cpu";
const dp = joinProcessGroup(env, { device, timeoutS: 120 });
const n = Math.floor((MB * 2 ** 20) / 4);
const x = full([n], env.rank + 1, { device });
allReduce([x]); // warm-up: connects the ranks (NCCL builds its rings here)
const want = (dp.size * (dp.size + 1)) / 2;
const highest = x.max().item();
const lowest = x.min().item();
if (highest !== want || lowest !== want) throw new Error(`rank ${env.rank}: all-reduce gave values in [${lowest}, ${highest}], want ${want} everywhere`);
const ms: number[] = [];
for (let r = 0; r < REPS; r++) {
  barrier();
  const t = performance.now();
  allReduce([x]);
  x.max().item(); // waits for the collective on the device
  ms.push(performance.now() - t);
}
const median = [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
const bytes = n * 4;
const algbw = bytes / (median / 1000) / 1e9;
if (env.rank === 0) {
  console.log(
    `all-reduce ${MB} MiB float32 over ${dp.size} ranks (${DEVICE === "cuda" ? "NCCL, one GPU each" : "Gloo, CPU"}): correct on rank 0; median ${median.toFixed(2)} ms, algbw ${algbw.toFixed(2)} GB/s, busbw ${((algbw * 2 * (dp.size - 1)) / dp.size).toFixed(2)} GB/s`,
  );
}
x.dispose();
destroyProcessGroup();
