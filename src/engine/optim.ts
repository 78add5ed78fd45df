/**
 * libtorch's optimizers (torch::optim), numerically PyTorch's SGD / Adam / AdamW (the default
 * single-tensor path). They hold their own references to the parameters, so step() updates the
 * tensors the caller holds in place.
 */
import { native, type NativeOptimizer, type OptimizerKind } from "./native.js";
import type { Tensor } from "./tensor.js";

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Adam: L2 added to the gradient (default 0); AdamW: decoupled decay (default 0.01) */
  weightDecay?: number;
  amsgrad?: boolean;
}

export class Optimizer {
  #h: NativeOptimizer;

  constructor(
    readonly kind: OptimizerKind,
    readonly params: readonly Tensor[],
    options: SGDOptions | AdamOptions,
  ) {
    this.#h = native().optimizer(
      kind,
      params.map((p) => p.handle),
      options,
    );
  }

  step(): void {
    native().optimStep(this.#h);
  }

  /** zeroes every parameter's gradient, or drops them with setToNone */
  zeroGrad(setToNone = false): void {
    native().optimZeroGrad(this.#h, setToNone);
  }

  get lr(): number {
    return native().optimGetLr(this.#h);
  }
  set lr(lr: number) {
    native().optimSetLr(this.#h, lr);
  }

  /** options and per-parameter state (momentum buffers, Adam moments, step counts), in libtorch's archive format */
  saveState(): Uint8Array {
    return native().optimSaveState(this.#h);
  }

  /** restores saveState()'s bytes into an optimizer of the same kind over the same parameter list (in order) */
  loadState(state: Uint8Array): void {
    native().optimLoadState(this.#h, state);
  }

  dispose(): void {
    native().optimDispose(this.#h);
  }
}

export class SGD extends Optimizer {
  constructor(params: readonly Tensor[], options: SGDOptions) {
    super("sgd", params, options);
  }
}

export class Adam extends Optimizer {
  constructor(params: readonly Tensor[], options: AdamOptions = {}) {
    super("adam", params, options);
  }
}

export class AdamW extends Optimizer {
  constructor(params: readonly Tensor[], options: AdamOptions = {}) {
    super("adamw", params, options);
  }
}
