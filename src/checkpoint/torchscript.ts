/**
 * TorchScript archives (torch.jit.save) read as data: the state dict that
 * `torch.jit.load(f).state_dict()` gives, without compiling or running any of the archive's code.
 *
 * The archive is a torch zip like torch.save's (<top>/data.pkl, storages <top>/data/<key>), plus
 * <top>/code/**.py (the classes' TorchScript source), constants.pkl with constants/<key> (tensor
 * constants of the code: not module state) and version. data.pkl pickles the root module as an
 * object of its class "__torch__.<qualifier>.<Name>" (GLOBAL, EMPTY_TUPLE, NEWOBJ, then BUILD with
 * the dict of all its attributes: parameters, buffers, submodules, ints, `training` …).
 *
 * Which attributes are parameters and buffers the pickle does not say; the class source does. The
 * printer (torch/csrc/jit/serialization/python_print.cpp) writes each module class as
 * `class Name(Module):` whose body starts with `__parameters__ = ["a", "b", ]` and, since
 * pytorch#37905 (2020), `__buffers__ = [...]`; the importer (import_source.cpp) marks exactly those
 * attributes. A forward-compatibility gate on writing `__buffers__` went only in pytorch#49990
 * (January 2021), so archives of PyTorch ≤ 1.7 may lack it; then the rule of the loaders of that
 * time applies (BufferPolicy in torch/csrc/jit/api/module.h before pytorch#49588): every attribute
 * declared `name : Tensor` (or `__annotations__["name"] = Tensor`) that is not a parameter is a
 * buffer. Only these lines of each class body are read, as text; nothing is compiled or run.
 */
import { InputError } from "../util/errors.js";
import { PyObject, type GlobalHandler, type PyValue } from "./pickle.js";
import { LazyTensor } from "./tensor.js";

/** A class the archive's code/ defines: a module with its parameter and buffer names, or a plain TorchScript class. */
export interface ScriptClass {
  /** "__torch__.<qualifier>.<Name>", as data.pkl names it */
  readonly qualname: string;
  /** the code/ entry that defines it */
  readonly entry: string;
  readonly isModule: boolean;
  readonly parameters: readonly string[];
  readonly buffers: readonly string[];
}

/** An instance of a TorchScript class in data.pkl: its attributes, inert. */
export class ScriptObject extends PyObject {
  constructor(readonly scriptClass: ScriptClass) {
    super(scriptClass.qualname);
  }
}

const CLASS_LINE = /^class ([A-Za-z_]\w*)(?:\(([A-Za-z_]\w*)\))?:\s*$/;
const NAME_LIST_LINE = /^__(parameters|buffers)__ = \[(.*)\]\s*$/;
const NAME_LIST = /^(?:"[^"\\]*", )*$/;
const TENSOR_ATTRIBUTE_LINE = /^(?:([A-Za-z_]\w*) : Tensor|__annotations__\["([^"\\]*)"\] = Tensor)\s*$/;

interface ClassDraft {
  name: string;
  base: string | undefined;
  line: number;
  bodyIndent?: string;
  parameters?: string[];
  buffers?: string[];
  tensorAttributes: string[];
}

/**
 * The classes that code/ defines, by qualified name. `sources` maps each code/ entry (relative to
 * the archive's top folder, "code/__torch__/foo.py") to its text. NamedTuples, interfaces and enums
 * are left out, so data.pkl cannot instantiate them.
 */
export function parseScriptClasses(file: string, sources: ReadonlyMap<string, string>): Map<string, ScriptClass> {
  const classes = new Map<string, ScriptClass>();
  for (const [entry, text] of sources) {
    const qualifier = entry.slice("code/".length, -".py".length).split("/").join(".");
    if (qualifier !== "__torch__" && !qualifier.startsWith("__torch__.")) continue; // TorchScript names all its classes under __torch__
    const where = (line: number) => `${file}: ${entry}, line ${line}`;
    let draft: ClassDraft | undefined;
    const finish = (): void => {
      if (draft === undefined || (draft.base !== undefined && draft.base !== "Module")) return;
      const qualname = `${qualifier}.${draft.name}`;
      if (classes.has(qualname)) throw new InputError(`${where(draft.line)}: class ${draft.name} is defined twice`);
      const isModule = draft.base === "Module";
      if (isModule && draft.parameters === undefined) throw new InputError(`${where(draft.line)}: module class ${draft.name} does not list its __parameters__`);
      const parameters = draft.parameters ?? [];
      const buffers = draft.buffers ?? (isModule ? draft.tensorAttributes.filter((a) => !parameters.includes(a)) : []);
      classes.set(qualname, { qualname, entry, isModule, parameters, buffers });
    };
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.replace(/\r$/, "");
      if (line.trim() === "") continue;
      const indent = /^[ \t]*/.exec(line)![0];
      if (indent === "") {
        finish();
        const m = CLASS_LINE.exec(line);
        draft = m ? { name: m[1]!, base: m[2], line: i + 1, tensorAttributes: [] } : undefined; // else a def, an import or op_version_set
        continue;
      }
      if (draft === undefined) continue;
      draft.bodyIndent ??= indent;
      if (indent !== draft.bodyIndent) continue; // inside a method
      const statement = line.slice(indent.length);
      const attribute = TENSOR_ATTRIBUTE_LINE.exec(statement);
      if (attribute !== null) draft.tensorAttributes.push((attribute[1] ?? attribute[2])!);
      const m = NAME_LIST_LINE.exec(statement);
      if (m === null) continue;
      const [, kind, list] = m as unknown as [string, "parameters" | "buffers", string];
      if (!NAME_LIST.test(list)) throw new InputError(`${where(i + 1)}: __${kind}__ is not a list of quoted names`);
      if (draft[kind] !== undefined) throw new InputError(`${where(i + 1)}: __${kind}__ is given twice in class ${draft.name}`);
      draft[kind] = [...list.matchAll(/"([^"]*)", /g)].map((x) => x[1]!);
    }
    finish();
  }
  return classes;
}

function listArgument(args: readonly PyValue[]): PyValue[] {
  if (!Array.isArray(args[0])) throw new TypeError("expects a list");
  return [...(args[0] as PyValue[])];
}

/**
 * The allow-list entries a TorchScript data.pkl needs beyond torch.save's: one stand-in per class
 * from code/ (NEWOBJ makes an inert ScriptObject, BUILD fills its attributes), and the helpers the
 * TorchScript pickler (pickler.cpp) wraps typed lists and dicts in, which return their argument.
 */
export function torchScriptGlobals(classes: ReadonlyMap<string, ScriptClass>): Map<string, GlobalHandler> {
  const m = new Map<string, GlobalHandler>();
  for (const cls of classes.values()) {
    m.set(cls.qualname, {
      newObj(args) {
        if (args.length !== 0) throw new TypeError("expects no arguments");
        return new ScriptObject(cls);
      },
    });
  }
  for (const name of ["build_intlist", "build_doublelist", "build_boollist", "build_tensorlist"]) m.set(`torch.jit._pickle.${name}`, { call: listArgument });
  m.set("torch.jit._pickle.restore_type_tag", { call: (args) => args[0] ?? null });
  return m;
}

/**
 * Module.state_dict() of the pickled root module: each module's parameters (in __parameters__
 * order), then its buffers, then its submodules' entries under "<attribute>.", recursively. None
 * parameters are left out, as torch does; tensors in other attributes are not state. Errors start
 * with `file` when given.
 */
export function moduleStateDict(root: ScriptObject, file?: string): Map<string, LazyTensor> {
  const source = file === undefined ? "" : `${file}: `;
  if (!root.scriptClass.isModule) throw new InputError(`${source}data.pkl holds a ${root.pyClass}, which is not a module`);
  const out = new Map<string, LazyTensor>();
  const visit = (obj: ScriptObject, prefix: string, ancestors: Set<ScriptObject>): void => {
    const cls = obj.scriptClass;
    const at = `${source}the module ${prefix === "" ? "at the root" : prefix.slice(0, -1)} (${cls.qualname})`;
    if (obj.state !== undefined) throw new InputError(`${at} is pickled through __getstate__, not as attributes: not supported`);
    for (const [kind, names] of [
      ["parameter", cls.parameters],
      ["buffer", cls.buffers],
    ] as const) {
      for (const name of names) {
        if (!obj.attrs.has(name)) throw new InputError(`${at} declares the ${kind} ${name} in ${cls.entry}, but data.pkl gives it no value`);
        const v = obj.attrs.get(name);
        if (v === null) continue;
        if (!(v instanceof LazyTensor)) throw new InputError(`${at}: the ${kind} ${name} is not a tensor`);
        out.set(`${prefix}${name}`, v);
      }
    }
    for (const [name, v] of obj.attrs) {
      if (!(v instanceof ScriptObject) || !v.scriptClass.isModule) continue;
      if (ancestors.has(v)) throw new InputError(`${at}: the submodule ${name} contains itself`);
      visit(v, `${prefix}${name}.`, new Set([...ancestors, v]));
    }
  };
  visit(root, "", new Set([root]));
  return out;
}
