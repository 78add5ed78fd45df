/**
 * TorchScript archives against PyTorch: test/fixtures/checkpoint/jit_{trace,script}.pt are a small
 * CLIP-like model saved by torch.jit.trace(...).save and torch.jit.script(...).save
 * (scripts/fixtures/make_jit_fixtures.py); jit_expected.json holds torch.jit.load(f).state_dict()
 * of each — names in order, dtypes, shapes, elements — which our reader must give exactly, lazily,
 * without running anything. Hostile archives are rebuilt from the real one with makeZip.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { LazyTensor, RefusedGlobalError, readTorchCheckpoint, stateDict, type TypedArray } from "../src/checkpoint/index.js";
import { REPO, tmpDir } from "./helpers.js";
import { makeZip, readZipEntries } from "./support/zip.js";

const DIR = path.join(REPO, "test", "fixtures", "checkpoint");
const fx = (name: string): string => path.join(DIR, name);

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  hex: string;
}
const expected = JSON.parse(readFileSync(fx("jit_expected.json"), "utf8")) as { torch: string; files: Record<string, Entry[]>; eagerKeys: string[] };

const hex = (a: TypedArray): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");

describe("TorchScript archives", () => {
  for (const [name, entries] of Object.entries(expected.files)) {
    test(`${name}: the state dict is torch.jit.load(f).state_dict() (torch ${expected.torch}), names in order, dtypes, shapes, values`, async () => {
      const ck = await readTorchCheckpoint(fx(name));
      assert.equal(ck.format, "torchscript");
      assert.equal(ck.archiveName, name.replace(/\.pt$/, ""));
      for (const s of ck.storages.values()) assert.equal(s.reads, 0, "nothing is read before a tensor is");
      const sd = stateDict(ck);
      assert.deepEqual(
        [...sd.keys()],
        entries.map((e) => e.name),
      );
      for (const e of entries) {
        const t = sd.get(e.name)!;
        assert.equal(t.dtype, e.dtype, `${e.name}: dtype`);
        assert.deepEqual([...t.shape], e.shape, `${e.name}: shape`);
        assert.equal(hex(await t.read()), e.hex, `${e.name}: data`);
      }
    });
  }

  test("the CLIP layout: visual.* keys, float16 visual.proj, 0-d int64 buffers, no attn_mask, a prefix picks the tower", async () => {
    const sd = stateDict(await readTorchCheckpoint(fx("jit_trace.pt")));
    for (const k of [
      "visual.conv1.weight",
      "visual.class_embedding",
      "visual.transformer.resblocks.0.attn.in_proj_weight",
      "visual.transformer.resblocks.1.mlp.c_proj.bias",
      "transformer.resblocks.0.attn.out_proj.weight",
    ]) {
      assert.ok(sd.get(k) instanceof LazyTensor, k);
    }
    assert.equal(sd.get("visual.proj")!.dtype, "f16");
    const res = sd.get("input_resolution")!;
    assert.deepEqual([res.dtype, [...res.shape], [...(await res.read())]], ["i64", [], [8n]]);
    assert.ok(![...sd.keys()].some((k) => k.includes("attn_mask")), "a plain tensor attribute is not state");
    assert.ok(!sd.has("unused_bias"), "a None parameter is left out");
    // the eager model's state dict differs only by the non-persistent buffer, which TorchScript keeps as a buffer
    assert.deepEqual(
      [...sd.keys()].filter((k) => !expected.eagerKeys.includes(k)),
      ["visual.patch_scale"],
    );
    const visual = stateDict(await readTorchCheckpoint(fx("jit_script.pt")), { prefix: "visual" });
    assert.ok(visual.has("conv1.weight") && visual.has("transformer.resblocks.0.ln_1.weight") && !visual.has("visual.conv1.weight"));
  });
});

describe("hostile TorchScript archives are refused with clear errors", () => {
  const dir = tmpDir("imaginet-jit-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const real = readZipEntries(fx("jit_trace.pt"));
  const top = "jit_trace/";
  /** the real archive (jit_trace.pt unless base says) with some entries replaced (undefined: removed) or added */
  const rebuilt = (name: string, changes: Record<string, Buffer | string | undefined>, base = real): string => {
    const items: { name: string; data: Buffer | string }[] = [];
    for (const [n, data] of base) if (!(n in changes)) items.push({ name: n, data });
    for (const [n, data] of Object.entries(changes)) if (data !== undefined) items.push({ name: n, data });
    const f = path.join(dir, name);
    writeFileSync(f, makeZip(items));
    return f;
  };
  const starts = (file: string, re: RegExp) => (err: unknown) => err instanceof Error && err.message.startsWith(`${file}: `) && re.test(err.message);
  const pkl = real.get(`${top}data.pkl`)!;
  const rootCode = `${top}code/__torch__.py`;
  const rootSource = real.get(rootCode)!.toString("utf8");
  assert.match(rootSource, /^class TinyCLIP\(Module\):\n {2}__parameters__ = \["positional_embedding", /);

  test("the real archive, rebuilt, still loads", async () => {
    const f = rebuilt("same.pt", {});
    assert.equal(stateDict(await readTorchCheckpoint(f)).size, expected.files["jit_trace.pt"]!.length);
  });

  test("code/ cannot shadow the tensor-rebuilding globals: only classes under __torch__ are taken", async () => {
    const shadow = "class _rebuild_tensor_v2(Module):\n  __parameters__ = []\n  __buffers__ = []\nclass OrderedDict(Module):\n  __parameters__ = []\n  __buffers__ = []\n";
    const f = rebuilt("shadow.pt", { [`${top}code/torch/_utils.py`]: shadow, [`${top}code/collections.py`]: shadow });
    const sd = stateDict(await readTorchCheckpoint(f));
    assert.deepEqual(
      [...sd.keys()],
      expected.files["jit_trace.pt"]!.map((e) => e.name),
    );
    assert.ok([...sd.values()].every((t) => t instanceof LazyTensor));
  });

  test("data.pkl calling posix.system is refused by name, and nothing runs", async () => {
    const marker = path.join(dir, "pwned");
    const f = rebuilt("system.pt", { [`${top}data.pkl`]: Buffer.from(`cposix\nsystem\n(S'touch ${marker}'\ntR.`, "latin1") });
    await assert.rejects(readTorchCheckpoint(f), (err: unknown) => err instanceof RefusedGlobalError && err.global === "posix.system");
    assert.equal(existsSync(marker), false);
  });

  test("a __torch__ class that code/ does not define is refused by name", async () => {
    // PROTO 2, GLOBAL '__torch__ Evil', EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, BUILD, STOP
    const evil = Buffer.concat([Buffer.from([0x80, 2]), Buffer.from("c__torch__\nEvil\n)\x81}b.", "latin1")]);
    const f = rebuilt("undeclared.pt", { [`${top}data.pkl`]: evil });
    await assert.rejects(readTorchCheckpoint(f), (err: unknown) => err instanceof RefusedGlobalError && err.global === "__torch__.Evil");
  });

  test("a storage key that leads out of data/ names nothing in the archive", async () => {
    const key = Buffer.from("X\x01\x00\x00\x000", "latin1"); // BINUNICODE '0': the first storage's key
    const at = pkl.indexOf(key, pkl.indexOf("Storage\n"));
    assert.ok(at > 0);
    const outside = "../../../etc/passwd";
    const len = Buffer.alloc(4);
    len.writeUInt32LE(outside.length);
    const f = rebuilt("outside.pt", { [`${top}data.pkl`]: Buffer.concat([pkl.subarray(0, at), Buffer.from("X"), len, Buffer.from(outside), pkl.subarray(at + key.length)]) });
    await assert.rejects(readTorchCheckpoint(f), starts(f, /references storage data\/\.\.\/\.\.\/\.\.\/etc\/passwd, which the archive lacks/));
  });

  test("a storage cut short, and a storage missing", async () => {
    const first = `${top}data/0`;
    const short = rebuilt("short.pt", { [first]: real.get(first)!.subarray(0, 4) });
    await assert.rejects(readTorchCheckpoint(short), starts(short, /zip entry jit_trace\/data\/0 holds 4 bytes, but the pickle declares storage data\/0 as \d+ × 4 = \d+ bytes/));
    const missing = rebuilt("missing.pt", { [first]: undefined });
    await assert.rejects(readTorchCheckpoint(missing), starts(missing, /references storage data\/0, which the archive lacks/));
  });

  test("class declarations that are not what PyTorch writes", async () => {
    const unquoted = rebuilt("unquoted.pt", { [rootCode]: rootSource.replace('"positional_embedding", ', "positional_embedding, ") });
    await assert.rejects(readTorchCheckpoint(unquoted), starts(unquoted, /code\/__torch__\.py, line 2: __parameters__ is not a list of quoted names/));
    const noParameters = rebuilt("noparams.pt", { [rootCode]: rootSource.replace(/\n {2}__parameters__ = \[[^\n]*\]/, "") });
    await assert.rejects(readTorchCheckpoint(noParameters), starts(noParameters, /code\/__torch__\.py, line 1: module class TinyCLIP does not list its __parameters__/));
    const ghost = rebuilt("ghost.pt", { [rootCode]: rootSource.replace("__parameters__ = [", '__parameters__ = ["ghost", ') });
    await assert.rejects(
      readTorchCheckpoint(ghost),
      starts(ghost, /the module at the root \(__torch__\.TinyCLIP\) declares the parameter ghost in code\/__torch__\.py, but data\.pkl gives it no value/),
    );
    const notTensor = rebuilt("nottensor.pt", { [rootCode]: rootSource.replace("__parameters__ = [", '__parameters__ = ["training", ') });
    await assert.rejects(readTorchCheckpoint(notTensor), starts(notTensor, /the module at the root \(__torch__\.TinyCLIP\): the parameter training is not a tensor/));
  });

  test("without __buffers__ (archives before PyTorch 1.6), a module's buffers are its Tensor attributes that are not parameters", async () => {
    for (const name of ["jit_trace.pt", "jit_script.pt"]) {
      const base = readZipEntries(fx(name));
      const changes: Record<string, string> = {};
      for (const [n, data] of base) if (n.includes("/code/") && n.endsWith(".py")) changes[n] = data.toString("utf8").replace(/\n {2}__buffers__ = \[[^\n]*\]/g, "");
      assert.ok(Object.keys(changes).length > 10);
      const f = rebuilt(`old-${name}`, changes, base);
      const keys = [...stateDict(await readTorchCheckpoint(f)).keys()];
      // the traced classes declare no other Tensor attributes; the scripted text blocks declare `attn_mask : Tensor`, which torch ≤ 1.7 counted as a buffer
      const extra = name === "jit_script.pt" ? ["transformer.resblocks.0.attn_mask", "transformer.resblocks.1.attn_mask"] : [];
      assert.deepEqual(
        keys.filter((k) => !extra.includes(k)),
        expected.files[name]!.map((e) => e.name),
        name,
      );
      assert.deepEqual(
        keys.filter((k) => extra.includes(k)),
        extra,
        name,
      );
    }
  });

  test("a data.pkl that is no module, and the legacy model.json format", async () => {
    const dict = rebuilt("dict.pt", { [`${top}data.pkl`]: Buffer.from([0x80, 2, 0x7d, 0x2e]) }); // PROTO 2, EMPTY_DICT, STOP
    await assert.rejects(readTorchCheckpoint(dict), starts(dict, /the data\.pkl of a TorchScript archive holds no module object/));
    const legacy = rebuilt("legacy.pt", { [`${top}model.json`]: "{}" });
    await assert.rejects(readTorchCheckpoint(legacy), starts(legacy, /a TorchScript archive in the legacy model\.json format: not supported/));
  });
});
