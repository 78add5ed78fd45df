/**
 * Seeded randomness derived per item: the stream for (seed, id) depends on nothing else, so results
 * do not depend on thread or worker count or on processing order.
 */

/** 32-bit FNV-1a over the UTF-8 bytes of `s`, continued from `h`. */
export function fnv1a(s: string, h = 0x811c9dc5): number {
  const bytes = new TextEncoder().encode(s);
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** SplitMix32-style finaliser to spread a 32-bit value over all bits. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export class Rng {
  // int32 state, set as int32 from the start: a field that ever held an unsigned value above 2^31 (a
  // heap number) stays a boxed double field in V8, which makes every step several times slower
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  /** A generator for item `id` under `seed` (sfc32, state derived from both). */
  constructor(seed: number, id: string) {
    const h = fnv1a(id, mix((seed >>> 0) ^ 0x9e3779b9));
    this.a = mix(h ^ 0x243f6a88) | 0;
    this.b = mix(h ^ 0x85a308d3) | 0;
    this.c = mix(h ^ 0x13198a2e) | 0;
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (this.a + this.b + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** uniform in [0, 1) */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** uniform integer in [lo, hi] inclusive */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
}
