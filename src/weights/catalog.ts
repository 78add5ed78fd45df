/**
 * The published weights `imaginet weights` knows, where each publisher (or upstream ImagiNet's
 * testing_utils/testing/setup_testing.py) fetches them from; docs/weights.md says what each file is.
 * The detector modules will carry these as their `weights`; `weightsCatalog()` is the one reader.
 */
import { UPSTREAM_ANNOTATIONS } from "../data/sources.js";
import type { WeightsSource } from "../detectors/types.js";
import { InputError } from "../util/errors.js";

const IMAGINET_HOME = "https://github.com/delyan-boychev/imaginet";

function lastedAnchors(): WeightsSource {
  const a = UPSTREAM_ANNOTATIONS.find((x) => x.file === "lasted_anchor.txt");
  if (!a) throw new Error("lasted_anchor.txt is missing from UPSTREAM_ANNOTATIONS");
  return {
    name: "wu2023-anchors",
    description: "LASTED's anchor list: the real images whose mean feature Wu2023 scores against (upstream ImagiNet annotations/lasted_anchor.txt)",
    url: a.url,
    file: a.file,
    homepage: IMAGINET_HOME,
    sha256: a.sha256,
  };
}

export const WEIGHTS_CATALOG: readonly WeightsSource[] = [
  {
    name: "grag2021",
    description: "Grag2021: ResNet-50 without downsampling, trained on StyleGAN2 images (GRIP)",
    url: "https://www.grip.unina.it/download/prog/GANdetection/weights/gandetection_resnet50nodown_stylegan2.pth",
    file: "gandetection_resnet50nodown_stylegan2.pth",
    homepage: "https://github.com/grip-unina/GANimageDetection",
  },
  {
    name: "corvi2022",
    description: "Corvi2022: two ResNet-50 models (trained on latent diffusion and on ProGAN images) whose logits upstream averages",
    drive: "1sAoAuOGCWS4dAMBhDkRHgBf4SgBgvkVf",
    file: "weights.zip",
    members: ["weights/Grag2021_latent/model_epoch_best.pth", "weights/Grag2021_progan/model_epoch_best.pth"],
    homepage: "https://github.com/grip-unina/DMimageDetection",
  },
  {
    name: "imaginet",
    description: "ImagiNet (Ours): the SelfCon ResNet-50 (no downsampling) with its real/synthetic classifier head",
    drive: "1kI-j2J8JinyRBdemfPyPMhNRE79FlsgX",
    file: "imaginet_weights.pt",
    homepage: IMAGINET_HOME,
  },
  {
    name: "corvi2022-imaginet",
    description: "Corvi2022*: Corvi2022's architecture trained on ImagiNet (upstream's imaginet_corvi_model.py)",
    drive: "19MzsJpPs9i0nFO1vB63i-T0iZ48aHIoA",
    file: "model_epoch_best.pth",
    homepage: IMAGINET_HOME,
  },
  {
    name: "wu2023",
    description: "Wu2023 (LASTED): CLIP RN50x64 image tower trained with language supervision",
    drive: "1xrBOQQfDUUQQ19TakIMwdyDtHLmGa25c",
    file: "LASTED_pretrained.pt",
    homepage: "https://github.com/HighwayWu/LASTED",
  },
  lastedAnchors(),
  {
    name: "cnndetection",
    description: "CNNDetection (Wang et al. 2020): ResNet-50 trained on ProGAN, Blur+JPEG(0.5)",
    url: "https://www.dropbox.com/s/2g2jagq2jn1fd0i/blur_jpg_prob0.5.pth?dl=1",
    file: "blur_jpg_prob0.5.pth",
    homepage: "https://github.com/PeterWang512/CNNDetection",
  },
  {
    name: "cnndetection-p0.1",
    description: "CNNDetection (Wang et al. 2020): ResNet-50 trained on ProGAN, Blur+JPEG(0.1)",
    url: "https://www.dropbox.com/s/h7tkpcgiwuftb6g/blur_jpg_prob0.1.pth?dl=1",
    file: "blur_jpg_prob0.1.pth",
    homepage: "https://github.com/PeterWang512/CNNDetection",
  },
  {
    name: "npr",
    description: "NPR (Tan et al. CVPR 2024): neighbouring-pixel-relation ResNet, trained on ProGAN",
    url: "https://github.com/chuangchuangtan/NPR-DeepfakeDetection/raw/main/NPR.pth",
    file: "NPR.pth",
    homepage: "https://github.com/chuangchuangtan/NPR-DeepfakeDetection",
  },
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

/** Every weights source `imaginet weights` knows. */
export function weightsCatalog(): readonly WeightsSource[] {
  return WEIGHTS_CATALOG;
}

export function findWeights(name: string): WeightsSource {
  const all = weightsCatalog();
  const s = all.find((x) => x.name === name);
  if (!s) throw new InputError(`unknown weights "${name}": expected one of ${all.map((x) => x.name).join(", ")} (see \`imaginet weights list\`)`);
  return s;
}
