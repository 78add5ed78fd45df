/**
 * The libtorch engine (native/ + src/engine) against PyTorch 1.13: reference values under
 * test/fixtures/engine/ were made by scripts/fixtures/make_engine_fixtures.py; the grag_tiny model
 * fixture is test/fixtures/models/grag_tiny*.pth. Skips only when the addon is not built
 * (node scripts/build-native.mjs).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { describe, test } from "node:test";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { configureDetector } from "../src/detectors/build.js";
import { GRAG2021, type TrunkAt } from "../src/detectors/grag2021.js";
import { grag2021 } from "../src/models/resnet.js";
import { REPO } from "./helpers.js";
import { f32Tolerance, stepOperations } from "./support/tolerance.js";
import * as E from "../src/engine/index.js";
import { nn, type ParamStore, type Tensor } from "../src/engine/index.js";

const FIX = path.join(REPO, "test", "fixtures", "engine");
const MODELS = path.join(REPO, "test", "fixtures", "models");
const built = E.nativeAvailable();
const skip = built ? false : "the libtorch addon is not built (node scripts/build-native.mjs)";
if (!built) console.log(`# skipping engine tests: ${skip}`);

async function fixture(file: string): Promise<ParamStore> {
  return E.loadParams(stateDict(await readTorchCheckpoint(file)));
}

function get(store: ParamStore, key: string): Tensor {
  const t = store.get(key);
  assert.ok(t, `fixture tensor ${key}`);
  return t;
}

function floats(t: Tensor): Float64Array {
  const a = t.toArray();
  return a instanceof BigInt64Array ? Float64Array.from(a, Number) : Float64Array.from(a as ArrayLike<number>);
}

/** max |got - want| / max |want| */
function relErr(got: Tensor, want: Tensor): number {
  assert.deepEqual(got.shape, want.shape, "shape");
  const g = floats(got);
  const w = floats(want);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < w.length; i++) {
    err = Math.max(err, Math.abs(g[i]! - w[i]!));
    scale = Math.max(scale, Math.abs(w[i]!));
  }
  return err / Math.max(scale, 1e-12);
}

function assertClose(got: Tensor, want: Tensor, tol: number, what: string): void {
  const e = relErr(got, want);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
}

/** The fixture images as the detectors' normalised NCHW input. */
function normalise(image: Tensor): Tensor {
  const mean = E.tensor([0.485, 0.456, 0.406], [1, 3, 1, 1]);
  const std = E.tensor([0.229, 0.224, 0.225], [1, 3, 1, 1]);
  return image.permute([0, 3, 1, 2]).to("float32").div(255).sub(mean).div(std);
}

describe("libtorch engine", { skip }, () => {
  test("typed arrays round-trip with their dtype and shape", () => {
    const cases: [E.HostArray, E.DType][] = [
      [new Float32Array([1.5, -2, 3.25, 4, 5, 6]), "float32"],
      [new Float64Array([1e-300, 2, 3, 4, 5, Math.PI]), "float64"],
      [new Int32Array([-7, 2, 3, 4, 5, 2 ** 31 - 1]), "int32"],
      [new BigInt64Array([-(2n ** 62n), 2n, 3n, 4n, 5n, 6n]), "int64"],
      [new Uint8Array([0, 255, 3, 4, 5, 6]), "uint8"],
    ];
    for (const [data, dtype] of cases) {
      const t = E.tensor(data, [2, 3]);
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.shape, [2, 3]);
      assert.equal(t.device, "cpu");
      assert.deepEqual(t.toArray(), data);
    }
    const src = new Float32Array([1, 2, 3, 4]);
    const t = E.tensor(src, [4]);
    src[0] = 100; // the tensor holds a copy
    assert.deepEqual([...t.toArray()], [1, 2, 3, 4]);
    // a view (the subarray's offset is honoured) and a bool tensor from bytes
    assert.deepEqual([...E.tensor(new Float32Array([9, 8, 7, 6]).subarray(1, 3), [2]).toArray()], [8, 7]);
    const b = E.tensor(new Uint8Array([1, 0, 1]), [3], "bool");
    assert.equal(b.dtype, "bool");
    assert.deepEqual([...b.toArray()], [1, 0, 1]);
    assert.equal(E.tensor([2.5]).item(), 2.5);
    assert.deepEqual([...E.tensor([1, 2, 3]).to("float64").toArray()], [1, 2, 3]);
    assert.ok(E.tensor([1, 2]).to("float64").toArray() instanceof Float64Array);
    assert.throws(() => E.tensor(new Float32Array(5), [2, 3]), /shape \[2, 3\] holds 6 elements but the array has 5/);
  });

  test("creation functions and seeded random tensors", async () => {
    assert.deepEqual([...E.zeros([2, 2]).toArray()], [0, 0, 0, 0]);
    assert.deepEqual([...E.ones([3], { dtype: "int32" }).toArray()], [1, 1, 1]);
    assert.deepEqual([...E.full([2], -1.5).toArray()], [-1.5, -1.5]);
    assert.deepEqual([...E.arange(0, 5, 2).toArray()], [0, 2, 4]);
    assert.deepEqual([...E.arange(0, 3, 1, { dtype: "int64" }).toArray()], [0n, 1n, 2n]);
    assert.deepEqual([...E.eye(2, 3).toArray()], [1, 0, 0, 0, 1, 0]);
    assert.deepEqual(E.empty([4, 0]).shape, [4, 0]);
    const ops = await fixture(path.join(FIX, "ops.pth"));
    // the same CPU generator as torch.Generator().manual_seed(7): identical values
    assert.deepEqual(E.randn([2, 3], { seed: 7 }).toArray(), get(ops, "randn_seed7").toArray());
    assert.deepEqual(E.rand([2, 3], { seed: 7 }).toArray(), get(ops, "rand_seed7").toArray());
    const p = [...E.randperm(6, { seed: 3 }).toArray()].map(Number).sort();
    assert.deepEqual(p, [0, 1, 2, 3, 4, 5]);
    E.manualSeed(11);
    const a = E.randn([4]).toArray();
    E.manualSeed(11);
    assert.deepEqual(E.randn([4]).toArray(), a);
    assert.notDeepEqual(E.randn([4]).toArray(), a);
  });

  test("ops match torch", async () => {
    const f = await fixture(path.join(FIX, "ops.pth"));
    const x = get(f, "x");
    const logits = get(f, "logits");
    const target = get(f, "target");
    const a = get(f, "a");
    const m = get(f, "m");
    const t01 = get(f, "t01");
    const tol = 1e-6;
    assertClose(nn.conv2d(x, get(f, "w"), get(f, "b"), { stride: 2, padding: 1 }), get(f, "conv"), tol, "conv2d");
    assertClose(nn.conv2d(x, get(f, "wg"), null, { padding: 2, dilation: 2, groups: 3 }), get(f, "conv_groups"), tol, "grouped conv2d");
    assertClose(nn.maxPool2d(x, 3, 2, 1), get(f, "maxpool"), 0, "max_pool2d");
    assertClose(nn.adaptiveAvgPool2d(x, [2, 3]), get(f, "adaptive"), tol, "adaptive_avg_pool2d");
    assertClose(x.mean([2, 3]), get(f, "mean23"), tol, "mean");
    assertClose(logits.softmax(1), get(f, "softmax"), tol, "softmax");
    assertClose(logits.logSoftmax(1), get(f, "log_softmax"), tol, "log_softmax");
    assertClose(logits.logsumexp(1), get(f, "logsumexp"), tol, "logsumexp");
    assertClose(logits.max(1), get(f, "amax"), 0, "amax");
    assert.deepEqual(logits.argmax(1).toArray(), get(f, "argmax").toArray());
    assertClose(nn.crossEntropy(logits, target), get(f, "ce"), tol, "cross_entropy");
    assertClose(nn.crossEntropy(logits, target, { labelSmoothing: 0.1, reduction: "sum" }), get(f, "ce_smooth_sum"), tol, "cross_entropy smoothed");
    assertClose(nn.bceWithLogits(logits, t01), get(f, "bce"), tol, "bce_with_logits");
    assertClose(nn.bceWithLogits(logits, t01, { posWeight: E.tensor([1, 2, 0.5, 3]) }), get(f, "bce_pos"), tol, "bce_with_logits pos_weight");
    assertClose(nn.l2normalize(a, 1), get(f, "l2n"), tol, "normalize");
    assertClose(a.matmul(m), get(f, "matmul"), tol, "matmul");
    assertClose(nn.linear(a, m.transpose(0, 1), E.tensor([0.5, -1])), get(f, "linear"), tol, "linear");
    assertClose(a.exp().add(a.pow(2).div(3)).sqrt().log().clamp(-1, 0.5), get(f, "expr"), tol, "exp/add/pow/div/sqrt/log/clamp");
    assertClose(a.sigmoid(), get(f, "sigmoid"), tol, "sigmoid");
    assertClose(nn.cat([a, a.mul(2)], 1), get(f, "cat"), 0, "cat");
    assertClose(logits.gather(1, target.unsqueeze(1)), get(f, "gather"), 0, "gather");
    assertClose(nn.where(a.gt(0), a, a.mul(0.1)), get(f, "where"), 0, "where");
    // numbers on either side, typed as Python's literals: 1 - a, int tensor * 2 stays int
    assertClose(E.binary("sub", 1, a), a.neg().add(1), 0, "1 - a");
    assert.equal(E.arange(0, 3, 1, { dtype: "int64" }).mul(2).dtype, "int64");
    assert.equal(E.arange(0, 3, 1, { dtype: "int64" }).mul(0.5).dtype, "float32");
    assert.deepEqual(nn.stack([a, a]).shape, [2, 3, 4]);
    assert.deepEqual(a.reshape([4, 3]).transpose(0, 1).contiguous().shape, [3, 4]);
    assert.deepEqual(
      [
        ...a
          .indexSelect(0, E.tensor(new BigInt64Array([2n, 0n]), [2]))
          .select(0, 1)
          .toArray(),
      ],
      [...a.select(0, 0).toArray()],
    );
  });

  test("batch norm in training mode updates the running stats as torch", async () => {
    const f = await fixture(path.join(FIX, "bn.pth"));
    const rm = get(f, "running_mean").clone();
    const rv = get(f, "running_var").clone();
    const y = nn.batchNorm(get(f, "x"), get(f, "weight"), get(f, "bias"), rm, rv, { training: true, momentum: 0.1, eps: 1e-5 });
    assertClose(y, get(f, "y"), 1e-5, "output");
    assertClose(rm, get(f, "running_mean_after"), 1e-6, "running_mean");
    assertClose(rv, get(f, "running_var_after"), 1e-6, "running_var");
    // eval mode leaves them alone
    const before = rm.toArray();
    nn.batchNorm(get(f, "x"), get(f, "weight"), get(f, "bias"), rm, rv);
    assert.deepEqual(rm.toArray(), before);
  });

  test("autograd: gradients of a tiny conv net match torch", async () => {
    const f = await fixture(path.join(FIX, "tinynet.pth"));
    const names = ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight", "fc.bias"];
    const p = new Map(names.map((k) => [k, get(f, `param.${k}`).clone().requiresGrad_()]));
    const P = (k: string) => p.get(k)!;
    const loss = E.tidy(() => {
      let y = nn.conv2d(get(f, "x"), P("conv.weight"), P("conv.bias"), { padding: 1 });
      y = nn.batchNorm(y, P("bn.weight"), P("bn.bias"), E.zeros([4]), E.ones([4]), { training: true }).relu();
      y = nn.maxPool2d(y, 2, 2).mean([2, 3]);
      return nn.crossEntropy(nn.linear(y, P("fc.weight"), P("fc.bias")), get(f, "target"));
    });
    assert.equal(loss.requiresGrad, true);
    assertClose(loss, get(f, "loss"), 1e-6, "loss");
    loss.backward();
    // float32's bound (test/support/tolerance.ts): every gradient depends on the 4 layers twice, each
    // reducing over at most the conv output's N·H·W = 128 terms
    const tol = f32Tolerance(stepOperations(4, 128));
    for (const k of names.filter((n) => n !== "conv.bias")) {
      const g = P(k).grad;
      assert.ok(g, `grad of ${k}`);
      assertClose(g, get(f, `grad.${k}`), tol, `grad ${k}`);
    }
    // A bias before a train-mode BN has a gradient of exactly 0 (BN subtracts the mean): both sides
    // hold rounding noise of Σ dL/dz over the 128 positions, bounded relative to Σ |dL/dz|.
    const dz = E.tidy(() => {
      const z = nn.conv2d(get(f, "x"), get(f, "param.conv.weight"), get(f, "param.conv.bias"), { padding: 1 }).detach().requiresGrad_();
      let y = nn.batchNorm(z, get(f, "param.bn.weight"), get(f, "param.bn.bias"), E.zeros([4]), E.ones([4]), { training: true }).relu();
      y = nn.maxPool2d(y, 2, 2).mean([2, 3]);
      nn.crossEntropy(nn.linear(y, get(f, "param.fc.weight"), get(f, "param.fc.bias")), get(f, "target")).backward();
      return z.grad!.abs().sum([0, 2, 3]);
    });
    const noise = floats(dz);
    const [got, want] = [floats(P("conv.bias").grad!), floats(get(f, "grad.conv.bias"))];
    for (let c = 0; c < 4; c++) assert.ok(Math.abs(got[c]! - want[c]!) <= tol * noise[c]!, `grad conv.bias[${c}]: ${got[c]} vs ${want[c]} (Σ|dL/dz| ${noise[c]})`);
    // gradients accumulate until zeroed
    P("fc.bias").zeroGrad();
    assert.deepEqual([...P("fc.bias").grad!.toArray()], [0, 0, 0]);
    P("fc.bias").zeroGrad(true);
    assert.equal(P("fc.bias").grad, undefined);
    assert.equal(get(f, "x").grad, undefined);
  });

  test("SGD, Adam and AdamW steps match torch.optim", async () => {
    const f = await fixture(path.join(FIX, "optim.pth"));
    const cases: [string, (ps: Tensor[]) => E.Optimizer][] = [
      ["sgd", (ps) => new E.SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 1e-2, dampening: 0.1 })],
      ["sgd_nesterov", (ps) => new E.SGD(ps, { lr: 0.05, momentum: 0.8, weightDecay: 1e-3, nesterov: true })],
      ["adam", (ps) => new E.Adam(ps, { lr: 0.01, betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0.1 })],
      ["adam_amsgrad", (ps) => new E.Adam(ps, { lr: 0.01, amsgrad: true })],
      ["adamw", (ps) => new E.AdamW(ps, { lr: 0.02, weightDecay: 0.05 })],
    ];
    for (const [name, make] of cases) {
      const ps = [0, 1].map((i) => get(f, `p0.${i}`).clone().requiresGrad_());
      const opt = make(ps);
      for (let s = 0; s < 2; s++) {
        opt.zeroGrad();
        E.tidy(() =>
          ps
            .map((p, i) => p.mul(get(f, `grad${s}.${i}`)).sum())
            .reduce((x, y) => x.add(y))
            .backward(),
        );
        opt.step();
        ps.forEach((p, i) => assertClose(p, get(f, `${name}.step${s + 1}.${i}`), 1e-5, `${name} step ${s + 1} param ${i}`));
      }
      assert.notEqual(relErr(ps[0]!, get(f, "p0.0")), 0);
    }
  });

  test("optimizer lr and state survive save / load", async () => {
    const f = await fixture(path.join(FIX, "optim.pth"));
    const grads = (s: number, ps: Tensor[]) =>
      E.tidy(() =>
        ps
          .map((p, i) => p.mul(get(f, `grad${s}.${i}`)).sum())
          .reduce((x, y) => x.add(y))
          .backward(),
      );
    const a = [0, 1].map((i) => get(f, `p0.${i}`).clone().requiresGrad_());
    const optA = new E.Adam(a, { lr: 0.01, betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0.1 });
    grads(0, a);
    optA.step();
    const state = optA.saveState();
    // a fresh optimizer over copies of the stepped parameters, restored, takes the same second step
    const b = a.map((p) => p.detach().clone().requiresGrad_());
    const optB = new E.Adam(b, { lr: 0.5 });
    optB.loadState(state);
    assert.equal(optB.lr, 0.01);
    for (const [opt, ps] of [
      [optA, a],
      [optB, b],
    ] as const) {
      opt.zeroGrad();
      grads(1, ps);
      opt.step();
    }
    a.forEach((p, i) => assertClose(p, get(f, `adam.step2.${i}`), 1e-5, `A param ${i}`));
    b.forEach((p, i) => assert.deepEqual(p.toArray(), a[i]!.toArray()));
    optA.lr = 0.003;
    assert.equal(optA.lr, 0.003);
  });

  test("grag_tiny runs unchanged through EagerOps and matches PyTorch (eval)", async () => {
    const sd = stateDict(await readTorchCheckpoint(path.join(MODELS, "grag_tiny.pth")));
    const cfg = configureDetector(GRAG2021, sd) as TrunkAt;
    const params = await E.loadParams(sd);
    const io = await fixture(path.join(MODELS, "grag_tiny_io.pth"));
    const out = E.tidy(() => E.noGrad(() => E.runModel((ops) => grag2021(ops, cfg.trunk, cfg.prefix), params, { image: normalise(get(io, "image")) })));
    const logit = out.get("logit");
    assert.ok(logit);
    assert.equal(logit.requiresGrad, false);
    const e = relErr(logit, get(io, "logit"));
    console.log(`# grag_tiny eager logit: max relative error ${e.toExponential(2)}`);
    assert.ok(e < 1e-5, `relative error ${e}`);
    // a missing parameter is an error unless an initialiser is given
    const partial = new Map(params);
    partial.delete("model.fc.bias");
    assert.throws(() => E.runModel((ops) => grag2021(ops, cfg.trunk, cfg.prefix), partial, { image: normalise(get(io, "image")) }), /parameter model\.fc\.bias \[1\] is not in the store/);
  });

  test("grag_tiny in training mode: running stats and gradients match PyTorch's train()", async () => {
    const sd = stateDict(await readTorchCheckpoint(path.join(MODELS, "grag_tiny.pth")));
    const cfg = configureDetector(GRAG2021, sd) as TrunkAt;
    const params = await E.loadParams(sd, { requiresGrad: true });
    assert.equal(params.get("model.bn1.running_mean")!.requiresGrad, false);
    const io = await fixture(path.join(MODELS, "grag_tiny_io.pth"));
    const want = await fixture(path.join(FIX, "grag_train.pth"));
    const logit = E.tidy(() => {
      const out = E.runModel((ops) => grag2021(ops, cfg.trunk, cfg.prefix), params, { image: normalise(get(io, "image")) }, { training: true });
      const l = out.get("logit")!;
      l.sum().backward();
      return l;
    });
    assertClose(logit, get(want, "logit"), 1e-5, "train-mode logit");
    for (const [k, t] of want) {
      if (k.startsWith("after.")) assertClose(params.get(`model.${k.slice(6)}`)!, t, 1e-5, k);
      if (k.startsWith("grad.")) assertClose(params.get(`model.${k.slice(5)}`)!.grad!, t, 1e-4, k);
    }
    assert.equal(E.trainableParams(params).length, [...params.keys()].filter((k) => !E.isBuffer(k)).length);
  });

  test("EagerOps creates missing parameters with PyTorch's default init", () => {
    const params: ParamStore = new Map();
    const image = E.randn([1, 3, 32, 32], { seed: 1 });
    const cfg = { layers: [1, 1, 1, 1] as const, width: 1 / 16, nodown: false, shortcutName: "downsample" as const };
    const out = E.tidy(() => E.runModel((ops) => grag2021(ops, cfg), params, { image }, { init: E.defaultInit({ seed: 5 }) }));
    assert.deepEqual(out.get("logit")!.shape, [1, 1]);
    const fcW = params.get("fc.weight")!;
    assert.equal(fcW.disposed, false, "created parameters survive tidy");
    assert.equal(fcW.requiresGrad, true);
    const bound = 1 / Math.sqrt(128);
    const v = floats(fcW);
    assert.ok(v.every((x) => Math.abs(x) <= bound) && Math.max(...v.map(Math.abs)) > bound / 2);
    assert.deepEqual([...params.get("bn1.running_var")!.toArray()], [1, 1, 1, 1]);
    assert.equal(params.get("bn1.running_var")!.requiresGrad, false);
    assert.deepEqual([...params.get("layer1.0.bn1.bias")!.toArray()], [0, 0, 0, 0]);
    // same seed, same values
    const again: ParamStore = new Map();
    E.tidy(() => E.runModel((ops) => grag2021(ops, cfg), again, { image }, { init: E.defaultInit({ seed: 5 }) }));
    assert.deepEqual(again.get("layer2.0.conv2.weight")!.toArray(), params.get("layer2.0.conv2.weight")!.toArray());
  });

  test("tidy disposes what it does not return; noGrad stops recording", () => {
    const keepMe = E.ones([2]);
    let inner: Tensor | undefined;
    const [r, s] = E.tidy(() => {
      inner = keepMe.mul(2);
      const nested = E.tidy(() => inner!.add(1).mul(3));
      return [nested, E.keep(inner.add(5))];
    });
    assert.equal(inner!.disposed, true);
    assert.equal(keepMe.disposed, false);
    assert.deepEqual([...r!.toArray()], [9, 9]);
    assert.deepEqual([...s!.toArray()], [7, 7]);
    assert.throws(() => inner!.toArray(), /the tensor was disposed/);
    let made: Tensor | undefined;
    assert.throws(
      () =>
        E.tidy(() => {
          made = E.zeros([1]);
          throw new Error("boom");
        }),
      /boom/,
    );
    assert.equal(made!.disposed, true);
    const p = E.ones([2]).requiresGrad_();
    const y = E.noGrad(() => {
      assert.equal(E.isGradEnabled(), false);
      return p.mul(2);
    });
    assert.equal(E.isGradEnabled(), true);
    assert.equal(y.requiresGrad, false);
    assert.equal(p.mul(2).requiresGrad, true);
    // in-place parameter updates under noGrad
    E.noGrad(() => p.add_(E.full([2], 0.5), -2));
    assert.deepEqual([...p.toArray()], [0, 0]);
  });

  test("a tidy loop returns tensor memory at once", () => {
    const step = () => E.tidy(() => void E.zeros([1024, 1024]).add(1).mul(2).sum());
    step();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 300; i++) step(); // 12 MiB per step: 3.6 GiB if nothing were released
    const grown = (process.memoryUsage().rss - before) / 2 ** 20;
    assert.ok(grown < 300, `RSS grew by ${grown.toFixed(0)} MiB`);
  });

  test("the allocator's block cache stays bounded when every step asks for a new size", () => {
    // 1 MiB and up is cached for the next tensor of the same size; a miss frees cached blocks past 5/4 of the live peak
    const step = (i: number) =>
      E.tidy(
        () =>
          void E.zeros([(1 << 18) + 1024 * i])
            .add(1)
            .sum(),
      );
    step(0);
    const before = process.memoryUsage().rss;
    for (let i = 1; i <= 300; i++) step(i); // two blocks of 1-2.2 MiB per step, each a new size: ~0.9 GiB if every block stayed cached
    const grown = (process.memoryUsage().rss - before) / 2 ** 20;
    assert.ok(grown < 300, `RSS grew by ${grown.toFixed(0)} MiB`);
    E.emptyCache(); // hands the cached blocks back; tensors made afterwards are fresh ones
    assert.equal(
      E.zeros([1 << 18])
        .add(2)
        .sum()
        .item(),
      2 ** 19,
    );
  });

  test("libtorch errors become JS Errors", () => {
    const a = E.zeros([2, 3]);
    assert.throws(
      () => a.matmul(E.zeros([2, 3])),
      (err: Error) => {
        assert.ok(err instanceof Error);
        assert.equal(err.message, "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)");
        return true;
      },
    );
    assert.throws(() => a.reshape([5]), /^Error: shape '\[5\]' is invalid for input of size 6$/);
    assert.throws(() => E.ones([2]).requiresGrad_().add_(1), /a leaf Variable that requires grad is being used in an in-place operation/);
    assert.throws(() => a.to("tpu:9"), Error);
    assert.throws(() => E.native().reshape({} as never, [1]), /argument 0 must be a Tensor/);
    assert.throws(() => E.zeros([2]).backward(), /grad can be implicitly created only for scalar outputs|does not require grad/);
    assert.equal(a.shape.length, 2, "the addon still works afterwards");
  });

  test("the addon works in worker threads", async () => {
    const tsx = import.meta.resolve("tsx/esm/api");
    const engine = pathToFileURL(path.join(REPO, "src", "engine", "index.ts")).href;
    // a tiny regression trained with SGD in each worker, while this thread keeps using the addon
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      (async () => {
        const { register } = await import(${JSON.stringify(tsx)});
        register();
        const E = await import(${JSON.stringify(engine)});
        const x = E.randn([16, 3], { seed: workerData.seed });
        const wTrue = E.tensor([1, -2, 0.5], [3, 1]);
        const y = x.matmul(wTrue);
        const w = E.zeros([3, 1]).requiresGrad_();
        const opt = new E.SGD([w], { lr: 0.1, momentum: 0.5 });
        const losses = [];
        for (let i = 0; i < 60; i++) {
          const loss = E.tidy(() => {
            opt.zeroGrad();
            const l = E.nn.mseLoss(x.matmul(w), y);
            l.backward();
            opt.step();
            return l;
          });
          losses.push(loss.item());
          loss.dispose();
        }
        E.ones([1000]); // left to the environment's teardown
        parentPort.postMessage({ losses, w: [...w.toArray()] });
      })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`;
    const run = (seed: number) =>
      new Promise<{ losses: number[]; w: number[]; error?: string }>((resolve, reject) => {
        const worker = new Worker(code, { eval: true, workerData: { seed } });
        worker.once("message", (m) => {
          void worker.terminate().then(() => resolve(m));
        });
        worker.once("error", reject);
      });
    const pending = [run(1), run(2)];
    const here = E.ones([4]).mul(2).sum().item();
    const results = await Promise.all(pending);
    assert.equal(here, 8);
    for (const r of results) {
      assert.equal(r.error, undefined, r.error);
      assert.ok(r.losses[59]! < 1e-3 * r.losses[0]!, `loss ${r.losses[0]} → ${r.losses[59]}`);
      r.w.forEach((v, i) => assert.ok(Math.abs(v - [1, -2, 0.5][i]!) < 0.02, `w ${r.w}`));
    }
    assert.notDeepEqual(results[0]!.losses, results[1]!.losses);
  });
});
