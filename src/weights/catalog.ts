/**
 * The published weights `imaginet weights` knows: every detector module's `weights` (and anchor
 * list), where each publisher (or upstream ImagiNet's testing_utils/testing/setup_testing.py)
 * fetches them from; docs/weights.md says what each file is. A detector's name stands for all the
 * weights it needs.
 */
import { DETECTORS } from "../detectors/index.js";
import type { WeightsSource } from "../detectors/types.js";
import { InputError } from "../util/errors.js";

/** Every weights source `imaginet weights` knows, each once, in the registry's order. */
export function weightsCatalog(): readonly WeightsSource[] {
  const byName = new Map<string, WeightsSource>();
  for (const d of DETECTORS) for (const w of [...d.weights, ...(d.anchors ? [d.anchors.list] : [])]) byName.set(w.name, w);
  return [...byName.values()];
}

/** Everything the detector of that name needs (its checkpoints and anchor list), or else the weights of that name. */
export function findWeights(name: string): WeightsSource[] {
  const d = DETECTORS.find((x) => x.name === name);
  if (d && d.weights.length > 0) return [...d.weights, ...(d.anchors ? [d.anchors.list] : [])];
  const all = weightsCatalog();
  const s = all.find((x) => x.name === name);
  if (s) return [s];
  throw new InputError(`unknown weights "${name}": expected one of ${all.map((x) => x.name).join(", ")} (see \`imaginet weights list\`)`);
}
