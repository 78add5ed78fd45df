/**
 * Runs the project's model definitions (src/models) eagerly on libtorch: AttentionOps<Tensor> over a
 * ParamStore. With `training` on, batch norm uses batch statistics and updates the store's running
 * stats (and num_batches_tracked) in place, as nn.BatchNorm in train() mode.
 */
import { nearestFactor, type AttentionOps, type Conv2dOptions } from "../models/ops.js";
import * as nn from "./nn.js";
import type { ParamInit, ParamStore } from "./params.js";
import { noGrad } from "./runtime.js";
import { keep, type Tensor } from "./tensor.js";

export interface EagerOpsOptions {
  training?: boolean;
  /** batch norm momentum in training mode; default 0.1 */
  momentum?: number;
  /** creates parameters missing from the store (e.g. defaultInit()); without it a missing key throws */
  init?: ParamInit;
}

export class EagerOps implements AttentionOps<Tensor> {
  training: boolean;
  momentum: number;
  readonly inputs: Map<string, Tensor>;
  readonly outputs = new Map<string, Tensor>();
  readonly #init: ParamInit | undefined;
  readonly #names = new Map<Tensor, string>();

  constructor(
    readonly params: ParamStore,
    inputs: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>> = {},
    opts: EagerOpsOptions = {},
  ) {
    this.inputs = inputs instanceof Map ? new Map(inputs) : new Map(Object.entries(inputs));
    this.training = opts.training ?? false;
    this.momentum = opts.momentum ?? 0.1;
    this.#init = opts.init;
  }

  input(name: string, shape: readonly (number | string)[]): Tensor {
    const t = this.inputs.get(name);
    if (!t) throw new Error(`no tensor bound to input ${name}`);
    const got = t.shape;
    if (got.length !== shape.length || shape.some((d, i) => typeof d === "number" && d !== got[i])) {
      throw new Error(`input ${name}: shape [${got.join(", ")}] where [${shape.join(", ")}] is wanted`);
    }
    return t;
  }

  param(name: string, shape: readonly number[]): Tensor {
    let t = this.params.get(name);
    if (!t) {
      if (!this.#init) throw new Error(`parameter ${name} [${shape.join(", ")}] is not in the store`);
      t = keep(this.#init(name, shape, this.params));
      this.params.set(name, t);
    }
    const got = t.shape;
    if (got.join(",") !== shape.join(",")) throw new Error(`parameter ${name}: the store has [${got.join(", ")}], the model wants [${shape.join(", ")}]`);
    this.#names.set(t, name);
    return t;
  }

  output(name: string, x: Tensor): void {
    this.outputs.set(name, x);
  }

  conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, o?: Conv2dOptions): Tensor {
    return nn.conv2d(x, weight, bias, o);
  }

  batchNorm(x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: number): Tensor {
    const y = nn.batchNorm(x, weight, bias, runningMean, runningVar, { training: this.training, momentum: this.momentum, eps });
    if (this.training) {
      const rm = this.#names.get(runningMean);
      const counter = rm?.endsWith("running_mean") ? this.params.get(`${rm.slice(0, -"running_mean".length)}num_batches_tracked`) : undefined;
      if (counter) noGrad(() => counter.add_(1));
    }
    return y;
  }

  relu(x: Tensor): Tensor {
    return x.relu();
  }

  maxPool2d(x: Tensor, kernel: number, stride: number, padding: number): Tensor {
    return nn.maxPool2d(x, kernel, stride, padding);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return a.add(b);
  }

  mean(x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
    return x.mean(axes, keepDims);
  }

  linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
    return nn.linear(x, weight, bias);
  }

  matmul(a: Tensor, b: Tensor): Tensor {
    return a.matmul(b);
  }

  /** ONNX Reshape's meaning: 0 copies the input's dim, -1 is inferred */
  reshape(x: Tensor, shape: readonly number[]): Tensor {
    const s = x.shape;
    return x.reshape(shape.map((d, i) => (d === 0 ? s[i]! : d)));
  }

  /** ONNX Flatten's meaning: 2-D [prod(dims before axis), prod(the rest)] */
  flatten(x: Tensor, axis: number): Tensor {
    const s = x.shape;
    const a = axis < 0 ? axis + s.length : axis;
    return x.reshape([s.slice(0, a).reduce((p, d) => p * d, 1), -1]);
  }

  l2normalize(x: Tensor, axis: number, eps = 1e-12): Tensor {
    return nn.l2normalize(x, axis, eps);
  }

  avgPool2d(x: Tensor, k: number): Tensor {
    return nn.avgPool2d(x, k);
  }

  transpose(x: Tensor, perm: readonly number[]): Tensor {
    return x.permute(perm);
  }

  concat(xs: readonly Tensor[], axis: number): Tensor {
    return nn.cat(xs, axis);
  }

  /** ONNX Slice's meaning for one axis: negative bounds count from the end, both clamped to the dim */
  slice(x: Tensor, axis: number, start: number, end: number): Tensor {
    const n = x.shape[axis < 0 ? axis + x.ndim : axis]!;
    const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
    const s = clamp(start);
    return x.narrow(axis, s, Math.max(clamp(end) - s, 0));
  }

  softmax(x: Tensor, axis: number): Tensor {
    return x.softmax(axis);
  }

  scale(x: Tensor, s: number): Tensor {
    return x.mul(s);
  }

  downsampleNearest2d(x: Tensor, f: number): Tensor {
    return nn.downsampleNearest2d(x, nearestFactor(f));
  }

  upsampleNearest2d(x: Tensor, f: number): Tensor {
    return nn.upsampleNearest2d(x, nearestFactor(f));
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return a.mul(b);
  }

  sigmoid(x: Tensor): Tensor {
    return x.sigmoid();
  }

  /** as nn.LayerNorm (the addon has no layer_norm): biased variance over the last dim */
  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
    const centred = x.sub(x.mean([-1], true));
    const variance = centred.square().mean([-1], true);
    return centred.mul(variance.add(eps).unary("rsqrt")).mul(weight).add(bias);
  }

  expandAs(x: Tensor, like: Tensor): Tensor {
    return x.expand(like.shape);
  }
}

/** Runs a model definition (e.g. (ops) => grag2021(ops, cfg)) on the given inputs; returns its outputs. */
export function runModel(
  model: (ops: AttentionOps<Tensor>) => void,
  params: ParamStore,
  inputs: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  opts: EagerOpsOptions = {},
): Map<string, Tensor> {
  const ops = new EagerOps(params, inputs, opts);
  model(ops);
  return ops.outputs;
}
