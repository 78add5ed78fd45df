/**
 * The detector registry: a name → the architecture, its trunk, what its output means and how images
 * are prepared (upstream's test protocol: RGB, /255, ImageNet mean/std; ImagiNet's 256×256 test images
 * go in as they are; any other image is reflect-padded to 256 and centre-cropped to 256, as
 * upstream's default ImagiNet transform). Wu2023 (LASTED) pads and crops every image to 448, the
 * size its positional embedding fixes, and scores by cosine similarity to its anchor images.
 */
import type { Recipe } from "../image/recipe.js";
import { CENTER256, CENTER448 } from "../image/recipes.js";
import type { Architecture } from "./load.js";
import { InputError } from "../util/errors.js";

export interface DetectorSpec {
  name: string;
  title: string;
  arch: Architecture;
  /** stem and maxpool at stride 1 (the "nodown" trunk) */
  nodown: boolean;
  /** "binary": one logit, higher = synthetic; "groups": 4 logits (gan, sd, midjourney, dalle3) */
  output: "binary" | "groups";
  preprocess: Recipe;
  /** scores by similarity to the mean feature of real anchor images (LASTED) */
  anchors?: boolean;
}

export const DETECTORS: DetectorSpec[] = [
  { name: "grag2021", title: "Grag2021", arch: "grag2021", nodown: true, output: "binary", preprocess: CENTER256 },
  { name: "corvi2022", title: "Corvi2022", arch: "corvi2022", nodown: true, output: "binary", preprocess: CENTER256 },
  { name: "imaginet", title: "ImagiNet (Ours)", arch: "imaginet", nodown: true, output: "binary", preprocess: CENTER256 },
  { name: "wu2023", title: "Wu2023 (LASTED)", arch: "lasted", nodown: false, output: "binary", preprocess: CENTER448, anchors: true },
  { name: "imaginet-id", title: "ImagiNet identification", arch: "imaginet", nodown: false, output: "groups", preprocess: CENTER256 },
];

export function findDetector(name: string): DetectorSpec {
  const d = DETECTORS.find((x) => x.name === name);
  if (!d) throw new InputError(`unknown detector "${name}": expected one of ${DETECTORS.map((x) => x.name).join(", ")}`);
  return d;
}
