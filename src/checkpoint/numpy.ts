/**
 * Inert stand-ins for the NumPy globals that training checkpoints often carry beside tensors
 * (a best score saved as np.float64, normalisation means as np.ndarray). They decode the values
 * from their bytes; nothing of NumPy runs.
 */
import { PY_SETSTATE, PyObject, isTuple, type GlobalHandler, type GlobalTable, type PyValue } from "./pickle.js";
import { halfBitsToFloat } from "./tensor.js";

/** numpy.dtype(…) after BUILD: kind and size ("f8"), byte order ("<", ">", "|"). */
export class NpDtype {
  byteorder = "=";
  constructor(readonly code: string) {}
  /** The array-interface string, "<f8", "|u1", … */
  get str(): string {
    const order = this.byteorder === "=" || this.byteorder === "" ? (this.itemsize <= 1 ? "|" : "<") : this.byteorder;
    return `${order}${this.code}`;
  }
  get kind(): string {
    return this.code.replace(/\d+$/, "");
  }
  get itemsize(): number {
    const m = /(\d+)$/.exec(this.code);
    return m ? Number(m[1]) : 0;
  }
  [PY_SETSTATE](state: PyValue): void {
    if (isTuple(state) && typeof state[1] === "string") this.byteorder = state[1];
  }
}

/** numpy.ndarray: its dtype, shape and raw bytes (C order unless fortranOrder). */
export class NdArray {
  dtype: NpDtype = new NpDtype("u1");
  shape: number[] = [];
  fortranOrder = false;
  data: Uint8Array = new Uint8Array(0);
  [PY_SETSTATE](state: PyValue): void {
    // (version, shape, dtype, is_fortran, rawdata) or, before version 1, the last four
    if (!isTuple(state)) throw new TypeError("ndarray state is not a tuple");
    const s = state.length === 5 ? state.slice(1) : state;
    const [shape, dtype, fortran, raw] = s;
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number")) throw new TypeError("ndarray shape is not a tuple of ints");
    if (!(dtype instanceof NpDtype)) throw new TypeError("ndarray dtype is not a numpy.dtype");
    if (dtype.kind === "O") throw new TypeError("object arrays are not supported (they would hold further pickled objects)");
    this.shape = shape as number[];
    this.dtype = dtype;
    this.fortranOrder = fortran === true;
    if (raw instanceof Uint8Array) this.data = raw;
    else if (typeof raw === "string") this.data = Uint8Array.from(raw, (c) => c.charCodeAt(0) & 0xff);
    else throw new TypeError("ndarray data is not bytes");
    const count = this.shape.reduce((a, b) => a * b, 1);
    if (this.data.length !== count * dtype.itemsize) throw new TypeError(`ndarray data holds ${this.data.length} bytes, expected ${count * dtype.itemsize}`);
  }
}

function scalarValue(dtype: NpDtype, raw: Uint8Array): PyValue {
  const little = dtype.str[0] !== ">";
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = dtype.itemsize;
  if (raw.length !== n) return null;
  switch (dtype.kind) {
    case "f":
      if (n === 8) return v.getFloat64(0, little);
      if (n === 4) return v.getFloat32(0, little);
      if (n === 2) return halfBitsToFloat(v.getUint16(0, little));
      return null;
    case "i":
    case "u": {
      const signed = dtype.kind === "i";
      if (n === 1) return signed ? v.getInt8(0) : v.getUint8(0);
      if (n === 2) return signed ? v.getInt16(0, little) : v.getUint16(0, little);
      if (n === 4) return signed ? v.getInt32(0, little) : v.getUint32(0, little);
      if (n === 8) {
        const b = signed ? v.getBigInt64(0, little) : v.getBigUint64(0, little);
        return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
      }
      return null;
    }
    case "b":
      return n === 1 ? raw[0] !== 0 : null;
    default:
      return null;
  }
}

const dtypeHandler: GlobalHandler = {
  call(args) {
    if (typeof args[0] !== "string") throw new TypeError("numpy.dtype expects a type code");
    return new NpDtype(args[0]);
  },
};

const scalarHandler: GlobalHandler = {
  call(args) {
    const [dtype, raw] = args;
    if (!(dtype instanceof NpDtype)) throw new TypeError("numpy scalar without a dtype");
    const bytes = raw instanceof Uint8Array ? raw : typeof raw === "string" ? Uint8Array.from(raw, (c) => c.charCodeAt(0) & 0xff) : null;
    const value = bytes === null ? null : scalarValue(dtype, bytes);
    // a scalar we cannot decode (strings, complex …) stays an opaque object rather than failing the load
    return value ?? new PyObject(`numpy.${dtype.str}`, args);
  },
};

const reconstructHandler: GlobalHandler = { call: () => new NdArray() };
const valueOnly: GlobalHandler = {};

/** numpy.dtype, numpy scalars and ndarrays (numpy 1 `numpy.core` and numpy 2 `numpy._core` names). */
export const NUMPY_GLOBALS: GlobalTable = new Map<string, GlobalHandler>([
  ["numpy.dtype", dtypeHandler],
  ["numpy.ndarray", valueOnly],
  ["numpy.core.multiarray.scalar", scalarHandler],
  ["numpy._core.multiarray.scalar", scalarHandler],
  ["numpy.core.multiarray._reconstruct", reconstructHandler],
  ["numpy._core.multiarray._reconstruct", reconstructHandler],
]);
