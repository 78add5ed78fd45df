/**
 * The CLI contract, for every command of the program definition (a command added without a case
 * here fails the first test): numeric options reject what is not their kind of number, naming the
 * option; a missing required option or argument is a usage error; exit codes 0 / 1 / 2 come from
 * error types; under --json an error is one `{"error": …}` line on stderr. Parsing is checked in
 * process (cheap); each command also runs once as a real process (--json, a failing run).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { CommanderError, type Command } from "commander";
import { exitCodeOf, reportError } from "../src/cli/common.js";
import { buildProgram, leafCommands } from "../src/cli/program.js";
import { cliAsync, REPO, tmpDir } from "./helpers.js";

const dir = tmpDir();
const ann = path.join(dir, "ann.txt");
writeFileSync(ann, "./missing.png,0,0,4,8\n"); // well-formed, its image is missing
const malformed = path.join(dir, "malformed.txt");
writeFileSync(malformed, "./a.png,0,0,4,8\n./b.png,0,0\n");
const badLabels = path.join(dir, "labels.csv");
writeFileSync(badLabels, `path,origin,content,group,generator,sha256,tiles\n"a.png,1,1,1,x,${"0".repeat(64)},tiles=1x1\n`); // an unterminated quote
const aFile = path.join(dir, "a-file");
writeFileSync(aFile, "");
const nowhere = path.join(dir, "nowhere");
const noAddon = { IMAGINET_TORCH_ADDON: path.join(dir, "missing.node") };

interface Case {
  /** required arguments and options, so that a run gets past parsing */
  required: string[];
  /** a run that fails, with --json: its exit code and what the message says */
  fails: { args: string[]; code: number; message: RegExp; file?: string; line?: number; env?: NodeJS.ProcessEnv; writesNothing?: string };
}

const CASES: Record<string, Case> = {
  "dataset sources": { required: [], fails: { args: ["extra"], code: 2, message: /too many arguments/ } },
  "dataset verify": { required: ["--root", dir], fails: { args: ["--root", nowhere], code: 2, message: /no annotation files given and none of train_annotations\.txt/ } },
  "dataset verify-merge": { required: [aFile], fails: { args: [aFile], code: 2, message: /a-file: not JSON/ } },
  "dataset prune": { required: ["--root", dir], fails: { args: ["--root", dir, malformed], code: 2, message: /malformed\.txt:2: malformed line/, file: malformed, line: 2 } },
  "dataset download": { required: ["--root", dir], fails: { args: ["nope", "--root", dir], code: 2, message: /unknown source "nope"/ } },
  "dataset inspect": { required: [ann], fails: { args: [malformed], code: 2, message: /malformed\.txt:2: malformed line/, file: malformed, line: 2 } },
  "dataset example": { required: ["--out", nowhere], fails: { args: ["--out", path.join(aFile, "x")], code: 2, message: /ENOTDIR/ } },
  "dataset import": {
    required: [badLabels, "--out", nowhere],
    fails: { args: [badLabels, "--out", nowhere], code: 2, message: /labels\.csv:2: unterminated quoted field/, file: badLabels, line: 2, writesNothing: nowhere },
  },
  "testset build": {
    required: ["--root", dir, "--out", nowhere],
    fails: { args: ["--root", dir, "--out", nowhere], code: 2, message: /test_annotations_gan\.txt, .* not found/, writesNothing: nowhere },
  },
  "testset merge": { required: [dir, "--out", nowhere], fails: { args: [dir, "--out", nowhere], code: 2, message: /not a test-set shard \(no testset\.json/, writesNothing: nowhere } },
  "testset audit": { required: [dir], fails: { args: [nowhere], code: 2, message: /not found in/ } },
  "testset recipe": { required: [], fails: { args: ["nope"], code: 2, message: /unknown recipe "nope"/ } },
  "eval import": {
    required: [ann, "--scores", aFile, "--name", "x", "--out", nowhere],
    fails: { args: [ann, "--scores", aFile, "--name", "x", "--out", nowhere], code: 2, message: /a-file:1: expected a header/, writesNothing: nowhere },
  },
  "eval detect": {
    required: [ann, "--root", dir, "--out", nowhere, "--detector", "grag2021", "--weights", aFile],
    fails: { args: [malformed, "--root", dir, "--out", nowhere, "--detector", "grag2021", "--weights", aFile], code: 2, message: /malformed line/, file: malformed, line: 2, writesNothing: nowhere },
  },
  "eval merge": {
    required: [dir, "--out", nowhere],
    fails: { args: [dir, "--out", nowhere], code: 2, message: /not a shard of `eval detect --shard K\/N` \(no shard\.json\)/, writesNothing: nowhere },
  },
  "eval run": { required: [dir], fails: { args: [nowhere], code: 2, message: /not a run directory/ } },
  "eval loso": {
    required: [ann, "--root", dir, "--sources", aFile, "--out", nowhere, "--represent", "--epochs 1"],
    fails: {
      args: [ann, "--root", dir, "--sources", aFile, "--out", nowhere, "--represent", "--epochs 1"],
      code: 2,
      message: /a-file:1: expected the header path,source,generator,group,content/,
      writesNothing: nowhere,
    },
  },
  report: { required: [dir, "--out", nowhere], fails: { args: [nowhere, "--out", path.join(dir, "report")], code: 2, message: /not a run directory/, writesNothing: path.join(dir, "report") } },
  detect: { required: [aFile, "--detector", "grag2021", "--weights", aFile], fails: { args: [aFile, "--detector", "nope", "--weights", aFile], code: 2, message: /unknown detector "nope"/ } },
  convert: {
    required: ["--detector", "grag2021", "--weights", aFile, "--out", nowhere],
    fails: { args: ["--detector", "grag2021", "--weights", "m.onnx", "-o", nowhere], code: 2, message: /not \.onnx/, writesNothing: nowhere },
  },
  calibrate: {
    required: [ann, "--root", dir, "--detector", "grag2021", "--weights", aFile, "--out", nowhere],
    fails: { args: [ann, "--root", dir, "--detector", "imaginet-id", "--weights", aFile, "-o", nowhere], code: 2, message: /identifies generators/, writesNothing: nowhere },
  },
  "train represent": {
    required: [ann, "--root", dir, "--out", nowhere],
    fails: { args: [ann, "--root", dir, "--out", nowhere], env: noAddon, code: 2, message: /libtorch engine .* does not load/, writesNothing: nowhere },
  },
  "train classifier": {
    required: [ann, "--root", dir, "--out", nowhere, "--encoder", aFile],
    fails: { args: [ann, "--root", dir, "--out", nowhere, "--encoder", aFile], env: noAddon, code: 2, message: /libtorch engine .* does not load/, writesNothing: nowhere },
  },
  demo: { required: [], fails: { args: ["--fast", "--out", nowhere], env: noAddon, code: 2, message: /libtorch engine .* does not load/, writesNothing: nowhere } },
  "weights list": { required: [], fails: { args: ["extra"], code: 2, message: /too many arguments/ } },
  "weights download": { required: ["grag2021"], fails: { args: ["nope", "--cache", nowhere], code: 2, message: /unknown weights "nope"/, writesNothing: nowhere } },
  "weights verify": { required: [], fails: { args: ["nope", "--cache", nowhere], code: 2, message: /unknown weights "nope"/ } },
  "weights path": {
    required: ["grag2021"],
    fails: { args: ["grag2021", "--cache", nowhere], code: 2, message: /"grag2021" are not downloaded .*: run `imaginet weights download grag2021`/, writesNothing: nowhere },
  },
  serve: { required: ["--detector", "grag2021", "--weights", aFile], fails: { args: ["--detector", "nope", "--port", "0"], code: 2, message: /unknown detector "nope"/ } },
  "weights remove": { required: ["grag2021"], fails: { args: ["nope", "--cache", nowhere], code: 2, message: /unknown weights "nope"/, writesNothing: nowhere } },
};

/** The program, silent, for parsing in this process. */
function quietProgram(): Command {
  const program = buildProgram();
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const c of all(program)) c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  return program;
}

/** What parsing these words throws (every case here is meant to fail before a command body runs). */
async function parseError(words: string[]): Promise<CommanderError> {
  try {
    await quietProgram().parseAsync(words, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) return err;
    throw err;
  }
  throw new Error(`${words.join(" ")}: parsed without an error`);
}

function commandOf(words: string[]): Command {
  return words.reduce<Command>((c, w) => c.commands.find((x) => x.name() === w)!, buildProgram());
}

const NUMERIC = /<(n|x)>$/;

describe("CLI contract", () => {
  const commands = leafCommands(buildProgram());

  test("every command of the program has a case", () => {
    assert.deepEqual(commands.map((w) => w.join(" ")).sort(), Object.keys(CASES).sort());
  });

  test("every numeric option rejects a word, a negative, a fraction where it counts, infinity: usage error naming the option", async () => {
    for (const words of commands) {
      for (const o of commandOf(words).options.filter((o) => NUMERIC.test(o.flags))) {
        const name = o.long!;
        const integer = !/^--(lr|width|temperature|target-fpr)$/.test(name);
        for (const bad of ["abc", "-5", "Infinity", "", ...(integer ? ["2.7"] : [])]) {
          const err = await parseError([...words, name, bad]);
          assert.equal(err.code, "commander.invalidArgument", `${words.join(" ")} ${name} ${bad}`);
          assert.equal(exitCodeOf(err), 2);
          assert.match(err.message, new RegExp(`${name} (must be|expects) .*, got "${bad}"`), `${words.join(" ")} ${name} ${bad}`);
        }
      }
    }
  });

  test("a missing required option or argument is a usage error (exit 2) naming it", async () => {
    for (const words of commands) {
      const cmd = commandOf(words);
      const required = [...cmd.options.filter((o) => o.mandatory).map((o) => o.long!), ...cmd.registeredArguments.filter((a) => a.required).map((a) => a.name())];
      for (const missing of required) {
        const args = CASES[words.join(" ")]!.required;
        // without the option and its value, or without the positionals (they come first)
        const at = args.findIndex((a) => a === missing || (missing === "--out" && a === "-o"));
        const without = missing.startsWith("--") ? [...args.slice(0, at), ...args.slice(at + 2)] : args.filter((_, i) => args.slice(0, i + 1).some((a) => a.startsWith("-")));
        assert.ok(!missing.startsWith("--") || at >= 0, `${words.join(" ")}: the case's required words lack ${missing}`);
        const err = await parseError([...words, ...without]);
        assert.equal(exitCodeOf(err), 2, `${words.join(" ")} without ${missing}`);
        assert.match(
          err.message,
          missing.startsWith("--") ? new RegExp(`required option '(-o, )?${missing} `) : new RegExp(`missing required argument '${missing}'`),
          `${words.join(" ")} without ${missing}`,
        );
      }
    }
  });

  test("help marks required options and states defaults one way", () => {
    const help = commandOf(["eval", "detect"]).helpInformation().replace(/\s+/g, " ");
    assert.match(help, /--root <dir> +folder the annotation paths are relative to \(e\.g\. the built test set\) \(required\)/);
    assert.match(help, /--workers <n> +worker threads decoding and preprocessing images \(default: half the cores\)/);
    assert.match(help, /--anchor-root <dir> +folder the --anchors paths are relative to \(default: --root\)/);
  });

  test("each command run with --json: a failing run prints one {error} line on stderr, exit code by error type, writes nothing", async () => {
    const run = async (words: string[]) => {
      const c = CASES[words.join(" ")]!.fails;
      const r = await cliAsync([...words, ...c.args, "--json"], c.env ? { env: c.env } : {});
      const label = `${words.join(" ")}: ${r.stderr}`;
      assert.equal(r.code, c.code, label);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, label);
      const { error } = JSON.parse(lines[0]!) as { error: { message: string; exitCode: number; file?: string; line?: number } };
      assert.equal(error.exitCode, c.code, label);
      assert.match(error.message, c.message, label);
      assert.doesNotMatch(error.message, /internal error/, label);
      assert.equal(error.file, c.file, label);
      assert.equal(error.line, c.line, label);
      if (c.writesNothing) assert.equal(existsSync(c.writesNothing), false, `${words.join(" ")} wrote ${c.writesNothing}`);
    };
    await pool(commands, 2, run);
  });

  test("exit 1: the command ran and found problems; text errors and usage errors without --json", async () => {
    const [verify, badNumber, missing, pipe] = await Promise.all([
      cliAsync(["dataset", "verify", "--root", dir, ann, "--json"]),
      cliAsync(["eval", "run", dir, "--bootstrap", "-5"]),
      cliAsync(["convert", "--weights", aFile, "-o", path.join(dir, "x.onnx")]),
      closedStdout(["dataset", "sources", "--json"]),
    ]);
    assert.equal(verify.code, 1, verify.stderr);
    assert.equal(JSON.parse(verify.stdout).ok, false);
    assert.equal(badNumber.code, 2);
    assert.match(badNumber.stderr, /^error: option '--bootstrap <n>' argument '-5' is invalid\. --bootstrap must be a non-negative integer, got "-5"\n/);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: required option '--detector <name>' not specified\n/);
    // `imaginet … | head -1`: the reader is gone; the command ends quietly
    assert.deepEqual(pipe, { code: 0, stderr: "" });
  });

  test("an unexpected error is an internal error: exit 1, a hint to set IMAGINET_DEBUG", () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => written.push(s) > 0) as typeof process.stderr.write;
    try {
      assert.equal(reportError(new TypeError("x is undefined"), false), 1);
      assert.equal(reportError(Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" }), true), 1);
      assert.equal(reportError(Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: "ENOENT" }), false), 2);
    } finally {
      process.stderr.write = write;
    }
    assert.deepEqual(written, [
      "imaginet: error: internal error: x is undefined (set IMAGINET_DEBUG=1 to print the stack trace)\n",
      `${JSON.stringify({ error: { message: "internal error: EIO: i/o error, read (set IMAGINET_DEBUG=1 to print the stack trace)", exitCode: 1 } })}\n`,
      "imaginet: error: ENOENT: no such file or directory, open 'x'\n",
    ]);
  });
});

/** Runs `fn` over the items, `n` at a time. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** The CLI with its stdout closed before it writes (a pipe into `head` that has already exited). */
function closedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "src/cli/main.ts"), ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}
