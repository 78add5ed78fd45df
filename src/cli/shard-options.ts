/** `--shard K/N` and `--shard-count N` of the commands that split their work into shards (docs/scale-out.md). */
import { InvalidArgumentError, Option, type Command } from "commander";
import { parseShard, type Shard, shardNote, shardRange } from "../util/shard.js";
import { parsePositiveInt } from "./common.js";

export interface ShardCliOptions {
  shard?: Shard;
  shardCount?: number;
}

function parseShardOption(v: string): Shard {
  try {
    return parseShard(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `merge` names the command that joins the shards' outputs. */
export function addShardOptions(cmd: Command, merge: string): Command {
  return cmd
    .addOption(
      new Option("--shard <k/n>", `do only shard K of N (1..N) of the work, for a job array; join the shards with ${merge}`)
        .argParser(parseShardOption)
        .default(undefined, "SLURM_ARRAY_TASK_ID/_MIN/_COUNT or JOB_COMPLETION_INDEX when set, else all the work"),
    )
    .addOption(new Option("--shard-count <n>", "the number of shards of a Kubernetes Indexed Job (its completions; or IMAGINET_SHARD_COUNT)").argParser(parsePositiveInt("--shard-count")));
}

/**
 * The shard's part of a command's list (all of it when unsharded), cut at multiples of `unit` items
 * (the inference batch, so that every image is scored in the batch an unsharded run puts it in);
 * says on stderr which part it is.
 */
export function shardOfList<T>(items: readonly T[], shard: Shard | undefined, unit: number, what: string): readonly T[] {
  if (!shard) return items;
  const range = shardRange(items.length, shard, unit);
  process.stderr.write(shardNote(shard, range, items.length, what));
  return items.slice(...range);
}
