import { Option, type Command } from "commander";
import { DEFAULT_DETECTOR, DETECTORS, findDetector } from "../../detectors/index.js";
import { DEFAULT_MAX_PIXELS } from "../../image/decode.js";
import { readCalibration } from "../../runtime/detect.js";
import type { DetectorInput } from "../../serve/detectors.js";
import { InputError } from "../../util/errors.js";
import { action, EXIT_OK, parseIntInRange, parseNonNegativeInt, parsePositiveInt, printJsonLine } from "../common.js";
import { resolveModel, shippedCalibration } from "../model-options.js";

interface ServeCliOptions {
  host: string;
  port: number;
  batch: number;
  batchWaitMs: number;
  queue: number;
  token?: string;
  auth: boolean;
  maxBodyMb: number;
  maxPixels: number;
  maxImages: number;
  timeoutMs: number;
  threads?: number;
  device: "cpu" | "cuda";
  json?: boolean;
  anchors?: string;
  anchorRoot?: string;
}

type Word = { kind: "detector" | "weights" | "calibration"; value: string };

/** --weights and --calibration belong to the --detector named before them: the words in the order given. */
export function groupDetectorOptions(words: readonly Word[]): { detector: string; weights: string[]; calibration?: string }[] {
  const out: { detector: string; weights: string[]; calibration?: string }[] = [];
  for (const w of words) {
    if (w.kind === "detector") {
      if (out.some((d) => d.detector === w.value)) throw new InputError(`--detector ${w.value} is given twice`);
      out.push({ detector: w.value, weights: [] });
      continue;
    }
    const last = out.at(-1);
    if (!last) throw new InputError(`--${w.kind} ${w.value} comes before any --detector: it applies to the detector named before it`);
    if (w.kind === "weights") last.weights.push(w.value);
    else if (last.calibration !== undefined) throw new InputError(`--detector ${last.detector} has two --calibration files`);
    else last.calibration = w.value;
  }
  return out;
}

export function registerServe(program: Command): void {
  const words: Word[] = [];
  const record =
    (kind: Word["kind"]) =>
    (value: string, previous: string[] = []): string[] => {
      words.push({ kind, value });
      return [...previous, value];
    };
  program
    .command("serve")
    .description("serve detectors over HTTP: the API of docs/serve-api.md and the web page")
    .addOption(
      new Option("--detector <name>", `a detector to serve (repeat for several): ${DETECTORS.map((d) => d.name).join(", ")}`).argParser(record("detector")).default(undefined, DEFAULT_DETECTOR),
    )
    .addOption(
      new Option("--weights <file>", "the previous --detector's checkpoint (.pth/.pt) or .onnx; repeat where it takes several")
        .argParser(record("weights"))
        .default(undefined, "its published weights from the cache"),
    )
    .addOption(new Option("--calibration <file>", "the previous --detector's calibration JSON or a run's metrics.json").argParser(record("calibration")).default(undefined, "none"))
    .option("--anchors <list>", "wu2023: real anchor images, a list/annotation file or a folder (default with cached weights: upstream's lasted_anchor.txt from the cache)")
    .addOption(new Option("--anchor-root <dir>", "folder the anchor paths are relative to").default(undefined, "the list's folder"))
    .option("--host <host>", "address to listen on; beyond loopback it needs --token or --no-auth", "127.0.0.1")
    .option("--port <n>", "port (0: any free one)", parseIntInRange("--port", 0, 65535), 8080)
    .option("--batch <n>", "images per onnxruntime run", parsePositiveInt("--batch"), 16)
    .option("--batch-wait-ms <n>", "how long an image waits for others to join its batch", parseNonNegativeInt("--batch-wait-ms"), 5)
    .option("--queue <n>", "images waiting per detector before requests get 503", parsePositiveInt("--queue"), 64)
    .addOption(new Option("--token <token>", "bearer token the API needs (Authorization: Bearer TOKEN)").env("IMAGINET_TOKEN"))
    .option("--no-auth", "serve beyond loopback without a token, on purpose")
    .option("--max-body-mb <n>", "largest request body, in MiB", parsePositiveInt("--max-body-mb"), 50)
    .option("--max-pixels <n>", "largest image, in pixels (decoding refuses more)", parsePositiveInt("--max-pixels"), DEFAULT_MAX_PIXELS)
    .option("--max-images <n>", "most images in one request", parsePositiveInt("--max-images"), 32)
    .option("--timeout-ms <n>", "a request taking longer gets 503", parsePositiveInt("--timeout-ms"), 30000)
    .addOption(new Option("--threads <n>", "onnxruntime intra-op threads").argParser(parsePositiveInt("--threads")).default(undefined, "onnxruntime's choice"))
    .addOption(new Option("--device <device>", "where the models run").choices(["cpu", "cuda"]).default("cpu"))
    .option("--json", "print the address as one JSON line on stdout once listening ({url, detectors}); errors as JSON")
    .addHelpText("after", "\nRuns until SIGTERM or SIGINT, then finishes the requests in flight and exits 0.")
    .action(
      action(async (opts: ServeCliOptions) => {
        const detectors: DetectorInput[] = [];
        const groups = groupDetectorOptions(words);
        for (const g of groups.length > 0 ? groups : [{ detector: DEFAULT_DETECTOR, weights: [] }]) {
          const anchored = findDetector(g.detector).anchors !== undefined;
          const anchors = anchored ? { ...(opts.anchors ? { anchors: opts.anchors } : {}), ...(opts.anchorRoot ? { anchorRoot: opts.anchorRoot } : {}) } : {};
          const { spec, model, weights, bundled } = await resolveModel({ detector: g.detector, weights: g.weights, ...anchors });
          const calibration = g.calibration ? await readCalibration(g.calibration) : shippedCalibration(bundled);
          detectors.push({ module: spec, model, weights, ...(calibration ? { calibration } : {}) });
        }
        // fastify and its plug-ins load only for this command, not on every start of the CLI
        const { startServer } = await import("../../serve/app.js");
        const server = await startServer({
          detectors,
          host: opts.host,
          port: opts.port,
          batch: opts.batch,
          batchWaitMs: opts.batchWaitMs,
          queue: opts.queue,
          ...(opts.token !== undefined ? { token: opts.token } : {}),
          noAuth: !opts.auth,
          maxBodyBytes: opts.maxBodyMb * 2 ** 20,
          maxPixels: opts.maxPixels,
          maxImages: opts.maxImages,
          timeoutMs: opts.timeoutMs,
          session: { executionProviders: [opts.device], ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}) },
        });
        const names = detectors.map((d) => d.module.name);
        if (opts.json) printJsonLine({ url: server.url, detectors: names });
        process.stderr.write(`imaginet serve: ${names.join(", ")} on ${server.url} (the page at /, the API under /v1/)\n`);
        await new Promise<void>((resolve) => {
          process.once("SIGTERM", resolve);
          process.once("SIGINT", resolve);
        });
        process.stderr.write("imaginet serve: stopping: finishing the requests in flight\n");
        await server.close();
        return EXIT_OK;
      }),
    );
}
