/**
 * Detectors on the libtorch engine: the module's own definition (`define`) run eagerly by EagerOps
 * on cpu or cuda, with the same preprocessing and outputs as the onnxruntime path, so GPU scoring
 * needs no onnxruntime CUDA packages. Optionally channels-last and bf16 / fp16 autocast.
 */
import { ANCHOR_PARAM } from "../models/ops.js";
import { checkStateDict, mergeStateDicts, traceDetector } from "../detectors/build.js";
import type { BuildOptions, DetectorModule, StateDict } from "../detectors/types.js";
import { autocast, checkPrecision, cudaAvailable, keep, loadParams, noGrad, runModel, setAllowTF32, tensor, tidy, type ParamStore, type Precision } from "../engine/index.js";
import { InputError } from "../util/errors.js";
import { runInBatches, type NormalizedImage, type OutputTensor, type ScoringSession } from "./session.js";

export interface EagerOptions {
  /** "cpu" (default), "cuda" or "cuda:N" */
  device?: string;
  /** fp32 (default), or autocast to bf16 / fp16 (fp16 on CUDA only) */
  precision?: Precision;
  /** convolutions on NHWC tensors (input and 4-D weights stored channels-last) */
  channelsLast?: boolean;
}

/** A detector ready to run on the libtorch engine: its module, configuration and merged state dict. */
export interface EagerModel extends Required<EagerOptions> {
  kind: "eager";
  detector: DetectorModule;
  config: unknown;
  stateDict: StateDict;
  /** the model's output names, as its ONNX export names them */
  outputs: readonly string[];
  /** LASTED's anchor (the mean feature of the real anchor images) */
  anchor?: Float32Array;
}

/** Checks the options against this machine: a CUDA device is there, the precision runs on the device. */
export function checkEagerOptions(o: EagerOptions): Required<EagerOptions> {
  const device = o.device ?? "cpu";
  const precision = o.precision ?? "fp32";
  const cuda = device.startsWith("cuda");
  if (cuda && !cudaAvailable()) throw new InputError(`--device ${device}: libtorch sees no CUDA device (the addon must be built against a CUDA libtorch: IMAGINET_LIBTORCH, docs/gpu.md)`);
  checkPrecision(device, precision);
  return { device, precision, channelsLast: o.channelsLast ?? false };
}

/** The detector's module and configuration from its checkpoints' state dicts, checked as the ONNX build checks them. */
export function eagerModel(d: DetectorModule, sds: readonly StateDict[], opts: EagerOptions & BuildOptions = {}): EagerModel {
  const sd = mergeStateDicts(d, sds);
  const config = d.configure(sd, { ...(opts.anchor ? { anchor: opts.anchor } : {}), ...(opts.nodown !== undefined ? { nodown: opts.nodown } : {}) });
  const graph = traceDetector(d, config);
  checkStateDict(d, config, graph, sd, new Map(opts.anchor ? [[ANCHOR_PARAM, opts.anchor]] : []));
  return { kind: "eager", detector: d, config, stateDict: sd, outputs: graph.outputs, ...checkEagerOptions(opts), ...(opts.anchor ? { anchor: opts.anchor } : {}) };
}

export class EagerDetectorSession implements ScoringSession {
  private constructor(
    readonly model: EagerModel,
    private readonly params: ParamStore,
    readonly outputNames: readonly string[],
    readonly batchSize: number,
  ) {}

  /** Loads the weights onto the model's device (4-D ones channels-last when asked). */
  static async create(model: EagerModel, opts: { batchSize?: number } = {}): Promise<EagerDetectorSession> {
    // fp32 means float32 rounding, as onnxruntime's: no TF32 tensor cores for CUDA convolutions (PyTorch's default allows them)
    if (model.device.startsWith("cuda") && model.precision === "fp32") setAllowTF32(false);
    const params = await loadParams(model.stateDict, { device: model.device });
    if (model.anchor) params.set(ANCHOR_PARAM, keep(tensor(model.anchor, [model.anchor.length, 1]).to(model.device)));
    if (model.channelsLast) {
      for (const [k, t] of params) {
        if (t.ndim !== 4) continue;
        params.set(k, keep(t.contiguous("channels_last")));
        t.dispose();
      }
    }
    return new EagerDetectorSession(model, params, model.outputs, opts.batchSize ?? 16);
  }

  /** One forward pass on an already-normalised NCHW float32 batch; outputs copied back as float32. */
  runTensor(data: Float32Array, dims: readonly number[]): Record<string, OutputTensor> {
    const { detector, config, device, precision, channelsLast } = this.model;
    return tidy(() =>
      noGrad(() => {
        let x = tensor(data, dims).to(device);
        if (channelsLast) x = x.contiguous("channels_last");
        const outs = autocast(device, precision, () => runModel((ops) => detector.define(ops, config), this.params, { image: x }));
        const result: Record<string, OutputTensor> = {};
        for (const [name, t] of outs) result[name] = { data: t.to("float32").toArray() as Float32Array, dims: t.shape };
        return result;
      }),
    );
  }

  runNormalized(images: readonly NormalizedImage[]): Promise<Record<string, OutputTensor>> {
    return runInBatches(images, this.batchSize, async (data, dims) => this.runTensor(data, dims));
  }

  async release(): Promise<void> {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}
