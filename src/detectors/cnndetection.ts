/**
 * CNNDetection (Wang et al., CVPR 2020, "CNN-generated images are surprisingly easy to spot… for
 * now"; github peterwang512/CNNDetection): torchvision's standard (strided) ResNet-50 with a 1-logit
 * fc, trained on ProGAN images with blur+JPEG augmentation; two published models (augmentation
 * probability 0.5 and 0.1). Its test protocol (eval.py, data/datasets.py): no resize, centre crop
 * 224 (torchvision CenterCrop: zero-padded where the image is smaller), ImageNet normalisation;
 * sigmoid(logit) > 0.5 = synthetic. docs/detectors/cnndetection.md has the details.
 */
import { grag2021 } from "../models/resnet.js";
import { CENTER224_TORCHVISION } from "../image/recipes.js";
import { trunkAt, type TrunkAt } from "./grag2021.js";
import { IMAGENET_NORMALIZATION, type DetectorModule, type WeightsSource } from "./types.js";

const HOMEPAGE = "https://github.com/peterwang512/CNNDetection";

function published(prob: "0.5" | "0.1", name: string, dropbox: string): WeightsSource {
  return {
    name,
    description: `ResNet-50 trained on ProGAN images, blur+JPEG augmentation with probability ${prob}`,
    url: `https://www.dropbox.com/s/${dropbox}/blur_jpg_prob${prob}.pth?dl=1`,
    file: `blur_jpg_prob${prob}.pth`,
    homepage: HOMEPAGE,
  };
}

function cnnDetection(name: string, prob: "0.5" | "0.1", dropbox: string): DetectorModule<TrunkAt> {
  return {
    name,
    title: prob === "0.5" ? "Wang2020" : "Wang2020 (p=0.1)",
    reference: `Wang et al., CVPR 2020; ${HOMEPAGE}`,
    output: "binary",
    scoreMeaning: "output logit [N,1]: fc on the globally pooled features; sigmoid > 0.5 = synthetic",
    preprocess: { recipe: CENTER224_TORCHVISION, normalization: IMAGENET_NORMALIZATION },
    checkpoints: { min: 1, max: 1 },
    weights: [published(prob, name, dropbox)],
    configure: (sd, o) => trunkAt(sd, o.nodown ?? false),
    define: (ops, c) => grag2021(ops, c.trunk, c.prefix),
  };
}

export const CNNDETECTION = cnnDetection("cnndetection", "0.5", "2g2jagq2jn1fd0i");
export const CNNDETECTION_P01 = cnnDetection("cnndetection-p0.1", "0.1", "h7tkpcgiwuftb6g");
