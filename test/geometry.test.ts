import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { centerCrop, crop, flip, padIfNeeded, reflect101, rot90, toGray, torchvisionCenterCrop, type FlipCode } from "../src/image/geometry.js";
import type { RgbImage } from "../src/image/types.js";
import { REPO } from "./helpers.js";

// made by scripts/fixtures/make_geometry_fixtures.py (OpenCV + numpy)
interface Flat {
  width: number;
  height: number;
  data: number[];
}
const fx = JSON.parse(readFileSync(path.join(REPO, "test/fixtures/geometry/geometry.json"), "utf8")) as Record<string, Flat & Record<string, Flat>>;
const img = (f: Flat): RgbImage => ({ width: f.width, height: f.height, data: Uint8Array.from(f.data) });
const same = (a: RgbImage, f: Flat): void => {
  assert.deepEqual([a.width, a.height], [f.width, f.height]);
  assert.deepEqual([...a.data], f.data);
};

describe("geometry against OpenCV/numpy", () => {
  const input = img(fx.input!);
  test("reflect-101 padding, centred as PadIfNeeded, also wider than the image", () => {
    same(padIfNeeded(input, 11, 9), fx.pad_11x9!);
    same(padIfNeeded(input, 20, 20), fx.pad_20x20!);
    same(padIfNeeded(img(fx.tiny!), 5, 4), fx.pad_tiny_5x4!);
    assert.equal(padIfNeeded(input, 3, 3), input, "no copy when large enough");
    assert.deepEqual(
      [-3, -2, -1, 0, 4, 5, 6, 7, 8].map((i) => reflect101(i, 5)),
      [3, 2, 1, 0, 4, 3, 2, 1, 0],
    );
  });
  test("centre crop offsets as albumentations CenterCrop", () => same(centerCrop(input, 4, 3), fx.center_crop_3x4!));
  test("torchvision CenterCrop on PIL images: zero padding where smaller, offsets rounded half to even", () => {
    // made by scripts/fixtures/make_tv_crop_fixtures.py (torchvision 0.14)
    const tv = JSON.parse(readFileSync(path.join(REPO, "test/fixtures/geometry/tv_center_crop.json"), "utf8")) as { cases: { size: number; input: Flat; output: Flat }[] };
    assert.equal(tv.cases.length, 9);
    for (const c of tv.cases) same(torchvisionCenterCrop(img(c.input), c.size), c.output);
  });
  test("rot90 as np.rot90 for k = 0..3", () => {
    for (const k of [0, 1, 2, 3]) same(rot90(input, k), fx.rot90![String(k)]!);
  });
  test("flips as cv2.flip codes -1, 0, 1", () => {
    for (const c of [-1, 0, 1] as FlipCode[]) same(flip(input, c), fx.flip![String(c)]!);
  });
  test("greyscale as cv2 RGB2GRAY → GRAY2RGB", () => same(toGray(input), fx.to_gray!));
  test("crop outside the image is refused", () => {
    assert.throws(() => crop(input, 5, 0, 3, 3), { message: "crop 3×3+5+0 is outside the 7×5 image" });
  });
});
