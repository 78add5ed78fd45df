/**
 * A pickle virtual machine that never executes code.
 *
 * It decodes the pickle protocols 0–5 into plain JavaScript values. A pickle can only *do* anything
 * through the globals it names (GLOBAL / STACK_GLOBAL / INST / OBJ) and then calls (REDUCE, NEWOBJ,
 * BUILD …). Here every global is looked up in an allow-list that the caller passes in
 * ({@link GlobalTable}); each entry is a JavaScript stand-in (for example "collections.OrderedDict"
 * builds a {@link PyDict}), so nothing from the file ever runs. A name that is not on the list stops
 * the load at once with a {@link RefusedGlobalError}, before anything could call it.
 *
 * Python values become:
 *   None → null, bool → boolean, int → number (bigint beyond ±2^53), float → number, str → string,
 *   bytes / bytearray → Uint8Array, list → Array, tuple → frozen Array (see {@link isTuple}),
 *   dict → {@link PyDict} (a Map, keys keep their Python type and order), set / frozenset → Set,
 *   instances of allowed classes → {@link PyObject} or whatever their stand-in returns.
 */
import { InputError } from "../util/errors.js";

/** Anything the VM can hold: the plain values above or an object made by a global's stand-in. */
export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyDict | Set<PyValue> | PyObject | PyGlobal | object;

/** Objects that accept BUILD implement this (Python's __setstate__ / __dict__.update). */
export const PY_SETSTATE: unique symbol = Symbol("py.setstate");
export interface Buildable {
  [PY_SETSTATE](state: PyValue): void;
}

/** A Python dict (or OrderedDict, or another dict-like class named by pyClass). */
export class PyDict extends Map<PyValue, PyValue> {
  /** attributes set by BUILD (an OrderedDict state dict carries `_metadata`) */
  readonly attrs: Map<string, PyValue> = new Map();
  constructor(readonly pyClass: string = "builtins.dict") {
    super();
  }
  [PY_SETSTATE](state: PyValue): void {
    setAttributes(this.attrs, state, this.pyClass);
  }
}

/** An instance of an allowed plain class (argparse.Namespace, …): its attributes, nothing else. */
export class PyObject {
  readonly attrs: Map<string, PyValue> = new Map();
  /** state that BUILD gave and that is not a dict of attributes */
  state: PyValue | undefined = undefined;
  constructor(
    readonly pyClass: string,
    readonly args: readonly PyValue[] = [],
  ) {}
  get(name: string): PyValue | undefined {
    return this.attrs.get(name);
  }
  [PY_SETSTATE](state: PyValue): void {
    if (!setAttributes(this.attrs, state, this.pyClass, true)) this.state = state;
  }
}

/** A global that the allow-list resolved: the VM's stand-in for a Python class or function. */
export class PyGlobal {
  constructor(
    /** the name the allow-list knows it by, "module.name" (after Python 2 → 3 renaming) */
    readonly name: string,
    readonly handler: GlobalHandler,
  ) {}
}

export interface CallContext {
  /** what errors name: the file, or "pickle" */
  readonly source: string;
}

/** The JavaScript stand-in for one allowed global. */
export interface GlobalHandler {
  /** REDUCE, INST, OBJ, NEWOBJ(_EX): makes the value from the arguments. Absent: the global may only be used as a value. */
  call?(args: readonly PyValue[], kwargs: ReadonlyMap<string, PyValue> | undefined, ctx: CallContext): PyValue;
  /** NEWOBJ(_EX) (cls.__new__(cls, *args)) when it differs from call */
  newObj?(args: readonly PyValue[], kwargs: ReadonlyMap<string, PyValue> | undefined, ctx: CallContext): PyValue;
}

/** The allow-list: "module.name" → stand-in. A Map, so that no inherited property ever resolves. */
export type GlobalTable = ReadonlyMap<string, GlobalHandler>;

export interface UnpickleOptions {
  /** the allow-list of globals; empty when absent (then any GLOBAL is refused) */
  globals?: GlobalTable;
  /** what BINPERSID / PERSID call with the persistent id; absent: persistent ids are an error */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** the name errors start with ("checkpoint.pth: …"); default "pickle" */
  source?: string;
  /** how Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING) decode: as torch.load does, utf8 by default */
  py2StringEncoding?: "utf8" | "latin1" | "bytes";
  /** byte offset where the pickle starts in data (default 0) */
  offset?: number;
  /** what refusal messages call the allow-list; default "allowed globals" */
  allowListName?: string;
}

export interface UnpickleResult {
  value: PyValue;
  /** offset just after the STOP opcode */
  end: number;
  /** the highest PROTO seen (0 when none) */
  protocol: number;
}

/** Any failure to decode a pickle (bad input: exit 2). The message starts with the source ("file.pth: …"). */
export class PickleError extends InputError {
  constructor(
    message: string,
    /** true when the data ended before STOP (a longer read may succeed) */
    readonly truncated = false,
  ) {
    super(message);
    this.name = "PickleError";
  }
}

/** The pickle names a global that is not on the allow-list: nothing was run. */
export class RefusedGlobalError extends PickleError {
  constructor(
    readonly source: string,
    /** "module.name" as Python 3 would resolve it (posix.system, builtins.eval, subprocess.Popen …) */
    readonly global: string,
    /** the name as written in the pickle, when it differs (Python 2 names: __builtin__.eval, commands.Popen) */
    readonly written: string,
    allowListName: string,
  ) {
    super(`${source}: refusing to load: the pickle references ${global}${written !== global ? ` (written as ${written})` : ""} (not on the allow-list of ${allowListName})`);
    this.name = "RefusedGlobalError";
  }
}

const tuples = new WeakSet<object>();

/** Whether an array came from a Python tuple (tuples are frozen arrays). */
export function isTuple(v: unknown): v is readonly PyValue[] {
  return Array.isArray(v) && tuples.has(v);
}

function makeTuple(items: PyValue[]): PyValue[] {
  tuples.add(items);
  return Object.freeze(items) as PyValue[];
}

/** A tuple value (frozen array) for stand-ins that return tuples. */
export function pyTuple(items: readonly PyValue[]): readonly PyValue[] {
  return makeTuple([...items]);
}

function setAttributes(attrs: Map<string, PyValue>, state: PyValue, pyClass: string, lenient = false): boolean {
  // Python's default BUILD: state is a dict of attributes, or (dict | None, slots dict)
  let dictState: PyValue = state;
  let slotState: PyValue = null;
  if (isTuple(state) && state.length === 2) {
    dictState = state[0] ?? null;
    slotState = state[1] ?? null;
  }
  for (const part of [dictState, slotState]) {
    if (part === null) continue;
    if (!(part instanceof Map)) {
      if (lenient) return false;
      throw new TypeError(`BUILD on ${pyClass} with a state that is not a dict`);
    }
    for (const [k, v] of part) {
      if (typeof k !== "string") throw new TypeError(`BUILD on ${pyClass}: attribute names must be strings`);
      attrs.set(k, v);
    }
  }
  return true;
}

// Python 2 → 3 module renames that Python's unpickler applies for protocols < 3 (fix_imports), from _compat_pickle.
const IMPORT_MAPPING: Record<string, string> = {
  __builtin__: "builtins",
  copy_reg: "copyreg",
  Queue: "queue",
  SocketServer: "socketserver",
  ConfigParser: "configparser",
  repr: "reprlib",
  tkFileDialog: "tkinter.filedialog",
  tkSimpleDialog: "tkinter.simpledialog",
  tkColorChooser: "tkinter.colorchooser",
  tkCommonDialog: "tkinter.commondialog",
  Dialog: "tkinter.dialog",
  Tkdnd: "tkinter.dnd",
  tkFont: "tkinter.font",
  tkMessageBox: "tkinter.messagebox",
  ScrolledText: "tkinter.scrolledtext",
  Tkconstants: "tkinter.constants",
  Tix: "tkinter.tix",
  ttk: "tkinter.ttk",
  Tkinter: "tkinter",
  markupbase: "_markupbase",
  _winreg: "winreg",
  thread: "_thread",
  dummy_thread: "_dummy_thread",
  dbhash: "dbm.bsd",
  dumbdbm: "dbm.dumb",
  dbm: "dbm.ndbm",
  gdbm: "dbm.gnu",
  xmlrpclib: "xmlrpc.client",
  SimpleXMLRPCServer: "xmlrpc.server",
  httplib: "http.client",
  htmlentitydefs: "html.entities",
  HTMLParser: "html.parser",
  Cookie: "http.cookies",
  cookielib: "http.cookiejar",
  BaseHTTPServer: "http.server",
  "test.test_support": "test.support",
  commands: "subprocess",
  urlparse: "urllib.parse",
  robotparser: "urllib.robotparser",
  urllib2: "urllib.request",
  anydbm: "dbm",
  _abcoll: "collections.abc",
  cPickle: "pickle",
  _elementtree: "xml.etree.ElementTree",
  FileDialog: "tkinter.filedialog",
  SimpleDialog: "tkinter.simpledialog",
  DocXMLRPCServer: "xmlrpc.server",
  SimpleHTTPServer: "http.server",
  CGIHTTPServer: "http.server",
  UserDict: "collections",
  UserList: "collections",
  UserString: "collections",
  whichdb: "dbm",
  StringIO: "io",
  cStringIO: "io",
};
const NAME_MAPPING: Record<string, string> = {
  "__builtin__.xrange": "builtins.range",
  "__builtin__.reduce": "functools.reduce",
  "__builtin__.intern": "sys.intern",
  "__builtin__.unichr": "builtins.chr",
  "__builtin__.unicode": "builtins.str",
  "__builtin__.long": "builtins.int",
  "__builtin__.basestring": "builtins.str",
  "UserDict.IterableUserDict": "collections.UserDict",
  "UserDict.UserDict": "collections.UserDict",
  "UserList.UserList": "collections.UserList",
  "UserString.UserString": "collections.UserString",
  "whichdb.whichdb": "dbm.whichdb",
  "_socket.fromfd": "socket.fromfd",
  "_multiprocessing.Connection": "multiprocessing.connection.Connection",
  "exceptions.StandardError": "builtins.Exception",
};

function fixImports(module: string, name: string): string {
  const full = `${module}.${name}`;
  const named = NAME_MAPPING[full];
  if (named !== undefined) return named;
  if (module === "exceptions") return `builtins.${name}`;
  const mod = Object.hasOwn(IMPORT_MAPPING, module) ? IMPORT_MAPPING[module] : undefined;
  return mod !== undefined ? `${mod}.${name}` : full;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function intValue(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

/** Decodes one pickle from data (from opts.offset up to its STOP). Never runs code: see the module comment. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  return new Machine(data, opts).run();
}

/** The VM's state and the primitives the opcodes (OPCODES below) are written in. */
class Machine {
  private readonly view: DataView;
  private pos: number;
  private stack: PyValue[] = [];
  private readonly metastack: PyValue[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private protocol = 0;
  private readonly source: string;
  private readonly globals: GlobalTable;
  private op = 0;
  private opStart = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly opts: UnpickleOptions,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.pos = opts.offset ?? 0;
    this.source = opts.source ?? "pickle";
    this.globals = opts.globals ?? new Map();
  }

  run(): UnpickleResult {
    for (;;) {
      this.opStart = this.pos;
      this.op = 0;
      const op = this.u8();
      const opcode = OPCODES.get(op);
      if (opcode === undefined) this.fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, "0")} (corrupt or not a pickle)`);
      this.op = op;
      const result = opcode.run(this);
      if (result !== undefined) return result;
    }
  }

  fail(message: string): never {
    throw new PickleError(`${this.source}: ${message} (${OPCODES.get(this.op)?.name ?? "opcode"} at byte ${this.opStart})`);
  }

  private need(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0) this.fail(`invalid length ${n}`);
    if (this.pos + n > this.data.length) {
      throw new PickleError(`${this.source}: truncated pickle: it ends at byte ${this.data.length}, inside ${OPCODES.get(this.op)?.name ?? "an opcode"} at byte ${this.opStart} (no STOP)`, true);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  // -- reading the opcodes' arguments

  u8(): number {
    return this.data[this.need(1)]!;
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > MAX_SAFE) this.fail(`length ${v} is too large`);
    return Number(v);
  }
  /** a big-endian double (BINFLOAT) */
  f64(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.data.slice(at, at + n);
  }
  utf8(n: number): string {
    const at = this.need(n);
    return Buffer.from(this.data.buffer, this.data.byteOffset + at, n).toString("utf8");
  }
  /** a protocol-0 text line, without its newline */
  line(): string {
    const start = this.pos;
    const nl = this.data.indexOf(0x0a, start);
    if (nl < 0) this.need(this.data.length - start + 1); // throws truncated
    this.pos = nl + 1;
    return Buffer.from(this.data.buffer, this.data.byteOffset + start, nl - start).toString("latin1");
  }
  /** an n-byte little-endian two's complement integer */
  long(n: number): number | bigint {
    const at = this.need(n);
    if (n === 0) return 0;
    // via one hex string, so a huge LONG4 costs linear time
    const hexDigits = Buffer.from(this.data.subarray(at, at + n))
      .reverse()
      .toString("hex");
    let v = BigInt(`0x${hexDigits}`);
    if (this.data[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return intValue(v);
  }
  parseInt(s: string): number | bigint {
    const t = s.trim();
    if (!/^[+-]?\d+$/.test(t)) this.fail(`invalid integer ${JSON.stringify(s)}`);
    return intValue(BigInt(t));
  }
  parseIndex(s: string): number {
    const v = this.parseInt(s);
    if (typeof v !== "number" || v < 0) this.fail(`invalid memo index ${JSON.stringify(s)}`);
    return v;
  }
  py2String(raw: Uint8Array): PyValue {
    const enc = this.opts.py2StringEncoding ?? "utf8";
    if (enc === "bytes") return raw;
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString(enc);
  }

  // -- the stack, its marks and the memo

  setProtocol(p: number): void {
    if (p > 5) this.fail(`unsupported pickle protocol ${p}`);
    this.protocol = p;
  }
  stop(): UnpickleResult {
    return { value: this.pop(), end: this.pos, protocol: this.protocol };
  }
  push(v: PyValue): void {
    this.stack.push(v);
  }
  pop(): PyValue {
    if (this.stack.length === 0) this.fail("stack underflow");
    return this.stack.pop() as PyValue;
  }
  top(): PyValue {
    if (this.stack.length === 0) this.fail("stack underflow");
    return this.stack[this.stack.length - 1] as PyValue;
  }
  /** POP: the top item, or the whole frame down to its MARK when the frame is empty */
  discard(): void {
    if (this.stack.length > 0) this.stack.pop();
    else this.popMark();
  }
  mark(): void {
    this.metastack.push(this.stack);
    this.stack = [];
  }
  popMark(): PyValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (prev === undefined) this.fail("no MARK on the stack");
    this.stack = prev;
    return items;
  }
  memoGet(i: number): PyValue {
    if (!this.memo.has(i)) this.fail(`memo key ${i} is not defined`);
    return this.memo.get(i) as PyValue;
  }
  memoPut(i: number): void {
    this.memo.set(i, this.top());
  }
  memoize(): void {
    this.memoPut(this.memo.size);
  }

  // -- containers

  listOf(v: PyValue): PyValue[] {
    if (!Array.isArray(v) || isTuple(v)) this.fail(`appends to a value that is not a list (${describe(v)})`);
    return v;
  }
  setItems(target: PyValue, items: PyValue[]): void {
    if (!(target instanceof Map)) this.fail(`sets items on a value that is not a dict (${describe(target)})`);
    if (items.length % 2 !== 0) this.fail("odd number of items for a dict");
    for (let i = 0; i < items.length; i += 2) target.set(items[i] as PyValue, items[i + 1] as PyValue);
  }

  // -- globals, calls, state and persistent ids: only through the allow-list and the caller's hooks

  resolveGlobal(module: string, name: string): PyGlobal {
    const written = `${module}.${name}`;
    const full = this.protocol < 3 ? fixImports(module, name) : written;
    const handler = this.globals.get(full);
    if (handler === undefined) {
      throw new RefusedGlobalError(this.source, full, written, this.opts.allowListName ?? "allowed globals");
    }
    return new PyGlobal(full, handler);
  }

  call(fn: PyValue, args: PyValue, kwargs: PyValue | undefined, asNew: boolean): PyValue {
    if (!(fn instanceof PyGlobal)) this.fail(`calls a value that is not an allowed global (${describe(fn)})`);
    if (!Array.isArray(args)) this.fail(`calls ${fn.name} with arguments that are not a tuple`);
    let kw: ReadonlyMap<string, PyValue> | undefined;
    if (kwargs !== undefined && kwargs !== null) {
      if (!(kwargs instanceof Map)) this.fail(`calls ${fn.name} with keyword arguments that are not a dict`);
      for (const k of kwargs.keys()) if (typeof k !== "string") this.fail(`calls ${fn.name} with a keyword that is not a string`);
      kw = kwargs as ReadonlyMap<string, PyValue>;
    }
    const impl = asNew ? (fn.handler.newObj ?? fn.handler.call) : fn.handler.call;
    if (impl === undefined) this.fail(`${fn.name} is allowed only as a value, not to be called`);
    try {
      return impl.call(fn.handler, args, kw, { source: this.source });
    } catch (err) {
      if (err instanceof PickleError) throw err;
      this.fail(`${fn.name}: ${this.unprefixed(err)}`);
    }
  }

  /** BUILD: obj.__setstate__(state), for the values that take one (Buildable) */
  build(obj: PyValue, state: PyValue): void {
    const target = obj as Partial<Buildable> | null;
    if (target === null || typeof target !== "object" || typeof target[PY_SETSTATE] !== "function") {
      this.fail(`BUILD on a value that takes no state (${describe(obj)})`);
    }
    try {
      (target as Buildable)[PY_SETSTATE](state);
    } catch (err) {
      if (err instanceof PickleError) throw err;
      this.fail(this.unprefixed(err));
    }
  }

  persistent(pid: PyValue): PyValue {
    if (this.opts.persistentLoad === undefined) this.fail("the pickle uses persistent ids, which this load does not accept");
    try {
      return this.opts.persistentLoad(pid);
    } catch (err) {
      if (err instanceof PickleError) throw err;
      this.fail(this.unprefixed(err));
    }
  }

  /** an error's message without a leading "<source>: " (stand-ins may name the file themselves) */
  private unprefixed(err: unknown): string {
    const m = err instanceof Error ? err.message : String(err);
    return m.startsWith(`${this.source}: `) ? m.slice(this.source.length + 2) : m;
  }
}

interface Opcode {
  name: string;
  /** executes the opcode (reading its arguments); STOP alone returns, with the result */
  // biome-ignore lint/suspicious/noConfusingVoidType: the handlers are one-line arrows whose values are discarded, only STOP's is not
  run(m: Machine): UnpickleResult | void;
}

const extensionRegistry = (m: Machine): never => m.fail("the pickle uses the copyreg extension registry, which is not supported");
const outOfBandBuffers = (m: Machine): never => m.fail("the pickle uses out-of-band buffers, which are not supported");

/** Every opcode of protocols 0–5, by its byte. (A handler whose m.fail() must narrow a type declares m: Machine.) */
const OPCODES: ReadonlyMap<number, Opcode> = new Map(
  (
    [
      // -- framing and the stack
      [0x80, "PROTO", (m) => m.setProtocol(m.u8())],
      [0x95, "FRAME", (m) => void m.u64()], // framing only groups opcodes; the data is read linearly anyway
      [0x2e, "STOP", (m) => m.stop()],
      [0x28, "MARK", (m) => m.mark()],
      [0x30, "POP", (m) => m.discard()],
      [0x31, "POP_MARK", (m) => void m.popMark()],
      [0x32, "DUP", (m) => m.push(m.top())],

      // -- constants and numbers
      [0x4e, "NONE", (m) => m.push(null)],
      [0x88, "NEWTRUE", (m) => m.push(true)],
      [0x89, "NEWFALSE", (m) => m.push(false)],
      [0x4a, "BININT", (m) => m.push(m.i32())],
      [0x4b, "BININT1", (m) => m.push(m.u8())],
      [0x4d, "BININT2", (m) => m.push(m.u16())],
      [0x8a, "LONG1", (m) => m.push(m.long(m.u8()))],
      [
        0x8b,
        "LONG4",
        (m) => {
          const n = m.i32();
          if (n < 0) m.fail("negative LONG4 length");
          m.push(m.long(n));
        },
      ],
      [0x47, "BINFLOAT", (m) => m.push(m.f64())],
      [
        0x49,
        "INT", // text; "01" and "00" are True and False
        (m) => {
          const s = m.line();
          if (s === "01") m.push(true);
          else if (s === "00") m.push(false);
          else m.push(m.parseInt(s));
        },
      ],
      [0x4c, "LONG", (m) => m.push(m.parseInt(m.line().replace(/L$/, "")))], // text, "123L"
      [
        0x46,
        "FLOAT", // text
        (m) => {
          const s = m.line().trim();
          const v = /^[+-]?inf$/i.test(s) ? (s.startsWith("-") ? -Infinity : Infinity) : /^[+-]?nan$/i.test(s) ? NaN : Number(s);
          if (Number.isNaN(v) && !/nan/i.test(s)) m.fail(`invalid float ${JSON.stringify(s)}`);
          m.push(v);
        },
      ],

      // -- strings and bytes
      [0x8c, "SHORT_BINUNICODE", (m) => m.push(m.utf8(m.u8()))],
      [0x58, "BINUNICODE", (m) => m.push(m.utf8(m.u32()))],
      [0x8d, "BINUNICODE8", (m) => m.push(m.utf8(m.u64()))],
      [0x56, "UNICODE", (m) => m.push(rawUnicodeEscape(m.line()))], // raw-unicode-escape
      [0x43, "SHORT_BINBYTES", (m) => m.push(m.bytes(m.u8()))],
      [0x42, "BINBYTES", (m) => m.push(m.bytes(m.u32()))],
      [0x8e, "BINBYTES8", (m) => m.push(m.bytes(m.u64()))],
      [0x96, "BYTEARRAY8", (m) => m.push(m.bytes(m.u64()))],
      [0x55, "SHORT_BINSTRING", (m) => m.push(m.py2String(m.bytes(m.u8())))], // Python 2 str
      [
        0x54,
        "BINSTRING",
        (m) => {
          const n = m.i32();
          if (n < 0) m.fail("negative BINSTRING length");
          m.push(m.py2String(m.bytes(n)));
        },
      ],
      [0x53, "STRING", (m) => m.push(m.py2String(stringLiteral(m.line(), (msg) => m.fail(msg))))], // a quoted Python 2 literal

      // -- containers
      [0x7d, "EMPTY_DICT", (m) => m.push(new PyDict())],
      [0x5d, "EMPTY_LIST", (m) => m.push([])],
      [0x29, "EMPTY_TUPLE", (m) => m.push(makeTuple([]))],
      [0x8f, "EMPTY_SET", (m) => m.push(new Set<PyValue>())],
      [0x85, "TUPLE1", (m) => m.push(makeTuple([m.pop()]))],
      [
        0x86,
        "TUPLE2",
        (m) => {
          const b = m.pop();
          const a = m.pop();
          m.push(makeTuple([a, b]));
        },
      ],
      [
        0x87,
        "TUPLE3",
        (m) => {
          const c = m.pop();
          const b = m.pop();
          const a = m.pop();
          m.push(makeTuple([a, b, c]));
        },
      ],
      [0x74, "TUPLE", (m) => m.push(makeTuple(m.popMark()))],
      [0x6c, "LIST", (m) => m.push(m.popMark())],
      [
        0x64,
        "DICT",
        (m) => {
          const items = m.popMark();
          const d = new PyDict();
          m.setItems(d, items);
          m.push(d);
        },
      ],
      [0x91, "FROZENSET", (m) => m.push(new Set<PyValue>(m.popMark()))],
      [
        0x61,
        "APPEND",
        (m) => {
          const v = m.pop();
          m.listOf(m.top()).push(v);
        },
      ],
      [
        0x65,
        "APPENDS",
        (m) => {
          const items = m.popMark();
          const list = m.listOf(m.top());
          for (const v of items) list.push(v);
        },
      ],
      [
        0x73,
        "SETITEM",
        (m) => {
          const v = m.pop();
          const k = m.pop();
          m.setItems(m.top(), [k, v]);
        },
      ],
      [
        0x75,
        "SETITEMS",
        (m) => {
          const items = m.popMark();
          m.setItems(m.top(), items);
        },
      ],
      [
        0x90,
        "ADDITEMS",
        (m: Machine) => {
          const items = m.popMark();
          const set = m.top();
          if (!(set instanceof Set)) m.fail("ADDITEMS on a value that is not a set");
          for (const v of items) set.add(v);
        },
      ],

      // -- memo
      [0x71, "BINPUT", (m) => m.memoPut(m.u8())],
      [0x72, "LONG_BINPUT", (m) => m.memoPut(m.u32())],
      [0x70, "PUT", (m) => m.memoPut(m.parseIndex(m.line()))],
      [0x94, "MEMOIZE", (m) => m.memoize()],
      [0x68, "BINGET", (m) => m.push(m.memoGet(m.u8()))],
      [0x6a, "LONG_BINGET", (m) => m.push(m.memoGet(m.u32()))],
      [0x67, "GET", (m) => m.push(m.memoGet(m.parseIndex(m.line())))],

      // -- globals and calls: only through the allow-list
      [
        0x63,
        "GLOBAL",
        (m) => {
          const module = m.line();
          const name = m.line();
          m.push(m.resolveGlobal(module, name));
        },
      ],
      [
        0x93,
        "STACK_GLOBAL",
        (m: Machine) => {
          const name = m.pop();
          const module = m.pop();
          if (typeof module !== "string" || typeof name !== "string") m.fail("STACK_GLOBAL with names that are not strings");
          m.push(m.resolveGlobal(module, name));
        },
      ],
      [
        0x69,
        "INST",
        (m) => {
          const module = m.line();
          const name = m.line();
          const cls = m.resolveGlobal(module, name);
          m.push(m.call(cls, makeTuple(m.popMark()), undefined, false));
        },
      ],
      [
        0x6f,
        "OBJ",
        (m) => {
          const items = m.popMark();
          const cls = items.shift();
          m.push(m.call(cls ?? null, makeTuple(items), undefined, false));
        },
      ],
      [
        0x52,
        "REDUCE",
        (m) => {
          const args = m.pop();
          const fn = m.pop();
          m.push(m.call(fn, args, undefined, false));
        },
      ],
      [
        0x81,
        "NEWOBJ",
        (m) => {
          const args = m.pop();
          const cls = m.pop();
          m.push(m.call(cls, args, undefined, true));
        },
      ],
      [
        0x92,
        "NEWOBJ_EX",
        (m) => {
          const kwargs = m.pop();
          const args = m.pop();
          const cls = m.pop();
          m.push(m.call(cls, args, kwargs, true));
        },
      ],
      [
        0x62,
        "BUILD",
        (m) => {
          const state = m.pop();
          m.build(m.top(), state);
        },
      ],
      [0x51, "BINPERSID", (m) => m.push(m.persistent(m.pop()))],
      [0x50, "PERSID", (m) => m.push(m.persistent(m.line()))],

      // -- not supported: the extension registry and out-of-band buffers
      [0x82, "EXT1", extensionRegistry],
      [0x83, "EXT2", extensionRegistry],
      [0x84, "EXT4", extensionRegistry],
      [0x97, "NEXT_BUFFER", outOfBandBuffers],
      [0x98, "READONLY_BUFFER", outOfBandBuffers],
    ] satisfies [number, string, Opcode["run"]][]
  ).map(([code, name, run]) => [code, { name, run }]),
);

function describe(v: PyValue): string {
  if (v === null) return "None";
  if (v instanceof PyGlobal) return v.name;
  if (v instanceof PyObject) return v.pyClass;
  if (v instanceof PyDict) return v.pyClass;
  if (Array.isArray(v)) return isTuple(v) ? "tuple" : "list";
  if (v instanceof Uint8Array) return "bytes";
  if (typeof v === "object") return v.constructor?.name ?? "object";
  return typeof v;
}

function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) => String.fromCodePoint(parseInt((u4 ?? u8)!, 16)));
}

/** A protocol-0 STRING argument: a quoted Python 2 literal with escapes, as bytes. */
function stringLiteral(s: string, fail: (m: string) => never): Uint8Array {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail("STRING argument is not a quoted literal");
  const body = s.slice(1, -1);
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c !== 0x5c) {
      out.push(c & 0xff);
      continue;
    }
    const e = body[++i];
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, "\\": 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11, "0": 0 };
    if (e === "x") {
      out.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e !== undefined && /[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      out.push(parseInt(m, 8) & 0xff);
      i += m.length - 1;
    } else if (e !== undefined && simple[e] !== undefined) {
      out.push(simple[e]!);
    } else if (e === "\n") {
      // line continuation
    } else {
      out.push(0x5c);
      if (e !== undefined) out.push(e.charCodeAt(0) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------
// inert stand-ins for harmless Python containers

function dictFrom(pyClass: string, args: readonly PyValue[]): PyDict {
  const d = new PyDict(pyClass);
  const src = args[0];
  if (src === undefined || src === null) return d;
  if (src instanceof Map) {
    for (const [k, v] of src) d.set(k, v);
  } else if (Array.isArray(src)) {
    for (const pair of src) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError("expects (key, value) pairs");
      d.set(pair[0] as PyValue, pair[1] as PyValue);
    }
  } else {
    throw new TypeError("expects a dict or a list of pairs");
  }
  return d;
}

function iterableItems(v: PyValue | undefined): PyValue[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return [...v];
  if (v instanceof Set) return [...v];
  if (v instanceof Map) return [...v.keys()];
  if (typeof v === "string") return [...v];
  if (v instanceof Uint8Array) return [...v];
  throw new TypeError("expects an iterable");
}

function plainObject(pyClass: string): GlobalHandler {
  return {
    call(args, kwargs) {
      const o = new PyObject(pyClass, args);
      if (kwargs) for (const [k, v] of kwargs) o.attrs.set(k, v);
      return o;
    },
  };
}

/** A marker for a global that is fine to mention but never called (builtins.object …). */
const valueOnly: GlobalHandler = {};

function encodeText(s: PyValue | undefined, encoding: PyValue | undefined): Uint8Array {
  if (typeof s !== "string") throw new TypeError("expects a str");
  const enc = typeof encoding === "string" ? encoding.toLowerCase().replace(/_/g, "-") : "utf-8";
  if (enc === "latin1" || enc === "latin-1" || enc === "iso-8859-1") {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) throw new RangeError("character outside latin-1");
      out[i] = c;
    }
    return out;
  }
  if (enc === "utf-8" || enc === "utf8" || enc === "ascii") return new Uint8Array(Buffer.from(s, "utf8"));
  throw new RangeError(`unsupported encoding ${String(encoding)}`);
}

/** Harmless containers that checkpoints carry beside tensors: they become plain values. */
export const INERT_GLOBALS: GlobalTable = new Map<string, GlobalHandler>([
  ["collections.OrderedDict", { call: (args) => dictFrom("collections.OrderedDict", args) }],
  ["builtins.dict", { call: (args) => dictFrom("builtins.dict", args) }],
  ["builtins.list", { call: (args) => iterableItems(args[0]) }],
  ["builtins.tuple", { call: (args) => pyTuple(iterableItems(args[0])) }],
  ["builtins.set", { call: (args) => new Set(iterableItems(args[0])) }],
  ["builtins.frozenset", { call: (args) => new Set(iterableItems(args[0])) }],
  [
    "builtins.bytearray",
    { call: (args) => (args[0] instanceof Uint8Array ? args[0].slice() : typeof args[0] === "string" ? encodeText(args[0], args[1]) : Uint8Array.from(iterableItems(args[0]) as number[])) },
  ],
  [
    "builtins.bytes",
    { call: (args) => (args[0] instanceof Uint8Array ? args[0].slice() : typeof args[0] === "string" ? encodeText(args[0], args[1]) : Uint8Array.from(iterableItems(args[0]) as number[])) },
  ],
  // a defaultdict's factory (builtins.list, builtins.int …) is dropped, never called
  ["collections.defaultdict", { call: () => new PyDict("collections.defaultdict") }],
  ["builtins.object", valueOnly],
  ["builtins.int", valueOnly],
  ["builtins.float", valueOnly],
  ["builtins.str", valueOnly],
  ["builtins.bool", valueOnly],
  ["builtins.slice", plainObject("builtins.slice")],
  ["builtins.complex", plainObject("builtins.complex")],
  // protocol 2 pickles Python 3 bytes as _codecs.encode(str, 'latin1')
  ["_codecs.encode", { call: (args) => encodeText(args[0], args[1]) }],
  [
    // protocols 0–1 instantiate plain classes as copyreg._reconstructor(cls, object, None) then BUILD
    "copyreg._reconstructor",
    {
      call(args, _kw, ctx) {
        const cls = args[0];
        if (!(cls instanceof PyGlobal)) throw new TypeError("expects a class");
        const make = cls.handler.newObj ?? cls.handler.call;
        if (make === undefined) throw new TypeError(`${cls.name} cannot be instantiated`);
        return make.call(cls.handler, [], undefined, ctx);
      },
    },
  ],
  ["argparse.Namespace", plainObject("argparse.Namespace")],
  ["types.SimpleNamespace", plainObject("types.SimpleNamespace")],
  ["easydict.EasyDict", { call: (args) => dictFrom("easydict.EasyDict", args) }],
]);
