/**
 * The registry of upstream sources: where each must sit under the dataset root (as in the upstream
 * README), which annotation path prefixes belong to it, and how it can be fetched.
 */
import { InputError } from "../util/errors.js";

/** How a file of a source is fetched. */
export type FetchSpec =
  | { kind: "url"; url: string; file: string; size?: number; sha256?: string; auth?: "huggingface" }
  | { kind: "drive"; id: string; file: string; size?: number; sha256?: string }
  | { kind: "kaggle-competition"; competition: string; file: string }
  /** one Drive file per image, listed in `ffhq_filenames.txt` (drive id, file name, md5 of decoded pixels) */
  | { kind: "ffhq-list" };

export type ArchiveFormat = "zip" | "tar" | "tar.gz";

export interface Source {
  id: string;
  title: string;
  /** top-level folders (and files) this source occupies under the dataset root */
  folders: string[];
  /** where the upstream README says it comes from */
  homepage: string;
  /** what to fetch; empty when it can only be obtained by hand */
  fetch: FetchSpec[];
  /** fetched files are archives to extract into the source's folders */
  archive?: ArchiveFormat;
  /** set when fetching needs credentials: the environment variables it reads */
  credentials?: { env: string[]; help: string };
  note?: string;
  /** a source of one of upstream's two extra test tracks (docs/test-sets.md), not of ImagiNet itself: `download all` leaves it out */
  testSet?: "corvi" | "practical";
}

const UPSTREAM_RAW = "https://raw.githubusercontent.com/delyan-boychev/imaginet/main";

/** Upstream annotation files with their sha256 and size where known (the repository copies as of 2026). */
export const UPSTREAM_ANNOTATIONS: { file: string; url: string; sha256?: string; size?: number }[] = [
  { file: "train_annotations.txt", url: `${UPSTREAM_RAW}/annotations/train_annotations.txt` },
  { file: "calibration.txt", url: `${UPSTREAM_RAW}/annotations/calibration.txt` },
  ...(
    [
      ["test_annotations.txt", "c9a43c97bb264b2baec92f86804e9a0dbeb834e71b40900a20c621ceedb0e514", 2249047],
      ["test_annotations_gan.txt", "0d7e905476c6e603e8edfd8e6efa0a02da2b8474eea709727d2351499fef9462", 788625],
      ["test_annotations_sd.txt", "d073bd7f1b4538f7a1a4d68853352d1ebdc8839d67abc1aaef46febc56a7234a", 908119],
      ["test_annotations_midjourney.txt", "520c987e9c402a291c9789431972084b380447ed61ab801510844af97d42d45f", 278781],
      ["test_annotations_dalle3.txt", "6dd49afd3b5d1134a11c57484bdf2828dd5da3e110e97be93edd0f7cca671676", 273488],
      ["test_all.txt", "81010dad94acb30a64e522669314422eb77e68c012cb6ade0d4305bac7b87f96", 1925500],
      ["test_gan.txt", "f4e82c2b1eaea81e4df88dd11886c61fff6648f9f4ff24b55a386d2bf91d9d65", 703545],
      ["test_sd.txt", "b8ee73cc8ab58bdbfb0962ee9404744bc5da255e04b7be1ecf6f4622d3935b52", 695761],
      ["test_midjourney.txt", "670d0d0934b388c94c62daf7de3883efe9282e2682c32b62bc74e386a1e6bca1", 268209],
      ["test_dalle3.txt", "bbb3721bc6dd1125f75328830ecf928de04344898907617ac239e75f3b6b928b", 257985],
      ["test_calibration.txt", "69889a4ed4b73bed15964585fde47334d2afcef760c0aa4ad4b4ed5ed8183edc", 4009],
      ["lasted_anchor.txt", "7b690e717bc765b8828cfef8270a02957ecd8e0633d5dc5c5b867eeae05abbc2", 4297],
    ] as const
  ).map(([file, sha256, size]) => ({ file, url: `${UPSTREAM_RAW}/annotations/${file}`, sha256, size })),
];

export const FFHQ_FILE_LIST = {
  file: "ffhq_filenames.txt",
  url: `${UPSTREAM_RAW}/download_scripts/ffhq_filenames.txt`,
  sha256: "b2c123d33a3c0a4c807c3bb585b10146c1752ac12add312433e0fe5855425750",
  size: 2430000,
};

const KAGGLE_CREDENTIALS = {
  env: ["KAGGLE_USERNAME", "KAGGLE_KEY"],
  help: "create an API token at kaggle.com (Account → API → Create New Token), accept the competition rules, then set KAGGLE_USERNAME and KAGGLE_KEY (or place kaggle.json in ~/.kaggle/)",
};
const HF_CREDENTIALS = {
  env: ["HF_TOKEN"],
  help: "JourneyDB is a gated Hugging Face dataset: accept its terms on the dataset page, create a read token in your Hugging Face settings, and set HF_TOKEN",
};

/** The generator folders of the Corvi test set, as annotations_corvi.txt names them (DMimageDetection's test-set archive). */
export const CORVI_SYNTHETIC_FOLDERS = [
  "biggan_256",
  "biggan_512",
  "dalle-mini_valid",
  "dalle_2",
  "eg3d",
  "glide_text2img_valid",
  "guided-diffusion_class2image_ImageNet",
  "guided-diffusion_noise2image_LSUNbedrooms",
  "guided-diffusion_noise2image_LSUNcats",
  "guided-diffusion_noise2image_LSUNhorses",
  "latent-diffusion_class2image_ImageNet",
  "latent-diffusion_noise2image_FFHQ",
  "latent-diffusion_noise2image_LSUNbedrooms",
  "latent-diffusion_noise2image_LSUNchurches",
  "latent-diffusion_text2img_valid",
  "progan_lsun",
  "stable_diffusion_256",
  "stylegan2_afhqv2_512x512",
  "stylegan2_ffhq_1024x1024",
  "stylegan2_ffhq_256x256",
  "stylegan2_lsundog_256x256",
  "stylegan3_r_afhqv2_512x512",
  "stylegan3_r_ffhqu_1024x1024",
  "stylegan3_r_ffhqu_256x256",
  "stylegan3_t_afhqv2_512x512",
  "stylegan3_t_ffhqu_1024x1024",
  "stylegan3_t_ffhqu_256x256",
  "taming-transformers_class2image_ImageNet",
  "taming-transformers_noise2image_FFHQ",
  "taming-transformers_segm2image_valid",
];

export const SOURCES: Source[] = [
  {
    id: "imagenet",
    title: "ImageNet (ILSVRC 2012)",
    folders: ["imagenet"],
    homepage: "https://www.kaggle.com/c/imagenet-object-localization-challenge",
    fetch: [{ kind: "kaggle-competition", competition: "imagenet-object-localization-challenge", file: "imagenet-object-localization-challenge.zip" }],
    archive: "zip",
    credentials: KAGGLE_CREDENTIALS,
    note: "the ILSVRC folder is placed inside imagenet/",
  },
  {
    id: "coco-train2017",
    title: "COCO train 2017",
    folders: ["train2017"],
    homepage: "https://cocodataset.org",
    fetch: [{ kind: "url", url: "http://images.cocodataset.org/zips/train2017.zip", file: "train2017.zip" }],
    archive: "zip",
  },
  {
    id: "coco-val2017",
    title: "COCO val 2017",
    folders: ["val2017"],
    homepage: "https://cocodataset.org",
    fetch: [{ kind: "url", url: "http://images.cocodataset.org/zips/val2017.zip", file: "val2017.zip" }],
    archive: "zip",
  },
  {
    id: "progan-train",
    title: "LSUN/ProGAN train (CNNDetection)",
    folders: ["progan_train"],
    homepage: "https://github.com/peterwang512/CNNDetection",
    fetch: [{ kind: "drive", id: "1iVNBV0glknyTYGA9bCxT_d0CVTOgGcKh", file: "progan_train.zip" }],
    archive: "zip",
  },
  {
    id: "progan-val",
    title: "LSUN/ProGAN val (CNNDetection)",
    folders: ["progan_val"],
    homepage: "https://github.com/peterwang512/CNNDetection",
    fetch: [{ kind: "drive", id: "1z_fD3UKgWQyOTZIBbYSaQ-hz4AzUrLC1", file: "progan_val.zip" }],
    archive: "zip",
  },
  {
    id: "ffhq",
    title: "FFHQ (aligned 1024×1024, upstream file names)",
    folders: ["ffhq"],
    homepage: "https://github.com/NVlabs/ffhq-dataset",
    fetch: [{ kind: "ffhq-list" }],
    note: "fetched per file from the list in ffhq_filenames.txt; each image's decoded pixels are checked against the listed md5",
  },
  {
    id: "wikiart",
    title: "WikiArt",
    folders: ["wikiart"],
    homepage: "https://github.com/cs-chan/ArtGAN",
    fetch: [{ kind: "drive", id: "1vTChp3nU5GQeLkPwotrybpUGUXj12BTK", file: "wikiart.zip" }],
    archive: "zip",
  },
  {
    id: "photozilla",
    title: "Photozilla",
    folders: ["photozilla"],
    homepage: "https://drive.google.com/file/d/1WkY6rcXMnir8nk4obejVq64h_WrtydVg",
    fetch: [{ kind: "drive", id: "1WkY6rcXMnir8nk4obejVq64h_WrtydVg", file: "photozilla.zip" }],
    archive: "zip",
    note: "dataset/ and other_dataset/ are placed inside photozilla/",
  },
  {
    id: "danbooru2021",
    title: "Danbooru 2021 (authors' backup of the used images)",
    folders: ["danbooru2021"],
    homepage: "https://gwern.net/danbooru2021",
    fetch: [{ kind: "drive", id: "1p0EM6IUAdBhFfdGoLpo0ewhLPXEkA86a", file: "danbooru2021.zip" }],
    archive: "zip",
  },
  {
    id: "journeydb",
    title: "JourneyDB (train/imgs/000.tgz)",
    folders: ["journeydb"],
    homepage: "https://journeydb.github.io",
    fetch: [
      {
        kind: "url",
        url: "https://huggingface.co/datasets/JourneyDB/JourneyDB/resolve/main/data/train/imgs/000.tgz",
        file: "journeydb-000.tgz",
        auth: "huggingface",
      },
    ],
    archive: "tar.gz",
    credentials: HF_CREDENTIALS,
    note: "the extracted 000 folder is renamed to journeydb",
  },
  {
    id: "imaginet-synthetic",
    title: "ImagiNet synthetic images and DALL·E 3 (authors' archive)",
    folders: [
      "imagenet_stylegan",
      "ffhq_stylegan",
      "wikiart_stylegan",
      "sd_photos_fake",
      "sd_paintings_fake",
      "sd_faces_fake",
      "sdxl_photos_fake",
      "sdxl_paintings_fake",
      "sdxl_faces_fake",
      "animaginexl_paintings_fake",
      "dalle3",
      "dalle3_addition",
      "dalle3_addition2",
    ],
    homepage: "https://github.com/delyan-boychev/imaginet",
    fetch: [{ kind: "drive", id: "1uUAoVUcAlUX9ltOXBlf3pKDz3rCKoytk", file: "imaginet-synthetic.zip" }],
    archive: "zip",
  },
  // upstream's other two test tracks (docs/test-sets.md): each has a root of its own, the one its annotation paths are relative to
  {
    id: "corvi-testset",
    title: "Corvi et al. 2023 test set: synthetic images and operations.csv (DMimageDetection)",
    folders: [...CORVI_SYNTHETIC_FOLDERS, "operations.csv"],
    homepage: "https://github.com/grip-unina/DMimageDetection",
    fetch: [{ kind: "drive", id: "1grvgKiIq0ny8ImQzSUXPk3nd-AMEDjNb", file: "corvi-testset.zip" }],
    archive: "zip",
    note: "download into a root of its own, add the real images (corvi-testset-real), then `imaginet testset build --recipe corvi256` writes the 256 × 256 set that annotations_corvi.txt lists",
    testSet: "corvi",
  },
  {
    id: "corvi-testset-real",
    title: "Corvi et al. 2023 test set: real images (ImageNet val, COCO val 2017, UCID)",
    folders: ["real_coco_valid", "real_imagenet_val", "real_ucid"],
    homepage: "https://github.com/grip-unina/DMimageDetection",
    fetch: [],
    note: "place the images operations.csv lists in real_imagenet_val/ (ILSVRC2012 validation), real_coco_valid/ (COCO val 2017) and real_ucid/ (UCID), next to the corvi-testset folders",
    testSet: "corvi",
  },
  {
    id: "practical-testset",
    title: "Practical test set: LASTED's AIDraw_1122 (DreamBooth, Midjourney V4/V5, NightCafe, StableAI, YiJian, artists' images)",
    folders: ["AIDraw_1122"],
    homepage: "https://github.com/HighwayWu/LASTED",
    fetch: [],
    note: "the authors' Google Drive folder 1xUMoS2npQs0tCno_VZPpUDDPztnD6UgD holds a password-protected archive; the password comes from LASTED's license form (https://docs.google.com/forms/d/1CZAIZEEugoGiTw8auyiU2LM8qjW0LelAWq2fuuzYAq8/); extract it so that AIDraw_1122/ sits in the root",
    testSet: "practical",
  },
];

export const UNKNOWN_SOURCE = "unknown";

const byFolder = new Map<string, Source>();
for (const s of SOURCES) for (const f of s.folders) byFolder.set(f, s);

/** The source an annotation path belongs to (by its first folder), or undefined. */
export function sourceOfPath(relPath: string): Source | undefined {
  const slash = relPath.indexOf("/");
  return byFolder.get(slash < 0 ? relPath : relPath.slice(0, slash));
}

export function findSource(id: string): Source {
  const s = SOURCES.find((x) => x.id === id);
  if (!s) throw new InputError(`unknown source "${id}": expected one of ${SOURCES.map((x) => x.id).join(", ")}`);
  return s;
}
