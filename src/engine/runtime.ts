/** Process- and thread-wide engine settings: gradient mode, seeds, threads, devices. */
import { readFileSync } from "node:fs";
import { InputError } from "../util/errors.js";
import { native } from "./native.js";

/** Runs a synchronous fn with gradient recording off (torch.no_grad) and returns its result. */
export function noGrad<R>(fn: () => R): R {
  return native().noGrad(fn);
}

/** The precisions a forward pass can run in: fp32, or autocast to bfloat16 / float16. */
export type Precision = "fp32" | "bf16" | "fp16";

/**
 * Runs a synchronous fn under torch.autocast for the device ("cpu", "cuda", "cuda:1"): matmuls and
 * convolutions in bfloat16 / float16, reductions and losses in float32, as PyTorch's autocast lists
 * them. "fp32" runs fn as it is. CPU autocast takes bfloat16 only; fp16 there throws.
 */
export function autocast<R>(device: string, precision: Precision, fn: () => R): R {
  if (precision === "fp32") return fn();
  return native().autocast(device.startsWith("cuda") ? "cuda" : "cpu", precision === "bf16" ? "bfloat16" : "float16", fn);
}

/**
 * Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX): without it CPU autocast emulates
 * bfloat16 and is slower than float32. undefined where the CPU's flags cannot be read (not Linux).
 */
export function cpuHasBf16(): boolean | undefined {
  let info: string;
  try {
    info = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return undefined;
  }
  const flags = /^flags\s*:(.*)$/m.exec(info)?.[1]?.split(/\s+/) ?? [];
  return flags.includes("avx512_bf16") || flags.includes("amx_bf16");
}

/**
 * Refuses a precision the device cannot run well: fp16 needs CUDA (libtorch's CPU autocast is bf16
 * only), and bf16 on a CPU without AVX-512 BF16 / AMX would be emulated, slower than fp32.
 */
export function checkPrecision(device: string, precision: Precision): void {
  if (device.startsWith("cuda") || precision === "fp32") return;
  if (precision === "fp16") throw new InputError("--precision fp16 needs --device cuda: libtorch's CPU autocast runs in bf16 only");
  if (cpuHasBf16() === false) throw new InputError("--precision bf16 on this CPU: it has neither AVX-512 BF16 nor AMX, so bfloat16 would be emulated and slower than fp32; use --precision fp32");
}

export function isGradEnabled(): boolean {
  return native().isGradEnabled();
}

/** Seeds the global CPU and CUDA generators (dropout, and random tensors made without a seed). */
export function manualSeed(seed: number): void {
  native().manualSeed(seed);
}

/** Intra-op threads; libtorch's OpenMP backend applies this to the calling thread. */
export function setNumThreads(n: number): void {
  native().setNumThreads(n);
}

export function getNumThreads(): number {
  return native().getNumThreads();
}

/**
 * Returns the CPU allocator's cached blocks to the system. Freed tensors of 1 MiB or more stay
 * cached for the next tensor of that size (up to 17/16 of the peak in use), which spares a training
 * loop the page faults of fresh memory; call this when the loop is over and memory is wanted elsewhere.
 */
export function emptyCache(): void {
  native().emptyCache();
}

/**
 * TF32 tensor cores for CUDA float32 convolutions and matmuls (PyTorch's defaults: on for cuDNN
 * convolutions, off for matmuls). Off, CUDA float32 rounds as float32, within the parity bounds.
 */
export function setAllowTF32(on: boolean): void {
  native().setAllowTF32(on);
}

export function cudaAvailable(): boolean {
  return native().cudaAvailable();
}

export function cudaDeviceCount(): number {
  return native().cudaDeviceCount();
}

/** libtorch's version, e.g. "1.13.0" */
export function torchVersion(): string {
  return native().version;
}
