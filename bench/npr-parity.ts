/**
 * Benchmark (not a test): NPR at full width (upstream's networks/resnet.py: 64-channel stem, layer1
 * and layer2 of ResNet-50, fc1 512 → 1; 1.44 M parameters, too large for a committed fixture) against
 * PyTorch, on two random 256×256 images, through ONNX (onnxruntime) and eagerly (libtorch).
 *
 *   node --import tsx bench/npr-parity.ts
 *
 * Needs /usr/bin/python3 with torch (scripts/fixtures/make_npr_fixtures.py --full writes the random
 * checkpoint and PyTorch's logits) and, for the eager half, the libtorch addon.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { readTorchCheckpoint, stateDict } from "../src/checkpoint/index.js";
import { buildDetector } from "../src/detectors/build.js";
import { NPR, type NprModuleConfig } from "../src/detectors/npr.js";
import * as E from "../src/engine/index.js";
import { npr } from "../src/models/npr.js";
import { DetectorSession, normalizeBatch } from "../src/runtime/session.js";
import { f32Tolerance, forwardOperations, relErr } from "../test/support/tolerance.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), "npr-parity-"));
try {
  const py = spawnSync("/usr/bin/python3", [path.join(here, "..", "scripts", "fixtures", "make_npr_fixtures.py"), "--full", dir], { stdio: "inherit" });
  if (py.status !== 0) throw new Error("make_npr_fixtures.py --full failed");
  const sd = stateDict(await readTorchCheckpoint(path.join(dir, "npr_full.pth")));
  const io = stateDict(await readTorchCheckpoint(path.join(dir, "npr_full_io.pth")));
  const image = io.get("image")!;
  const [n, h, w] = image.shape as [number, number, number, number];
  const want = (await io.get("logit")!.read()) as Float32Array;
  const weightShapes = [...sd].filter(([k]) => k.endsWith(".weight") && !k.startsWith("fc.")).map(([, t]) => t.shape);
  const tol = f32Tolerance(forwardOperations(weightShapes, h * w) + 2);

  // the same ImageNet normalisation for both backends
  const bytes = (await image.read()) as Uint8Array;
  const images = Array.from({ length: n }, (_, i) => ({ data: bytes.slice(i * h * w * 3, (i + 1) * h * w * 3), width: w, height: h }));
  const { data: x } = normalizeBatch(images);

  const built = await buildDetector(NPR, sd);
  const cfg = built.config as NprModuleConfig;
  const session = await DetectorSession.create(built.onnx);
  let t0 = performance.now();
  const onnx = (await session.runTensor(x, [n, 3, h, w])).logit!.data;
  console.log(`onnx:  max relative error ${relErr(onnx, want).toExponential(2)} (bound ${tol.toExponential(1)}), ${(performance.now() - t0).toFixed(0)} ms for ${n} images`);
  await session.release();

  if (E.nativeAvailable()) {
    const params = await E.loadParams(sd);
    t0 = performance.now();
    const eager = E.tidy(() =>
      E.noGrad(() => {
        const ops = new E.EagerOps(params, { image: E.tensor(x, [n, 3, h, w]) });
        npr(ops, cfg.npr, cfg.prefix);
        return ops.outputs.get("logit")!.toArray() as Float32Array;
      }),
    );
    console.log(`eager: max relative error ${relErr(eager, want).toExponential(2)} (bound ${tol.toExponential(1)}), ${(performance.now() - t0).toFixed(0)} ms for ${n} images`);
  } else {
    console.log("eager: skipped (the libtorch addon is not built)");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
