import { Option, type Command } from "commander";
import { createRequire } from "node:module";
import * as path from "node:path";
import { readAnnotationFile } from "../../data/annotations.js";
import { joinScores, type Scores } from "../../eval/import.js";
import { hardwareInfo, RUN_SCHEMA, sha256OfFile, writeRun, type RunManifest } from "../../eval/results.js";
import { recipeHash } from "../../image/recipe.js";
import { DETECTORS, findDetector } from "../../models/registry.js";
import { detect } from "../../runtime/detect.js";
import { Progress } from "../../util/progress.js";
import { action, collect, parsePositiveInt, printJson } from "../common.js";
import { loadModelFromCli, type DetectCliOptions } from "./detect.js";

export function registerEvalDetect(evalCmd: Command): void {
  evalCmd
    .command("detect")
    .description("run a detector over annotated test images (and the calibration subset) and write a run for `eval run`")
    .argument("<annotations...>", "test annotation files, e.g. test_gan.txt test_sd.txt test_midjourney.txt test_dalle3.txt")
    .requiredOption("--detector <name>", `detector: ${DETECTORS.map((d) => d.name).join(", ")}`)
    .requiredOption("--weights <file>", "PyTorch checkpoint (.pth/.pt) or an exported .onnx; twice for corvi2022's two-model average", collect)
    .option("--anchors <list>", "wu2023: real anchor images (upstream: annotations/lasted_anchor.txt), relative to --anchor-root")
    .option("--anchor-root <dir>", "folder the --anchors paths are relative to (default: --root)")
    .requiredOption("--root <dir>", "folder the annotation paths are relative to (e.g. the built test set)")
    .requiredOption("--out <dir>", "run directory to write")
    .option("--calibration <annotations>", "calibration annotation file (upstream: test_calibration.txt)")
    .option("--batch <n>", "images per inference batch", parsePositiveInt("--batch"), 16)
    .option("--threads <n>", "onnxruntime intra-op threads", parsePositiveInt("--threads"))
    .option("--workers <n>", "worker threads decoding and preprocessing images (default: half the cores)", parsePositiveInt("--workers"))
    .addOption(new Option("--device <device>", "where the model runs").choices(["cpu", "cuda"]).default("cpu"))
    .option("--json", "print the manifest as JSON")
    .action(
      action(async (files: string[], opts: DetectCliOptions & { root: string; out: string; calibration?: string; json?: boolean }) => {
        const spec = findDetector(opts.detector);
        const annotationFiles = [...files, ...(opts.calibration ? [opts.calibration] : [])];
        const paths = new Set<string>();
        for (const f of annotationFiles) for (const r of (await readAnnotationFile(f, { format: "imaginet" })).records) paths.add(r.path);
        const list = [...paths];
        const started = performance.now();
        const model = await loadModelFromCli(spec, { ...opts, anchorRoot: opts.anchorRoot ?? opts.root });
        const progress = new Progress("detecting", { total: list.length, unit: "img", enabled: opts.json ? false : undefined });
        const results = await detect(spec, model, list.map((p) => path.join(opts.root, p)), { batchSize: opts.batch, ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}), executionProviders: [opts.device], ...(opts.workers ? { workers: opts.workers } : {}), onImage: () => progress.tick() });
        progress.finish();
        const failed = results.flatMap((r, i) => ("error" in r ? [`${list[i]}: ${r.error}`] : []));
        if (failed.length > 0) throw new Error(`${failed.length} image(s) could not be read, so the run would be incomplete:\n  ${failed.slice(0, 10).join("\n  ")}`);
        const scores: Scores = { file: opts.weights.join(", "), columns: [], byPath: new Map(results.map((r, i) => [list[i]!, "logits" in r ? r.logits : "score" in r ? r.score : NaN])) };
        const predictions = await joinScores(scores, files);
        const calibration = opts.calibration ? await joinScores(scores, [opts.calibration]) : null;
        const pkg = createRequire(import.meta.url)("../../../package.json") as { version: string };
        const ort = createRequire(import.meta.url)("onnxruntime-node/package.json") as { version: string };
        const manifest: RunManifest = {
          schema: RUN_SCHEMA,
          detector: { name: spec.title, weightsSha256: (await Promise.all(opts.weights.map(sha256OfFile))).join(",") },
          annotations: await Promise.all(annotationFiles.map(async (f) => ({ file: path.basename(f), sha256: await sha256OfFile(f) }))),
          recipeHash: recipeHash(spec.preprocess),
          seed: null,
          software: { imaginet: pkg.version, node: process.version, "onnxruntime-node": ort.version },
          hardware: hardwareInfo(),
          batchSize: opts.batch,
          precision: "fp32",
          wallSeconds: (performance.now() - started) / 1000,
          createdAt: new Date().toISOString(),
        };
        await writeRun(opts.out, manifest, predictions, calibration);
        if (opts.json) return printJson(manifest);
        process.stdout.write(`${opts.out}: ${predictions.length} test predictions${calibration ? `, ${calibration.length} calibration predictions` : ""} by ${spec.title} in ${manifest.wallSeconds!.toFixed(1)} s; next: imaginet eval run ${opts.out}\n`);
      }),
    );
}
