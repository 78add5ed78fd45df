/**
 * Sharded batch jobs (docs/scale-out.md): shard K of N (K = 1..N) takes the K-th of N contiguous
 * ranges of a command's sorted work list, whole units at a time (a unit is one item, or one
 * inference batch where scores must not depend on how a shard's batches fall). Contiguous ranges
 * make every merge a concatenation in shard order; the split depends only on the list, K and N.
 */
import { InputError } from "./errors.js";

export interface Shard {
  /** 1..count */
  index: number;
  count: number;
  /** where it came from, for messages: "--shard", "SLURM_ARRAY_TASK_ID=…", "JOB_COMPLETION_INDEX=…" */
  from: string;
}

/** `--shard K/N`: K in 1..N. */
export function parseShard(v: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(v);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1 || index < 1 || index > count) {
    throw new InputError(`--shard expects K/N with N ≥ 1 and K in 1..N (the first shard is 1/N), got "${v}"`);
  }
  return { index, count, from: "--shard" };
}

function envInt(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min) throw new InputError(`${name} must be an integer of at least ${min}, got "${v}"`);
  return Number(v);
}

/** Slurm's job array: SLURM_ARRAY_TASK_ID counted from SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT tasks (steps other than 1 are refused). */
function slurmShard(env: NodeJS.ProcessEnv): Shard | undefined {
  const id = envInt(env, "SLURM_ARRAY_TASK_ID", 0);
  if (id === undefined) return undefined;
  const count = envInt(env, "SLURM_ARRAY_TASK_COUNT", 1);
  const min = envInt(env, "SLURM_ARRAY_TASK_MIN", 0);
  if (count === undefined || min === undefined) throw new InputError(`SLURM_ARRAY_TASK_ID=${id} is set without SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN: pass --shard K/N`);
  const index = id - min + 1;
  if (index < 1 || index > count) {
    throw new InputError(`SLURM_ARRAY_TASK_ID=${id} is not within ${min}..${min + count - 1}: shards need a plain range (--array=0-${count - 1} or 1-${count}, no step or list); or pass --shard K/N`);
  }
  return { index, count, from: `SLURM_ARRAY_TASK_ID=${id} of ${min}..${min + count - 1}` };
}

/** A Kubernetes Indexed Job: JOB_COMPLETION_INDEX (0-based); the count (the Job's `completions`) from --shard-count or IMAGINET_SHARD_COUNT. */
function kubernetesShard(env: NodeJS.ProcessEnv, countOption: number | undefined): Shard | undefined {
  const i = envInt(env, "JOB_COMPLETION_INDEX", 0);
  if (i === undefined) return undefined;
  const count = countOption ?? envInt(env, "IMAGINET_SHARD_COUNT", 1);
  if (count === undefined) {
    throw new InputError(`JOB_COMPLETION_INDEX=${i} is set but not the number of shards: pass --shard-count N or set IMAGINET_SHARD_COUNT to the Job's completions`);
  }
  if (i >= count) throw new InputError(`JOB_COMPLETION_INDEX=${i} is not below the shard count ${count}`);
  return { index: i + 1, count, from: `JOB_COMPLETION_INDEX=${i} of ${count}` };
}

/**
 * The shard this process does: `--shard` if given, else Slurm's or Kubernetes' variables, else
 * none (the whole list, written as ever). A shard's output, even 1/1's, is a part that a merge turns
 * into the unsharded output.
 */
export function resolveShard(opts: { shard?: Shard; shardCount?: number }, env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  const shard = opts.shard ?? pickEnvShard(env, opts.shardCount);
  if (!shard && opts.shardCount !== undefined) throw new InputError("--shard-count needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); elsewhere pass --shard K/N");
  return shard;
}

function pickEnvShard(env: NodeJS.ProcessEnv, countOption: number | undefined): Shard | undefined {
  const slurm = slurmShard(env);
  const k8s = kubernetesShard(env, countOption);
  if (slurm && k8s) throw new InputError("both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are set: pass --shard K/N");
  if (slurm && countOption !== undefined && countOption !== slurm.count) throw new InputError(`--shard-count ${countOption} disagrees with SLURM_ARRAY_TASK_COUNT=${slurm.count}`);
  return slurm ?? k8s;
}

/** The shard's part [start, end) of `total` items, cut at multiples of `unit` items. */
export function shardRange(total: number, shard: Pick<Shard, "index" | "count">, unit = 1): [number, number] {
  const units = Math.ceil(total / unit);
  const at = (k: number) => Math.min(total, Math.floor((k * units) / shard.count) * unit);
  return [at(shard.index - 1), at(shard.index)];
}

/** What a shard tells on stderr, so that a job array's log says which part each task did. */
export function shardNote(shard: Shard, range: [number, number], total: number, what: string): string {
  const part = range[1] > range[0] ? `${what} ${range[0] + 1}-${range[1]} of ${total}` : `none of the ${total} ${what}`;
  return `imaginet: shard ${shard.index}/${shard.count} (${shard.from}): ${part}\n`;
}

/** A shard's output as a merge reads it: which shard, its part [start, end) of `total`, where it came from. */
export interface ShardOutput {
  index: number;
  count: number;
  part: [number, number];
  total: number;
  /** the folder or file, for messages */
  name: string;
}

/**
 * The outputs in shard order, checked to be all N shards of one split, each once, their parts
 * following each other over the whole list; an InputError says which is missing or out of place.
 */
export function inShardOrder<T extends ShardOutput>(outputs: readonly T[]): T[] {
  if (outputs.length === 0) throw new InputError("no shard outputs given");
  const sorted = [...outputs].sort((a, b) => a.index - b.index);
  const first = sorted[0]!;
  sorted.forEach((s, i) => {
    if (s.count !== first.count || s.total !== first.total)
      throw new InputError(`${s.name} is shard ${s.index}/${s.count} of ${s.total} items, ${first.name} ${first.index}/${first.count} of ${first.total}: shards of different splits`);
    const prev = sorted[i - 1];
    if (prev?.index === s.index) throw new InputError(`shard ${s.index}/${s.count} is given twice: ${prev.name} and ${s.name}`);
    if (s.index !== i + 1) throw new InputError(`shard ${i + 1}/${s.count} is missing`);
    if (s.part[0] !== (prev?.part[1] ?? 0)) throw new InputError(`${s.name}: items ${s.part[0]}-${s.part[1]} do not follow shard ${i}'s`);
  });
  if (sorted.length !== first.count) throw new InputError(`${sorted.length} shard(s) given of ${first.count}: shard ${sorted.length + 1}/${first.count} is missing`);
  if (sorted.at(-1)!.part[1] !== first.total) throw new InputError(`the shards cover items 0-${sorted.at(-1)!.part[1]} of ${first.total}`);
  return sorted;
}
