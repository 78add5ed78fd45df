/**
 * Reads checkpoints written by PyTorch's torch.save without running any of their pickle code.
 *
 * Two formats:
 *  - zip (torch ≥ 1.6): <top>/data.pkl is the object pickle; each storage is the entry
 *    <top>/data/<key>, stored uncompressed (and 64-byte aligned by torch). <top> is "archive" or the
 *    file's stem. Only the central directory and the local headers are read when opening; a
 *    storage's bytes are read, by offset, when a tensor on it is read.
 *  - legacy (_use_new_zipfile_serialization=False): pickles of the magic number, the protocol
 *    version and sys info, then the object pickle (storages as persistent ids), then the list of
 *    storage keys, then each storage as an 8-byte little-endian element count and its raw bytes.
 *
 * The object pickle is decoded by ./pickle.ts with TORCH_GLOBALS as the allow-list: tensors become
 * LazyTensor, OrderedDicts PyDict, argparse.Namespace PyObject; any other global is refused.
 *
 * A TorchScript archive (torch.jit.save) is the zip format with code/ and constants.pkl beside
 * data.pkl; its data.pkl pickles the root module, whose classes ./torchscript.ts allows from the
 * archive's own class declarations. Its state dict is the module's (see moduleStateDict).
 */
import { promises as fsp } from "node:fs";
import yauzl from "yauzl";
import { NUMPY_GLOBALS } from "./numpy.js";
import {
  INERT_GLOBALS,
  PickleError,
  PyGlobal,
  pyTuple,
  unpickle,
  type GlobalHandler,
  type GlobalTable,
  type PyValue,
  type UnpickleOptions,
  type UnpickleResult,
  RefusedGlobalError,
} from "./pickle.js";
import { InputError } from "../util/errors.js";
import { ScriptObject, moduleStateDict, parseScriptClasses, torchScriptGlobals } from "./torchscript.js";
import { DTYPE_SIZE, LazyTensor, Storage, inflateAtMost, readFileRange, type DType, type StorageSource } from "./tensor.js";

/** A torch storage class (torch.FloatStorage …) as the allow-list knows it. */
interface StorageTypeHandler extends GlobalHandler {
  readonly storageDtype: DType;
}
/** A torch dtype (torch.float32 …) as a value. */
interface DtypeHandler extends GlobalHandler {
  readonly torchDtype: DType;
}

const STORAGE_TYPES: Record<string, DType> = {
  FloatStorage: "f32",
  HalfStorage: "f16",
  BFloat16Storage: "bf16",
  DoubleStorage: "f64",
  LongStorage: "i64",
  IntStorage: "i32",
  ShortStorage: "i16",
  CharStorage: "i8",
  ByteStorage: "u8",
  BoolStorage: "bool",
};

const DTYPES: Record<string, DType> = {
  float32: "f32",
  float: "f32",
  float16: "f16",
  half: "f16",
  bfloat16: "bf16",
  float64: "f64",
  double: "f64",
  int64: "i64",
  long: "i64",
  int32: "i32",
  int: "i32",
  int16: "i16",
  short: "i16",
  int8: "i8",
  uint8: "u8",
  bool: "bool",
  uint16: "u16",
  uint32: "u32",
  uint64: "u64",
};

function storageDtypeOf(v: PyValue | undefined): DType {
  if (v instanceof PyGlobal && "storageDtype" in v.handler) return (v.handler as StorageTypeHandler).storageDtype;
  throw new InputError(`storage type ${v instanceof PyGlobal ? v.name : String(v)} is not supported`);
}

function dtypeOf(v: PyValue | undefined): DType {
  if (v instanceof PyGlobal && "torchDtype" in v.handler) return (v.handler as DtypeHandler).torchDtype;
  throw new InputError(`dtype ${v instanceof PyGlobal ? v.name : String(v)} is not supported`);
}

function intList(v: PyValue | undefined, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isSafeInteger(x))) throw new InputError(`${what} is not a tuple of ints`);
  return v as number[];
}

function makeTensor(storage: PyValue | undefined, offset: PyValue | undefined, size: PyValue | undefined, stride: PyValue | undefined, requiresGrad: PyValue | undefined, dtype?: DType): LazyTensor {
  if (!(storage instanceof Storage)) throw new InputError("the tensor's storage is not a storage");
  if (typeof offset !== "number") throw new InputError("the tensor's storage offset is not an int");
  return new LazyTensor(storage, dtype ?? storage.dtype, intList(size, "the tensor's size"), intList(stride, "the tensor's stride"), offset, requiresGrad === true);
}

function withGrad(t: PyValue | undefined, requiresGrad: PyValue | undefined): LazyTensor {
  if (!(t instanceof LazyTensor)) throw new InputError("a parameter's data is not a tensor");
  return new LazyTensor(t.storage, t.dtype, t.shape, t.strides, t.storageOffset, requiresGrad === true);
}

const rebuildV2: GlobalHandler = { call: (a) => makeTensor(a[0], a[1], a[2], a[3], a[4]) };

function torchGlobals(): Map<string, GlobalHandler> {
  const m = new Map<string, GlobalHandler>();
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  m.set("torch._utils._rebuild_tensor_v2", rebuildV2);
  // _rebuild_tensor(storage, storage_offset, size, stride)
  m.set("torch._utils._rebuild_tensor", { call: (a) => makeTensor(a[0], a[1], a[2], a[3], false) });
  // _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
  m.set("torch._utils._rebuild_tensor_v3", { call: (a) => makeTensor(a[0], a[1], a[2], a[3], a[4], dtypeOf(a[6])) });
  // _rebuild_parameter(data, requires_grad, backward_hooks) and …_with_state(…, state)
  m.set("torch._utils._rebuild_parameter", { call: (a) => withGrad(a[0], a[1]) });
  m.set("torch._utils._rebuild_parameter_with_state", { call: (a) => withGrad(a[0], a[1]) });
  // _rebuild_from_type_v2(func, new_type, args, state): plain Tensor / Parameter subclasses only
  m.set("torch._tensor._rebuild_from_type_v2", {
    call(a, _kw, ctx) {
      const [fn, , args] = a;
      if (!(fn instanceof PyGlobal) || fn.handler.call === undefined) throw new InputError("rebuilds with a function that is not allowed");
      if (!Array.isArray(args)) throw new InputError("rebuild arguments are not a tuple");
      return fn.handler.call(args, undefined, ctx);
    },
  });
  for (const cls of ["torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter"]) m.set(cls, {});
  for (const [name, dtype] of Object.entries(STORAGE_TYPES)) {
    const h: StorageTypeHandler = { storageDtype: dtype };
    m.set(`torch.${name}`, h);
    m.set(`torch.cuda.${name}`, h); // legacy checkpoints saved from the GPU
  }
  m.set("torch.UntypedStorage", { storageDtype: "u8" } as StorageTypeHandler);
  for (const [name, dtype] of Object.entries(DTYPES)) m.set(`torch.${name}`, { torchDtype: dtype } as DtypeHandler);
  m.set("torch.Size", { call: (a) => pyTuple(intList(a[0] ?? [], "torch.Size")) });
  m.set("torch.device", {
    call(a) {
      const [type, index] = a;
      if (typeof type !== "string") throw new InputError("torch.device expects a string");
      return typeof index === "number" ? `${type}:${index}` : type;
    },
  });
  return m;
}

/**
 * The allow-list for checkpoints: what rebuilds tensors (torch._utils._rebuild_tensor_v2 and kin,
 * torch.*Storage, torch dtypes, torch.Size, torch.device) plus inert containers (OrderedDict,
 * argparse.Namespace, sets, numpy scalars and arrays …). Nothing else resolves.
 */
export const TORCH_GLOBALS: GlobalTable = new Map<string, GlobalHandler>([...INERT_GLOBALS, ...NUMPY_GLOBALS, ...torchGlobals()]);

const ALLOW_LIST_NAME = "tensor-rebuilding globals";

export interface ReadTorchOptions {
  /** stand-ins for further globals (merged over TORCH_GLOBALS); each must be harmless JavaScript */
  extraGlobals?: GlobalTable;
}

export interface TorchCheckpoint {
  file: string;
  format: "zip" | "legacy" | "torchscript";
  /** the unpickled object: PyDict / arrays / numbers … with LazyTensor for each tensor; for "torchscript", the root module (a ScriptObject) */
  tree: PyValue;
  /** every storage the pickle referenced, by key */
  storages: Map<string, Storage>;
  /** zip: the archive's top folder ("archive", or the stem of the name it was saved under) */
  archiveName?: string;
}

/** A top-level entry of a checkpoint saved as a dict (`{"model": …, "epoch": 3}`), or undefined. */
export function checkpointEntry(ck: TorchCheckpoint, key: string): PyValue | undefined {
  return ck.tree instanceof Map ? ck.tree.get(key) : undefined;
}

/**
 * The trunk `imaginet train` recorded beside its state dicts (`nodown`), which the keys cannot tell:
 * a nodown and a strided ResNet have the same parameters. Undefined for anyone else's checkpoint.
 */
export function recordedNodown(ck: TorchCheckpoint): boolean | undefined {
  const v = checkpointEntry(ck, "nodown");
  return typeof v === "boolean" ? v : undefined;
}

/** Reads a torch.save checkpoint (zip or legacy format) or a TorchScript archive; tensor data stays on disk until read. */
export async function readTorchCheckpoint(file: string, opts: ReadTorchOptions = {}): Promise<TorchCheckpoint> {
  const globals = opts.extraGlobals ? new Map([...TORCH_GLOBALS, ...opts.extraGlobals]) : TORCH_GLOBALS;
  let size: number;
  let head: Uint8Array;
  try {
    size = (await fsp.stat(file)).size;
    head = await readFileRange(file, 0, Math.min(size, 512), "the header");
  } catch (err) {
    throw new InputError(`${file}: cannot read: ${(err as Error).message}`);
  }
  if (size >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return readZip(file, size, globals);
  if (size >= 262 && Buffer.from(head.subarray(257, 262)).toString("latin1") === "ustar") {
    throw new InputError(`${file}: a tar-format checkpoint (PyTorch before 0.4) is not supported`);
  }
  return readLegacy(file, size, globals);
}

// ---------------------------------------------------------------------------------------------
// zip format

interface ZipEntryInfo {
  name: string;
  headerOffset: number;
  compressedSize: number;
  uncompressedSize: number;
  method: number;
  encrypted: boolean;
}

async function listZip(file: string): Promise<ZipEntryInfo[]> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, decodeStrings: false, autoClose: false, validateEntrySizes: true });
  } catch (err) {
    throw new InputError(`${file}: not a readable zip archive (truncated or corrupt): ${(err as Error).message}`);
  }
  const out: ZipEntryInfo[] = [];
  try {
    for await (const e of zip.eachEntry()) {
      out.push({
        name: Buffer.from(e.fileNameRaw).toString("utf8"),
        headerOffset: e.relativeOffsetOfLocalHeader,
        compressedSize: e.compressedSize,
        uncompressedSize: e.uncompressedSize,
        method: e.compressionMethod,
        encrypted: (e.generalPurposeBitFlag & 1) !== 0,
      });
    }
  } catch (err) {
    throw new InputError(`${file}: corrupt zip central directory: ${(err as Error).message}`);
  } finally {
    zip.close();
  }
  return out;
}

async function entrySource(file: string, fh: fsp.FileHandle, size: number, e: ZipEntryInfo): Promise<StorageSource> {
  if (e.encrypted) throw new InputError(`${file}: zip entry ${e.name} is encrypted`);
  const header = Buffer.alloc(30);
  const { bytesRead } = await fh.read(header, 0, 30, e.headerOffset);
  if (bytesRead < 30 || header.readUInt32LE(0) !== 0x04034b50) throw new InputError(`${file}: corrupt zip: no local header for ${e.name} at byte ${e.headerOffset}`);
  const dataOffset = e.headerOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (dataOffset + e.compressedSize > size) {
    throw new InputError(`${file}: truncated: zip entry ${e.name} needs bytes ${dataOffset}..${dataOffset + e.compressedSize} but the file has ${size}`);
  }
  if (e.method === 0) {
    if (e.compressedSize !== e.uncompressedSize) throw new InputError(`${file}: corrupt zip: stored entry ${e.name} has differing sizes`);
    return { kind: "file", file, offset: dataOffset };
  }
  if (e.method === 8) return { kind: "deflate", file, offset: dataOffset, compressedLength: e.compressedSize };
  throw new InputError(`${file}: zip entry ${e.name} uses compression method ${e.method} (only stored and deflated entries are read)`);
}

async function readZip(file: string, size: number, globals: GlobalTable): Promise<TorchCheckpoint> {
  const entries = await listZip(file);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const pkls = entries.filter((e) => /^([^/]+\/)?data\.pkl$/.test(e.name));
  // torch.jit.load reads an archive with model.json in the legacy format (import_legacy.cpp), whatever else it holds
  if (entries.some((e) => /^([^/]+\/)?model\.json$/.test(e.name))) throw new InputError(`${file}: a TorchScript archive in the legacy model.json format: not supported`);
  if (pkls.length !== 1) {
    throw new InputError(
      pkls.length === 0 ? `${file}: a zip archive without data.pkl: not a PyTorch checkpoint` : `${file}: the zip archive holds several data.pkl (${pkls.map((e) => e.name).join(", ")})`,
    );
  }
  const pklEntry = pkls[0]!;
  const prefix = pklEntry.name.slice(0, -"data.pkl".length);
  const codeEntries = entries.filter((e) => e.name.startsWith(`${prefix}code/`) && e.name.endsWith(".py"));
  const torchScript = codeEntries.length > 0 || byName.has(`${prefix}constants.pkl`);
  // the zip's declared sizes are checked against what each entry is for before anything is inflated
  // (storages against the pickle's own sizes, below); inflation stops at the declared size
  checkDeclaredSize(file, pklEntry, MAX_PICKLE_BYTES, "a checkpoint's pickle");
  const codeBytes = codeEntries.reduce((n, e) => n + e.uncompressedSize, 0);
  if (codeBytes > MAX_CODE_BYTES) throw new InputError(`${file}: the TorchScript sources under ${prefix}code/ declare ${codeBytes} bytes; at most ${MAX_CODE_BYTES} are read`);
  const byteorder = byName.get(`${prefix}byteorder`);
  if (byteorder !== undefined) checkDeclaredSize(file, byteorder, 16, "a byte-order record");
  const fh = await fsp.open(file, "r");
  const sources = new Map<string, { source: StorageSource; entry: ZipEntryInfo }>();
  const code = new Map<string, string>();
  let pkl: Uint8Array;
  let bigEndian = false;
  try {
    const pklSource = await entrySource(file, fh, size, pklEntry);
    pkl = await readEntry(file, pklSource, pklEntry);
    if (byteorder !== undefined) {
      const text = Buffer.from(await readEntry(file, await entrySource(file, fh, size, byteorder), byteorder))
        .toString("latin1")
        .trim();
      if (text !== "little" && text !== "big") throw new InputError(`${file}: unknown byte order ${JSON.stringify(text)}`);
      bigEndian = text === "big";
    }
    for (const e of entries) {
      if (e.name.startsWith(`${prefix}data/`) && !e.name.endsWith("/")) {
        sources.set(e.name.slice(prefix.length + "data/".length), { source: await entrySource(file, fh, size, e), entry: e });
      }
    }
    for (const e of codeEntries) code.set(e.name.slice(prefix.length), Buffer.from(await readEntry(file, await entrySource(file, fh, size, e), e)).toString("utf8"));
  } finally {
    await fh.close();
  }
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) throw new InputError(`unsupported persistent id ${describePid(pid)}`);
    const [, stype, key, , numel] = pid;
    const dtype = storageDtypeOf(stype);
    if (typeof key !== "string") throw new InputError("a storage key is not a string");
    if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) throw new InputError(`storage ${key} has an invalid size`);
    const known = storages.get(key);
    if (known !== undefined) return known;
    const found = sources.get(key);
    if (found === undefined) throw new InputError(`the pickle references storage data/${key}, which the archive lacks`);
    const byteLength = numel * DTYPE_SIZE[dtype];
    if (found.entry.uncompressedSize !== byteLength) {
      throw new InputError(
        `${file}: zip entry ${found.entry.name} holds ${found.entry.uncompressedSize} bytes, but the pickle declares storage data/${key} as ${numel} × ${DTYPE_SIZE[dtype]} = ${byteLength} bytes`,
      );
    }
    const storage = new Storage(`data/${key}`, dtype, byteLength, found.source, file, bigEndian);
    storages.set(key, storage);
    return storage;
  };
  const archiveName = prefix.replace(/\/$/, "");
  if (!torchScript) {
    const { value } = unpickleChecked(pkl, { source: file, globals, persistentLoad });
    return { file, format: "zip", tree: value, storages, archiveName };
  }
  const scriptGlobals = new Map([...torchScriptGlobals(parseScriptClasses(file, code)), ...globals]);
  const { value } = unpickleChecked(pkl, { source: file, globals: scriptGlobals, persistentLoad });
  if (!(value instanceof ScriptObject)) throw new InputError(`${file}: the data.pkl of a TorchScript archive holds no module object`);
  moduleStateDict(value, file); // refuses here, naming the file, what stateDict() would refuse
  return { file, format: "torchscript", tree: value, storages, archiveName };
}

/** data.pkl holds the object tree only (tensor bytes are separate entries): a few hundred kB for large models. */
const MAX_PICKLE_BYTES = 64 << 20;
/** a TorchScript archive's code/ sources, all together (text: a model's are typically tens to hundreds of kB) */
const MAX_CODE_BYTES = 64 << 20;

function checkDeclaredSize(file: string, e: ZipEntryInfo, max: number, what: string): void {
  if (e.uncompressedSize > max) throw new InputError(`${file}: zip entry ${e.name} declares ${e.uncompressedSize} bytes; ${what} is at most ${max} bytes`);
}

async function readEntry(file: string, source: StorageSource, e: ZipEntryInfo): Promise<Uint8Array> {
  if (source.kind === "file") return readFileRange(file, source.offset, e.uncompressedSize, `zip entry ${e.name}`);
  if (source.kind !== "deflate") throw new Error("internal: unexpected source");
  const packed = await readFileRange(file, source.offset, source.compressedLength, `zip entry ${e.name}`);
  return inflateAtMost(packed, e.uncompressedSize, `${file}: zip entry ${e.name}`);
}

function describePid(pid: PyValue): string {
  if (Array.isArray(pid))
    return `(${pid
      .slice(0, 1)
      .map((x) => JSON.stringify(x))
      .join(", ")}, …)`;
  return typeof pid === "string" ? JSON.stringify(pid) : typeof pid;
}

function unpickleChecked(data: Uint8Array, opts: UnpickleOptions & { source: string }): UnpickleResult {
  return unpickle(data, { allowListName: ALLOW_LIST_NAME, ...opts });
}

// ---------------------------------------------------------------------------------------------
// legacy format

const MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;

/** Unpickles the pickle that starts at pos, reading more of the file until its STOP is in. */
async function pickleAt(file: string, size: number, pos: number, opts: UnpickleOptions & { source: string }, fresh: () => void): Promise<UnpickleResult & { start: number }> {
  let chunk = Math.min(1 << 20, size - pos);
  for (;;) {
    const data = await readFileRange(file, pos, chunk, "a pickle");
    fresh();
    try {
      const r = unpickleChecked(data, opts);
      return { ...r, end: pos + r.end, start: pos };
    } catch (err) {
      if (err instanceof PickleError && err.truncated && pos + chunk < size) {
        chunk = Math.min(chunk * 4, size - pos);
        continue;
      }
      throw err;
    }
  }
}

interface LegacyStorage {
  storage: Storage;
  numel: number;
}

async function readLegacy(file: string, size: number, globals: GlobalTable): Promise<TorchCheckpoint> {
  const none = () => {};
  const notTorch = `${file}: not a PyTorch checkpoint (neither a zip archive nor the legacy format's magic number)`;
  // the three header pickles hold only numbers and a dict: no globals are needed there
  let r = await pickleAt(file, size, 0, { source: file, globals: new Map() }, none).catch((err: unknown) => {
    if (err instanceof PickleError && !(err instanceof RefusedGlobalError)) throw new InputError(`${notTorch}: ${err.message.slice(file.length + 2)}`);
    throw err;
  });
  if (r.value !== MAGIC_NUMBER) throw new InputError(notTorch);
  r = await pickleAt(file, size, r.end, { source: file, globals: new Map() }, none);
  if (r.value !== PROTOCOL_VERSION) throw new InputError(`${file}: legacy checkpoint protocol version ${String(r.value)} is not supported (expected ${PROTOCOL_VERSION})`);
  r = await pickleAt(file, size, r.end, { source: file, globals: new Map() }, none); // sys_info: the data is little-endian whatever it says

  let roots = new Map<string, LegacyStorage>();
  let views = new Map<string, Storage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    if (!Array.isArray(pid)) throw new InputError(`unsupported persistent id ${describePid(pid)}`);
    if (pid[0] === "module") throw new InputError("the checkpoint pickles a whole nn.Module (its source code), not a state dict: not supported");
    if (pid[0] !== "storage" || pid.length < 5) throw new InputError(`unsupported persistent id ${describePid(pid)}`);
    const [, stype, rootKey, , numel, viewMeta] = pid;
    const dtype = storageDtypeOf(stype);
    if (typeof rootKey !== "string") throw new InputError("a storage key is not a string");
    if (typeof numel !== "number" || !Number.isSafeInteger(numel) || numel < 0) throw new InputError(`storage ${rootKey} has an invalid size`);
    let root = roots.get(rootKey);
    if (root === undefined) {
      root = { storage: new Storage(`storage ${rootKey}`, dtype, numel * DTYPE_SIZE[dtype], undefined, file), numel };
      roots.set(rootKey, root);
    }
    if (viewMeta === undefined || viewMeta === null) return root.storage;
    // an old storage view: (view_key, offset, view_size), in elements
    if (!Array.isArray(viewMeta) || viewMeta.length !== 3) throw new InputError("invalid storage view metadata");
    const [viewKey, offset, viewSize] = viewMeta;
    if (typeof viewKey !== "string" || typeof offset !== "number" || typeof viewSize !== "number") throw new InputError("invalid storage view metadata");
    let view = views.get(viewKey);
    if (view === undefined) {
      const es = DTYPE_SIZE[root.storage.dtype];
      if ((offset + viewSize) * es > root.storage.byteLength) throw new InputError(`storage view ${viewKey} lies outside storage ${rootKey}`);
      view = new Storage(`storage ${viewKey}`, root.storage.dtype, viewSize * es, { kind: "view", parent: root.storage, offset: offset * es }, file);
      views.set(viewKey, view);
    }
    return view;
  };
  r = await pickleAt(file, size, r.end, { source: file, globals, persistentLoad }, () => {
    roots = new Map();
    views = new Map();
  });
  const tree = r.value;
  r = await pickleAt(file, size, r.end, { source: file, globals: new Map() }, none);
  const keys = r.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) throw new InputError(`${file}: corrupt legacy checkpoint: the storage key list is not a list of strings`);

  // the storages follow in the order of that list: an 8-byte element count, then the bytes
  let pos = r.end;
  const fh = await fsp.open(file, "r");
  try {
    const count = Buffer.alloc(8);
    for (const key of keys as string[]) {
      const root = roots.get(key);
      if (root === undefined) throw new InputError(`${file}: corrupt legacy checkpoint: storage ${key} is listed but no tensor references it`);
      const { bytesRead } = await fh.read(count, 0, 8, pos);
      if (bytesRead < 8) throw new InputError(`${file}: truncated: the file ends at byte ${size}, inside the header of storage ${key}`);
      const n = count.readBigInt64LE(0);
      if (n !== BigInt(root.numel)) throw new InputError(`${file}: corrupt legacy checkpoint: storage ${key} has ${n} elements in the file, the pickle says ${root.numel}`);
      const start = pos + 8;
      const end = start + root.storage.byteLength;
      if (end > size) throw new InputError(`${file}: truncated: storage ${key} needs bytes ${start}..${end} but the file has ${size}`);
      root.storage.source = { kind: "file", file, offset: start };
      pos = end;
    }
  } finally {
    await fh.close();
  }
  const storages = new Map<string, Storage>();
  for (const [key, root] of roots) {
    if (root.storage.source === undefined) throw new InputError(`${file}: corrupt legacy checkpoint: storage ${key} is referenced but not in the storage list`);
    storages.set(key, root.storage);
  }
  for (const [key, view] of views) if (!storages.has(key)) storages.set(key, view);
  return { file, format: "legacy", tree, storages };
}

// ---------------------------------------------------------------------------------------------
// state dicts

export interface StateDictOptions {
  /**
   * keep only the tensors under this key ("model", "classifier", "state_dict", or a dotted path
   * "model.backbone"), with the prefix removed from their names. Without it, every tensor reachable
   * through dicts is kept under its dotted path — except that a top-level "state_dict" /
   * "model_state_dict" entry, when present, is used alone and unprefixed.
   */
  prefix?: string;
  /** remove "module." (DataParallel / DistributedDataParallel) from the start of each dict's keys; default true */
  stripModule?: boolean;
  /** top-level entries skipped when no prefix is given (optimizer state holds tensors too); default optimizer, optim, scheduler, lr_scheduler, scaler */
  skip?: readonly string[];
}

const DEFAULT_SKIP = ["optimizer", "optim", "scheduler", "lr_scheduler", "scaler"];

/**
 * Flattens a checkpoint's dicts into one name → tensor map: {'model': {'module.conv1.weight': …},
 * 'classifier': {…}, 'epoch': 3} gives model.conv1.weight, classifier.weight, …
 * A TorchScript archive's root module gives its Module.state_dict(), names exactly as torch's
 * (stripModule and skip do not apply; prefix does).
 */
export function stateDict(tree: PyValue | TorchCheckpoint, opts: StateDictOptions = {}): Map<string, LazyTensor> {
  const root = isCheckpoint(tree) ? tree.tree : tree;
  if (root instanceof ScriptObject) return underPrefix(moduleStateDict(root), opts.prefix);
  const strip = opts.stripModule ?? true;
  const skip = new Set(opts.skip ?? DEFAULT_SKIP);
  if (root instanceof LazyTensor) throw new InputError("the checkpoint is a single tensor, not a state dict");
  if (!(root instanceof Map)) throw new InputError("the checkpoint is not a dict");
  let prefix = opts.prefix;
  if (prefix === undefined) {
    for (const k of ["state_dict", "model_state_dict"]) {
      if (root.get(k) instanceof Map) {
        prefix = k;
        break;
      }
    }
  }
  const out = new Map<string, LazyTensor>();
  const visit = (d: Map<PyValue, PyValue>, path: string, top: boolean, seen: Set<object>): void => {
    if (seen.has(d)) return;
    seen.add(d);
    for (const [k0, v] of d) {
      if (typeof k0 !== "string" && typeof k0 !== "number" && typeof k0 !== "bigint") continue;
      let k = String(k0);
      if (top && prefix === undefined && skip.has(k)) continue;
      if (strip) {
        while (k.startsWith("module.")) k = k.slice("module.".length);
      }
      const name = strip && k === "module" ? path : path === "" ? k : `${path}.${k}`;
      if (v instanceof LazyTensor) {
        if (out.has(name)) throw new InputError(`two tensors are named ${name}${strip ? " once module. is removed" : ""}`);
        out.set(name, v);
      } else if (v instanceof Map) {
        visit(v, name, false, seen);
      }
    }
  };
  visit(root, "", true, new Set());
  return underPrefix(out, prefix);
}

/** The tensors named "<prefix>.…", without that prefix; all of them when prefix is undefined. */
function underPrefix(all: Map<string, LazyTensor>, prefix: string | undefined): Map<string, LazyTensor> {
  if (prefix === undefined) return all;
  const want = `${prefix}.`;
  const picked = new Map<string, LazyTensor>();
  for (const [k, v] of all) if (k.startsWith(want)) picked.set(k.slice(want.length), v);
  if (picked.size === 0) throw new InputError(`no tensors under ${prefix} (the checkpoint has ${[...new Set([...all.keys()].map((k) => k.split(".")[0]))].join(", ") || "none"})`);
  return picked;
}

function isCheckpoint(v: PyValue | TorchCheckpoint): v is TorchCheckpoint {
  return typeof v === "object" && v !== null && !(v instanceof Map) && "format" in v && "tree" in v && "storages" in v;
}
