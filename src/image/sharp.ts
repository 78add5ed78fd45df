/** sharp, loaded on first use: it costs ~0.2 s at start-up, which commands that never decode should not pay. */
import type sharpType from "sharp";

let loaded: Promise<typeof sharpType> | undefined;

export function loadSharp(): Promise<typeof sharpType> {
  loaded ??= import("sharp").then((m) => m.default);
  return loaded;
}
