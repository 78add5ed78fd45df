/**
 * Upstream's per-epoch learning rate (main_represent.py): a linear warm-up from lr·1e-4 over `warm`
 * epochs (torch LinearLR(start_factor=1e-4)), then cosine annealing to lr·1e-3 over the remaining
 * epochs (CosineAnnealingLR, T_max = epochs − warm). `epoch` counts from 1.
 */
export interface Schedule {
  lr: number;
  epochs: number;
  /** warm-up epochs (0: cosine from the first epoch) */
  warm: number;
  /** the floor as a fraction of lr (upstream: 1e-3) */
  floor?: number;
  /** the warm-up's first factor (upstream: 1e-4) */
  warmStart?: number;
}

export function learningRate(s: Schedule, epoch: number): number {
  if (!(epoch >= 1 && epoch <= s.epochs)) throw new Error(`epoch ${epoch} is outside 1..${s.epochs}`);
  const e = epoch - 1;
  const start = s.warmStart ?? 1e-4;
  if (e < s.warm) return s.lr * (start + ((1 - start) * e) / s.warm);
  const min = s.lr * (s.floor ?? 1e-3);
  const span = s.epochs - s.warm;
  return span === 0 ? s.lr : min + ((s.lr - min) * (1 + Math.cos((Math.PI * (e - s.warm)) / span))) / 2;
}
