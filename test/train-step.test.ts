/**
 * src/models/selfcon.ts + src/train/{losses,steps}.ts against PyTorch 1.13: one (or two) training
 * steps of upstream's SelfCon / CE / linear stage on tiny models, made by
 * scripts/fixtures/make_train_fixtures.py (test/fixtures/train/*.pth; its docstring lists the
 * keys). Each case loads `init`, runs the step on `x` / `labels` and compares the forward
 * intermediates, the loss, every gradient, and every parameter and buffer after the step (BN
 * running stats and num_batches_tracked included), with one and with two threads. The bound is
 * float32's (test/support/tolerance.ts): relative to each tensor's max, λ·u·√K with K from the
 * network's depth and its widest reduction (the batch's N·H·W). IMAGINET_TEST_DEVICE=cuda runs the
 * steps on the GPU (TF32 off) against the same CPU-made fixtures (bench/gpu-check.sh). Skips only
 * when the libtorch addon is not built.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, test } from "node:test";
import { type LazyTensor, readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import * as E from "../src/engine/index.js";
import { toOnnx, trace } from "../src/onnx/trace.js";
import { DetectorSession } from "../src/runtime/session.js";
import { CE_RESNET50, SELFCON_RESNET50, conResNet, inferConResNetConfig, linResNet, linearStage, torchvisionToEncoder } from "../src/models/selfcon.js";
import { conLoss, imaginetMultiLabelLoss } from "../src/train/losses.js";
import { createModel, exportStateDict, inferSpec, linearStep, makeOptimizer, representationStep, stateDictSpec, type StepBatch, type TrainModel } from "../src/train/steps.js";
import { REPO } from "./helpers.js";
import { f32Tolerance, relErr, stepOperations } from "./support/tolerance.js";

const FIX = path.join(REPO, "test", "fixtures", "train");
const built = E.nativeAvailable();
const skip = built ? false : "the libtorch addon is not built (node scripts/build-native.mjs)";
const DEVICE = process.env.IMAGINET_TEST_DEVICE ?? "cpu";
if (built && DEVICE !== "cpu") E.setAllowTF32(false);
if (!built) console.log(`# skipping training-step tests: ${skip}`);

type Fixture = Map<string, LazyTensor>;

async function load(name: string): Promise<Fixture> {
  return stateDict(await readTorchCheckpoint(path.join(FIX, `${name}.pth`)));
}

/** the keys under `prefix.`, prefix removed */
function under(f: Fixture, prefix: string): Map<string, LazyTensor> {
  const out = new Map<string, LazyTensor>();
  for (const [k, v] of f) if (k.startsWith(`${prefix}.`)) out.set(k.slice(prefix.length + 1), v);
  return out;
}

function must<V>(m: ReadonlyMap<string, V>, k: string): V {
  const v = m.get(k);
  assert.ok(v !== undefined, `fixture key ${k}`);
  return v;
}

async function values(t: LazyTensor): Promise<Float64Array> {
  const a = await t.read();
  return a instanceof BigInt64Array ? Float64Array.from(a, Number) : Float64Array.from(a as ArrayLike<number>);
}

function host(a: E.HostArray): Float64Array {
  return a instanceof BigInt64Array ? Float64Array.from(a, Number) : Float64Array.from(a as ArrayLike<number>);
}

/** records the worst error per group, for one summary line per case */
class Report {
  worst = new Map<string, { err: number; key: string }>();
  constructor(
    readonly name: string,
    readonly tol: number,
  ) {}

  async check(group: string, key: string, got: { data: Float64Array; shape: readonly number[] }, want: LazyTensor): Promise<void> {
    assert.deepEqual([...got.shape], [...want.shape], `${this.name} ${key}: shape`);
    const e = relErr(got.data, await values(want));
    const w = this.worst.get(group);
    if (!w || e > w.err) this.worst.set(group, { err: e, key });
    assert.ok(e <= this.tol, `${this.name} ${key}: relative error ${e.toExponential(2)} > ${this.tol.toExponential(2)}`);
  }

  print(): void {
    const parts = [...this.worst].map(([g, w]) => `${g} ${w.err.toExponential(1)}`);
    console.log(`# ${this.name}: max relative error ${parts.join(", ")} (bound ${this.tol.toExponential(1)})`);
  }
}

/**
 * The case's float32 bound: every tensor of the step depends on at most every parameterised layer
 * (one `weight` each: conv, BN, linear) twice, each reducing over at most the batch's N·H·W terms.
 */
function stepTolerance(init: Map<string, LazyTensor>, batch: StepBatch): number {
  const layers = [...init.keys()].filter((k) => k.endsWith(".weight")).length;
  const [n, , h, w] = batch.shape;
  return f32Tolerance(stepOperations(layers, n * h * w));
}

/** Runs a case once per thread count: other kernels, other rounding, same bound. */
async function withThreads(run: (threads: number) => Promise<void>): Promise<void> {
  const before = E.getNumThreads();
  try {
    for (const t of [1, 2]) {
      E.setNumThreads(t);
      await run(t);
    }
  } finally {
    E.setNumThreads(before);
  }
}

function tensorValue(t: E.Tensor): { data: Float64Array; shape: number[] } {
  return { data: host(t.toArray()), shape: t.shape };
}

async function batchOf(f: Fixture): Promise<StepBatch> {
  const x = must(f, "x");
  const labels = must(f, "labels");
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return { x: (await x.read()) as Float32Array, shape: [n, c, h, w], labels: Int32Array.from(await values(labels)) };
}

/** Captures the step's intermediates by name. */
function recorder(): { seen: Map<string, { data: Float64Array; shape: number[] }>; observe: (name: string, t: E.Tensor) => void } {
  const seen = new Map<string, { data: Float64Array; shape: number[] }>();
  return { seen, observe: (name, t) => void seen.set(name, tensorValue(t)) };
}

async function checkLoss(r: Report, got: number, want: LazyTensor, key: string): Promise<void> {
  await r.check("loss", key, { data: Float64Array.of(got), shape: [] }, want);
}

/** every gradient of the fixture, and no trained parameter without one */
async function checkGrads(r: Report, model: TrainModel, grads: Map<string, LazyTensor>, keyOf: (k: string) => string = (k) => k): Promise<void> {
  const trained = [...model.params]
    .filter(([, t]) => t.requiresGrad)
    .map(([k]) => k)
    .sort();
  assert.deepEqual([...grads.keys()].map(keyOf).sort(), trained, `${r.name}: parameters with a gradient`);
  for (const [k, want] of grads) {
    const g = must(model.params, keyOf(k)).grad;
    assert.ok(g, `${r.name}: no gradient for ${keyOf(k)}`);
    await r.check("grads", keyOf(k), tensorValue(g), want);
  }
}

/** every entry of the state dict (parameters and buffers, num_batches_tracked exactly) */
async function checkState(r: Report, model: TrainModel, want: Map<string, LazyTensor>, group: string): Promise<void> {
  const got = exportStateDict(model);
  assert.deepEqual([...got.keys()], [...want.keys()], `${r.name}: state-dict keys and order`);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    if (k.endsWith("num_batches_tracked")) {
      assert.equal(g.dtype, "int64", k);
      assert.deepEqual(host(g.data), await values(w), `${r.name} ${k}`);
      continue;
    }
    await r.check(k.includes("running_") ? `${group} running stats` : group, k, { data: host(g.data), shape: g.shape }, w);
  }
}

async function checkForward(r: Report, seen: Map<string, { data: Float64Array; shape: number[] }>, fwd: Map<string, LazyTensor>): Promise<void> {
  assert.ok(fwd.size > 0);
  for (const [k, want] of fwd) await r.check("forward", k, must(seen, k), want);
}

describe("training steps match PyTorch 1.13 (test/fixtures/train)", { skip }, () => {
  for (const [name, kind, loss] of [
    ["selfcon_sgd", "sgd", "origin"],
    ["selfcon_multilabel", "sgd", "multilabel"],
    ["selfcon_adam", "adam", "origin"],
  ] as const) {
    test(`${name}: SelfCon ConResNet, ${loss === "origin" ? "ConLoss(origin)" : "MultiLabelLossImagiNet"}, ${kind}`, async () => {
      const f = await load(name);
      const init = under(f, "init");
      const spec = inferSpec("selfcon", init);
      assert.equal(spec.kind, "selfcon");
      if (spec.kind !== "selfcon") return;
      assert.deepEqual(spec.cfg, { trunk: { layers: [1, 1, 1, 1], width: 2 / 64, nodown: true, shortcutName: "shortcut" }, selfconStage: 2, hidden: 64, featDim: 16 });
      const batch = await batchOf(f);
      await withThreads(async (threads) => {
        const model = await createModel(spec, { from: init, device: DEVICE });
        const opt = makeOptimizer(model, kind === "sgd" ? { name: "sgd", lr: 0.005, momentum: 0.9, weightDecay: 1e-4 } : { name: "adam", lr: 0.005, weightDecay: 1e-4 });
        const r = new Report(`${name}, ${threads} thread(s)`, stepTolerance(init, batch));
        const rec = recorder();
        const l1 = representationStep(model, opt, batch, { loss, observe: rec.observe });
        await checkForward(r, rec.seen, under(f, "forward"));
        await checkLoss(r, l1, must(f, "loss"), "loss");
        await checkGrads(r, model, under(f, "grads"));
        await checkState(r, model, under(f, "after"), "after");
        if (f.has("loss2")) {
          const l2 = representationStep(model, opt, batch, { loss });
          await checkLoss(r, l2, must(f, "loss2"), "loss2");
          await checkState(r, model, under(f, "after2"), "after2");
        }
        r.print();
        opt.dispose();
      });
    });
  }

  test("ce_sgd: LinResNet (strided trunk), CrossEntropy on the group column, SGD", async () => {
    const f = await load("ce_sgd");
    const init = under(f, "init");
    const spec = inferSpec("ce", init);
    if (spec.kind !== "ce") return assert.fail("ce spec");
    assert.deepEqual(spec.cfg, { trunk: { layers: [1, 1, 1, 1], width: 2 / 64, nodown: false, shortcutName: "shortcut" }, hidden: 32, classes: 5 });
    const batch = await batchOf(f);
    await withThreads(async (threads) => {
      const model = await createModel(spec, { from: init, device: DEVICE });
      const opt = makeOptimizer(model, { name: "sgd", lr: 0.005 });
      const r = new Report(`ce_sgd, ${threads} thread(s)`, stepTolerance(init, batch));
      const rec = recorder();
      const l = representationStep(model, opt, batch, { observe: rec.observe });
      await checkForward(r, rec.seen, under(f, "forward"));
      await checkLoss(r, l, must(f, "loss"), "loss");
      await checkGrads(r, model, under(f, "grads"));
      await checkState(r, model, under(f, "after"), "after");
      r.print();
      opt.dispose();
    });
  });

  test("linear_adam: encoder under noGrad with train-mode BN, BN1d/Linear/ReLU/Dropout/Linear, BCE, Adam on the classifier", async () => {
    const f = await load("linear_adam");
    const init = under(f, "init"); // model.* (the whole ConResNet) and classifier.*
    const spec = inferSpec("linear", init);
    if (spec.kind !== "linear") return assert.fail("linear spec");
    assert.deepEqual(spec.cfg.classifier, { features: 64, hidden: 32, classes: 1, dropout: 0.2 });
    const batch = await batchOf(f);
    const maskT = E.keep(E.tensor((await must(f, "dropout_mask").read()) as Float32Array, must(f, "dropout_mask").shape));
    await withThreads(async (threads) => {
      const model = await createModel(spec, { from: init, device: DEVICE });
      assert.deepEqual([...model.params.keys()], [...init.keys()], "store keys in the checkpoint's order");
      const opt = makeOptimizer(model, { name: "adam", lr: 1e-4 }); // weight decay 1e-3: the linear stage's default
      const r = new Report(`linear_adam, ${threads} thread(s)`, stepTolerance(init, batch));
      const rec = recorder();
      const l = linearStep(model, opt, batch, { dropout: (h) => h.mul(maskT), observe: rec.observe });
      await checkForward(r, rec.seen, under(f, "forward"));
      await checkLoss(r, l, must(f, "loss"), "loss");
      // fixture grads are named by the classifier module's own keys (0.weight, …)
      await checkGrads(r, model, under(f, "grads"), (k) => `classifier.${k}`);
      await checkState(r, model, under(f, "after"), "after");
      // the encoder's running stats moved (train-mode BN under noGrad), its weights did not
      const before = must(init, "model.encoder.bn1.running_mean");
      assert.notDeepEqual(host(exportStateDict(model).get("model.encoder.bn1.running_mean")!.data), await values(before));
      assert.deepEqual(host(exportStateDict(model, "model").get("encoder.conv1.weight")!.data), await values(must(init, "model.encoder.conv1.weight")));
      r.print();
      opt.dispose();
    });
    maskT.dispose();
  });

  test("conLoss: labels null (SimCLR) = labels all distinct; multi-label skips the group term without synthetic images", () => {
    E.tidy(() => {
      const feats = E.nn.l2normalize(E.randn([6, 2, 5], { seed: 3 }), 2);
      const a = conLoss(feats, null).item();
      const b = conLoss(feats, E.arange(0, 6, 1, { dtype: "int64" })).item();
      assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
      const rows = E.tensor(Int32Array.from([0, 0, 4, 8, 0, 1, 4, 8, 0, 2, 4, 8, 0, 0, 4, 8, 0, 1, 4, 8, 0, 3, 4, 8]), [6, 4]);
      const l = imaginetMultiLabelLoss(feats, rows);
      assert.equal(l.group, null);
      assert.ok(Number.isFinite(l.loss.item()));
      assert.equal(l.loss.item(), conLoss(feats, rows.select(1, 0)).item());
    });
  });

  test("fresh parameters: upstream's init, keys in registration order, deterministic by seed", async () => {
    const cfg = { ...SELFCON_RESNET50, trunk: { ...SELFCON_RESNET50.trunk, width: 1 / 16 }, hidden: 128, featDim: 8 };
    const spec = { kind: "selfcon" as const, cfg, prefix: "" };
    const a = await createModel(spec, { seed: 4 });
    const b = await createModel(spec, { seed: 4 });
    const keys = stateDictSpec(spec).map((p) => p.name);
    assert.deepEqual([...a.params.keys()], keys);
    assert.equal(keys[0], "encoder.conv1.weight");
    assert.deepEqual(keys.slice(1, 6), ["encoder.bn1.weight", "encoder.bn1.bias", "encoder.bn1.running_mean", "encoder.bn1.running_var", "encoder.bn1.num_batches_tracked"]);
    assert.ok(keys.indexOf("encoder.selfcon_layer.1.weight") > keys.indexOf("encoder.layer4.2.bn3.num_batches_tracked"));
    assert.ok(keys.indexOf("head.0.weight") < keys.indexOf("sub_heads.0.0.weight"));
    assert.deepEqual(a.params.get("encoder.layer3.0.conv2.weight")!.toArray(), b.params.get("encoder.layer3.0.conv2.weight")!.toArray());
    // conv: kaiming_normal fan_out (std √(2 / (cout·k·k))); Linear: U(±1/√fan_in); BN 1 / 0
    const convT = a.params.get("encoder.layer4.0.conv2.weight")!; // [32, 32, 3, 3]
    assert.deepEqual(convT.shape, [32, 32, 3, 3]);
    const conv = host(convT.toArray());
    const std = Math.sqrt(conv.reduce((s, v) => s + v * v, 0) / conv.length);
    assert.ok(Math.abs(std / Math.sqrt(2 / (32 * 9)) - 1) < 0.05, `conv std ${std}`);
    const lin = host(a.params.get("head.0.weight")!.toArray());
    assert.ok(lin.every((v) => Math.abs(v) <= 1 / Math.sqrt(128)));
    assert.deepEqual([...a.params.get("encoder.bn1.weight")!.toArray()], new Array(4).fill(1));
    assert.equal(a.params.get("encoder.bn1.num_batches_tracked")!.dtype, "int64");
    assert.equal(a.params.get("encoder.bn1.running_mean")!.requiresGrad, false);
    assert.equal(E.trainableParams(a.params).length, keys.filter((k) => !E.isBuffer(k)).length);
    // an ImageNet-style start: torchvision keys renamed (downsample → shortcut), the rest fresh
    const tv = new Map([
      ...torchvisionToEncoder(
        new Map([
          ["layer1.0.downsample.0.weight", 1],
          ["fc.weight", 2],
        ]),
      ),
    ]);
    assert.deepEqual([...tv.keys()], ["encoder.layer1.0.shortcut.0.weight"]);
    // partial load keeps the given values; unexpected keys are an error
    const sd = stateDict(await readTorchCheckpoint(path.join(FIX, "selfcon_sgd.pth")));
    const init = under(sd, "init");
    const only = new Map([...init].filter(([k]) => k.startsWith("encoder.")));
    const tinySpec = inferSpec("selfcon", init);
    await assert.rejects(createModel(tinySpec, { from: only }), /missing \(8\)/);
    const p = await createModel(tinySpec, { from: only, partial: true, seed: 1 });
    assert.deepEqual(host(p.params.get("encoder.conv1.weight")!.toArray()), await values(must(init, "encoder.conv1.weight")));
    await assert.rejects(createModel(tinySpec, { from: new Map([...init, ["fc.weight", must(init, "head.0.weight")]]) }), /unexpected \(1\): fc\.weight/);
    assert.deepEqual(inferConResNetConfig(init), (tinySpec as { cfg: unknown }).cfg);
    assert.equal(CE_RESNET50.trunk.nodown, false);
  });

  test("the same definitions trace to ONNX and match eager eval mode", async () => {
    const cases = [
      {
        name: "selfcon_sgd",
        model: (ops: Parameters<typeof conResNet>[0], sd: Map<string, LazyTensor>) => conResNet(ops, inferConResNetConfig(sd)),
        outputs: ["sub_feat", "feat", "encoder_sub", "encoder_feat"],
        kind: "selfcon" as const,
      },
      {
        name: "ce_sgd",
        model: (ops: Parameters<typeof conResNet>[0], sd: Map<string, LazyTensor>) => {
          const s = inferSpec("ce", sd);
          if (s.kind === "ce") linResNet(ops, s.cfg);
        },
        outputs: ["logits", "encoder_feat"],
        kind: "ce" as const,
      },
      {
        name: "linear_adam",
        model: (ops: Parameters<typeof conResNet>[0], sd: Map<string, LazyTensor>) => {
          const s = inferSpec("linear", sd);
          if (s.kind === "linear") linearStage(ops, s.cfg);
        },
        outputs: ["logit", "encoder_feat"],
        kind: "linear" as const,
      },
    ];
    for (const c of cases) {
      const f = await load(c.name);
      const sd = under(f, "after");
      const g = trace((ops) => c.model(ops, sd));
      assert.ok(!g.nodes.some((n) => n.opType === "Dropout"), "no dropout in the graph");
      const weights = new Map<string, Float32Array>();
      for (const p of g.params) weights.set(p.name, (await must(sd, p.name).read()) as Float32Array);
      const session = await DetectorSession.create(toOnnx(g, weights), { batchSize: 8 });
      const batch = await batchOf(f);
      const got = await session.runTensor(batch.x, batch.shape);
      await session.release();
      const params = await E.loadParams(sd);
      const eager = E.tidy(() => E.noGrad(() => E.runModel((ops) => c.model(ops, sd), params, { image: E.tensor(batch.x, batch.shape) })));
      for (const k of c.outputs) {
        const e = relErr(must(new Map(Object.entries(got)), k).data, host(eager.get(k)!.toArray()));
        console.log(`# ${c.name} ONNX vs eager ${k}: max relative error ${e.toExponential(1)}`);
        assert.ok(e < 1e-4, `${c.name} ${k}: ${e}`);
      }
      E.dispose(eager);
      E.dispose(params);
    }
  });
});
