/**
 * `imaginet testset merge`: the shards of a `testset build --shard K/N` (docs/scale-out.md) joined
 * into the test set one unsharded build writes, byte for byte. Shards hold contiguous ranges of the
 * plan, so the manifest, the lists and the error list are each shard's file concatenated in shard
 * order; images are hard-linked (copied across file systems). The manifest is written last: a merge
 * that was stopped is simply run again.
 */
import { existsSync, promises as fsp } from "node:fs";
import * as path from "node:path";
import { InputError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import { inShardOrder, type ShardOutput } from "../../util/shard.js";
import { CONFIG, ERRORS, MANIFEST, type ManifestEntry, PARTIAL, type ShardPart } from "./build.js";

export interface TestsetMergeReport {
  out: string;
  shards: number;
  images: number;
  failed: number;
}

interface ShardDir extends ShardOutput {
  dir: string;
  /** testset.json without its shard: what the merged test set records */
  config: string;
}

async function readShardDir(dir: string): Promise<ShardDir> {
  const text = await fsp.readFile(path.join(dir, CONFIG), "utf8").catch(() => {
    throw new InputError(`${dir}: not a test-set shard (no ${CONFIG}; build it with \`testset build --shard K/N\`)`);
  });
  const { shard, ...config } = JSON.parse(text) as { shard?: ShardPart };
  if (!shard) throw new InputError(`${dir}: a whole test set, not a shard (its ${CONFIG} has no "shard")`);
  if (existsSync(path.join(dir, PARTIAL)) || !existsSync(path.join(dir, MANIFEST))) {
    throw new InputError(`${dir}: shard ${shard.index}/${shard.count} did not finish (no ${MANIFEST}, or a ${PARTIAL} left): run its \`testset build --shard ${shard.index}/${shard.count}\` again`);
  }
  return { dir, name: dir, index: shard.index, count: shard.count, part: shard.items, total: shard.total, config: `${JSON.stringify(config, null, 2)}\n` };
}

/** The shards, in shard order: all N of one build, their ranges covering the plan once. */
async function readShards(dirs: readonly string[]): Promise<ShardDir[]> {
  const shards = inShardOrder(await Promise.all(dirs.map(readShardDir)));
  for (const s of shards) {
    if (s.config !== shards[0]!.config) throw new InputError(`${s.dir} was built with other settings or software than ${shards[0]!.dir} (their ${CONFIG} differ beyond "shard")`);
  }
  return shards;
}

async function readOrEmpty(file: string): Promise<string> {
  return fsp.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return "";
    throw e;
  });
}

/** `to` becomes `from`'s file: a hard link, or a copy where links cannot go (another file system). */
async function linkOrCopy(from: string, to: string): Promise<void> {
  await fsp.mkdir(path.dirname(to), { recursive: true });
  await fsp.rm(to, { force: true });
  await fsp.link(from, to).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== "EXDEV" && e.code !== "EPERM" && e.code !== "ENOTSUP") throw e;
    await fsp.copyFile(from, to);
  });
}

/** The built lists (`test_{group}.txt`) a shard holds: every shard of a build holds the same. */
async function listNames(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((f) => /^test_.+\.txt$/.test(f)).sort();
}

export async function mergeTestset(dirs: readonly string[], out: string): Promise<TestsetMergeReport> {
  const shards = await readShards(dirs);
  if (shards.some((s) => path.resolve(s.dir) === path.resolve(out))) throw new InputError(`--out ${out} is one of the shards: merge into another folder`);
  const config = shards[0]!.config;
  const existing = await readOrEmpty(path.join(out, CONFIG));
  if (existing !== "" && existing !== config) throw new InputError(`${out} holds another test set: choose another --out, or remove it`);

  const manifests: string[] = [];
  let images = 0;
  for (const s of shards) {
    const text = await fsp.readFile(path.join(s.dir, MANIFEST), "utf8");
    for (const [i, line] of text.split("\n").entries()) {
      if (line === "") continue;
      const e = JSON.parse(line) as ManifestEntry;
      if (e.k < s.part[0] || e.k >= s.part[1]) throw new InputError(`${path.join(s.dir, MANIFEST)}:${i + 1}: image #${e.k} is outside shard ${s.index}'s items ${s.part.join("-")}`);
      const from = path.join(s.dir, e.output);
      const st = await fsp.stat(from).catch(() => null);
      if (st?.size !== e.bytes) throw new InputError(`${from}: ${st ? `${st.size} bytes, the manifest says ${e.bytes}` : "missing"}: run the shard's build again`);
      await linkOrCopy(from, path.join(out, e.output));
      images++;
    }
    manifests.push(text);
  }

  await fsp.mkdir(out, { recursive: true });
  await writeFileAtomic(path.join(out, CONFIG), config);
  const lists = await listNames(shards[0]!.dir);
  for (const list of lists) {
    await writeFileAtomic(path.join(out, list), (await Promise.all(shards.map((s) => fsp.readFile(path.join(s.dir, list), "utf8")))).join(""));
  }
  const errors = (await Promise.all(shards.map((s) => readOrEmpty(path.join(s.dir, ERRORS))))).join("");
  if (errors !== "") await writeFileAtomic(path.join(out, ERRORS), errors);
  else await fsp.rm(path.join(out, ERRORS), { force: true });
  await writeFileAtomic(path.join(out, MANIFEST), manifests.join(""));
  return { out, shards: shards.length, images, failed: errors.split("\n").filter((l) => l !== "").length };
}
