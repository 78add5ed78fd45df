/** The id ↔ name maps of the upstream annotation formats (ImagiNet `training_utils/datasets.py`, Corvi set, Practical set). */

export const ORIGINS = ["real", "synthetic"] as const;
export const CONTENTS = ["photos", "paintings", "faces", "uncategorized"] as const;
export const GROUPS = ["gan", "sd", "midjourney", "dalle3", "real"] as const;
export const GROUP_TITLES = ["GAN", "SD", "Midjourney", "DALL·E 3", "Real"] as const;
export const SPECIFICS = ["ProGAN", "StyleGAN-XL", "StyleGAN3", "SD v2.1", "SDXL v1.0", "Animagine XL", "Midjourney", "DALL·E 3", "real"] as const;
/** The model group each specific generator belongs to (index = specific id). */
export const SPECIFIC_GROUP = [0, 0, 0, 1, 1, 1, 2, 3, 4] as const;
export const REAL_GROUP = 4;
export const REAL_SPECIFIC = 8;

/** Corvi et al. test set generator ids (`path,origin,gen`). */
export const CORVI_GENERATORS = ["progan", "stylegan2", "stylegan3", "biggan", "eg3d", "taming_trans", "dalle_mini", "dalle2", "glide", "latent_diff", "stable_diff", "adm"] as const;

export type OriginName = (typeof ORIGINS)[number];
export type ContentName = (typeof CONTENTS)[number];
export type GroupName = (typeof GROUPS)[number];
export type SpecificName = (typeof SPECIFICS)[number];
export type CorviGeneratorName = (typeof CORVI_GENERATORS)[number];
