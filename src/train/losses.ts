/**
 * upstream's training losses (training_utils/losses/losses.py @4103a79, main_ce.py,
 * train_linear_classifier_selfcon.py), op for op as PyTorch computes them: see
 * docs/training-upstream.md "Objective".
 */
import { eye, nn, tensor, type Tensor } from "../engine/index.js";

/** ImagiNet label-row columns (test annotations: origin, content, group, specific). */
export const ORIGIN = 0;
export const CONTENT = 1;
export const GROUP = 2;
export const SPECIFIC = 3;

/**
 * SupCon / SelfCon's ConLoss, contrast_mode 'all': features [n, V, d] (L2-normalised views),
 * labels [n] (any integer dtype; null = SimCLR, only the other views are positives).
 * Views are stacked view-major (all view-0 rows, then view 1, …) as torch.cat(torch.unbind(f, 1), 0);
 * logits = C·Cᵀ / T minus the detached row max; the diagonal is masked out of both the positives
 * and the denominator; loss = −(T / baseT) · mean over positives of log_prob, averaged over all
 * V·n anchors. Returns a 0-d tensor.
 */
export function conLoss(features: Tensor, labels: Tensor | null, temperature = 0.07, baseTemperature = 0.07): Tensor {
  const shape = features.shape;
  if (shape.length !== 3) throw new Error(`conLoss: features must be [n, views, d], got [${shape.join(", ")}]`);
  const [n, views, d] = shape as [number, number, number];
  const device = features.device;
  const m = n * views;
  // mask.repeat(V, V) of eq(labels, labelsᵀ) = eq over the labels repeated V times
  let mask: Tensor;
  if (labels === null) {
    const ids = tensor(
      Int32Array.from({ length: m }, (_, i) => i % n),
      [m],
    );
    const idsOn = device === "cpu" ? ids : ids.to(device);
    mask = idsOn
      .reshape([m, 1])
      .eq(idsOn.reshape([1, m]))
      .to("float32");
  } else {
    if (labels.numel !== n) throw new Error(`conLoss: ${labels.numel} labels for ${n} samples`);
    const rep = nn.cat(
      Array.from({ length: views }, () => labels.reshape([n])),
      0,
    );
    mask = rep
      .reshape([m, 1])
      .eq(rep.reshape([1, m]))
      .to("float32");
  }
  const contrast = features.transpose(0, 1).reshape([m, d]);
  const adc = contrast.matmul(contrast.transpose(0, 1)).div(temperature);
  const logits = adc.sub(adc.max(1, true).detach());
  const logitsMask = eye(m, m, { device }).neg().add(1);
  const pos = mask.mul(logitsMask);
  const expLogits = logits.exp().mul(logitsMask);
  const logProb = logits.sub(expLogits.sum(1, true).log());
  const meanLogProbPos = pos.mul(logProb).sum(1).div(pos.sum(1));
  return meanLogProbPos.mul(-(temperature / baseTemperature)).mean();
}

export interface MultiLabelLoss {
  loss: Tensor;
  /** ConLoss(all images, origin) */
  origin: Tensor;
  /** ConLoss(synthetic images, group); null when the batch has no synthetic image (the term is skipped) */
  group: Tensor | null;
}

/**
 * upstream's MultiLabelLossImagiNet: ConLoss(features, origin) + ConLoss(features[syn], group[syn])
 * with syn = (origin == 1), weights 1 and 1, T = base T = 0.07 (upstream ignores --temp).
 * labelRows: [n, 4] integer rows (origin, content, group, specific).
 *
 * Deviation: with no synthetic image in the batch (fewer than 1) upstream's second ConLoss is a
 * mean over zero anchors, i.e. NaN; here the term is skipped (loss = the origin term). With one or
 * more synthetic images the result is upstream's exactly (each anchor's other view is a positive).
 */
export function imaginetMultiLabelLoss(features: Tensor, labelRows: Tensor, temperature = 0.07): MultiLabelLoss {
  const n = features.shape[0]!;
  if (labelRows.shape.join(",") !== `${n},4`) throw new Error(`imaginetMultiLabelLoss: label rows [${labelRows.shape.join(", ")}] for ${n} samples, want [${n}, 4]`);
  const origin = labelRows.select(1, ORIGIN);
  const lOrigin = conLoss(features, origin, temperature, temperature);
  const isSyn = origin.eq(1).to("cpu").toArray();
  const idx: bigint[] = [];
  isSyn.forEach((v, i) => {
    if (Number(v) !== 0) idx.push(BigInt(i));
  });
  if (idx.length < 1) return { loss: lOrigin, origin: lOrigin, group: null };
  let index = tensor(BigInt64Array.from(idx), [idx.length]);
  if (features.device !== "cpu") index = index.to(features.device);
  const groupIndex = labelRows.device === features.device ? index : index.to(labelRows.device);
  const lGroup = conLoss(features.indexSelect(0, index), labelRows.select(1, GROUP).indexSelect(0, groupIndex), temperature, temperature);
  return { loss: lOrigin.mul(1).add(lGroup.mul(1)), origin: lOrigin, group: lGroup };
}

/** nn.CrossEntropyLoss() (mean): logits [N, C], target [N] class indices (int64). */
export function crossEntropyLoss(logits: Tensor, target: Tensor): Tensor {
  return nn.crossEntropy(logits, target.dtype === "int64" ? target : target.to("int64"));
}

/** nn.BCEWithLogitsLoss()(out.squeeze(1), target) (mean) as upstream's linear stage: logits [N, 1] or [N], target [N] of 0/1. */
export function bceWithLogitsLoss(logits: Tensor, target: Tensor): Tensor {
  const z = logits.ndim === 2 && logits.shape[1] === 1 ? logits.squeeze(1) : logits;
  return nn.bceWithLogits(z, target.dtype === "float32" ? target : target.to("float32"));
}
