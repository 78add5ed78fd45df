/**
 * torch.save-format writing: what we write reads back with our reader, and — where Debian's
 * python3-torch is installed — torch.load reads it to the same values.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { readTorchCheckpoint, stateDict, writeTorchCheckpoint, type TorchValue } from "../src/checkpoint/index.js";
import { tmpDir } from "./helpers.js";

const value = (): TorchValue => ({
  model: new Map<string, TorchValue>([
    ["conv.weight", { dtype: "f32", shape: [2, 1, 2, 2], data: Float32Array.from([1, -2, 3.5, 4, 5, 6, 7, -8e-8]) }],
    ["bn.num_batches_tracked", { dtype: "i64", shape: [], data: BigInt64Array.from([123456789012n]) }],
    ["half", { dtype: "f16", shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x7bff]) }],
    ["mask", { dtype: "u8", shape: [2, 2], data: Uint8Array.from([0, 1, 255, 7]) }],
  ]),
  epoch: 7,
  lr: 0.005,
  big: 2 ** 40,
  neg: -3,
  name: "résumé",
  flags: [true, false, null],
});

describe("writing torch.save checkpoints", () => {
  test("our reader reads back every tensor and value", async () => {
    const f = path.join(tmpDir(), "c.pth");
    await writeTorchCheckpoint(f, value());
    const ck = await readTorchCheckpoint(f);
    const sd = stateDict(ck);
    assert.deepEqual([...((await sd.get("model.conv.weight")!.read()) as Float32Array)], [...Float32Array.from([1, -2, 3.5, 4, 5, 6, 7, -8e-8])]);
    assert.deepEqual(sd.get("model.conv.weight")!.shape, [2, 1, 2, 2]);
    assert.deepEqual([...((await sd.get("model.bn.num_batches_tracked")!.read()) as BigInt64Array)], [123456789012n]);
    assert.deepEqual([...((await sd.get("model.half")!.read({ halfToFloat32: true })) as Float32Array)], [1, -2, 65504]);
    assert.deepEqual([...((await sd.get("model.mask")!.read()) as Uint8Array)], [0, 1, 255, 7]);
  });

  const py = "/usr/bin/python3";
  const hasTorch = existsSync(py) && spawnSync(py, ["-c", "import torch"]).status === 0;
  test("torch.load reads it (python3-torch)", { skip: !hasTorch && "Debian's python3-torch is not installed" }, async () => {
    const f = path.join(tmpDir(), "c.pth");
    await writeTorchCheckpoint(f, value());
    const script = `
import sys, torch, collections
c = torch.load(sys.argv[1])
m = c["model"]
assert isinstance(m, collections.OrderedDict), type(m)
assert list(m) == ["conv.weight", "bn.num_batches_tracked", "half", "mask"]
assert torch.equal(m["conv.weight"], torch.tensor([1, -2, 3.5, 4, 5, 6, 7, -8e-8]).view(2, 1, 2, 2))
assert m["bn.num_batches_tracked"].dtype == torch.int64 and m["bn.num_batches_tracked"].item() == 123456789012
assert m["half"].dtype == torch.float16 and m["half"].tolist() == [1, -2, 65504]
assert m["mask"].dtype == torch.uint8 and m["mask"].tolist() == [[0, 1], [255, 7]]
assert (c["epoch"], c["lr"], c["big"], c["neg"], c["name"], c["flags"]) == (7, 0.005, 2**40, -3, "résumé", [True, False, None])
print("ok")
`;
    const r = spawnSync(py, ["-c", script, f], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "ok");
  });
});
