/**
 * Grag2021 (Gragnaniello et al., ICME 2021, "Are GAN generated images easy to detect? A critical
 * analysis of the state-of-the-art"): the nodown ResNet-50, global average pool, fc 2048→1.
 * Checkpoint `{'model': torchvision-style keys}`.
 */
import { grag2021 } from "../models/resnet.js";
import { findTrunkPrefix, inferResNetConfig } from "../models/infer.js";
import type { ResNetConfig } from "../models/resnet.js";
import { CENTER256 } from "../image/recipes.js";
import { IMAGENET_NORMALIZATION, type DetectorModule, type StateDict } from "./types.js";

export interface TrunkAt {
  trunk: ResNetConfig;
  /** the key prefix the trunk sits under, without the trailing dot ("" or e.g. "model") */
  prefix: string;
}

/** A torchvision-style trunk found in a state dict, wherever it sits. */
export function trunkAt(sd: StateDict, nodown: boolean): TrunkAt {
  const prefix = findTrunkPrefix(sd);
  return { trunk: inferResNetConfig(sd, prefix, nodown), prefix: prefix.replace(/\.$/, "") };
}

export const GRAG2021: DetectorModule<TrunkAt> = {
  name: "grag2021",
  title: "Grag2021",
  reference: "Gragnaniello et al., ICME 2021; https://github.com/grip-unina/GANimageDetection",
  output: "binary",
  scoreMeaning: "output logit [N,1]: fc on the globally pooled features; positive = synthetic",
  preprocess: { recipe: CENTER256, normalization: IMAGENET_NORMALIZATION },
  checkpoints: { min: 1, max: 1 },
  weights: [
    {
      name: "grag2021",
      description: "Grag2021: ResNet-50 nodown trained on StyleGAN2 images (GRIP)",
      url: "https://www.grip.unina.it/download/prog/GANdetection/weights/gandetection_resnet50nodown_stylegan2.pth",
      file: "gandetection_resnet50nodown_stylegan2.pth",
      homepage: "https://github.com/grip-unina/GANimageDetection",
    },
  ],
  configure: (sd, o) => trunkAt(sd, o.nodown ?? true),
  define: (ops, c) => grag2021(ops, c.trunk, c.prefix),
};
