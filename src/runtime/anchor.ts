/**
 * LASTED's anchor: the mean L2-normalised feature of real anchor images (upstream: the 100 images of
 * `lasted_anchor.txt`, not renormalised), baked into the exported model as the "anchor" parameter.
 */
import { DetectorSession, type ModelSource, type NormalizedImage, type ScoringSession, type SessionOptions } from "./session.js";
import { InputError } from "../util/errors.js";

/** Runs the feature-only model on the anchor images with onnxruntime and averages their "feature" outputs. */
export async function computeAnchor(featureModel: ModelSource, images: readonly NormalizedImage[], opts: SessionOptions = {}): Promise<Float32Array> {
  if (images.length === 0) throw new InputError("no anchor images");
  const session = await DetectorSession.create(featureModel, opts);
  try {
    return await meanFeature(session, images);
  } finally {
    await session.release();
  }
}

/** The mean of a feature-only model's "feature" outputs over the images (any engine's session). */
export async function meanFeature(session: ScoringSession, images: readonly NormalizedImage[]): Promise<Float32Array> {
  if (images.length === 0) throw new InputError("no anchor images");
  const out = (await session.runNormalized(images)).feature;
  if (!out) throw new Error(`the model has no "feature" output (it has ${session.outputNames.join(", ")})`);
  const dim = out.data.length / images.length;
  const sum = new Float64Array(dim);
  for (let i = 0; i < images.length; i++) for (let j = 0; j < dim; j++) sum[j]! += out.data[i * dim + j]!;
  return Float32Array.from(sum, (v) => v / images.length);
}
