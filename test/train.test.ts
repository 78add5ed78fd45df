/**
 * `imaginet train` end to end on a tiny dataset: SelfCon representation, resume, the linear stage,
 * and the resulting detector checkpoint running through `imaginet detect` (ONNX); the same from a
 * cross-entropy representation. Uses the libtorch
 * addon (skipped only where it is not built).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { makeExampleDataset } from "../src/data/example.js";
import { nativeAvailable } from "../src/engine/index.js";
import { buildFromCheckpoints } from "../src/detectors/build.js";
import { IMAGINET } from "../src/detectors/imaginet.js";
import type { ImagiNetConfig } from "../src/models/resnet.js";
import { trainClassifier, trainRepresentation, type RepresentOptions } from "../src/train/train.js";
import { TrainingDivergedError } from "../src/train/loop.js";
import { cli, jsonLines, tmpDir } from "./helpers.js";

const skip = !nativeAvailable() && "the libtorch addon is not built (node scripts/build-native.mjs)";

async function values(file: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [k, t] of stateDict(await readTorchCheckpoint(file))) if (k.startsWith("model.")) out.set(k, Array.from((await t.read()) as ArrayLike<number | bigint>, Number));
  return out;
}

describe("imaginet train", { skip }, () => {
  let root = "";
  let base: Omit<RepresentOptions, "out" | "epochs" | "resume">;
  before(async () => {
    root = tmpDir();
    await makeExampleDataset(root, { seed: 4, perKind: 4, size: 48 });
    base = {
      root,
      annotations: [path.join(root, "annotations", "train_annotations.txt")],
      method: "selfcon",
      size: { layers: [1, 1, 1, 1], width: 1 / 16 },
      featDim: 8,
      warm: 1,
      batchSize: 6,
      lr: 0.01,
      crop: 32,
      seed: 5,
      workers: 1,
      saveEvery: 1,
    };
  });

  test("interrupted in epoch 2 and resumed with --resume: the same weights, to the bit, as a straight run", async () => {
    const straight = tmpDir();
    const a = await trainRepresentation({ ...base, out: straight, epochs: 2, resume: false });
    assert.equal(a.lastEpoch, 2);
    assert.ok(a.checkpoint && existsSync(a.checkpoint));

    const cut = tmpDir();
    let epoch = 0;
    const s1 = await trainRepresentation({ ...base, out: cut, epochs: 2, resume: false }, { onEvent: (e) => void (epoch = e.epoch), shouldStop: () => epoch === 2 });
    assert.equal(s1.stopped, true);
    assert.equal(s1.lastEpoch, 1);
    const r = await trainRepresentation({ ...base, out: cut, epochs: 2, resume: true });
    assert.equal(r.lastEpoch, 2);
    const want = await values(a.checkpoint!);
    const got = await values(r.checkpoint!);
    assert.deepEqual([...got.keys()], [...want.keys()]);
    for (const [k, v] of want) assert.deepEqual(got.get(k), v, k);
    const log = readFileSync(path.join(straight, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      log.filter((e) => e.type === "epoch").map((e) => e.epoch),
      [1, 2],
    );
    assert.ok(log.every((e) => Number.isFinite(e.loss)));
  });

  test("the linear stage on the frozen encoder gives a detector checkpoint that imaginet detect runs", async () => {
    const rep = tmpDir();
    const a = await trainRepresentation({ ...base, out: rep, epochs: 1, resume: false });
    const cls = tmpDir();
    const c = await trainClassifier({
      ...base,
      annotations: [path.join(root, "annotations", "calibration.txt")],
      out: cls,
      epochs: 1,
      resume: false,
      encoder: a.checkpoint!,
      target: "origin",
      lr: 1e-3,
    });
    assert.ok(c.detector && existsSync(c.detector));
    const keys = [...stateDict(await readTorchCheckpoint(c.detector)).keys()];
    assert.ok(keys.includes("model.encoder.conv1.weight") && keys.includes("classifier.4.weight") && keys.includes("model.head.0.weight"));
    // the encoder's BN running stats moved (upstream's linear stage runs its BN in train mode); its weights did not
    const before = await values(a.checkpoint!);
    const after = await values(c.detector);
    assert.deepEqual(after.get("model.encoder.conv1.weight"), before.get("model.encoder.conv1.weight"));
    assert.notDeepEqual(after.get("model.encoder.bn1.running_mean"), before.get("model.encoder.bn1.running_mean"));
    const img = path.join(root, (readFileSync(path.join(root, "annotations", "test_annotations.txt"), "utf8").split("\n")[0] ?? "").split(",")[0]!);
    const d = cli(["detect", img, "--detector", "imaginet", "--weights", c.detector, "--json"]);
    assert.equal(d.code, 0, d.stderr);
    const [row] = jsonLines(d.stdout);
    assert.ok(Number.isFinite(row.score));
  });

  test("the CLI: train represent, then train classifier, in a worker thread, with --json results", () => {
    const rep = tmpDir();
    const train = path.join(root, "annotations", "train_annotations.txt");
    const r = cli([
      "train",
      "represent",
      train,
      "--root",
      root,
      "--out",
      rep,
      "--epochs",
      "1",
      "--batch",
      "6",
      "--crop",
      "32",
      "--layers",
      "1,1,1,1",
      "--width",
      "0.0625",
      "--feat-dim",
      "8",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.lastEpoch, 1);
    assert.ok(existsSync(out.lastCheckpoint));
    assert.equal(JSON.parse(readFileSync(path.join(rep, "config.json"), "utf8")).options.epochs, 1);
    const cls = tmpDir();
    const c = cli([
      "train",
      "classifier",
      path.join(root, "annotations", "calibration.txt"),
      "--encoder",
      out.lastCheckpoint,
      "--root",
      root,
      "--out",
      cls,
      "--epochs",
      "1",
      "--batch",
      "6",
      "--crop",
      "32",
      "--json",
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.ok(existsSync(JSON.parse(c.stdout).detector));
    const bad = cli(["train", "represent", train, "--root", root, "--out", tmpDir(), "--layers", "1,1,1"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--layers expects 4 positive integers like 3,4,6,3, got "1,1,1"/);
    const empty = tmpDir();
    const noCkpt = cli(["train", "represent", train, "--root", root, "--out", empty, "--resume"]);
    assert.equal(noCkpt.code, 2);
    assert.equal(noCkpt.stderr, `imaginet: error: --resume: no checkpoint in ${path.join(empty, "checkpoints")}\n`);
    assert.deepEqual(readdirSync(empty), [], "nothing written before the check");
  });

  test("a cross-entropy representation (--method ce) goes through train classifier to a detector that imaginet detect runs", async () => {
    const a = await trainRepresentation({ ...base, method: "ce", out: tmpDir(), epochs: 1, resume: false });
    const c = await trainClassifier({
      ...base,
      annotations: [path.join(root, "annotations", "calibration.txt")],
      out: tmpDir(),
      epochs: 1,
      resume: false,
      encoder: a.checkpoint!,
      target: "origin",
      lr: 1e-3,
    });
    const detector = c.detector!;
    // the CE model (strided trunk, fc head) under "model", the classifier beside it
    const keys = [...stateDict(await readTorchCheckpoint(detector)).keys()];
    assert.ok(keys.includes("model.encoder.conv1.weight") && keys.includes("model.fc.2.weight") && keys.includes("classifier.4.weight"));
    assert.ok(!keys.some((k) => k.includes("selfcon_layer")));
    // the imaginet detector's registry entry says nodown; the CE encoder's trunk is strided, and its fc is a training-only part
    const built = await buildFromCheckpoints(IMAGINET, detector);
    assert.equal((built.config as ImagiNetConfig).trunk.nodown, false);
    assert.deepEqual(built.ignored.filter((k) => k.startsWith("model.fc.")).sort(), ["model.fc.0.bias", "model.fc.0.weight", "model.fc.2.bias", "model.fc.2.weight"]);
    const img = path.join(root, (readFileSync(path.join(root, "annotations", "test_annotations.txt"), "utf8").split("\n")[0] ?? "").split(",")[0]!);
    const d = cli(["detect", img, "--detector", "imaginet", "--weights", detector, "--json"]);
    assert.equal(d.code, 0, d.stderr);
    const [row] = jsonLines(d.stdout);
    assert.ok(Number.isFinite(row.score));
  });

  test("--method ce --nodown: the trunk is recorded in both checkpoints and the detector built from them has it", async () => {
    const recorded = async (file: string) => {
      const tree = (await readTorchCheckpoint(file)).tree;
      return tree instanceof Map ? tree.get("nodown") : undefined;
    };
    const a = await trainRepresentation({ ...base, method: "ce", nodown: true, out: tmpDir(), epochs: 1, resume: false });
    assert.equal(await recorded(a.checkpoint!), true);
    const c = await trainClassifier({ ...base, out: tmpDir(), epochs: 1, resume: false, encoder: a.checkpoint!, target: "origin", lr: 1e-3 });
    assert.equal(await recorded(c.detector!), true);
    // the keys alone say "strided" for a CE encoder; the recorded trunk wins, an explicit option wins over both
    assert.equal(((await buildFromCheckpoints(IMAGINET, c.detector!)).config as ImagiNetConfig).trunk.nodown, true);
    assert.equal(((await buildFromCheckpoints(IMAGINET, c.detector!, { nodown: false })).config as ImagiNetConfig).trunk.nodown, false);
    const strided = await trainRepresentation({ ...base, method: "ce", out: tmpDir(), epochs: 1, resume: false });
    assert.equal(await recorded(strided.checkpoint!), false);
  });

  test("a loss that stops being finite ends the run with the last good checkpoint named", async () => {
    const out = tmpDir();
    await assert.rejects(trainRepresentation({ ...base, out, epochs: 3, warm: 0, lr: 1e30, resume: false }), (err: Error) => {
      assert.ok(err instanceof TrainingDivergedError);
      assert.match(err.message, /the loss became (NaN|Infinity|-Infinity) at epoch \d+, step \d+/);
      return true;
    });
  });
});
