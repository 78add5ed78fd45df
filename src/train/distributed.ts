/**
 * Data-parallel training as PyTorch's DistributedDataParallel does it, on c10d (src/engine/dist.ts):
 *
 * - launch: the variables torchrun, Slurm wrappers and Kubernetes operators set (MASTER_ADDR,
 *   MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK; torchrun's agent-hosted store too);
 * - data: each global batch of the seeded epoch order is split over the ranks by the
 *   DistributedSampler rule (rank r takes slots r, r+W, …), so the union over ranks is the
 *   single-process batch and every image keeps its augmentation seed (its slot in the order);
 * - model: rank 0's parameters and buffers broadcast at the start, buffers (BN running stats) again
 *   before each forward (DDP's broadcast_buffers), gradients averaged with bucketed all-reduces after
 *   backward (not overlapped with it);
 * - SelfCon: ConLoss sees the global batch through an all-gather of the features in which the local
 *   slice keeps its autograd history (the common practice); the loss is scaled by W for backward so
 *   that, after DDP's averaging, the gradient is the global batch's, as torch.distributed.nn.all_gather
 *   would give it.
 */
import { allGather, allReduce, allReduceMean, broadcast, initProcessGroup, isBuffer, nn, noGrad, tensor, type ParamStore, type Tensor } from "../engine/index.js";
import { InputError } from "../util/errors.js";

/** Where this process stands in a data-parallel run. */
export interface DataParallel {
  rank: number;
  size: number;
  /** where the model is ("cpu", "cuda:0"): NCCL's collectives take tensors there */
  device: string;
}

/** What the launch variables say (null when WORLD_SIZE is not set: a single-process run). */
export interface LaunchEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  addr: string;
  port: number;
  /** torchrun's agent hosts the store: every rank is a client, keys under /worker/attempt_N */
  agentStore: string | null;
}

function intVar(env: NodeJS.ProcessEnv, name: string, min: number, dflt?: number): number {
  const s = env[name];
  if (s === undefined || s === "") {
    if (dflt !== undefined) return dflt;
    throw new InputError(`${name} is not set: a distributed run needs MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE (as torchrun sets them)`);
  }
  if (!/^\d+$/.test(s) || Number(s) < min) throw new InputError(`${name}=${s}: expected an integer ≥ ${min}`);
  return Number(s);
}

export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === "") return null;
  const worldSize = intVar(env, "WORLD_SIZE", 1);
  const rank = intVar(env, "RANK", 0);
  if (rank >= worldSize) throw new InputError(`RANK=${rank} is not below WORLD_SIZE=${worldSize}`);
  const port = intVar(env, "MASTER_PORT", 1);
  if (port > 65535) throw new InputError(`MASTER_PORT=${port}: expected a port number 1..65535`);
  const agent = env.TORCHELASTIC_USE_AGENT_STORE === "True";
  return {
    rank,
    worldSize,
    localRank: intVar(env, "LOCAL_RANK", 0, rank),
    addr: env.MASTER_ADDR || "127.0.0.1",
    port,
    agentStore: agent ? `/worker/attempt_${env.TORCHELASTIC_RESTART_COUNT ?? "0"}` : null,
  };
}

/** DEFAULT: the time a rank waits for the others (rendezvous, each collective) before it fails */
export const DEFAULT_DIST_TIMEOUT_S = 300;

/** Joins the process group the launch variables describe. */
export function joinProcessGroup(e: LaunchEnv, o: { device: string; timeoutS: number }): DataParallel {
  initProcessGroup({
    backend: o.device.startsWith("cuda") ? "nccl" : "gloo",
    addr: e.addr,
    port: e.port,
    rank: e.rank,
    worldSize: e.worldSize,
    timeoutMs: Math.round(o.timeoutS * 1000),
    isServer: e.agentStore === null && e.rank === 0,
    ...(e.agentStore ? { prefix: e.agentStore } : {}),
  });
  return { rank: e.rank, size: e.worldSize, device: o.device };
}

/**
 * This rank's slots of one global batch (slots: positions in the epoch order): the DistributedSampler
 * rule, rank r taking slots r, r+W, r+2W, …; a batch that does not split evenly is padded with its
 * own first slots, so every rank gets ⌈m/W⌉.
 */
export function rankSlots(slots: readonly number[], rank: number, size: number): number[] {
  const per = Math.ceil(slots.length / size);
  const padded = [...slots];
  for (let i = 0; padded.length < per * size; i++) padded.push(slots[i % slots.length]!);
  return Array.from({ length: per }, (_, k) => padded[rank + k * size]!);
}

/** The global batch must split evenly over the ranks (it is the single-process batch). */
export function checkBatchSplit(batchSize: number, size: number): void {
  if (batchSize % size !== 0) throw new InputError(`--batch ${batchSize} is the global batch and must be a multiple of the world size ${size} (each rank takes ${batchSize}/${size} images)`);
}

/** Rank 0's values of every tensor of the store (parameters and buffers), as DDP's constructor. */
export function broadcastStore(store: ParamStore): void {
  noGrad(() => broadcast([...store.values()], 0));
}

/** Rank 0's BN running statistics before a forward, as DDP's broadcast_buffers. */
export function broadcastBuffers(store: ParamStore): void {
  const buffers = [...store].filter(([k]) => isBuffer(k)).map(([, t]) => t);
  if (buffers.length > 0) broadcast(buffers, 0);
}

/** After backward: every gradient replaced by its mean over the ranks (bucketed all-reduce). */
export function averageGradients(params: readonly Tensor[]): void {
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== undefined);
  if (grads.length > 0) allReduceMean(grads);
}

/** The global batch's rows: every rank's `local` in rank order, this rank's slice keeping its autograd history. */
export function gatherWithLocalGrad(local: Tensor, dp: DataParallel): Tensor {
  const all = allGather(local);
  const n = local.shape[0]!;
  const parts: Tensor[] = [];
  if (dp.rank > 0) parts.push(all.narrow(0, 0, dp.rank * n));
  parts.push(local);
  if (dp.rank < dp.size - 1) parts.push(all.narrow(0, (dp.rank + 1) * n, (dp.size - 1 - dp.rank) * n));
  return nn.cat(parts, 0);
}

/** The mean over the ranks of a number (each rank's loss → the global batch's). */
export function meanOverRanks(x: number, dp: DataParallel): number {
  const t = onDevice(tensor(new Float64Array([x]), [1], "float64"), dp);
  allReduce([t], "sum");
  const v = t.item() / dp.size;
  t.dispose();
  return v;
}

/** Whether any rank says yes (a stop request must end every rank at the same step). */
export function anyRank(yes: boolean, dp: DataParallel): boolean {
  const t = onDevice(tensor(new Int32Array([yes ? 1 : 0]), [1]), dp);
  allReduce([t], "max");
  const v = t.item() !== 0;
  t.dispose();
  return v;
}

function onDevice(t: Tensor, dp: DataParallel): Tensor {
  if (dp.device === "cpu") return t;
  const moved = t.to(dp.device);
  t.dispose();
  return moved;
}
