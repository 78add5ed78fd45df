/**
 * src/checkpoint against PyTorch: the fixtures under test/fixtures/checkpoint/ were made by
 * scripts/fixtures/make_checkpoint_fixtures.py with torch.save (version in expected.json) and, where
 * present, the safetensors reference; every tensor must load to exactly the bytes torch saved.
 * Malicious pickles must be refused by name, and nothing they name may run.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  INERT_GLOBALS,
  LazyTensor,
  NdArray,
  PickleError,
  PyDict,
  PyObject,
  RefusedGlobalError,
  TORCH_GLOBALS,
  isTuple,
  readAll,
  readSafetensors,
  readTorchCheckpoint,
  safetensorsHeader,
  stateDict,
  tensorFromArray,
  unpickle,
  writeSafetensors,
  type PyValue,
  type TypedArray,
} from "../src/checkpoint/index.js";
import { REPO, tmpDir } from "./helpers.js";
import { makeZip, readZipEntries } from "./support/zip.js";

const DIR = path.join(REPO, "test", "fixtures", "checkpoint");
const fx = (name: string): string => path.join(DIR, name);

interface TensorDesc {
  dtype: string;
  shape: number[];
  strides: number[];
  storageOffset: number;
  hex: string;
  f32hex?: string;
  head: (number | string | boolean)[];
  sum: number | string | null;
}
type Desc = unknown;
interface Expected {
  torch: string;
  safetensorsReference: string | null;
  files: Record<string, Record<string, Desc>>;
  malicious: Record<string, string>;
}

const expected = JSON.parse(readFileSync(fx("expected.json"), "utf8")) as Expected;
const PWNED = "/tmp/pwned";

function hex(a: TypedArray): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

function numberOf(v: number | string | boolean): number {
  if (v === "nan") return NaN;
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  return Number(v);
}

/** Checks a tensor's metadata and its data, byte for byte, against the fixture's description. */
async function checkTensor(t: unknown, d: TensorDesc, label: string): Promise<void> {
  assert.ok(t instanceof LazyTensor, `${label}: not a tensor`);
  assert.equal(t.dtype, d.dtype, `${label}: dtype`);
  assert.deepEqual([...t.shape], d.shape, `${label}: shape`);
  assert.deepEqual([...t.strides], d.strides, `${label}: strides`);
  assert.equal(t.storageOffset, d.storageOffset, `${label}: storage offset`);
  const data = await t.read();
  assert.equal(hex(data), d.hex, `${label}: data`);
  const values = d.f32hex !== undefined ? await t.read({ halfToFloat32: true }) : data;
  if (d.f32hex !== undefined) assert.equal(hex(values), d.f32hex, `${label}: as float32`);
  d.head.forEach((h, i) => {
    const v = values[i];
    if (d.dtype === "i64") assert.equal(v, BigInt(h as string), `${label}[${i}]`);
    else if (d.dtype === "bool") assert.equal(v, h ? 1 : 0, `${label}[${i}]`);
    else assert.ok(Object.is(Number(v), numberOf(h)) || (Number(v) === 0 && numberOf(h) === 0 && Object.is(v, numberOf(h))), `${label}[${i}]: ${String(v)} vs ${String(h)}`);
  });
  if (d.dtype === "i64") {
    let s = 0n;
    for (const v of values as BigInt64Array) s += v;
    assert.equal(s, BigInt(d.sum as string), `${label}: sum`);
  } else if (d.sum !== null) {
    let s = 0;
    for (const v of values as Float64Array) s += Number(v);
    assert.ok(Math.abs(s - Number(d.sum)) <= 1e-6 * Math.max(1, Math.abs(Number(d.sum))), `${label}: sum ${s} vs ${String(d.sum)}`);
  }
}

/** Compares an unpickled tree with the fixture's description; collects the tensors to check. */
function matchTree(actual: PyValue | undefined, desc: Desc, label: string, tensors: [unknown, TensorDesc, string][]): void {
  if (desc === null || typeof desc !== "object") {
    assert.equal(actual, desc, label);
    return;
  }
  if (Array.isArray(desc)) {
    assert.ok(Array.isArray(actual) && !isTuple(actual), `${label}: a list`);
    assert.equal(actual.length, desc.length, `${label}: length`);
    desc.forEach((d, i) => matchTree(actual[i], d, `${label}[${i}]`, tensors));
    return;
  }
  const o = desc as Record<string, unknown>;
  if ("$tensor" in o) {
    tensors.push([actual, o.$tensor as TensorDesc, label]);
  } else if ("$dict" in o) {
    assert.ok(actual instanceof Map, `${label}: a dict`);
    const pairs = o.$dict as [Desc, Desc][];
    const entries = [...actual.entries()];
    assert.equal(entries.length, pairs.length, `${label}: size`);
    pairs.forEach(([k, v], i) => {
      matchTree(entries[i]![0], k, `${label} key ${i}`, tensors);
      matchTree(entries[i]![1], v, `${label}[${JSON.stringify(k)}]`, tensors);
    });
  } else if ("$tuple" in o) {
    assert.ok(isTuple(actual), `${label}: a tuple`);
    const items = o.$tuple as Desc[];
    assert.equal(actual.length, items.length, `${label}: length`);
    items.forEach((d, i) => matchTree(actual[i], d, `${label}[${i}]`, tensors));
  } else if ("$object" in o) {
    assert.ok(actual instanceof PyObject, `${label}: an object`);
    assert.equal(actual.pyClass, o.$object);
    const attrs = o.attrs as Record<string, Desc>;
    assert.deepEqual([...actual.attrs.keys()], Object.keys(attrs), `${label}: attributes`);
    for (const [k, v] of Object.entries(attrs)) matchTree(actual.attrs.get(k), v, `${label}.${k}`, tensors);
  } else if ("$float" in o) {
    assert.ok(Object.is(actual, numberOf(o.$float as string)), `${label}: ${String(actual)}`);
  } else if ("$int" in o) {
    assert.equal(actual, BigInt(o.$int as string), label);
  } else if ("$bytes" in o) {
    assert.ok(actual instanceof Uint8Array, `${label}: bytes`);
    assert.equal(Buffer.from(actual).toString("hex"), o.$bytes, label);
  } else if ("$set" in o) {
    assert.ok(actual instanceof Set, `${label}: a set`);
    const items = [...actual].sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(items, o.$set, label);
  } else {
    assert.fail(`${label}: unknown description ${JSON.stringify(desc)}`);
  }
}

async function checkTensors(list: [unknown, TensorDesc, string][]): Promise<void> {
  for (const [t, d, label] of list) await checkTensor(t, d, label);
}

async function checkStateDict(sd: Map<string, LazyTensor>, want: Record<string, TensorDesc>, label: string): Promise<void> {
  assert.deepEqual([...sd.keys()], Object.keys(want), `${label}: keys`);
  for (const [k, d] of Object.entries(want)) await checkTensor(sd.get(k), d, `${label} ${k}`);
}

const TORCH_FILES = Object.keys(expected.files).filter((f) => f.endsWith(".pth"));

describe("pickle VM", () => {
  interface Case {
    name: string;
    expected: Desc;
    pickles: Record<string, string>;
  }
  const cases = (JSON.parse(readFileSync(fx("plain_pickles.json"), "utf8")) as { cases: Case[] }).cases;
  for (const c of cases) {
    test(`${c.name}: protocols 0-5 decode to the values Python pickled`, () => {
      for (const [proto, b64] of Object.entries(c.pickles)) {
        const data = Buffer.from(b64, "base64");
        const r = unpickle(data, { globals: INERT_GLOBALS, source: `${c.name}/p${proto}` });
        assert.equal(r.end, data.length);
        const tensors: [unknown, TensorDesc, string][] = [];
        matchTree(r.value, c.expected, `${c.name} p${proto}`, tensors);
        assert.equal(tensors.length, 0);
        if (c.name === "shared") {
          const v = r.value as PyValue[];
          assert.equal(v[0], v[1], `p${proto}: the memo gives the same list twice`);
        }
      }
    });
  }

  test("with no allow-list, every global is refused", () => {
    const b64 = cases.find((c) => c.name === "ordered")!.pickles["2"]!;
    assert.throws(
      () => unpickle(Buffer.from(b64, "base64"), { source: "x.pkl" }),
      (err: unknown) =>
        err instanceof RefusedGlobalError && err.global === "collections.OrderedDict" && err.message.startsWith("x.pkl: refusing to load: the pickle references collections.OrderedDict"),
    );
  });

  test("inherited property names never resolve (the allow-list is a Map)", () => {
    for (const [mod, name] of [
      ["__proto__", "constructor"],
      ["collections", "__proto__"],
      ["toString", ""],
      ["hasOwnProperty", "x"],
    ] as const) {
      const p = Buffer.concat([Buffer.from([0x80, 2, 0x63]), Buffer.from(`${mod}\n${name}\n`), Buffer.from([0x29, 0x52, 0x2e])]);
      assert.throws(() => unpickle(p, { globals: TORCH_GLOBALS }), RefusedGlobalError);
    }
  });

  test("malformed pickles give clear errors", () => {
    const bad: [number[], RegExp][] = [
      [[0x80, 2, 0x4b], /truncated pickle/],
      [[0x80, 2, 0x4e], /truncated pickle/],
      [[0x80, 2, 0xff], /unknown pickle opcode 0xff/],
      [[0x80, 9, 0x4e, 0x2e], /unsupported pickle protocol 9/],
      [[0x80, 2, 0x2e], /stack underflow/],
      [[0x80, 2, 0x68, 7, 0x2e], /memo key 7 is not defined/],
      [[0x80, 2, 0x4b, 1, 0x51, 0x2e], /persistent ids/],
      [[0x80, 2, 0x82, 1, 0x2e], /extension registry/],
      [[0x80, 2, 0x4b, 1, 0x29, 0x52, 0x2e], /not an allowed global/],
      [[0x80, 2, 0x4b, 1, 0x4b, 2, 0x61, 0x2e], /not a list/],
      [[0x80, 2, 0x4b, 1, 0x7d, 0x62, 0x2e], /stack underflow|takes no state/],
      [[0x80, 2, 0x75, 0x2e], /no MARK/],
    ];
    for (const [bytes, re] of bad) {
      assert.throws(
        () => unpickle(Uint8Array.from(bytes), { source: "bad.pkl", globals: TORCH_GLOBALS }),
        (err: unknown) => err instanceof PickleError && err.message.startsWith("bad.pkl: ") && re.test(err.message),
        `${Buffer.from(bytes).toString("hex")} should fail with ${re}`,
      );
    }
    const trunc = unpickleError([0x80, 2, 0x58, 0xff, 0, 0, 0, 0x61]);
    assert.equal(trunc.truncated, true);
  });

  test("an allowed global that is only a value cannot be called", () => {
    const p = Buffer.concat([Buffer.from([0x80, 2, 0x63]), Buffer.from("torch\nFloatStorage\n"), Buffer.from([0x29, 0x52, 0x2e])]);
    assert.throws(() => unpickle(p, { globals: TORCH_GLOBALS, source: "s" }), /allowed only as a value/);
  });
});

function unpickleError(bytes: number[]): PickleError {
  try {
    unpickle(Uint8Array.from(bytes));
  } catch (err) {
    if (err instanceof PickleError) return err;
    throw err;
  }
  assert.fail("no error");
}

describe("malicious pickles are refused and nothing runs", () => {
  before(() => rmSync(PWNED, { force: true }));
  after(() => assert.equal(existsSync(PWNED), false, `${PWNED} appeared: a payload ran`));

  for (const [name, global] of Object.entries(expected.malicious)) {
    test(`${name}: refused, naming ${global}`, async () => {
      const file = fx(name);
      const re = new RegExp(
        `^${escapeRegExp(file)}: refusing to load: the pickle references ${escapeRegExp(global)}( \\(written as [^)]+\\))? \\(not on the allow-list of tensor-rebuilding globals\\)$`,
      );
      await assert.rejects(readTorchCheckpoint(file), (err: unknown) => err instanceof RefusedGlobalError && err.global === global && re.test(err.message));
      if (name.endsWith(".pkl")) {
        assert.throws(
          () => unpickle(readFileSync(file), { globals: TORCH_GLOBALS, source: name }),
          (err: unknown) => err instanceof RefusedGlobalError && err.global === global,
        );
      }
      assert.equal(existsSync(PWNED), false);
    });
  }
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

describe("torch checkpoints", () => {
  for (const name of TORCH_FILES) {
    const want = expected.files[name]!;
    test(`${name}: the state dict loads to exactly what torch saved`, async () => {
      const ck = await readTorchCheckpoint(fx(name));
      assert.equal(ck.format, name.includes("legacy") ? "legacy" : "zip");
      for (const s of ck.storages.values()) assert.equal(s.reads, 0, "opening reads no tensor data");
      await checkStateDict(stateDict(ck), want.stateDict as Record<string, TensorDesc>, name);
      if (want.tree !== undefined) {
        const list: [unknown, TensorDesc, string][] = [];
        matchTree(ck.tree, want.tree, name, list);
        await checkTensors(list);
      }
    });
  }

  test("the zip's top folder is the saved file's stem or archive/", async () => {
    assert.equal((await readTorchCheckpoint(fx("tiny_zip.pth"))).archiveName, "tiny_zip");
    assert.equal((await readTorchCheckpoint(fx("tiny_archive_unaligned.pth"))).archiveName, "archive");
  });

  test("a state dict keeps its OrderedDict class and _metadata", async () => {
    const ck = await readTorchCheckpoint(fx("tiny_zip.pth"));
    assert.ok(ck.tree instanceof PyDict);
    assert.equal(ck.tree.pyClass, "collections.OrderedDict");
    assert.ok(ck.tree.attrs.get("_metadata") instanceof Map);
  });

  for (const group of [
    ["tiny_zip.pth", "tiny_legacy.pth", "tiny_zip_p4.pth", "tiny_archive_unaligned.pth", "tiny_deflated.pth"],
    ["dtypes_zip.pth", "dtypes_legacy.pth"],
    ["views_zip.pth", "views_legacy.pth"],
    ["checkpoint_zip.pth", "checkpoint_legacy.pth", "checkpoint_p4.pth"],
    ["statedict_zip.pth", "statedict_legacy.pth"],
  ]) {
    test(`legacy and zip agree: ${group.join(", ")}`, async () => {
      const all: Map<string, string>[] = [];
      for (const name of group) {
        const data = await readAll(stateDict(await readTorchCheckpoint(fx(name))));
        all.push(new Map([...data].map(([k, v]) => [k, hex(v)])));
      }
      for (const other of all.slice(1)) assert.deepEqual(other, all[0]);
    });
  }

  for (const name of ["views_zip.pth", "views_legacy.pth"]) {
    test(`${name}: views share their storage, which readAll reads once`, async () => {
      const want = expected.files[name]!;
      const groups = want.sharedStorages as string[][];
      const ck = await readTorchCheckpoint(fx(name));
      const sd = stateDict(ck);
      const roots = groups.map((g) => {
        const r = new Set(g.map((k) => sd.get(k)!.storage.root.storage));
        assert.equal(r.size, 1, `${g.join(", ")} share one storage`);
        return [...r][0]!;
      });
      assert.equal(new Set(roots).size, groups.length, "different groups, different storages");
      const data = await readAll(sd);
      for (const r of roots) assert.equal(r.reads, 1, `${r.name} read once`);
      const sdWant = want.stateDict as Record<string, TensorDesc>;
      for (const [k, d] of Object.entries(sdWant)) assert.equal(hex(data.get(k)!), d.hex, k);
      // a single view reads only the bytes it spans
      const slice = sd.get("slice")!;
      const before = slice.storage.root.storage.bytesRead;
      await slice.read();
      assert.equal(slice.storage.root.storage.bytesRead - before, (slice.span.hi - slice.span.lo) * 4);
      assert.equal(sd.get("transposed")!.isContiguous, false);
      assert.equal(sd.get("row")!.isContiguous, true);
    });
  }

  test("results never alias each other or the storage", async () => {
    const sd = stateDict(await readTorchCheckpoint(fx("views_zip.pth")));
    const data = await readAll(sd);
    const base = data.get("base") as Float32Array;
    const row = data.get("row") as Float32Array;
    assert.notEqual(base.buffer, row.buffer);
    base[12] = -1;
    assert.equal(row[0], 12);
  });

  for (const name of ["checkpoint_zip.pth", "checkpoint_legacy.pth", "checkpoint_p4.pth"]) {
    test(`${name}: model / classifier with module. prefixes, epoch, opt, optimizer`, async () => {
      const want = expected.files[name]!;
      const ck = await readTorchCheckpoint(fx(name));
      await checkStateDict(stateDict(ck, { prefix: "model" }), want.model as Record<string, TensorDesc>, `${name} model`);
      await checkStateDict(stateDict(ck.tree, { prefix: "classifier" }), want.classifier as Record<string, TensorDesc>, `${name} classifier`);
      const raw = stateDict(ck, { stripModule: false });
      assert.ok(raw.has("model.module.0.weight") && raw.has("classifier.module.weight"));
      assert.ok(![...stateDict(ck).keys()].some((k) => k.startsWith("optimizer")), "optimizer state is skipped by default");
      assert.ok(stateDict(ck, { prefix: "optimizer" }).has("state.0.momentum_buffer"));
      const tree = ck.tree as PyDict;
      assert.equal(tree.get("epoch"), want.epoch);
      const list: [unknown, TensorDesc, string][] = [];
      matchTree(tree.get("opt"), want.opt, "opt", list);
      matchTree(tree.get("optimizer"), want.optimizer, "optimizer", list);
      await checkTensors(list);
      const opt = tree.get("opt") as PyObject;
      assert.equal(opt.get("lr"), 0.1);
      assert.throws(() => stateDict(ck, { prefix: "nothing" }), /no tensors under nothing/);
    });
  }

  for (const name of ["statedict_zip.pth", "statedict_legacy.pth"]) {
    test(`${name}: state_dict beside numpy values, a tuple, bytes and a set`, async () => {
      const want = expected.files[name]!;
      const ck = await readTorchCheckpoint(fx(name));
      const tree = ck.tree as PyDict;
      assert.equal(tree.get("epoch"), want.epoch);
      assert.equal(tree.get("best_auc"), want.best_auc);
      const mean = tree.get("mean");
      assert.ok(mean instanceof NdArray);
      assert.equal(mean.dtype.str, "<f4");
      assert.deepEqual(mean.shape, [3]);
      assert.equal(Buffer.from(mean.data).toString("hex"), want.mean);
      await checkTensor(tree.get("best_acc1"), want.best_acc1 as TensorDesc, "best_acc1");
      const tags = tree.get("tags");
      assert.ok(isTuple(tags));
      assert.deepEqual(tags.slice(0, 5), ["a", 1, null, true, 2.5]);
      assert.equal(Buffer.from(tags[5] as Uint8Array).toString("hex"), want.tagsBytesHex);
      assert.deepEqual(tags[6], new Set([1, 2]));
    });
  }

  test("a view that reaches past its storage is refused when the tensor is made", () => {
    const t = tensorFromArray(new Float32Array(6), "f32", [2, 3]);
    assert.throws(() => new LazyTensor(t.storage, "f32", [3, 3], [3, 1], 0), /reaches byte 36, past the storage's 24 bytes/);
    assert.throws(() => new LazyTensor(t.storage, "f32", [2], [1], 5), /past the storage/);
    assert.throws(() => new LazyTensor(t.storage, "f32", [2], [-1], 5), /invalid size, stride or offset/);
    assert.equal(new LazyTensor(t.storage, "f32", [2, 0], [1, 1], 100).numel, 0);
  });

  test("two tensors that map to one name are an error", () => {
    const t = tensorFromArray(new Float32Array(1), "f32", [1]);
    const d = new PyDict();
    d.set("module.w", t);
    d.set("w", t);
    assert.throws(() => stateDict(d), /two tensors are named w once module\. is removed/);
    assert.equal(stateDict(d, { stripModule: false }).size, 2);
  });
});

describe("safetensors", () => {
  for (const name of ["tiny.safetensors", "nometa.safetensors"]) {
    const want = expected.files[name]!;
    test(`${name}: reads to exactly the saved tensors, and our writer reproduces the file byte for byte`, async () => {
      const st = await readSafetensors(fx(name));
      assert.deepEqual(st.metadata === null ? null : { ...st.metadata }, want.metadata);
      const tensors = want.tensors as Record<string, TensorDesc>;
      assert.deepEqual([...st.tensors.keys()].sort(), Object.keys(tensors).sort());
      for (const [k, d] of Object.entries(tensors)) await checkTensor(st.tensors.get(k), d, `${name} ${k}`);
      const dir = tmpDir("imaginet-st-");
      // from lazy tensors, in another order
      const out1 = path.join(dir, "lazy.safetensors");
      await writeSafetensors(out1, new Map([...st.tensors].reverse()), st.metadata);
      assert.ok(readFileSync(out1).equals(readFileSync(fx(name))), "written from lazy tensors");
      // from arrays in memory
      const data = await readAll(st.tensors);
      const out2 = path.join(dir, "arrays.safetensors");
      const inputs = Object.fromEntries([...st.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: data.get(k)! }]));
      await writeSafetensors(out2, inputs, want.metadata as Record<string, string> | null);
      assert.ok(readFileSync(out2).equals(readFileSync(fx(name))), "written from arrays");
      rmSync(dir, { recursive: true, force: true });
    });
  }

  test("a torch checkpoint (strided views included) round-trips through safetensors", async () => {
    const dir = tmpDir("imaginet-st-");
    for (const name of ["views_legacy.pth", "dtypes_zip.pth", "checkpoint_zip.pth"]) {
      const sd = stateDict(await readTorchCheckpoint(fx(name)));
      const out = path.join(dir, `${name}.safetensors`);
      await writeSafetensors(out, sd, { source: name, format: "pt" });
      const back = await readSafetensors(out);
      assert.deepEqual({ ...back.metadata }, { format: "pt", source: name });
      const a = await readAll(sd);
      const b = await readAll(back.tensors);
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const [k, v] of a) {
        assert.equal(hex(b.get(k)!), hex(v), `${name} ${k}`);
        assert.deepEqual(back.tensors.get(k)!.shape, sd.get(k)!.shape);
        assert.equal(back.tensors.get(k)!.dtype, sd.get(k)!.dtype);
      }
      // header is 8-byte aligned, padded with spaces
      const n = Number(readFileSync(out).readBigUInt64LE(0));
      assert.equal(n % 8, 0);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("a file our writer made is readable by the reference implementation (when installed)", async (t) => {
    const probe = spawnSync("/usr/bin/python3", ["-c", "import safetensors.numpy"], { encoding: "utf8" });
    if (probe.status !== 0) {
      t.skip("the safetensors Python package is not installed for /usr/bin/python3");
      return;
    }
    const dir = tmpDir("imaginet-st-");
    const out = path.join(dir, "ours.safetensors");
    const sd = stateDict(await readTorchCheckpoint(fx("dtypes_zip.pth")));
    sd.delete("bf16"); // numpy has no bfloat16
    await writeSafetensors(out, sd, { format: "np" });
    const script = [
      "import json, sys",
      "from safetensors import safe_open",
      "out = {}",
      "with safe_open(sys.argv[1], framework='numpy') as f:",
      "    meta = f.metadata()",
      "    for k in f.keys():",
      "        a = f.get_tensor(k)",
      "        out[k] = [list(a.shape), a.astype(a.dtype.newbyteorder('<')).tobytes().hex()]",
      "print(json.dumps({'meta': meta, 'tensors': out}))",
    ].join("\n");
    const r = spawnSync("/usr/bin/python3", ["-c", script, out], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { meta: Record<string, string>; tensors: Record<string, [number[], string]> };
    assert.deepEqual(got.meta, { format: "np" });
    const data = await readAll(sd);
    for (const [k, v] of data) assert.deepEqual(got.tensors[k], [[...sd.get(k)!.shape], hex(v)], k);
    rmSync(dir, { recursive: true, force: true });
  });

  test("the header matches the reference's layout", () => {
    const { header, order } = safetensorsHeader(
      new Map([
        ["b", { dtype: "f32" as const, shape: [2] }],
        ["a", { dtype: "f32" as const, shape: [1] }],
        ["c", { dtype: "i64" as const, shape: [] }],
        ["d", { dtype: "bool" as const, shape: [3] }],
      ]),
      { z: "1", a: "2" },
    );
    assert.deepEqual(order, ["c", "a", "b", "d"]);
    const text = Buffer.from(header.subarray(8)).toString("utf8");
    assert.equal(
      text.trimEnd(),
      '{"__metadata__":{"a":"2","z":"1"},"c":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},"d":{"dtype":"BOOL","shape":[3],"data_offsets":[20,23]}}',
    );
    assert.equal(header.length % 8, 0);
  });
});

describe("truncated and corrupt files give clear errors", () => {
  const dir = tmpDir("imaginet-ckpt-");
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, data: Uint8Array): string => {
    const f = path.join(dir, name);
    writeFileSync(f, data);
    return f;
  };
  const starts = (file: string, re: RegExp) => (err: unknown) => err instanceof Error && err.message.startsWith(`${file}: `) && re.test(err.message);

  test("torch zip", async () => {
    const zip = readFileSync(fx("tiny_zip.pth"));
    const half = write("half.pth", zip.subarray(0, zip.length >> 1));
    await assert.rejects(readTorchCheckpoint(half), starts(half, /not a readable zip archive/));
    // rebuilt with our own zip writer: a storage cut short, a storage missing, a corrupt pickle, no data.pkl
    const entries = readZipEntries(fx("tiny_zip.pth"));
    const pkl = entries.get("tiny_zip/data.pkl")!;
    const storages = [...entries].filter(([n]) => n.includes("/data/"));
    const short = write("short.pth", makeZip([{ name: "archive/data.pkl", data: pkl }, ...storages.map(([n, d]) => ({ name: n.replace("tiny_zip/", "archive/"), data: d.subarray(0, 4) }))]));
    await assert.rejects(readTorchCheckpoint(short), starts(short, /zip entry archive\/data\/\d+ holds 4 bytes, but the pickle declares storage data\/\d+ as \d+ × \d = \d+ bytes/));
    const missing = write("missing.pth", makeZip([{ name: "archive/data.pkl", data: pkl }, ...storages.slice(1).map(([n, d]) => ({ name: n.replace("tiny_zip/", "archive/"), data: d }))]));
    await assert.rejects(readTorchCheckpoint(missing), starts(missing, /references storage data\/0, which the archive lacks/));
    const corrupt = Buffer.from(pkl);
    corrupt[2] = 0xff;
    const bad = write("badpkl.pth", makeZip([{ name: "archive/data.pkl", data: corrupt }]));
    await assert.rejects(readTorchCheckpoint(bad), starts(bad, /unknown pickle opcode 0xff/));
    const nopkl = write("nopkl.pth", makeZip([{ name: "archive/version", data: "3\n" }]));
    await assert.rejects(readTorchCheckpoint(nopkl), starts(nopkl, /without data\.pkl/));
    const cutPkl = write("cutpkl.pth", makeZip([{ name: "archive/data.pkl", data: pkl.subarray(0, 100) }]));
    await assert.rejects(readTorchCheckpoint(cutPkl), starts(cutPkl, /truncated pickle/));
  });

  test("legacy", async () => {
    const legacy = readFileSync(fx("tiny_legacy.pth"));
    const inData = write("indata.pth", legacy.subarray(0, legacy.length - 3));
    await assert.rejects(readTorchCheckpoint(inData), starts(inData, /truncated: storage \d+ needs bytes/));
    const inPickle = write("inpickle.pth", legacy.subarray(0, 300));
    await assert.rejects(readTorchCheckpoint(inPickle), starts(inPickle, /truncated pickle/));
    const garbage = write("garbage.pth", Buffer.from("this is not a checkpoint at all"));
    await assert.rejects(readTorchCheckpoint(garbage), starts(garbage, /not a PyTorch checkpoint/));
    const empty = write("empty.pth", new Uint8Array(0));
    await assert.rejects(readTorchCheckpoint(empty), starts(empty, /not a PyTorch checkpoint/));
    const absent = path.join(dir, "absent.pth");
    await assert.rejects(readTorchCheckpoint(absent), starts(absent, /cannot read/));
  });

  test("safetensors", async () => {
    const st = readFileSync(fx("tiny.safetensors"));
    const cut = write("cut.safetensors", st.subarray(0, st.length - 3));
    await assert.rejects(readSafetensors(cut), starts(cut, /truncated: the tensors need/));
    const tiny = write("tiny.safetensors", st.subarray(0, 5));
    await assert.rejects(readSafetensors(tiny), starts(tiny, /shorter than the 8-byte header length/));
    const huge = Buffer.from(st);
    huge.writeBigUInt64LE(1n << 40n, 0);
    const hugeF = write("huge.safetensors", huge);
    await assert.rejects(readSafetensors(hugeF), starts(hugeF, /header length \d+ exceeds/));
    const headerCut = write("headercut.safetensors", st.subarray(0, 40));
    await assert.rejects(readSafetensors(headerCut), starts(headerCut, /truncated: the header needs/));
    const mk = (json: string, data = 0): Buffer => {
      const h = Buffer.from(json);
      const n = Buffer.alloc(8);
      n.writeBigUInt64LE(BigInt(h.length), 0);
      return Buffer.concat([n, h, Buffer.alloc(data)]);
    };
    const badJson = write("badjson.safetensors", mk('{"a":'));
    await assert.rejects(readSafetensors(badJson), starts(badJson, /invalid safetensors header JSON/));
    const gap = write("gap.safetensors", mk('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8));
    await assert.rejects(readSafetensors(gap), starts(gap, /gap or overlap/));
    const wrongSize = write("size.safetensors", mk('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4));
    await assert.rejects(readSafetensors(wrongSize), starts(wrongSize, /data_offsets \[0, 4\] for 8 bytes/));
    const dtype = write("dtype.safetensors", mk('{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', 1));
    await assert.rejects(readSafetensors(dtype), starts(dtype, /dtype F8_E4M3, which is not supported/));
    const notObj = write("notobj.safetensors", mk("[1]"));
    await assert.rejects(readSafetensors(notObj), starts(notObj, /does not start with/));
  });
});
