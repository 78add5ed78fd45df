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

/** Any failure to decode a pickle. The message starts with the source ("file.pth: …"). */
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
    super(
      `${source}: refusing to load: the pickle references ${global}${written !== global ? ` (written as ${written})` : ""} (not on the allow-list of ${allowListName})`,
    );
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
  __builtin__: "builtins", copy_reg: "copyreg", Queue: "queue", SocketServer: "socketserver", ConfigParser: "configparser",
  repr: "reprlib", tkFileDialog: "tkinter.filedialog", tkSimpleDialog: "tkinter.simpledialog", tkColorChooser: "tkinter.colorchooser",
  tkCommonDialog: "tkinter.commondialog", Dialog: "tkinter.dialog", Tkdnd: "tkinter.dnd", tkFont: "tkinter.font",
  tkMessageBox: "tkinter.messagebox", ScrolledText: "tkinter.scrolledtext", Tkconstants: "tkinter.constants", Tix: "tkinter.tix",
  ttk: "tkinter.ttk", Tkinter: "tkinter", markupbase: "_markupbase", _winreg: "winreg", thread: "_thread", dummy_thread: "_dummy_thread",
  dbhash: "dbm.bsd", dumbdbm: "dbm.dumb", dbm: "dbm.ndbm", gdbm: "dbm.gnu", xmlrpclib: "xmlrpc.client", SimpleXMLRPCServer: "xmlrpc.server",
  httplib: "http.client", htmlentitydefs: "html.entities", HTMLParser: "html.parser", Cookie: "http.cookies", cookielib: "http.cookiejar",
  BaseHTTPServer: "http.server", "test.test_support": "test.support", commands: "subprocess", urlparse: "urllib.parse",
  robotparser: "urllib.robotparser", urllib2: "urllib.request", anydbm: "dbm", _abcoll: "collections.abc", cPickle: "pickle",
  _elementtree: "xml.etree.ElementTree", FileDialog: "tkinter.filedialog", SimpleDialog: "tkinter.simpledialog",
  DocXMLRPCServer: "xmlrpc.server", SimpleHTTPServer: "http.server", CGIHTTPServer: "http.server", UserDict: "collections",
  UserList: "collections", UserString: "collections", whichdb: "dbm", StringIO: "io", cStringIO: "io",
};
const NAME_MAPPING: Record<string, string> = {
  "__builtin__.xrange": "builtins.range", "__builtin__.reduce": "functools.reduce", "__builtin__.intern": "sys.intern",
  "__builtin__.unichr": "builtins.chr", "__builtin__.unicode": "builtins.str", "__builtin__.long": "builtins.int",
  "__builtin__.basestring": "builtins.str", "UserDict.IterableUserDict": "collections.UserDict", "UserDict.UserDict": "collections.UserDict",
  "UserList.UserList": "collections.UserList", "UserString.UserString": "collections.UserString", "whichdb.whichdb": "dbm.whichdb",
  "_socket.fromfd": "socket.fromfd", "_multiprocessing.Connection": "multiprocessing.connection.Connection",
  "exceptions.StandardError": "builtins.Exception",
};

function fixImports(module: string, name: string): string {
  const full = `${module}.${name}`;
  const named = NAME_MAPPING[full];
  if (named !== undefined) return named;
  if (module === "exceptions") return `builtins.${name}`;
  const mod = Object.prototype.hasOwnProperty.call(IMPORT_MAPPING, module) ? IMPORT_MAPPING[module] : undefined;
  return mod !== undefined ? `${mod}.${name}` : full;
}

const OP_NAMES: Record<number, string> = {
  0x28: "MARK", 0x2e: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT", 0x4a: "BININT",
  0x4b: "BININT1", 0x4c: "LONG", 0x4d: "BININT2", 0x4e: "NONE", 0x50: "PERSID", 0x51: "BINPERSID", 0x52: "REDUCE",
  0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING", 0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND",
  0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT", 0x7d: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET",
  0x69: "INST", 0x6a: "LONG_BINGET", 0x6c: "LIST", 0x5d: "EMPTY_LIST", 0x6f: "OBJ", 0x70: "PUT", 0x71: "BINPUT",
  0x72: "LONG_BINPUT", 0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
  0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2", 0x87: "TUPLE3",
  0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4", 0x42: "BINBYTES", 0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8", 0x8e: "BINBYTES8", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET",
  0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

/** The opcodes this VM implements (all of protocols 0–5 but the extension registry and out-of-band buffers). */
export const SUPPORTED_OPCODES: readonly string[] = Object.entries(OP_NAMES)
  .filter(([code]) => ![0x82, 0x83, 0x84, 0x97, 0x98].includes(Number(code)))
  .map(([, name]) => name);

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function intValue(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

/** Decodes one pickle from data (from opts.offset up to its STOP). Never runs code: see the module comment. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  return new Machine(data, opts).run();
}

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

  private fail(message: string): never {
    throw new PickleError(`${this.source}: ${message} (${OP_NAMES[this.op] ?? "opcode"} at byte ${this.opStart})`);
  }

  private need(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0) this.fail(`invalid length ${n}`);
    if (this.pos + n > this.data.length) {
      throw new PickleError(
        `${this.source}: truncated pickle: it ends at byte ${this.data.length}, inside ${OP_NAMES[this.op] ?? "an opcode"} at byte ${this.opStart} (no STOP)`,
        true,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.data[this.need(1)]!;
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > MAX_SAFE) this.fail(`length ${v} is too large`);
    return Number(v);
  }
  private bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.data.slice(at, at + n);
  }
  private utf8(n: number): string {
    const at = this.need(n);
    return Buffer.from(this.data.buffer, this.data.byteOffset + at, n).toString("utf8");
  }
  /** a protocol-0 text line, without its newline */
  private line(): string {
    const start = this.pos;
    const nl = this.data.indexOf(0x0a, start);
    if (nl < 0) this.need(this.data.length - start + 1); // throws truncated
    this.pos = nl + 1;
    return Buffer.from(this.data.buffer, this.data.byteOffset + start, nl - start).toString("latin1");
  }

  private push(v: PyValue): void {
    this.stack.push(v);
  }
  private pop(): PyValue {
    if (this.stack.length === 0) this.fail("stack underflow");
    return this.stack.pop() as PyValue;
  }
  private top(): PyValue {
    if (this.stack.length === 0) this.fail("stack underflow");
    return this.stack[this.stack.length - 1] as PyValue;
  }
  private popMark(): PyValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (prev === undefined) this.fail("no MARK on the stack");
    this.stack = prev;
    return items;
  }

  private memoGet(i: number): PyValue {
    if (!this.memo.has(i)) this.fail(`memo key ${i} is not defined`);
    return this.memo.get(i) as PyValue;
  }
  private memoPut(i: number): void {
    this.memo.set(i, this.top());
  }

  private resolveGlobal(module: string, name: string): PyGlobal {
    const written = `${module}.${name}`;
    const full = this.protocol < 3 ? fixImports(module, name) : written;
    const handler = this.globals.get(full);
    if (handler === undefined) {
      throw new RefusedGlobalError(this.source, full, written, this.opts.allowListName ?? "allowed globals");
    }
    return new PyGlobal(full, handler);
  }

  private call(fn: PyValue, args: PyValue, kwargs: PyValue | undefined, asNew: boolean): PyValue {
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

  private persistent(pid: PyValue): PyValue {
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

  private py2String(raw: Uint8Array): PyValue {
    const enc = this.opts.py2StringEncoding ?? "utf8";
    if (enc === "bytes") return raw;
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString(enc);
  }

  run(): UnpickleResult {
    for (;;) {
      this.opStart = this.pos;
      this.op = 0;
      const op = this.u8();
      this.op = op;
      switch (op) {
        case 0x80: {
          // PROTO
          const p = this.u8();
          if (p > 5) this.fail(`unsupported pickle protocol ${p}`);
          this.protocol = p;
          break;
        }
        case 0x95: // FRAME: framing only groups opcodes; the data is read linearly anyway
          this.u64();
          break;
        case 0x2e: // STOP
          return { value: this.pop(), end: this.pos, protocol: this.protocol };
        case 0x28: // MARK
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case 0x30: // POP
          if (this.stack.length > 0) this.stack.pop();
          else this.popMark();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;

        // -- constants and numbers
        case 0x4e:
          this.push(null);
          break;
        case 0x88:
          this.push(true);
          break;
        case 0x89:
          this.push(false);
          break;
        case 0x4a: // BININT
          this.push(this.i32());
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.u16());
          break;
        case 0x8a: // LONG1
          this.push(this.long(this.u8()));
          break;
        case 0x8b: {
          // LONG4
          const n = this.i32();
          if (n < 0) this.fail("negative LONG4 length");
          this.push(this.long(n));
          break;
        }
        case 0x47: // BINFLOAT (big-endian double)
          this.push(this.view.getFloat64(this.need(8), false));
          break;
        case 0x49: {
          // INT (text)
          const s = this.line();
          if (s === "01") this.push(true);
          else if (s === "00") this.push(false);
          else this.push(this.parseInt(s));
          break;
        }
        case 0x4c: // LONG (text, "123L")
          this.push(this.parseInt(this.line().replace(/L$/, "")));
          break;
        case 0x46: {
          // FLOAT (text)
          const s = this.line().trim();
          const v = /^[+-]?inf$/i.test(s) ? (s.startsWith("-") ? -Infinity : Infinity) : /^[+-]?nan$/i.test(s) ? NaN : Number(s);
          if (Number.isNaN(v) && !/nan/i.test(s)) this.fail(`invalid float ${JSON.stringify(s)}`);
          this.push(v);
          break;
        }

        // -- strings and bytes
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.utf8(this.u8()));
          break;
        case 0x58: // BINUNICODE
          this.push(this.utf8(this.u32()));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.utf8(this.u64()));
          break;
        case 0x56: // UNICODE (raw-unicode-escape)
          this.push(rawUnicodeEscape(this.line()));
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.bytes(this.u8()));
          break;
        case 0x42: // BINBYTES
          this.push(this.bytes(this.u32()));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.push(this.bytes(this.u64()));
          break;
        case 0x55: // SHORT_BINSTRING (Python 2 str)
          this.push(this.py2String(this.bytes(this.u8())));
          break;
        case 0x54: {
          // BINSTRING
          const n = this.i32();
          if (n < 0) this.fail("negative BINSTRING length");
          this.push(this.py2String(this.bytes(n)));
          break;
        }
        case 0x53: // STRING (a quoted Python 2 literal)
          this.push(this.py2String(stringLiteral(this.line(), (m) => this.fail(m))));
          break;

        // -- containers
        case 0x7d: // EMPTY_DICT
          this.push(new PyDict());
          break;
        case 0x5d: // EMPTY_LIST
          this.push([]);
          break;
        case 0x29: // EMPTY_TUPLE
          this.push(makeTuple([]));
          break;
        case 0x8f: // EMPTY_SET
          this.push(new Set<PyValue>());
          break;
        case 0x85:
          this.push(makeTuple([this.pop()]));
          break;
        case 0x86: {
          const b = this.pop();
          const a = this.pop();
          this.push(makeTuple([a, b]));
          break;
        }
        case 0x87: {
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push(makeTuple([a, b, c]));
          break;
        }
        case 0x74: // TUPLE
          this.push(makeTuple(this.popMark()));
          break;
        case 0x6c: // LIST
          this.push(this.popMark());
          break;
        case 0x64: {
          // DICT
          const items = this.popMark();
          const d = new PyDict();
          this.setItems(d, items);
          this.push(d);
          break;
        }
        case 0x91: // FROZENSET
          this.push(new Set<PyValue>(this.popMark()));
          break;
        case 0x61: {
          // APPEND
          const v = this.pop();
          this.listOf(this.top()).push(v);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          const list = this.listOf(this.top());
          for (const v of items) list.push(v);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const set = this.top();
          if (!(set instanceof Set)) this.fail("ADDITEMS on a value that is not a set");
          for (const v of items) set.add(v);
          break;
        }

        // -- memo
        case 0x71: // BINPUT
          this.memoPut(this.u8());
          break;
        case 0x72: // LONG_BINPUT
          this.memoPut(this.u32());
          break;
        case 0x70: // PUT
          this.memoPut(this.parseIndex(this.line()));
          break;
        case 0x94: // MEMOIZE
          this.memoPut(this.memo.size);
          break;
        case 0x68: // BINGET
          this.push(this.memoGet(this.u8()));
          break;
        case 0x6a: // LONG_BINGET
          this.push(this.memoGet(this.u32()));
          break;
        case 0x67: // GET
          this.push(this.memoGet(this.parseIndex(this.line())));
          break;

        // -- globals and calls: only through the allow-list
        case 0x63: {
          // GLOBAL
          const module = this.line();
          const name = this.line();
          this.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== "string" || typeof name !== "string") this.fail("STACK_GLOBAL with names that are not strings");
          this.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x69: {
          // INST
          const module = this.line();
          const name = this.line();
          const cls = this.resolveGlobal(module, name);
          this.push(this.call(cls, makeTuple(this.popMark()), undefined, false));
          break;
        }
        case 0x6f: {
          // OBJ
          const items = this.popMark();
          const cls = items.shift();
          this.push(this.call(cls ?? null, makeTuple(items), undefined, false));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.pop();
          const fn = this.pop();
          this.push(this.call(fn, args, undefined, false));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args, undefined, true));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args, kwargs, true));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          const obj = this.top();
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
          break;
        }
        case 0x51: // BINPERSID
          this.push(this.persistent(this.pop()));
          break;
        case 0x50: // PERSID
          this.push(this.persistent(this.line()));
          break;

        case 0x82:
        case 0x83:
        case 0x84:
          this.fail("the pickle uses the copyreg extension registry, which is not supported");
          break;
        case 0x97:
        case 0x98:
          this.fail("the pickle uses out-of-band buffers, which are not supported");
          break;
        default:
          this.op = 0;
          this.fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, "0")} (corrupt or not a pickle)`);
      }
    }
  }

  private long(n: number): number | bigint {
    const at = this.need(n);
    if (n === 0) return 0;
    // little-endian two's complement; via one hex string, so a huge LONG4 costs linear time
    const hexDigits = Buffer.from(this.data.subarray(at, at + n)).reverse().toString("hex");
    let v = BigInt(`0x${hexDigits}`);
    if (this.data[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return intValue(v);
  }

  private parseInt(s: string): number | bigint {
    const t = s.trim();
    if (!/^[+-]?\d+$/.test(t)) this.fail(`invalid integer ${JSON.stringify(s)}`);
    return intValue(BigInt(t));
  }

  private parseIndex(s: string): number {
    const v = this.parseInt(s);
    if (typeof v !== "number" || v < 0) this.fail(`invalid memo index ${JSON.stringify(s)}`);
    return v;
  }

  private listOf(v: PyValue): PyValue[] {
    if (!Array.isArray(v) || isTuple(v)) this.fail(`appends to a value that is not a list (${describe(v)})`);
    return v;
  }

  private setItems(target: PyValue, items: PyValue[]): void {
    if (!(target instanceof Map)) this.fail(`sets items on a value that is not a dict (${describe(target)})`);
    if (items.length % 2 !== 0) this.fail("odd number of items for a dict");
    for (let i = 0; i < items.length; i += 2) target.set(items[i] as PyValue, items[i + 1] as PyValue);
  }
}

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
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) =>
    String.fromCodePoint(parseInt((u4 ?? u8)!, 16)),
  );
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
  ["builtins.bytearray", { call: (args) => (args[0] instanceof Uint8Array ? args[0].slice() : typeof args[0] === "string" ? encodeText(args[0], args[1]) : Uint8Array.from(iterableItems(args[0]) as number[])) }],
  ["builtins.bytes", { call: (args) => (args[0] instanceof Uint8Array ? args[0].slice() : typeof args[0] === "string" ? encodeText(args[0], args[1]) : Uint8Array.from(iterableItems(args[0]) as number[])) }],
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
