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
