/**
 * The eight simulated generators. Each decodes a "latent" — the scene rendered at half the output
 * resolution, the content a generator has to turn into pixels — with an upsampling decoder of its
 * family's architecture, leaving the traces detectors find in real generators' images:
 *
 * - GAN (ProGAN, StyleGAN-XL, StyleGAN3): stride-2 transposed convolutions (checkerboards from uneven
 *   kernel overlap; periodic gain pattern even in flat areas), StyleGAN's per-pixel noise inputs,
 *   StyleGAN3's alias-free windowed-sinc upsampling (ringing, weak periodic residue).
 * - SD (SD v2.1, SDXL, Animagine XL): the latent-diffusion VAE decoder — nearest ×2 + 3×3 convolution
 *   (periodic structure along edges, none in flat areas) with a coarse 1/8-resolution latent branch
 *   decoded through three nearest+conv stages (8-pixel-periodic, cyclostationary texture).
 *   Animagine XL is an SDXL fine-tune and shares SDXL's VAE kernels; it differs in its latents.
 * - Midjourney: sub-pixel convolution (pixel shuffle) — each output phase has its own kernel and bias,
 *   so even flat areas carry a fixed period-2 pattern, and a coarse branch through two pixel shuffles
 *   adds a period-4 one; then upscaler-style sharpening.
 * - DALL·E 3: diffusion-like decoding — a few steps of adding spatially correlated (structured)
 *   noise with a fixed anisotropic spectrum and partially denoising it (smoothing), which leaves
 *   smooth, slightly "plastic" surfaces and low-amplitude correlated noise; no periodic grid.
 *
 * Decoder weights come from a fixed seed per generator (independent of the dataset seed), so each
 * generator has one consistent fingerprint across datasets, as a trained model has.
 */
import { Rng } from "../../util/rng.js";
import { quantise, sharpenQuantise } from "./camera.js";
import { axpy, conv3, down2, pixelShuffle2, polyphaseUp2, transposed2, upBilinear2, upNearest2 } from "./ops.js";
import { gauss, gaussFill, planes, type Planes } from "./raster.js";

export interface Generator {
  /** ImagiNet specific-model id (0-7) */
  specific: number;
  /** folder-safe name */
  slug: string;
  /** decodes a latent (the scene at half resolution) to interleaved 8-bit RGB at twice its size */
  decode(latent: Planes, rng: Rng): Uint8Array;
}

const WEIGHT_SEED = 0x1a6e0e7;

function weights(slug: string, part: string): Rng {
  return new Rng(WEIGHT_SEED, `${slug}/${part}`);
}

/** n Gaussian values with their mean removed (a perturbation that keeps the kernel's total gain). */
function zeroMean(rng: Rng, n: number): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = gauss(rng);
  const m = v.reduce((a, b) => a + b, 0) / n;
  for (let i = 0; i < n; i++) v[i] = v[i]! - m;
  return v;
}

function outer(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const o = new Float64Array(a.length * b.length);
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) o[i * b.length + j] = a[i]! * b[j]!;
  return o;
}

/** base + eps·(shared + 0.5·own) per channel: channels share most of their fingerprint (it survives 4:2:0 chroma subsampling as luminance). */
function perturbed(rng: Rng, base: ArrayLike<number>, eps: number): [Float64Array, Float64Array, Float64Array] {
  const shared = zeroMean(rng, base.length);
  const make = (): Float64Array => {
    const own = zeroMean(rng, base.length);
    const k = new Float64Array(base.length);
    for (let i = 0; i < k.length; i++) k[i] = base[i]! + eps * (shared[i]! + 0.5 * own[i]!);
    return k;
  };
  return [make(), make(), make()];
}

function luma(p: Planes): Float32Array {
  const [R, G, B] = p.p;
  const y = new Float32Array(p.w * p.h);
  for (let i = 0; i < y.length; i++) y[i] = 0.299 * R[i]! + 0.587 * G[i]! + 0.114 * B[i]!;
  return y;
}

function softsign(p: Float32Array): Float32Array {
  for (let i = 0; i < p.length; i++) p[i] = p[i]! / (1 + Math.abs(p[i]!));
  return p;
}

/** Removes the mean and scales to unit RMS (a residual branch's output, before its amplitude). */
function normalise(p: Float32Array): Float32Array {
  let m = 0;
  for (let i = 0; i < p.length; i++) m += p[i]!;
  m /= p.length;
  let v = 0;
  for (let i = 0; i < p.length; i++) {
    p[i] = p[i]! - m;
    v += p[i]! * p[i]!;
  }
  const s = 1 / Math.sqrt(v / p.length + 1e-12);
  for (let i = 0; i < p.length; i++) p[i] = p[i]! * s;
  return p;
}

const TENT3 = outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25]);

// ---------------------------------------------------------------- GAN family

interface GanOptions {
  /** transposed-convolution kernel size (stride 2, padding 1) and its base (interpolating) 1D kernel */
  k: number;
  base: number[];
  /** deviation of the learned kernel from the base */
  eps: number;
  /** StyleGAN noise inputs: per-pixel noise at the latent resolution (before upsampling) and at the output one */
  latentNoise: number;
  outputNoise: number;
  /** StyleGAN2-style low-pass FIR after the upsampling (1D taps, centred), or none */
  blur?: number[];
}

function ganTransposed(specific: number, slug: string, o: GanOptions): Generator {
  const { k } = o;
  const rng = weights(slug, "deconv");
  const base = outer(o.base, o.base);
  const shared = zeroMean(rng, k * k);
  const own = [zeroMean(rng, k * k), zeroMean(rng, k * k), zeroMean(rng, k * k)];
  // learned per-channel noise strengths (the noise's fixed colour)
  const strength = [0.6 + 0.8 * rng.next(), 0.6 + 0.8 * rng.next(), 0.6 + 0.8 * rng.next()];
  const blur = o.blur ? outer(o.blur, o.blur) : null;
  return {
    specific,
    slug,
    decode(L, r) {
      const { w, h } = L;
      // style modulation: the per-image style scales the weights' deviation from the base kernel
      const style = 0.8 + 0.4 * r.next();
      const n = o.latentNoise > 0 ? gaussFill(r, new Float32Array(w * h)) : null;
      const n2 = o.outputNoise > 0 ? gaussFill(r, new Float32Array(4 * w * h)) : null;
      const out = planes(2 * w, 2 * h);
      for (let c = 0; c < 3; c++) {
        const K = new Float64Array(k * k);
        for (let i = 0; i < K.length; i++) K[i] = base[i]! + style * o.eps * (shared[i]! + 0.5 * own[c]![i]!);
        let src = L.p[c]!;
        if (n) {
          src = Float32Array.from(src);
          axpy(src, o.latentNoise * strength[c]!, n);
        }
        let p = transposed2(src, w, h, K, k, 1);
        if (blur) p = conv3(p, 2 * w, 2 * h, blur);
        if (n2) axpy(p, o.outputNoise * strength[2 - c]!, n2);
        out.p[c] = p;
      }
      return quantise(out);
    },
  };
}

function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (Math.abs(x) >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

function styleGan3(): Generator {
  const slug = "stylegan3";
  const rng = weights(slug, "filters");
  // alias-free upsampling: windowed-sinc (Lanczos-3) polyphase filters for output phases at -1/4 and +1/4
  const eps = 0.02;
  const pert = zeroMean(rng, 14);
  const f: [Float64Array, Float64Array] = [new Float64Array(7), new Float64Array(7)];
  for (let a = 0; a < 2; a++) {
    const pos = a === 0 ? -0.25 : 0.25;
    let s = 0;
    for (let j = 0; j < 7; j++) s += f[a]![j] = lanczos3(j - 3 - pos);
    for (let j = 0; j < 7; j++) f[a]![j] = f[a]![j]! / s + eps * pert[a * 7 + j]!;
  }
  return {
    specific: 2,
    slug,
    decode(L) {
      const { w, h } = L;
      const out = planes(2 * w, 2 * h);
      for (let c = 0; c < 3; c++) out.p[c] = polyphaseUp2(L.p[c]!, w, h, f, 3);
      return quantise(out);
    },
  };
}

// ---------------------------------------------------------------- SD family

interface VaeWeights {
  content: [Float64Array, Float64Array, Float64Array];
  stages: Float64Array[];
  gains: [number, number, number];
}

function vaeWeights(slug: string, eps: number): VaeWeights {
  const rng = weights(slug, "vae");
  const content = perturbed(rng, TENT3, eps);
  const stages: Float64Array[] = [];
  for (let s = 0; s < 3; s++) {
    const k = new Float64Array(9);
    for (let i = 0; i < 9; i++) k[i] = 0.5 * TENT3[i]! + 0.35 * gauss(rng);
    stages.push(k);
  }
  const g = 0.7 + 0.3 * rng.next();
  return { content, stages, gains: [g + 0.15 * gauss(rng), g, g + 0.15 * gauss(rng)] };
}

function sdFamily(specific: number, slug: string, vae: VaeWeights, latent: { detail: number; noise: number; amp: number; sharpen: number }): Generator {
  return {
    specific,
    slug,
    decode(L, r) {
      const { w, h } = L;
      let src = L;
      if (latent.sharpen > 0) {
        // fine-tune: crisper, flatter latents (unsharp mask at latent resolution)
        src = planes(w, h);
        for (let c = 0; c < 3; c++) {
          const blur = conv3(L.p[c]!, w, h, TENT3);
          const p = src.p[c]!;
          const q = L.p[c]!;
          for (let i = 0; i < p.length; i++) p[i] = q[i]! + latent.sharpen * (q[i]! - blur[i]!);
        }
      }
      // coarse 1/8-resolution latent: local luminance detail plus sampling noise
      const w8 = w >> 2;
      const h8 = h >> 2;
      const y8 = down2(down2(luma(src), w, h), w >> 1, h >> 1);
      const blur8 = conv3(y8, w8, h8, TENT3);
      const z = gaussFill(r, new Float32Array(w8 * h8));
      for (let i = 0; i < z.length; i++) z[i] = latent.detail * (y8[i]! - blur8[i]!) + latent.noise * z[i]!;
      let feat = z;
      let fw = w8;
      let fh = h8;
      for (const k of vae.stages) {
        feat = softsign(conv3(upNearest2(feat, fw, fh), 2 * fw, 2 * fh, k));
        fw *= 2;
        fh *= 2;
      }
      const res = normalise(feat);
      const out = planes(2 * w, 2 * h);
      for (let c = 0; c < 3; c++) {
        const p = conv3(upNearest2(src.p[c]!, w, h), 2 * w, 2 * h, vae.content[c]!);
        axpy(p, latent.amp * vae.gains[c]!, res);
        out.p[c] = p;
      }
      return quantise(out);
    },
  };
}

// ---------------------------------------------------------------- Midjourney

function bilinearPhases(): Float64Array {
  // 3×3 kernels (offsets -1, 0, +1) that interpolate output phases at -1/4 (a=0) and +1/4 (a=1)
  const one = [
    [0.25, 0.75, 0],
    [0, 0.75, 0.25],
  ];
  const k = new Float64Array(36);
  for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) k.set(outer(one[a]!, one[b]!), (2 * a + b) * 9);
  return k;
}

function midjourney(): Generator {
  const slug = "midjourney";
  const rng = weights(slug, "shuffle");
  const content = perturbed(rng, bilinearPhases(), 0.035);
  const bias = zeroMean(rng, 4).map((v) => v * 0.004);
  const coarse: [Float64Array, Float64Array][] = [];
  const phases = bilinearPhases();
  for (let s = 0; s < 2; s++) {
    const k = new Float64Array(36);
    for (let i = 0; i < 36; i++) k[i] = 0.4 * phases[i]! + 0.3 * gauss(rng);
    coarse.push([k, Float64Array.from({ length: 4 }, () => 0.3 * gauss(rng))]);
  }
  return {
    specific: 6,
    slug,
    decode(L, r) {
      const { w, h } = L;
      const w4 = w >> 1;
      const h4 = h >> 1;
      const y4 = down2(luma(L), w, h);
      const z = gaussFill(r, new Float32Array(w4 * h4));
      for (let i = 0; i < z.length; i++) z[i] = 0.5 + (y4[i]! - 0.5) * 0.8 + 0.15 * z[i]!;
      const mid = softsign(pixelShuffle2(z, w4, h4, coarse[0]![0], coarse[0]![1]));
      const res = normalise(pixelShuffle2(mid, w, h, coarse[1]![0], coarse[1]![1]));
      const out = planes(2 * w, 2 * h);
      for (let c = 0; c < 3; c++) {
        const p = pixelShuffle2(L.p[c]!, w, h, content[c]!, bias);
        axpy(p, 0.012, res);
        out.p[c] = p;
      }
      // upscaler-style sharpening
      return sharpenQuantise(out, 0.4);
    },
  };
}

// ---------------------------------------------------------------- DALL·E 3

function dalle3(): Generator {
  const slug = "dalle3";
  const rng = weights(slug, "diffusion");
  // fixed anisotropic correlation kernel of the structured noise, and its colour mix
  const corr = new Float64Array(9);
  for (let i = 0; i < 9; i++) corr[i] = TENT3[i]! + 0.08 * gauss(rng);
  corr[3] = corr[3]! + 0.12;
  corr[5] = corr[5]! + 0.12; // horizontally elongated
  let n2 = 0;
  for (const v of corr) n2 += v * v;
  for (let i = 0; i < 9; i++) corr[i] = corr[i]! / Math.sqrt(n2);
  const mix = [0.85 + 0.3 * rng.next(), 1, 0.85 + 0.3 * rng.next()];
  // latent steps (noise level, denoising strength), then the full-resolution decoder's noise level
  const steps: [number, number][] = [
    [0.006, 0.6],
    [0.003, 0.5],
  ];
  const finalSigma = 0.004;
  return {
    specific: 7,
    slug,
    decode(L, r) {
      const { w, h } = L;
      const W = 2 * w;
      const H = 2 * h;
      // iterative denoising in the latent: add structured noise, pull towards a local average
      let x: Planes = L;
      for (const [sigma, lambda] of steps) {
        const eta = conv3(gaussFill(r, new Float32Array(w * h)), w, h, corr);
        const next = planes(w, h);
        for (let c = 0; c < 3; c++) {
          const p = Float32Array.from(x.p[c]!);
          axpy(p, sigma * mix[c]!, eta);
          const blur = conv3(p, w, h, TENT3);
          const q = next.p[c]!;
          for (let i = 0; i < p.length; i++) q[i] = p[i]! + lambda * (blur[i]! - p[i]!);
        }
        x = next;
      }
      // decoder: smooth (bilinear) upsampling plus the last, full-resolution structured noise
      const eta = conv3(conv3(gaussFill(r, new Float32Array(W * H)), W, H, corr), W, H, TENT3);
      const out = planes(W, H);
      for (let c = 0; c < 3; c++) {
        const p = upBilinear2(x.p[c]!, w, h);
        axpy(p, finalSigma * 2.2 * mix[c]!, eta); // 2.2 ≈ 1/std of the twice-filtered noise
        out.p[c] = p;
      }
      return quantise(out);
    },
  };
}

// ---------------------------------------------------------------- registry

const SDXL_VAE = vaeWeights("sdxl", 0.1);

/** Index = ImagiNet specific-model id. */
export const GENERATORS: readonly Generator[] = [
  ganTransposed(0, "progan", { k: 3, base: [0.5, 1, 0.5], eps: 0.05, latentNoise: 0, outputNoise: 0 }),
  ganTransposed(1, "stylegan_xl", { k: 3, base: [0.5, 1, 0.5], eps: 0.06, latentNoise: 0.01, outputNoise: 0.006, blur: [0.125, 0.75, 0.125] }),
  styleGan3(),
  sdFamily(3, "sd21", vaeWeights("sd21", 0.1), { detail: 2, noise: 0.05, amp: 0.008, sharpen: 0 }),
  sdFamily(4, "sdxl", SDXL_VAE, { detail: 2, noise: 0.05, amp: 0.01, sharpen: 0 }),
  sdFamily(5, "animagine_xl", SDXL_VAE, { detail: 3, noise: 0.02, amp: 0.01, sharpen: 0.5 }),
  midjourney(),
  dalle3(),
];
