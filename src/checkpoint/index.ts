/** Safe loading of PyTorch checkpoints (no pickle code runs) and safetensors reading / writing. */
export {
  INERT_GLOBALS,
  PickleError,
  PyDict,
  PyGlobal,
  PyObject,
  RefusedGlobalError,
  isTuple,
  unpickle,
  type GlobalHandler,
  type GlobalTable,
  type PyValue,
  type UnpickleOptions,
} from "./pickle.js";
export { NUMPY_GLOBALS, NdArray, NpDtype } from "./numpy.js";
export { DTYPE_SIZE, LazyTensor, Storage, readAll, tensorFromArray, type DType, type ReadOptions, type TypedArray } from "./tensor.js";
export { TORCH_GLOBALS, checkpointEntry, readTorchCheckpoint, recordedNodown, stateDict, type ReadTorchOptions, type StateDictOptions, type TorchCheckpoint } from "./torch.js";
export { ScriptObject, moduleStateDict, parseScriptClasses, type ScriptClass } from "./torchscript.js";
export { readSafetensors, safetensorsHeader, writeSafetensors, type SafetensorsFile, type TensorInput } from "./safetensors.js";
export { torchSaveParts, writeTorchCheckpoint, type TensorData, type TorchValue } from "./torch-write.js";
