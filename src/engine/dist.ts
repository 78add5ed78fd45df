/**
 * PyTorch's distributed layer (c10d) on the engine's tensors: a TCPStore rendezvous and one process
 * group per process (Gloo on the CPU, NCCL where libtorch has it), with the collectives data-parallel
 * training needs. Every call blocks until the collective is done or the group's timeout passed: a
 * peer that died or stalled makes it throw, never hang.
 */
import { native } from "./native.js";
import { type Tensor, w } from "./tensor.js";

export interface ProcessGroupOptions {
  backend: "gloo" | "nccl";
  /** the TCPStore's host (MASTER_ADDR) and port (MASTER_PORT) */
  addr: string;
  port: number;
  rank: number;
  worldSize: number;
  /** rendezvous and per-collective timeout */
  timeoutMs: number;
  /** host the TCPStore in this process (default: rank 0; false under torchrun, whose agent hosts it) */
  isServer?: boolean;
  /** a key prefix in the store (torchrun's "/worker/attempt_N") */
  prefix?: string;
}

export function initProcessGroup(o: ProcessGroupOptions): void {
  native().distInit(o.backend, o.addr, o.port, o.rank, o.worldSize, o.timeoutMs, o.isServer ?? o.rank === 0, o.prefix ?? null);
}

export function destroyProcessGroup(): void {
  native().distDestroy();
}

/** This process's rank, the world size and the backend; null before initProcessGroup. */
export function processGroup(): { rank: number; size: number; backend: string } | null {
  return native().distInfo();
}

/** Each tensor (contiguous) reduced in place over the ranks. */
export function allReduce(ts: readonly Tensor[], op: "sum" | "max" | "min" = "sum"): void {
  native().distAllReduce(
    ts.map((t) => t.handle),
    op,
  );
}

/** DDP's bucket size: 25 MiB */
export const DEFAULT_BUCKET_BYTES = 25 * 2 ** 20;

/** Each tensor replaced by its mean over the ranks, in flattened buckets of about bucketBytes (one all-reduce each). */
export function allReduceMean(ts: readonly Tensor[], bucketBytes = DEFAULT_BUCKET_BYTES): void {
  native().distAllReduceMean(
    ts.map((t) => t.handle),
    bucketBytes,
  );
}

/** Every rank's t (the same shape on all) concatenated along dim 0 in rank order; no autograd history. */
export function allGather(t: Tensor): Tensor {
  return w(native().distAllGather(t.handle));
}

/** The root rank's values copied into each tensor (contiguous) of every rank. */
export function broadcast(ts: readonly Tensor[], root = 0): void {
  native().distBroadcast(
    ts.map((t) => t.handle),
    root,
  );
}

/** Returns when every rank has called it. */
export function barrier(): void {
  native().distBarrier();
}
