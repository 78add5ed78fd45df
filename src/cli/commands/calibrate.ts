import { Option, type Command } from "commander";
import * as path from "node:path";
import { readAnnotationFile } from "../../data/annotations.js";
import { sha256OfFile } from "../../eval/results.js";
import { fitLogistic } from "../../eval/calibration.js";
import { findDetector, DETECTORS } from "../../models/registry.js";
import { detect } from "../../runtime/detect.js";
import { writeFileAtomic } from "../../util/fs.js";
import { Progress } from "../../util/progress.js";
import { action, collect, parsePositiveInt, printJson } from "../common.js";
import { loadModelFromCli, type DetectCliOptions } from "./detect.js";

export function registerCalibrate(program: Command): void {
  program
    .command("calibrate")
    .description("fit upstream's calibration (logistic regression, C = 1e10, on the raw score) on labelled images; write {a, b} for `detect --calibration`")
    .argument("<annotations>", "calibration annotation file (upstream: test_calibration.txt, 40 real + 40 synthetic)")
    .requiredOption("--detector <name>", `detector: ${DETECTORS.map((d) => d.name).join(", ")}`)
    .requiredOption("--weights <file>", "PyTorch checkpoint or .onnx (twice for corvi2022's average)", collect)
    .requiredOption("--root <dir>", "folder the annotation paths are relative to")
    .requiredOption("-o, --out <file>", "calibration JSON to write")
    .option("--anchors <list>", "wu2023: real anchor images")
    .option("--anchor-root <dir>", "folder the --anchors paths are relative to (default: --root)")
    .option("--batch <n>", "images per inference batch", parsePositiveInt("--batch"), 16)
    .option("--threads <n>", "onnxruntime intra-op threads", parsePositiveInt("--threads"))
    .option("--workers <n>", "worker threads decoding images", parsePositiveInt("--workers"))
    .addOption(new Option("--device <device>", "where the model runs").choices(["cpu", "cuda"]).default("cpu"))
    .option("--json", "print the calibration as JSON")
    .action(
      action(async (annotations: string, opts: DetectCliOptions & { root: string; out: string; json?: boolean }) => {
        const spec = findDetector(opts.detector);
        if (spec.output !== "binary") throw new Error(`${spec.title} identifies generators; calibrate a detection model`);
        const records = (await readAnnotationFile(annotations, { format: "imaginet" })).records;
        const model = await loadModelFromCli(spec, { ...opts, anchorRoot: opts.anchorRoot ?? opts.root });
        const progress = new Progress("scoring", { total: records.length, unit: "img", enabled: opts.json ? false : undefined });
        const results = await detect(spec, model, records.map((r) => path.join(opts.root, r.path)), {
          batchSize: opts.batch,
          executionProviders: [opts.device],
          ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
          ...(opts.workers ? { workers: opts.workers } : {}),
          onImage: () => progress.tick(),
        });
        progress.finish();
        const bad = results.filter((r) => "error" in r);
        if (bad.length > 0) throw new Error(`${bad.length} calibration image(s) could not be read: ${bad.slice(0, 5).map((r) => r.file).join(", ")}`);
        const scores = Float64Array.from(results, (r) => ("score" in r ? r.score : NaN));
        const fit = fitLogistic(scores, Float64Array.from(records, (r) => r.origin));
        const out = {
          a: fit.a,
          b: fit.b,
          method: "logistic regression on the raw score, C = 1e10 (upstream's protocol)",
          detector: spec.name,
          weightsSha256: (await Promise.all(opts.weights.map(sha256OfFile))).join(","),
          annotations: { file: path.basename(annotations), sha256: await sha256OfFile(annotations), real: records.filter((r) => r.origin === 0).length, synthetic: records.filter((r) => r.origin === 1).length },
          converged: fit.converged,
          ...(fit.warning ? { warning: fit.warning } : {}),
        };
        await writeFileAtomic(opts.out, `${JSON.stringify(out, null, 2)}\n`);
        if (opts.json) return printJson(out);
        process.stdout.write(`${opts.out}: p = sigmoid(${fit.a.toPrecision(6)}·score + ${fit.b.toPrecision(6)}) from ${records.length} images${fit.warning ? ` (${fit.warning})` : ""}\n`);
      }),
    );
}
