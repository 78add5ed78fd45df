/**
 * ImagiNet (Boychev & Cholakov, "ImagiNet: A Multi-Content Benchmark for Synthetic Image
 * Detection"): a SelfCon-trained ResNet-50 encoder and a classifier head — the detector (nodown
 * trunk, one logit) and the identification model (strided trunk, one logit per generator group).
 */
import { imaginet, type ImagiNetConfig } from "../models/resnet.js";
import { inferResNetConfig, shapeOf } from "../models/infer.js";
import { CENTER256 } from "../image/recipes.js";
import { InputError } from "../util/errors.js";
import { IMAGENET_NORMALIZATION, type DetectorModule, type StateDict } from "./types.js";

/** Where an ImagiNet checkpoint whose encoder was trained with cross-entropy keeps that training's head. */
const CE_HEAD = "model.fc";

/**
 * Reads the trunk and the classifier head off an ImagiNet checkpoint. The trunk is nodown when
 * `nodown` says so; left open, an encoder trained with cross-entropy (the CE variant's LinResNet,
 * with its fc head) has the strided trunk and a SelfCon encoder the nodown one.
 */
export function imaginetConfig(sd: StateDict, nodown?: boolean): ImagiNetConfig {
  const trunk = inferResNetConfig(sd, "model.encoder.", nodown ?? !sd.has(`${CE_HEAD}.0.weight`));
  const hiddenW = shapeOf(sd, "classifier.1.weight");
  if (hiddenW?.length !== 2) throw new InputError("ImagiNet checkpoint: classifier.1.weight is missing or not 2-D");
  const head = sd.has("classifier.4.weight") ? "bn" : sd.has("classifier.3.weight") ? "l2norm" : undefined;
  if (!head) throw new InputError("ImagiNet checkpoint: neither classifier.4.weight (BN head) nor classifier.3.weight (L2Norm head) is present");
  const last = shapeOf(sd, head === "bn" ? "classifier.4.weight" : "classifier.3.weight")!;
  return { trunk, head, hidden: hiddenW[0]!, classes: last[0]! };
}

/** The representation's training-only parts: SelfCon's projection heads and sub-network on layer2, or the CE variant's fc head. */
export function trainingOnly(key: string): boolean {
  return ["model.head.", "model.sub_heads.", "model.encoder.selfcon_layer.", `${CE_HEAD}.`].some((p) => key.startsWith(p));
}

const COMMON = {
  reference: "Boychev & Cholakov, ImagiNet; https://github.com/delyan-boychev/imaginet",
  preprocess: { recipe: CENTER256, normalization: IMAGENET_NORMALIZATION },
  checkpoints: { min: 1, max: 1 },
  define: imaginet,
  ignorable: trainingOnly,
} as const;

export const IMAGINET: DetectorModule<ImagiNetConfig> = {
  ...COMMON,
  name: "imaginet",
  title: "ImagiNet (Ours)",
  output: "binary",
  scoreMeaning: "output logit [N,1]: the classifier's logit on the encoder's pooled features; positive = synthetic",
  weights: [
    {
      name: "imaginet",
      description: "ImagiNet (Ours): the SelfCon ResNet-50 (nodown) with its real/synthetic classifier head",
      drive: "1kI-j2J8JinyRBdemfPyPMhNRE79FlsgX",
      file: "imaginet_weights.pt",
      homepage: "https://github.com/delyan-boychev/imaginet",
    },
  ],
  configure: (sd, o) => imaginetConfig(sd, o.nodown),
};

export const IMAGINET_ID: DetectorModule<ImagiNetConfig> = {
  ...COMMON,
  name: "imaginet-id",
  title: "ImagiNet identification",
  output: "groups",
  scoreMeaning: "output logit [N,4]: one logit per generator group (GAN, SD, Midjourney, DALL·E 3); the argmax is the group",
  // upstream links this model only inside a Drive folder, with no file id to fetch it by: give --weights
  weights: [],
  configure: (sd, o) => imaginetConfig(sd, o.nodown ?? false),
};
