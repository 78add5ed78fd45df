/**
 * wild: imaginet's own detector for images from the wild, trained on wild-dev (real photographs and
 * paintings; real generators' output) with scripts/train-wild.ts, small enough to ship in the
 * repository (models/wild.safetensors). A cross-entropy ResNet with ImagiNet's classifier head: the
 * architecture of `imaginet` trained with `--method ce`. docs/models/wild.md is its model card: data,
 * recipe, leave-one-source-out results, calibration, what it is known to miss.
 */
import { imaginet, type ImagiNetConfig } from "../models/resnet.js";
import { CENTER256 } from "../image/recipes.js";
import { imaginetConfig, trainingOnly } from "./imaginet.js";
import { IMAGENET_NORMALIZATION, type DetectorModule } from "./types.js";

export const WILD: DetectorModule<ImagiNetConfig> = {
  name: "wild",
  title: "imaginet wild",
  reference: "this project: docs/models/wild.md, retrained by scripts/train-wild.ts",
  output: "binary",
  scoreMeaning: "output logit [N,1]: the classifier's logit; positive = synthetic; the shipped calibration (a held-out part of wild-dev) maps it to p",
  preprocess: { recipe: CENTER256, normalization: IMAGENET_NORMALIZATION },
  checkpoints: { min: 1, max: 1 },
  weights: [],
  // scripts/train-wild.ts prints these for the weights it writes
  bundled: {
    file: "models/wild.safetensors",
    sha256: "5ab31723ea37f5bd5b3524062ae6c5b9e90b8d15afe478b3aa08be41e72f18c6",
    calibration: { a: 2.0170220660500973, b: 0.37496834803444656, fittedOn: "124 real + 124 synthetic held-out wild-dev images" },
  },
  // trained with cross-entropy: the strided trunk
  configure: (sd) => imaginetConfig(sd, false),
  define: imaginet,
  ignorable: trainingOnly,
};
