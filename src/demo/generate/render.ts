/**
 * Renders one planned image to interleaved 8-bit RGB: real images through the simulated camera,
 * synthetic ones through their generator's decoder. Every random choice comes from (seed, item id),
 * so an image does not depend on which worker renders it or in what order.
 */
import { Rng } from "../../util/rng.js";
import { camera, cameraParams } from "./camera.js";
import { GENERATORS } from "./generators.js";
import type { Item } from "./plan.js";
import { renderScene } from "./scenes.js";

export interface Rendered {
  width: number;
  height: number;
  /** interleaved RGB, width × height × 3 */
  rgb: Uint8Array;
}

export function renderItem(seed: number, it: Item): Rendered {
  const scene = new Rng(seed, `scene:${it.id}`);
  const pipe = new Rng(seed, `pipeline:${it.id}`);
  const { width, height } = it;
  if (it.origin === 0) {
    // the camera: the scene at sensor resolution
    const c = renderScene(it.content, scene, width, height);
    return { width, height, rgb: camera(c.img, cameraParams(pipe), pipe) };
  }
  // a generator: the scene at latent resolution (half), decoded
  const c = renderScene(it.content, scene, width / 2, height / 2);
  return { width, height, rgb: GENERATORS[it.specific]!.decode(c.img, pipe) };
}
