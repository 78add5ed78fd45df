/**
 * Weights by name end to end (issue #16's "done when"): `imaginet weights download corvi2022` from a
 * loopback mirror of Google Drive (the confirmation page included), then `imaginet detect` with the
 * detector's name alone finds the two models in the cache and scores exactly as the same files given
 * with --weights. Nothing here touches the internet.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { DRIVE_BASE } from "../src/data/download/drive.js";
import { loadSharp } from "../src/image/sharp.js";
import { cliAsync, jsonLines, REPO, tmpDir } from "./helpers.js";
import { serveDrive, TestServer } from "./support/http-server.js";
import { makeZip } from "./support/zip.js";

const MODELS = path.join(REPO, "test", "fixtures", "models");
const CORVI_ID = "1sAoAuOGCWS4dAMBhDkRHgBf4SgBgvkVf";
const srv = new TestServer();
// upstream's zip layout (docs/weights.md): the latent-diffusion model first, then the ProGAN one
const latent = path.join(MODELS, "corvi_tiny.pth");
const progan = path.join(MODELS, "corvi_tiny_b.pth");
const zip = makeZip([
  { name: "weights/Grag2021_latent/model_epoch_best.pth", data: readFileSync(latent) },
  { name: "weights/Grag2021_progan/model_epoch_best.pth", data: readFileSync(progan) },
]);

let image = "";
before(async () => {
  await srv.start();
  srv.routes.set("/drive/download", serveDrive({ [CORVI_ID]: zip }, DRIVE_BASE));
  image = path.join(tmpDir(), "img.png");
  const px = Buffer.alloc(96 * 80 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37 + (i >> 7) * 11) % 256;
  const sharp = await loadSharp();
  await sharp(px, { raw: { width: 96, height: 80, channels: 3 } })
    .png()
    .toFile(image);
});
after(() => srv.stop());

describe("detectors by name, weights from the cache", () => {
  test("`weights download corvi2022` then `detect --detector corvi2022` scores as the two files given by hand", async () => {
    const home = tmpDir();
    const env = { IMAGINET_HOME: home };
    const missing = await cliAsync(["detect", image, "--detector", "corvi2022", "--workers", "1"], { env });
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `imaginet: error: the weights "corvi2022" are not downloaded (cache: ${path.join(home, "weights")}): run \`imaginet weights download corvi2022\`\n`);

    const dl = await cliAsync(["weights", "download", "corvi2022", "--mirror", `${DRIVE_BASE}=${srv.base}/drive/download`, "--retries", "0"], { env });
    assert.equal(dl.code, 0, dl.stderr);

    const byName = await cliAsync(["detect", image, "--detector", "corvi2022", "--workers", "1", "--json"], { env });
    assert.equal(byName.code, 0, byName.stderr);
    const byHand = await cliAsync(["detect", image, "--detector", "corvi2022", "--weights", latent, "--weights", progan, "--workers", "1", "--json"]);
    assert.equal(byHand.code, 0, byHand.stderr);
    const [a] = jsonLines(byName.stdout);
    const [b] = jsonLines(byHand.stdout);
    assert.equal(a.file, image);
    assert.equal(typeof a.score, "number");
    assert.deepEqual(a, b);

    // convert records the cached files it was built from
    const out = path.join(home, "corvi.onnx");
    const conv = await cliAsync(["convert", "--detector", "corvi2022", "-o", out, "--json"], { env });
    assert.equal(conv.code, 0, conv.stderr);
    const cached = path.join(home, "weights", "corvi2022", "weights");
    assert.deepEqual(JSON.parse(conv.stdout).weights, [path.join(cached, "Grag2021_latent", "model_epoch_best.pth"), path.join(cached, "Grag2021_progan", "model_epoch_best.pth")]);
  });

  test("a detector without published weights, and wu2023's cached anchor list without a dataset root, say what to pass", async () => {
    const env = { IMAGINET_HOME: tmpDir() };
    const id = await cliAsync(["detect", image, "--detector", "imaginet-id"], { env });
    assert.deepEqual([id.code, id.stderr], [2, "imaginet: error: imaginet-id has no published weights to download: pass --weights FILE\n"]);
    const wu = await cliAsync(["detect", image, "--detector", "wu2023"], { env });
    assert.deepEqual([wu.code, wu.stderr], [2, "imaginet: error: Wu2023 (LASTED)'s anchor list names real images under the ImagiNet dataset root: pass --anchor-root DATA (or --anchors)\n"]);
    const rooted = await cliAsync(["detect", image, "--detector", "wu2023", "--anchor-root", tmpDir()], { env });
    assert.equal(rooted.code, 2);
    assert.match(rooted.stderr, /: run `imaginet weights download wu2023 wu2023-anchors`\n$/);
  });
});
