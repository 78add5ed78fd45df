/**
 * Our half of the SelfCon collapse comparison (docs/wild-dev.md, "SelfCon on wild-dev: why it
 * collapsed"): trains a small ConResNet with our training step on fixed batches (no augmentation,
 * the same order every epoch, constant learning rate), so that selfcon_collapse.py can repeat the
 * run in PyTorch from the same initial weights on the same tensors.
 *
 *   npx tsx scripts/analysis/selfcon-collapse.ts DATA.pth OUTDIR [--optimizer adam] [--lr 3e-3]
 *       [--loss group] [--temperature 0.07] [--epochs 6] [--batch 64] [--width 0.0625] [--feat-dim 32] [--seed 42]
 *
 * DATA.pth: {'x': float32 [N,3,H,W] normalised, 'labels': int64 [N,4]} (selfcon_collapse.py data).
 * Writes OUTDIR/init.pth and OUTDIR/final.pth ({'model': state dict}) and OUTDIR/ours.json (config
 * and the loss of every step).
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { readAll, readTorchCheckpoint, stateDict } from "../../src/checkpoint/index.js";
import { writeTorchCheckpoint } from "../../src/checkpoint/torch-write.js";
import { setNumThreads } from "../../src/engine/index.js";
import { SELFCON_RESNET50, type ConResNetConfig } from "../../src/models/selfcon.js";
import { storeToStateDict } from "../../src/train/checkpoint.js";
import { createModel, makeOptimizer, representationStep, type SelfConLoss, type TrainModel } from "../../src/train/steps.js";
import { writeFileAtomic } from "../../src/util/fs.js";

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    optimizer: { type: "string", default: "adam" },
    lr: { type: "string", default: "3e-3" },
    loss: { type: "string", default: "group" },
    temperature: { type: "string", default: "0.07" },
    epochs: { type: "string", default: "6" },
    batch: { type: "string", default: "64" },
    width: { type: "string", default: "0.0625" },
    "feat-dim": { type: "string", default: "32" },
    seed: { type: "string", default: "42" },
  },
});
const [dataFile, outDir] = positionals;
if (!dataFile || !outDir) throw new Error("usage: selfcon-collapse.ts DATA.pth OUTDIR [options]");

setNumThreads(1);
const data = await readAll(stateDict(await readTorchCheckpoint(dataFile)));
const x = data.get("x") as Float32Array;
const labels64 = data.get("labels") as BigInt64Array;
const n = labels64.length / 4;
const side = Math.round(Math.sqrt(x.length / n / 3));
const width = Number(o.width);
const features = Math.round(512 * width) * 4;
const cfg: ConResNetConfig = { ...SELFCON_RESNET50, trunk: { layers: [1, 1, 1, 1], width, nodown: true, shortcutName: "shortcut" }, hidden: features, featDim: Number(o["feat-dim"]) };
const model: TrainModel = await createModel({ kind: "selfcon", cfg, prefix: "" }, { seed: Number(o.seed) });
await fsp.mkdir(outDir, { recursive: true });
const save = (name: string) => writeTorchCheckpoint(path.join(outDir, name), { model: storeToStateDict(model.params) });
await save("init.pth");

const optimizer = o.optimizer === "sgd" ? "sgd" : "adam";
const opt = makeOptimizer(model, { name: optimizer, lr: Number(o.lr) });
const batch = Number(o.batch);
const per = 3 * side * side;
const losses: number[] = [];
for (let epoch = 1; epoch <= Number(o.epochs); epoch++) {
  for (let s = 0; s + batch <= n; s += batch) {
    const labels = Int32Array.from(labels64.subarray(s * 4, (s + batch) * 4), Number);
    const step = { x: x.subarray(s * per, (s + batch) * per), shape: [batch, 3, side, side] as const, labels };
    losses.push(representationStep(model, opt, step, { loss: o.loss as SelfConLoss, temperature: Number(o.temperature) }));
  }
  console.log(`epoch ${epoch}: last loss ${losses.at(-1)!.toFixed(5)}`);
}
await save("final.pth");
const config = { optimizer, lr: Number(o.lr), loss: o.loss, temperature: Number(o.temperature), epochs: Number(o.epochs), batch, width, featDim: cfg.featDim, seed: Number(o.seed) };
await writeFileAtomic(path.join(outDir, "ours.json"), JSON.stringify({ config, losses }, null, 1));
