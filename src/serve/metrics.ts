/** The server's Prometheus metrics (prom-client, in a registry of its own). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "imaginet_http_requests_total", help: "HTTP requests by route, method and status", labelNames: ["route", "method", "status"], registers: [this.registry] });
  readonly latency = new Histogram({
    name: "imaginet_http_request_duration_seconds",
    help: "HTTP request latency by route",
    labelNames: ["route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: "imaginet_batch_size",
    help: "images per onnxruntime run, by detector",
    labelNames: ["detector"],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });
  readonly rejections = new Counter({ name: "imaginet_rejections_total", help: "requests refused, by reason (the error code)", labelNames: ["reason"], registers: [this.registry] });
  readonly images = new Counter({ name: "imaginet_images_total", help: "images received, by outcome", labelNames: ["outcome"], registers: [this.registry] });

  /** `depth()`: images waiting per detector, read when scraped. */
  constructor(depth: () => Record<string, number>) {
    new Gauge({
      name: "imaginet_queue_depth",
      help: "images waiting for an onnxruntime run, by detector",
      labelNames: ["detector"],
      registers: [this.registry],
      collect() {
        for (const [detector, n] of Object.entries(depth())) this.set({ detector }, n);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: "imaginet_" });
  }
}
