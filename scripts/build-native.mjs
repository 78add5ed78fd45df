#!/usr/bin/env node
/**
 * Builds the libtorch addon native/build/imaginet_torch.node with g++ directly (no node-gyp, so no
 * header download). Finds libtorch in $IMAGINET_LIBTORCH (a folder with include/ and lib/: the
 * official libtorch zip, or a pip wheel's torch/ folder) or else Debian's libtorch-dev paths.
 *
 * The C++ ABI (-D_GLIBCXX_USE_CXX11_ABI) must match libtorch's: $IMAGINET_CXX11_ABI=0|1 when set,
 * else TORCH_CXX_FLAGS from libtorch's TorchConfig.cmake, else whether libc10.so exports
 * std::__cxx11 symbols (nm -D). Objects are rebuilt only when their sources or flags change.
 *
 * Usage: node scripts/build-native.mjs [--force] [--verbose] [--optional]   (env: CXX, IMAGINET_JOBS, IMAGINET_NATIVE_BUILD)
 * IMAGINET_SKIP_NATIVE=1 skips the build (inference and evaluation need no libtorch; training does).
 * --optional (the package's install script, for users of the published package): a build that cannot
 * run or fails is reported and the install goes on without the addon; the checkout's `prepare` builds
 * without it, so a missing libtorch fails there.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SRC = path.join(REPO, "native");
// IMAGINET_NATIVE_BUILD: another build folder (e.g. one per libtorch); load that addon with IMAGINET_TORCH_ADDON=FOLDER/imaginet_torch.node
const OUT = path.resolve(process.env.IMAGINET_NATIVE_BUILD || path.join(SRC, "build"));
const TARGET = path.join(OUT, "imaginet_torch.node");
const force = process.argv.includes("--force");
const verbose = process.argv.includes("--verbose");
const optional = process.argv.includes("--optional");

if (process.env.IMAGINET_SKIP_NATIVE === "1") {
  console.error("build-native: skipped (IMAGINET_SKIP_NATIVE=1); `imaginet train` and `imaginet demo` need it");
  process.exit(0);
}

function fail(msg) {
  console.error(`build-native: ${msg}`);
  if (optional) console.error("build-native: the training addon is not built; detection and evaluation work without it, `imaginet train` and `imaginet demo` need it");
  process.exit(optional ? 0 : 1);
}

function findLibtorch() {
  const root = process.env.IMAGINET_LIBTORCH;
  if (root) {
    const inc = path.join(root, "include");
    const lib = path.join(root, "lib");
    if (!existsSync(path.join(inc, "ATen", "ATen.h"))) fail(`libtorch headers not found: ${inc}/ATen/ATen.h is missing (IMAGINET_LIBTORCH=${root})`);
    if (!existsSync(path.join(lib, "libtorch_cpu.so"))) fail(`libtorch libraries not found: ${lib}/libtorch_cpu.so is missing (IMAGINET_LIBTORCH=${root})`);
    return { includes: [inc, path.join(inc, "torch", "csrc", "api", "include")], lib, cmake: path.join(root, "share", "cmake", "Torch", "TorchConfig.cmake") };
  }
  const hint = "run `bash scripts/setup.sh` (installs libtorch-dev) or set IMAGINET_LIBTORCH to a libtorch folder";
  if (!existsSync("/usr/include/ATen/ATen.h") || !existsSync("/usr/include/torch/csrc/api/include/torch/version.h")) fail(`libtorch headers not found: ${hint}`);
  const multiarch = spawnSync("gcc", ["-print-multiarch"], { encoding: "utf8" }).stdout?.trim() || "x86_64-linux-gnu";
  const lib = [path.join("/usr/lib", multiarch), "/usr/lib", "/usr/local/lib"].find((d) => existsSync(path.join(d, "libtorch_cpu.so")));
  if (!lib) fail(`libtorch libraries not found (libtorch_cpu.so): ${hint}`);
  return { includes: ["/usr/include", "/usr/include/torch/csrc/api/include"], lib, cmake: path.join(lib, "cmake", "Torch", "TorchConfig.cmake") };
}

function cxx11Abi(torch) {
  const env = process.env.IMAGINET_CXX11_ABI;
  if (env === "0" || env === "1") return { abi: env, how: "IMAGINET_CXX11_ABI" };
  if (existsSync(torch.cmake)) {
    const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(torch.cmake, "utf8"));
    if (m) return { abi: m[1], how: torch.cmake };
  }
  const nm = spawnSync("nm", ["-D", "--defined-only", path.join(torch.lib, "libc10.so")], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (nm.status === 0) return { abi: nm.stdout.includes("__cxx11") ? "1" : "0", how: "nm -D libc10.so" };
  return { abi: "1", how: "default" };
}

function nodeHeaders() {
  const cands = [process.env.IMAGINET_NODE_HEADERS, path.resolve(process.execPath, "..", "..", "include", "node"), "/usr/include/node", "/usr/local/include/node"];
  const dir = cands.find((d) => d && existsSync(path.join(d, "node_api.h")));
  if (!dir) fail("Node headers not found (node_api.h): install nodejs headers (Debian: libnode-dev) or set IMAGINET_NODE_HEADERS");
  return dir;
}

function addonApiHeaders() {
  try {
    return path.dirname(createRequire(path.join(REPO, "package.json")).resolve("node-addon-api/package.json"));
  } catch {
    return fail("node-addon-api not found: run `npm install`");
  }
}

function run(cmd, args) {
  if (verbose) console.log([cmd, ...args].join(" "));
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: "inherit" });
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} exited with ${code}`))));
  });
}

const hash = (...parts) => createHash("sha256").update(parts.join("\0")).digest("hex");

async function main() {
  const torch = findLibtorch();
  const { abi, how } = cxx11Abi(torch);
  const cuda = existsSync(path.join(torch.lib, "libtorch_cuda.so"));
  // c10d's ProcessGroupGloo.hpp (native/dist.cc) includes Gloo's headers; NCCL's process group is built where CUDA and nccl.h are
  const hasHeader = (h) => [...torch.includes, "/usr/include", "/usr/local/include"].some((d) => existsSync(path.join(d, h)));
  if (!hasHeader("gloo/context.h")) fail("Gloo headers not found (gloo/context.h, for c10d's ProcessGroupGloo): run `bash scripts/setup.sh` (installs libgloo-dev)");
  const nccl = cuda && hasHeader("nccl.h");
  const cxx = process.env.CXX || "g++";
  const cflags = [
    "-std=c++17",
    "-O2",
    "-fPIC",
    "-fvisibility=hidden",
    "-w",
    `-D_GLIBCXX_USE_CXX11_ABI=${abi}`,
    ...(nccl ? ["-DIMAGINET_NCCL"] : []),
    // /usr/include is searched already; naming it again breaks libstdc++'s #include_next
    ...[nodeHeaders(), addonApiHeaders(), ...torch.includes].filter((d) => d !== "/usr/include").flatMap((d) => ["-isystem", d]),
  ];
  // --no-as-needed keeps torch_cuda linked although no symbol of it is referenced: it registers the CUDA kernels.
  const libs = ["-ltorch", "-ltorch_cpu", "-lc10", ...(cuda ? ["-Wl,--no-as-needed", "-ltorch_cuda", "-lc10_cuda", "-Wl,--as-needed"] : [])];
  const ldflags = ["-shared", `-L${torch.lib}`, `-Wl,-rpath,${torch.lib}`];

  mkdirSync(path.join(OUT, "obj"), { recursive: true });
  const headers = readdirSync(SRC)
    .filter((f) => f.endsWith(".h"))
    .sort()
    .map((f) => readFileSync(path.join(SRC, f), "utf8"));
  const sources = readdirSync(SRC)
    .filter((f) => f.endsWith(".cc"))
    .sort();
  const jobs = Math.max(1, Number(process.env.IMAGINET_JOBS) || Math.min(os.availableParallelism(), 4));
  console.log(`build-native: libtorch ${torch.lib} (C++11 ABI ${abi} from ${how}${cuda ? ", CUDA" : ""}${nccl ? ", NCCL" : ""}), ${jobs} jobs`);

  const objects = [];
  const pending = [];
  for (const f of sources) {
    const obj = path.join(OUT, "obj", f.replace(/\.cc$/, ".o"));
    const stamp = `${obj}.stamp`;
    const key = hash(cxx, ...cflags, readFileSync(path.join(SRC, f), "utf8"), ...headers);
    objects.push(obj);
    if (force || !existsSync(obj) || !existsSync(stamp) || readFileSync(stamp, "utf8") !== key) pending.push({ f, obj, stamp, key });
  }
  const queue = [...pending];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      console.log(`build-native: compiling ${job.f}`);
      await run(cxx, [...cflags, "-c", path.join(SRC, job.f), "-o", job.obj]);
      writeFileSync(job.stamp, job.key);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));

  const linkStamp = `${TARGET}.stamp`;
  const linkKey = hash(cxx, ...ldflags, ...libs, ...objects.map((o) => readFileSync(`${o}.stamp`, "utf8")));
  if (!force && existsSync(TARGET) && existsSync(linkStamp) && readFileSync(linkStamp, "utf8") === linkKey) {
    console.log(`build-native: ${path.relative(REPO, TARGET)} is up to date`);
    return;
  }
  await run(cxx, [...ldflags, ...objects, "-o", TARGET, ...libs]);
  writeFileSync(linkStamp, linkKey);
  console.log(`build-native: built ${path.relative(REPO, TARGET)}`);
}

main().catch((err) => fail(err.message));
