/**
 * The published weights `imaginet weights` knows: every detector module's `weights` (and anchor
 * list), where each publisher (or upstream ImagiNet's testing_utils/testing/setup_testing.py)
 * fetches them from; docs/weights.md says what each file is. A detector's name stands for all the
 * weights it needs.
 */
import { DETECTORS } from "../detectors/index.js";
import type { WeightsSource } from "../detectors/types.js";
import { InputError } from "../util/errors.js";

/** Weights no registered detector names yet. */
const UNREGISTERED: readonly WeightsSource[] = [
  {
    name: "univfd",
    description: "UnivFD (Ojha et al. CVPR 2023): the linear probe on CLIP ViT-L/14 features (needs clip-vit-l14)",
    url: "https://github.com/WisconsinAIVision/UniversalFakeDetect/raw/main/pretrained_weights/fc_weights.pth",
    file: "fc_weights.pth",
    homepage: "https://github.com/WisconsinAIVision/UniversalFakeDetect",
  },
  {
    name: "clip-vit-l14",
    description: "OpenAI CLIP ViT-L/14 (the image encoder UnivFD probes)",
    url: "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    file: "ViT-L-14.pt",
    homepage: "https://github.com/openai/CLIP",
    sha256: "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
  },
];

/** Every weights source `imaginet weights` knows, each once, in the registry's order. */
export function weightsCatalog(): readonly WeightsSource[] {
  const byName = new Map<string, WeightsSource>();
  for (const d of DETECTORS) for (const w of [...d.weights, ...(d.anchors ? [d.anchors.list] : [])]) byName.set(w.name, w);
  for (const w of UNREGISTERED) byName.set(w.name, w);
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
