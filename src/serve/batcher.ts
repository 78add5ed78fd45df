/**
 * Batching concurrent requests into one onnxruntime run per detector: an image waits at most
 * `waitMs` for others to join it (fewer when `maxBatch` arrive first), one run at a time, and the
 * images that arrive during a run make up the next one. The queue is bounded: past `capacity`
 * waiting images `admit` says no and the caller answers 503 instead of letting the queue grow.
 */
import { performance } from "node:perf_hooks";
import type { DetectorSession, NormalizedImage, OutputTensor } from "../runtime/session.js";

export interface BatchOptions {
  maxBatch: number;
  waitMs: number;
  capacity: number;
}

/** One image's outputs (its row of each output, batch dimension dropped) and how it was run. */
export interface BatchResult {
  outputs: Record<string, OutputTensor>;
  queueMs: number;
  inferenceMs: number;
  batchSize: number;
}

interface Waiting {
  image: NormalizedImage;
  since: number;
  signal: AbortSignal | undefined;
  resolve: (r: BatchResult) => void;
  reject: (err: unknown) => void;
}

export class Batcher {
  private waiting: Waiting[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly session: DetectorSession,
    private readonly opts: BatchOptions,
    private readonly onBatch: (size: number) => void = () => {},
  ) {}

  /** Images waiting for a run. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Whether `n` more images fit in the queue. */
  admit(n: number): boolean {
    return this.waiting.length + n <= this.opts.capacity;
  }

  /** Runs one image in the next batch; an aborted image (its request timed out or was answered) leaves the queue. */
  run(image: NormalizedImage, signal?: AbortSignal): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      const w: Waiting = { image, since: performance.now(), signal, resolve, reject };
      this.waiting.push(w);
      // a request that gave up leaves the queue at once, so that it stops counting against the limit
      signal?.addEventListener("abort", () => this.drop(w), { once: true });
      this.schedule();
    });
  }

  private drop(w: Waiting): void {
    const at = this.waiting.indexOf(w);
    if (at < 0) return; // already running: its result is ignored
    this.waiting.splice(at, 1);
    w.reject(new Error("the request was abandoned"));
  }

  private schedule(): void {
    if (this.running) return; // the run's end starts the next
    if (this.waiting.length >= this.opts.maxBatch || this.opts.waitMs === 0) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.waitMs);
  }

  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const first = this.waiting[0];
    if (!first) return;
    // one run takes images of one size (a detector with a fixed-size recipe: all of them)
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    for (const w of this.waiting) {
      const fits = batch.length < this.opts.maxBatch && w.image.width === first.image.width && w.image.height === first.image.height;
      (fits ? batch : rest).push(w);
    }
    this.waiting = rest;
    this.running = true;
    this.onBatch(batch.length);
    const start = performance.now();
    try {
      const outputs = await this.session.runNormalized(batch.map((w) => w.image));
      const inferenceMs = performance.now() - start;
      batch.forEach((w, k) => w.resolve({ outputs: rowOf(outputs, k), queueMs: start - w.since, inferenceMs, batchSize: batch.length }));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.running = false;
      // what arrived during the run has waited long enough
      if (this.waiting.length > 0) void this.flush();
    }
  }
}

/** Row `k` of every output: [N, ...rest] → [...rest]. */
function rowOf(outputs: Record<string, OutputTensor>, k: number): Record<string, OutputTensor> {
  const out: Record<string, OutputTensor> = {};
  for (const [name, t] of Object.entries(outputs)) {
    const per = t.data.length / (t.dims[0] ?? 1);
    out[name] = { data: t.data.slice(k * per, (k + 1) * per), dims: t.dims.slice(1) };
  }
  return out;
}
