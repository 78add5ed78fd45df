/**
 * Numeric tolerances for comparing our float32 results with PyTorch's, derived from float32
 * rounding instead of from what passed on one machine.
 *
 * Two float32 implementations of the same function differ only in rounding: the order of each
 * reduction, fused multiply-adds, and which kernels the CPU gets (AVX-512 on AMD, AMX on Intel,
 * one thread or several). A value that depends on K rounded operations carries an error of at
 * most λ·u·√K relative to the size of what it sums, with overwhelming probability (the
 * probabilistic rounding-error model of Higham & Mary, SIAM J. Sci. Comput. 2019), where
 * u = 2⁻²⁴ is float32's unit roundoff. Each side has such an error, so they differ by at most
 * twice that. We take λ = 3 (three standard deviations of the error's random walk).
 *
 * Errors are measured per tensor as max|got − want| / max|want|: relative to the tensor's norm,
 * not elementwise, because single elements of a sum can be near zero.
 */
export const U32 = 2 ** -24;
const LAMBDA = 3;

/** The bound on the relative difference of two float32 computations of K rounded operations each. */
export function f32Tolerance(k: number): number {
  return 2 * LAMBDA * U32 * Math.sqrt(k);
}

/**
 * K for one training step of a network with `layers` parameterised layers (conv, BN, linear), each
 * reducing over at most `widest` terms: a parameter's gradient depends on every layer between it and
 * the loss twice (forward and backward), so on at most 2·layers·widest rounded operations.
 */
export function stepOperations(layers: number, widest: number): number {
  return 2 * layers * widest;
}

/**
 * K for one forward pass (inference): every output depends on each parameterised layer once (one
 * `weight` each: conv, BN, linear), each reducing over at most the widest fan-in of those weights
 * (in-channels × kernel) or the image's pixel count (global pooling).
 */
export function forwardOperations(weightShapes: readonly (readonly number[])[], pixels: number): number {
  const fanIn = weightShapes.map((s) => s.slice(1).reduce((a, b) => a * b, 1));
  return weightShapes.length * Math.max(pixels, ...fanIn);
}

/** max |got − want| / max |want| (0 when both are exactly equal) */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`element count ${got.length} ≠ ${want.length}`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return err === 0 ? 0 : err / Math.max(scale, Number.MIN_VALUE);
}
