/**
 * Benchmark (not a test): CNNDetection at full width (torchvision's ResNet-50 with fc 2048 → 1,
 * 23.5 M parameters, too large for a committed fixture) against PyTorch, on two random 224×224
 * images, through the detector module and the generic builder to ONNX (onnxruntime).
 *
 *   node --import tsx bench/cnndetection-parity.ts
 *
 * Needs /usr/bin/python3 with torch (scripts/fixtures/make_model_fixtures.py --cnndetection-full).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { buildDetector } from "../src/detectors/build.js";
import { CNNDETECTION } from "../src/detectors/cnndetection.js";
import { DetectorSession } from "../src/runtime/session.js";
import { f32Tolerance, forwardOperations, relErr } from "../test/support/tolerance.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), "cnndetection-parity-"));
try {
  const py = spawnSync("/usr/bin/python3", [path.join(here, "..", "scripts", "fixtures", "make_model_fixtures.py"), "--cnndetection-full", dir], { stdio: "inherit" });
  if (py.status !== 0) throw new Error("make_model_fixtures.py --cnndetection-full failed");
  const sd = stateDict(await readTorchCheckpoint(path.join(dir, "cnndetection_full.pth")));
  const io = stateDict(await readTorchCheckpoint(path.join(dir, "cnndetection_full_io.pth")));
  const image = io.get("image")!;
  const [n, h, w] = image.shape as [number, number, number, number];
  const want = (await io.get("logit")!.read()) as Float32Array;
  const tol = f32Tolerance(
    forwardOperations(
      [...sd].filter(([k]) => k.endsWith(".weight")).map(([, t]) => t.shape),
      h * w,
    ),
  );
  const bytes = (await image.read()) as Uint8Array;
  const images = Array.from({ length: n }, (_, i) => ({ data: bytes.slice(i * h * w * 3, (i + 1) * h * w * 3), width: w, height: h }));
  const session = await DetectorSession.create((await buildDetector(CNNDETECTION, sd)).onnx);
  const t0 = performance.now();
  const got = (await session.runImages(images)).logit!.data;
  console.log(`cnndetection full width: max relative error ${relErr(got, want).toExponential(2)} (bound ${tol.toExponential(1)}), ${(performance.now() - t0).toFixed(0)} ms for ${n} images`);
  await session.release();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
