/**
 * UnivFD (Ojha, Li & Lee, CVPR 2023): a linear probe on the frozen CLIP ViT-L/14 image encoder.
 * Upstream (WisconsinAIVision/UniversalFakeDetect): `models/clip_models.py` CLIPModel is
 * fc(model.encode_image(x)), fc = nn.Linear(768, 1) on the projected feature; `validate.py` feeds
 * CenterCrop(224) + ToTensor + CLIP's Normalize and scores sigmoid(logit) (> 0.5 = fake). The
 * probe file `pretrained_weights/fc_weights.pth` is fc's own state dict (`weight`, `bias`: it is
 * loaded with `model.fc.load_state_dict`). Details: docs/detectors/univfd.md.
 */
import type { LazyTensor } from "../checkpoint/index.js";
import { Scope, linear, type AttentionOps } from "../models/ops.js";
import { clipVisionTransformer, inferClipVitConfig, type ClipVitConfig } from "../models/vit.js";
import { CENTER224_TORCHVISION } from "../image/recipes.js";
import { InputError } from "../util/errors.js";
import { CLIP_NORMALIZATION, type DetectorModule, type StateDict } from "./types.js";

export interface UnivFdConfig {
  vit: ClipVitConfig;
}

const VISUAL = "visual";
const PROBE = "fc";

/** CLIP's text tower and the scalars OpenAI's archive carries; UnivFD uses only `visual.*`. */
const TEXT_TOWER = /^(transformer\.|token_embedding\.|ln_final\.)/;
const CLIP_SCALARS = new Set(["positional_embedding", "text_projection", "logit_scale", "input_resolution", "context_length", "vocab_size"]);

/** The probe's `weight`/`bias` as UnivFD publishes them (fc's own state dict), or already as `fc.weight`/`fc.bias`. */
function probeEntries(probe: StateDict): [string, LazyTensor][] {
  const out: [string, LazyTensor][] = [];
  for (const [k, t] of probe) {
    const name = k.startsWith(`${PROBE}.`) ? k.slice(PROBE.length + 1) : k;
    if (name !== "weight" && name !== "bias") throw new InputError(`the UnivFD probe has a key ${k}: expected only weight and bias (fc_weights.pth)`);
    out.push([`${PROBE}.${name}`, t]);
  }
  return out;
}

export const UNIVFD: DetectorModule<UnivFdConfig> = {
  name: "univfd",
  title: "UnivFD",
  reference: "Ojha, Li & Lee, Towards Universal Fake Image Detectors that Generalize Across Generative Models, CVPR 2023; https://github.com/WisconsinAIVision/UniversalFakeDetect",
  output: "binary",
  scoreMeaning: "output logit [N, 1] of the linear probe on CLIP's projected image feature; higher = more likely synthetic; upstream applies a sigmoid and calls > 0.5 fake",
  preprocess: { recipe: CENTER224_TORCHVISION, normalization: CLIP_NORMALIZATION },
  checkpoints: { min: 2, max: 2 },
  weights: [
    {
      name: "clip-vit-l14",
      description: "OpenAI CLIP ViT-L/14 (a TorchScript archive; UnivFD probes its image encoder)",
      url: "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
      file: "ViT-L-14.pt",
      homepage: "https://github.com/openai/CLIP",
      // OpenAI's URL carries the file's sha256, which clip/clip.py checks
      sha256: "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
    },
    {
      name: "univfd-probe",
      description: "UnivFD's linear probe on CLIP ViT-L/14 features (fc_weights.pth)",
      url: "https://github.com/WisconsinAIVision/UniversalFakeDetect/raw/main/pretrained_weights/fc_weights.pth",
      file: "fc_weights.pth",
      homepage: "https://github.com/WisconsinAIVision/UniversalFakeDetect",
    },
  ],

  // the CLIP checkpoint, then the probe (build.ts has checked there are two)
  merge(sds) {
    const [clip, probe] = sds as [StateDict, StateDict];
    const merged = new Map(clip);
    for (const [k, t] of probeEntries(probe)) {
      if (merged.has(k)) throw new InputError(`the CLIP checkpoint already has ${k}: give the CLIP checkpoint first, the probe second`);
      merged.set(k, t);
    }
    return merged;
  },

  configure(sd) {
    const vit = inferClipVitConfig(sd, VISUAL);
    const w = sd.get(`${PROBE}.weight`);
    if (!w) throw new InputError(`${PROBE}.weight is missing: the UnivFD probe (fc_weights.pth) was not given`);
    if (w.shape.join(",") !== `1,${vit.outputDim}`) throw new InputError(`${PROBE}.weight has shape [${w.shape.join(", ")}], expected [1, ${vit.outputDim}] for this CLIP tower`);
    return { vit };
  },

  define<T>(ops: AttentionOps<T>, cfg: UnivFdConfig) {
    const { vit } = cfg;
    const x = ops.input("image", ["batch", 3, vit.resolution, vit.resolution]);
    const feature = clipVisionTransformer(new Scope(ops, VISUAL), x, vit);
    ops.output("logit", linear(new Scope(ops, PROBE), feature, vit.outputDim, 1));
    ops.output("feature", feature); // CLIP's projected image feature, the probe's input
  },

  ignorable(key) {
    return TEXT_TOWER.test(key) || CLIP_SCALARS.has(key);
  },
};
