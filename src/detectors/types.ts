/**
 * The detector plug-in interface. A detector is one module (a file under src/detectors/) that says
 * everything the rest of the project needs: its architecture (written once against Ops, in
 * src/models/), how a checkpoint maps onto it, how images are prepared, what its output means, and
 * where its published weights come from. Loading, export, inference, the CLI and the report read
 * only this interface; the registry (src/detectors/index.ts) lists the modules.
 */
import type { LazyTensor } from "../checkpoint/index.js";
import type { Recipe } from "../image/recipe.js";
import type { AttentionOps } from "../models/ops.js";

export type StateDict = ReadonlyMap<string, LazyTensor>;

/** Per-channel normalisation after x/255: (x − mean)/std, in float32 steps as torchvision's ToTensor + Normalize. */
export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export const IMAGENET_NORMALIZATION: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
/** OpenAI CLIP's (clip/clip.py `_transform`) */
export const CLIP_NORMALIZATION: Normalization = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };

/** How the image reaches the model: a geometric recipe on the decoded RGB image, then normalisation. */
export interface Preprocessing {
  recipe: Recipe;
  normalization: Normalization;
}

/**
 * Published weights, fetched by `imaginet weights download NAME` into the cache. Exactly one of
 * `url` and `drive`. No upstream publishes checksums (OpenAI's CLIP URLs aside): the sha256 of the
 * first download is recorded in the cache's lock file and checked every later time.
 */
export interface WeightsSource {
  /** the name `imaginet weights` knows it by */
  name: string;
  description: string;
  url?: string;
  /** a Google Drive file id */
  drive?: string;
  /** the downloaded file's name in the cache */
  file: string;
  /** a zip: the members (paths inside it) that are the checkpoint files, in the order the detector takes them */
  members?: readonly string[];
  /** where the source is published (the paper's repository) */
  homepage: string;
  /** a checksum the publisher gives */
  sha256?: string;
}

/**
 * Weights shipped inside the package (small enough for the repository): a detector that has them
 * runs with no download and no --weights. The file is checked against its sha256 before use.
 */
export interface BundledWeights {
  /** path relative to the package root */
  file: string;
  sha256: string;
  /** p = sigmoid(a·score + b) for these weights, and the images it was fitted on (used unless --calibration is given) */
  calibration?: { a: number; b: number; fittedOn: string };
}

/** What a model's outputs mean. */
export type DetectorOutput =
  /** output "logit" [N, 1]: higher = more likely synthetic; p = sigmoid(logit) uncalibrated */
  | "binary"
  /** output "logit" [N, 4]: one logit per generator group (gan, sd, midjourney, dalle3) */
  | "groups";

export interface BuildOptions {
  /** ImagiNet's representation: stem conv and maxpool at stride 1 (the "nodown" trunk); each module has its own default */
  nodown?: boolean;
  /** an anchored detector (LASTED): the mean L2-normalised feature of the real anchor images; without it the model outputs only "feature" */
  anchor?: Float32Array;
}

export interface DetectorModule<C = unknown> {
  /** the CLI name (`--detector NAME`) */
  name: string;
  /** the name in reports and tables */
  title: string;
  /** the paper and its official code, for `docs/` and `imaginet weights list` */
  reference: string;
  output: DetectorOutput;
  /** a sentence on the score: which output, its sign, whether upstream applies a sigmoid */
  scoreMeaning: string;
  /**
   * Set, to the reason, when the raw score is no logit of p(synthetic) (e.g. higher = more real):
   * without a calibration `detect` and `serve` then give the score but no p and no verdict.
   */
  needsCalibration?: string;
  preprocess: Preprocessing;
  /**
   * Checkpoint files the model is built from, in the order the published weights give them
   * (`weights`): e.g. Corvi2022 averages two models, UnivFD is a CLIP encoder plus a linear probe.
   */
  checkpoints: { min: number; max: number };
  /** the weights sources whose files (in this order) make the detector's default model */
  weights: readonly WeightsSource[];
  /** weights shipped with imaginet: used before any download when no --weights is given */
  bundled?: BundledWeights;
  /**
   * Scores by similarity to real anchor images (LASTED): the model is built twice, the second time
   * with BuildOptions.anchor; `list` is upstream's list of anchor images (paths under a dataset root).
   */
  anchors?: { list: WeightsSource };
  /** one state dict, named as `define` names its parameters, from the checkpoint files' state dicts */
  merge?(sds: readonly StateDict[]): StateDict;
  /** reads the architecture's configuration off the (merged) state dict: key layout and inferred sizes */
  configure(sd: StateDict, opts: BuildOptions): C;
  /** the architecture, written once against Ops: one input "image" NCHW, outputs "logit" (and any others) */
  define<T>(ops: AttentionOps<T>, cfg: C): void;
  /** state-dict keys the graph does not use that may be ignored (training-only heads, other towers) */
  ignorable?(key: string, cfg: C): boolean;
}
