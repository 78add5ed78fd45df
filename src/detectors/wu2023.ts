/**
 * Wu2023 / LASTED (Wu et al., "Generalizable synthetic image detection via language-guided
 * contrastive learning"): CLIP's RN50x64 image tower at 448×448, L2-normalised feature, scored by
 * its dot product with the mean feature of real anchor images (baked into the model).
 */
import { inferClipConfig } from "../models/infer.js";
import { lasted, type ClipResNetConfig } from "../models/clip.js";
import { CENTER448 } from "../image/recipes.js";
import { UPSTREAM_ANNOTATIONS } from "../data/sources.js";
import { IMAGENET_NORMALIZATION, type DetectorModule } from "./types.js";

export interface LastedConfig {
  cfg: ClipResNetConfig;
  prefix: string;
  anchored: boolean;
}

const anchorList = UPSTREAM_ANNOTATIONS.find((a) => a.file === "lasted_anchor.txt")!;

export const WU2023: DetectorModule<LastedConfig> = {
  name: "wu2023",
  title: "Wu2023 (LASTED)",
  reference: "Wu et al., arXiv 2305.13800; https://github.com/HighwayWu/LASTED",
  output: "binary",
  scoreMeaning:
    "output logit [N,1] = feature · anchor, the cosine similarity to the real anchor images' mean feature: higher = more like the real anchors, so only a calibration (its fitted sign) makes it p(synthetic); output feature [N,1024]",
  needsCalibration: "its score is a cosine similarity to real anchor images (higher = more real), not a logit of p(synthetic)",
  preprocess: { recipe: CENTER448, normalization: IMAGENET_NORMALIZATION },
  checkpoints: { min: 1, max: 1 },
  weights: [
    {
      name: "wu2023",
      description: "Wu2023 (LASTED): CLIP RN50x64 image tower trained with language-guided contrastive learning",
      drive: "1xrBOQQfDUUQQ19TakIMwdyDtHLmGa25c",
      file: "LASTED_pretrained.pt",
      homepage: "https://github.com/HighwayWu/LASTED",
    },
  ],
  anchors: {
    list: {
      name: "wu2023-anchors",
      description: "LASTED's anchor list: the 100 real images (paths under the ImagiNet dataset root) whose mean feature Wu2023 scores against",
      url: anchorList.url,
      file: anchorList.file,
      homepage: "https://github.com/delyan-boychev/imaginet",
      ...(anchorList.sha256 ? { sha256: anchorList.sha256 } : {}),
    },
  },
  configure: (sd, o) => ({ ...inferClipConfig(sd), anchored: o.anchor !== undefined }),
  define: (ops, c) => lasted(ops, c.cfg, c.anchored, c.prefix),
  // LASTED checkpoints carry CLIP's text tower and LASTED's training head
  ignorable: (key, c) => !key.startsWith(`${c.prefix}.`),
};
