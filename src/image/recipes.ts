/** Upstream's augmentation recipes (ImagiNet `training_utils/datasets.py`, `testing_utils/eval_model_detection_*.py`) as data. */
import type { Recipe, Step } from "./recipe.js";
import { InputError } from "../util/errors.js";

const jpeg = (lo: number, hi: number): Step => ({ op: "compress", codec: "jpeg", quality: [lo, hi], swapRB: true });
const webp = (lo: number, hi: number): Step => ({ op: "compress", codec: "webp", quality: [lo, hi], swapRB: true });
const rotAndFlip: Step[] = [
  { op: "maybe", p: 0.33, steps: [{ op: "rot90" }] },
  { op: "maybe", p: 0.33, steps: [{ op: "flip" }] },
];

/** The test set's compression: with p=0.75, JPEG or WebP at q in [60, 100]. */
export const TESTSET_COMPRESSION: Step = { op: "one_of", p: 0.75, steps: [jpeg(60, 100), webp(60, 100)] };

/** `save_testset.py` (ImagiNet with test_aug=True): the perturbed test set. */
export const TESTSET: Recipe = {
  name: "testset",
  description: "random square crop of side h in [256, min(short side, 1000)] (reflect-pad if smaller), Lanczos-4 resize to 256, then with p=0.75 JPEG or WebP at q in [60, 100]",
  steps: [{ op: "random_square_crop", min: 256, max: 1000 }, { op: "resize", size: 256, interpolation: "lanczos4" }, TESTSET_COMPRESSION],
};

/** ImagiNet(train=True): the training augmentation (the 96×96 crop of training happens after it, in the loader). */
export const TRAIN: Recipe = {
  name: "train",
  description: "reflect-pad to 256, random 256 crop, with p=0.5 one of (JPEG or WebP q 50-95, Gaussian blur k 3-7, Gaussian noise var 3-10), rot90 p=0.33, flip p=0.33",
  steps: [
    { op: "pad_if_needed", size: 256 },
    { op: "random_crop", size: 256 },
    {
      op: "one_of",
      p: 0.5,
      steps: [
        { op: "one_of", p: 1, steps: [jpeg(50, 95), webp(50, 95)] },
        { op: "gaussian_blur", ksize: [3, 7] },
        { op: "gaussian_noise", variance: [3, 10] },
      ],
    },
    ...rotAndFlip,
  ],
};

/** ImagiNet_Calibration(train=True): the augmentation of the calibration (linear) stage. */
export const CALIBRATION: Recipe = {
  name: "calibration",
  description: "reflect-pad to 256, random 256 crop, with p=0.5 one of (JPEG q 50-95, Gaussian blur k 3-7, Gaussian noise var 3-10, greyscale), rot90 p=0.33, flip p=0.33",
  steps: [
    { op: "pad_if_needed", size: 256 },
    { op: "random_crop", size: 256 },
    {
      op: "one_of",
      p: 0.5,
      steps: [jpeg(50, 95), { op: "gaussian_blur", ksize: [3, 7] }, { op: "gaussian_noise", variance: [3, 10] }, { op: "to_gray" }],
    },
    ...rotAndFlip,
  ],
};

/** Evaluation without perturbation: reflect-pad to 256 and centre crop (ImagiNet's default test transform). */
export const CENTER256: Recipe = {
  name: "center256",
  description: "reflect-pad to 256, centre crop 256",
  steps: [
    { op: "pad_if_needed", size: 256 },
    { op: "center_crop", size: 256 },
  ],
};

/** LASTED's test transform (`LASTED_Load`): PadIfNeeded 448 (reflect-101) + CenterCrop 448; also the Practical set's. */
export const CENTER448: Recipe = {
  name: "center448",
  description: "reflect-pad to 448, centre crop 448",
  steps: [
    { op: "pad_if_needed", size: 448 },
    { op: "center_crop", size: 448 },
  ],
};

/**
 * UnivFD's test transform (`validate.py`: CenterCrop(224), no resize): the centre 224×224 of
 * larger images; a smaller side is zero-padded (black before normalisation), as torchvision does.
 */
export const CENTER224_TORCHVISION: Recipe = {
  name: "center224-torchvision",
  description: "torchvision CenterCrop 224: centre crop, zero-padding a side shorter than 224",
  steps: [{ op: "torchvision_center_crop", size: 224 }],
};

/**
 * `eval_model_detection_jpeg.py`: JPEG at q = 40, 45, …, 100 on a 256 centre crop. Upstream leaves
 * ImageCompression at albumentations' default p=0.5, so only about half its images were compressed;
 * pass `p = 0.5` to reproduce that, the default compresses every image.
 */
export function jpegSweep(p = 1): { severity: number; recipe: Recipe }[] {
  const out: { severity: number; recipe: Recipe }[] = [];
  for (let q = 40; q <= 100; q += 5) {
    out.push({
      severity: q,
      recipe: {
        name: `jpeg-q${q}`,
        description: `centre crop 256, JPEG q=${q}${p < 1 ? ` with p=${p}` : ""}`,
        steps: [...CENTER256.steps, { op: "maybe", p, steps: [jpeg(q, q)] }],
      },
    });
  }
  return out;
}

/** `eval_model_detection_resize.py`: centre crop of side int(256·12/i), i = 2…12, Lanczos-4 to 256; severity = 12/i. */
export function resizeSweep(): { severity: number; recipe: Recipe }[] {
  const out: { severity: number; recipe: Recipe }[] = [];
  for (let i = 2; i <= 12; i++) {
    const side = Math.floor((256 * 12) / i);
    out.push({
      severity: 12 / i,
      recipe: {
        name: `resize-${side}`,
        description: `reflect-pad to ${side}, centre crop ${side}, Lanczos-4 to 256`,
        steps: [
          { op: "pad_if_needed", size: side },
          { op: "center_crop", size: side },
          { op: "resize", size: 256, interpolation: "lanczos4" },
        ],
      },
    });
  }
  return out;
}

export const RECIPES: Record<string, Recipe> = { testset: TESTSET, train: TRAIN, calibration: CALIBRATION, center256: CENTER256, center448: CENTER448, "center224-torchvision": CENTER224_TORCHVISION };

export function findRecipe(name: string): Recipe {
  const r = RECIPES[name];
  if (!r) throw new InputError(`unknown recipe "${name}": expected one of ${Object.keys(RECIPES).join(", ")}`);
  return r;
}
