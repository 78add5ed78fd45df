/** Process- and thread-wide engine settings: gradient mode, seeds, threads, devices. */
import { native } from "./native.js";

/** Runs a synchronous fn with gradient recording off (torch.no_grad) and returns its result. */
export function noGrad<R>(fn: () => R): R {
  return native().noGrad(fn);
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
