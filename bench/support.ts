/** What the fidelity benchmarks share. */
import { readdirSync, statSync } from "node:fs";
import * as path from "node:path";

/** Every JPEG/PNG/WebP below `dir`, in a stable order. */
export function listImages(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listImages(p));
    else if (/\.(jpe?g|png|webp)$/i.test(name)) out.push(p);
  }
  return out;
}

/** The value after `--name` on the command line, or undefined. */
export function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** A numeric `--name value` option with a default. */
export function numberArg(name: string, fallback: number): number {
  const v = argValue(name);
  return v === undefined ? fallback : Number(v);
}
