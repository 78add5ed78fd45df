/**
 * The libtorch training engine: tensors with autograd, functional layers and losses, PyTorch's
 * optimizers, and an eager backend for the project's model definitions. Needs the native addon
 * (node scripts/build-native.mjs).
 */
export { native, nativeAvailable, addonPath, type TorchAddon, type DType, type HostArray, type MemoryFormat, type Reduction } from "./native.js";
export {
  Tensor,
  tidy,
  keep,
  dispose,
  binary,
  tensor,
  scalar,
  zeros,
  ones,
  empty,
  full,
  arange,
  eye,
  randn,
  rand,
  randint,
  randperm,
  type TensorLike,
  type CreateOptions,
  type RandomOptions,
} from "./tensor.js";
export {
  autocast,
  checkPrecision,
  cpuHasBf16,
  type Precision,
  noGrad,
  isGradEnabled,
  manualSeed,
  setAllowTF32,
  setNumThreads,
  getNumThreads,
  emptyCache,
  cudaAvailable,
  cudaDeviceCount,
  torchVersion,
} from "./runtime.js";
export * as nn from "./nn.js";
export { Optimizer, SGD, Adam, AdamW, type SGDOptions, type AdamOptions } from "./optim.js";
export { loadParams, storeToHost, trainableParams, isBuffer, defaultInit, type ParamStore, type ParamInit, type LoadParamsOptions, type InitOptions } from "./params.js";
export { EagerOps, runModel, type EagerOpsOptions } from "./eager-ops.js";
export { initProcessGroup, destroyProcessGroup, processGroup, allReduce, allReduceMean, allGather, broadcast, barrier, DEFAULT_BUCKET_BYTES, type ProcessGroupOptions } from "./dist.js";
