/**
 * NPR (Tan et al., CVPR 2024): neighbouring-pixel residuals through a truncated ResNet-50, one logit.
 * Upstream facts (chuangchuangtan/NPR-DeepfakeDetection) are in docs/detectors/npr.md.
 */
import { CENTER256 } from "../image/recipes.js";
import { findTrunkPrefix, shapeOf } from "../models/infer.js";
import { npr, type NprConfig } from "../models/npr.js";
import { InputError } from "../util/errors.js";
import { IMAGENET_NORMALIZATION, type DetectorModule, type StateDict } from "./types.js";

export interface NprModuleConfig {
  npr: NprConfig;
  /** "" or the prefix the checkpoint's keys carry ("module", "model", …) */
  prefix: string;
}

/** Blocks in layerN under the prefix (0 when the stage is absent). */
function blocks(sd: StateDict, prefix: string, stage: number): number {
  const head = `${prefix}layer${stage}.`;
  let n = 0;
  for (const k of sd.keys()) {
    if (!k.startsWith(head)) continue;
    const b = Number.parseInt(k.slice(head.length), 10);
    if (Number.isInteger(b)) n = Math.max(n, b + 1);
  }
  return n;
}

export function configureNpr(sd: StateDict): NprModuleConfig {
  const p = findTrunkPrefix(sd, "fc1.weight", "not an NPR checkpoint");
  const stem = shapeOf(sd, `${p}conv1.weight`)!;
  if (stem.length !== 4 || stem[1] !== 3 || stem[2] !== 3 || stem[3] !== 3) {
    throw new InputError(`${p}conv1.weight: shape [${stem.join(", ")}], NPR's stem is [64·width, 3, 3, 3]`);
  }
  const layers = [blocks(sd, p, 1), blocks(sd, p, 2)] as const;
  if (layers.includes(0)) throw new InputError(`NPR checkpoint: blocks per stage [${layers.join(", ")}]: layer1 and layer2 are both needed`);
  if (blocks(sd, p, 3) > 0) throw new InputError(`NPR checkpoint: ${p}layer3 is present; NPR stops after layer2 (is this a full ResNet?)`);
  return { npr: { layers, width: stem[0]! / 64 }, prefix: p.replace(/\.$/, "") };
}

export const NPR: DetectorModule<NprModuleConfig> = {
  name: "npr",
  title: "NPR",
  reference: "Tan et al., Rethinking the Up-Sampling Operations in CNN-based Generative Network for Generalizable Deepfake Detection, CVPR 2024; github.com/chuangchuangtan/NPR-DeepfakeDetection",
  output: "binary",
  scoreMeaning: "output logit [N, 1] (fc1); upstream applies a sigmoid and calls sigmoid(logit) > 0.5 synthetic",
  // upstream tests ImagiNet-sized (256×256) images unchanged (Resize((256, 256)) is then the identity);
  // other sizes are centre-cropped to 256, not resized, which would smear the up-sampling traces NPR reads
  preprocess: { recipe: CENTER256, normalization: IMAGENET_NORMALIZATION },
  checkpoints: { min: 1, max: 1 },
  weights: [
    {
      name: "npr",
      description: "NPR's published model (ResNet-50 truncated after layer2, on the neighbouring-pixel residual), trained on ProGAN (4 classes)",
      url: "https://github.com/chuangchuangtan/NPR-DeepfakeDetection/raw/main/NPR.pth",
      file: "NPR.pth",
      homepage: "https://github.com/chuangchuangtan/NPR-DeepfakeDetection",
    },
  ],
  configure: (sd) => configureNpr(sd),
  define: (ops, cfg) => npr(ops, cfg.npr, cfg.prefix),
  // num_batches_tracked; networks/trainer.py's `fc` (Linear(2048, 1)), trained along but never used by forward
  ignorable: (key, cfg) => {
    const p = cfg.prefix === "" ? "" : `${cfg.prefix}.`;
    return key.endsWith("num_batches_tracked") || key === `${p}fc.weight` || key === `${p}fc.bias`;
  },
};
