/**
 * Report plots as SVG, drawn with Vega-Lite (compiled to Vega and rendered headless in Node with
 * `renderer: "none"`; no canvas or browser needed). Inputs are plain arrays, not metric code:
 *  - `rocSvg`: ROC curves (fpr/tpr points), several detectors on one chart, AUC in the legend;
 *  - `reliabilitySvg`: reliability diagrams (per bin: mean predicted probability vs fraction of
 *    positives) over a histogram of the bin counts;
 *  - `severitySvg`: a metric against a perturbation level (JPEG quality, resize factor), one line per detector.
 *
 * The output is deterministic: same input, same bytes. Text widths are estimated from character counts
 * (`textMetrics.canvas(false)`, so an installed `canvas` package cannot change the layout), Vega's
 * clip/gradient id counters are reset before each render, and the ids that remain are prefixed with a
 * hash of the SVG so several plots can be inlined into one HTML page without clashing.
 */
import { createHash } from "node:crypto";
import type { TopLevelSpec } from "vega-lite";

/** Fonts the SVG asks for (the HTML report uses the same stack). */
export const PLOT_FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";

export interface PlotOptions {
  title?: string;
  /** Plot area width and height in px (defaults depend on the plot). */
  width?: number;
  height?: number;
}

export interface RocCurve {
  /** Detector name. */
  name: string;
  /** False / true positive rates, same length, in curve order (from (0,0) to (1,1)). */
  fpr: number[];
  tpr: number[];
  /** Shown in the legend; computed from the points (trapezoids) when absent. */
  auc?: number;
}

export interface ReliabilityBin {
  /** Bin edges of predicted probability. */
  lo: number;
  hi: number;
  /** Mean predicted probability of the bin's samples (ignored when count is 0). */
  meanPredicted: number;
  /** Fraction of the bin's samples that are positive (synthetic). */
  fractionPositive: number;
  count: number;
}

export interface ReliabilitySeries {
  name: string;
  bins: ReliabilityBin[];
  /** Expected calibration error, shown in the legend when given. */
  ece?: number;
}

export interface SeveritySeries {
  name: string;
  points: { x: number; y: number }[];
}

export interface SeverityOptions extends PlotOptions {
  /** Axis titles, e.g. "JPEG quality" and "Balanced accuracy". */
  xTitle: string;
  yTitle: string;
  /** Draw the x axis from high to low (JPEG quality: 100 → 60, stronger to the right). */
  xReverse?: boolean;
  /** y axis range; default [0, 1]. */
  yDomain?: [number, number];
  /** Guide line, e.g. 0.5 for chance-level balanced accuracy. */
  yRule?: number;
}

const AXIS_GRID = "#e6e6e6";
const COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac", "#eeca3b"];

function baseConfig(): NonNullable<TopLevelSpec["config"]> {
  return {
    font: PLOT_FONT,
    view: { stroke: "#bbbbbb" },
    axis: { gridColor: AXIS_GRID, labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal" },
    legend: { labelFontSize: 11, titleFontSize: 11, labelLimit: 320, symbolStrokeWidth: 2 },
    title: { fontSize: 14, anchor: "start", fontWeight: "bold" },
    range: { category: COLORS },
  };
}

function colorScale(names: string[]): { domain: string[]; range: string[] } {
  return { domain: names, range: names.map((_, i) => COLORS[i % COLORS.length]!) };
}

/** Area under a curve by trapezoids, points taken in the order given. */
export function trapezoidAuc(fpr: number[], tpr: number[]): number {
  let a = 0;
  for (let i = 1; i < Math.min(fpr.length, tpr.length); i++) a += ((fpr[i]! - fpr[i - 1]!) * (tpr[i]! + tpr[i - 1]!)) / 2;
  return a;
}

/**
 * Drops points that change nothing visible: Ramer–Douglas–Peucker with tolerance `eps` (in data units;
 * the default, 1/2000, is under half a pixel on a 1000 px plot). First and last points are kept.
 */
export function simplifyCurve(xs: number[], ys: number[], eps = 1 / 2000): { x: number[]; y: number[] } {
  const n = Math.min(xs.length, ys.length);
  if (n <= 2) return { x: xs.slice(0, n), y: ys.slice(0, n) };
  const keep = new Uint8Array(n);
  keep[0] = 1;
  keep[n - 1] = 1;
  const stack: [number, number][] = [[0, n - 1]];
  while (stack.length > 0) {
    const [a, b] = stack.pop()!;
    const ax = xs[a]!,
      ay = ys[a]!,
      bx = xs[b]!,
      by = ys[b]!;
    const dx = bx - ax,
      dy = by - ay;
    const len = Math.hypot(dx, dy);
    let worst = -1,
      at = -1;
    for (let i = a + 1; i < b; i++) {
      const d = len === 0 ? Math.hypot(xs[i]! - ax, ys[i]! - ay) : Math.abs(dy * (xs[i]! - ax) - dx * (ys[i]! - ay)) / len;
      if (d > worst) (worst = d), (at = i);
    }
    if (worst > eps && at > 0) {
      keep[at] = 1;
      stack.push([a, at], [at, b]);
    }
  }
  const x: number[] = [],
    y: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) x.push(xs[i]!), y.push(ys[i]!);
  return { x, y };
}

/** Rounds to 6 decimals so float noise cannot change the bytes, and keeps JSON free of NaN. */
const r6 = (v: number): number => (Number.isFinite(v) ? Math.round(v * 1e6) / 1e6 : 0);

function checkNames(names: string[], what: string): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new Error(`${what}: series name ${JSON.stringify(n)} appears twice`);
    seen.add(n);
  }
}

/** ROC curves of several detectors on one chart; the legend shows each AUC with 4 decimals. */
export async function rocSvg(curves: RocCurve[], opts: PlotOptions = {}): Promise<string> {
  checkNames(
    curves.map((c) => c.name),
    "rocSvg",
  );
  const labels = curves.map((c) => `${c.name} (AUC ${(c.auc ?? trapezoidAuc(c.fpr, c.tpr)).toFixed(4)})`);
  const values = curves.flatMap((c, k) => {
    if (c.fpr.length !== c.tpr.length) throw new Error(`rocSvg: ${c.name}: fpr and tpr lengths differ`);
    const s = simplifyCurve(c.fpr, c.tpr);
    return s.x.map((x, i) => ({ series: labels[k]!, i, fpr: r6(x), tpr: r6(s.y[i]!) }));
  });
  const size = opts.width ?? 360;
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(opts.title ? { title: opts.title } : {}),
    width: size,
    height: opts.height ?? size,
    config: baseConfig(),
    layer: [
      {
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: { type: "line", color: "#999999", strokeDash: [4, 4], strokeWidth: 1 },
        encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
      },
      {
        data: { values },
        mark: { type: "line", strokeWidth: 2 },
        encoding: {
          x: { field: "fpr", type: "quantitative", title: "False positive rate", scale: { domain: [0, 1] } },
          y: { field: "tpr", type: "quantitative", title: "True positive rate", scale: { domain: [0, 1] } },
          color: { field: "series", type: "nominal", title: "Detector", scale: colorScale(labels), legend: { orient: "bottom-right", fillColor: "white", padding: 6 } },
          order: { field: "i", type: "quantitative" },
        },
      },
    ],
  };
  return renderSvg(spec);
}

/** Reliability diagram (top) over the number of samples per bin (bottom), one colour per series. */
export async function reliabilitySvg(series: ReliabilitySeries[], opts: PlotOptions = {}): Promise<string> {
  checkNames(
    series.map((s) => s.name),
    "reliabilitySvg",
  );
  const labels = series.map((s) => (s.ece === undefined ? s.name : `${s.name} (ECE ${s.ece.toFixed(4)})`));
  const points = series.flatMap((s, k) => s.bins.filter((b) => b.count > 0).map((b) => ({ series: labels[k]!, p: r6(b.meanPredicted), f: r6(b.fractionPositive), n: b.count })));
  // Counts: each bin's width is shared among the series, so bars of different series sit side by side.
  const bars = series.flatMap((s, k) =>
    s.bins.map((b) => {
      const w = (b.hi - b.lo) / series.length;
      return { series: labels[k]!, lo: r6(b.lo + w * k), hi: r6(b.lo + w * (k + 1)), n: b.count };
    }),
  );
  const width = opts.width ?? 360;
  const color = { field: "series", type: "nominal" as const, title: "Detector", scale: colorScale(labels), legend: { orient: "top" as const, direction: "vertical" as const } };
  const x = { type: "quantitative" as const, scale: { domain: [0, 1] } };
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(opts.title ? { title: opts.title } : {}),
    config: baseConfig(),
    spacing: 8,
    vconcat: [
      {
        width,
        height: opts.height ?? width,
        layer: [
          {
            data: {
              values: [
                { x: 0, y: 0 },
                { x: 1, y: 1 },
              ],
            },
            mark: { type: "line", color: "#999999", strokeDash: [4, 4], strokeWidth: 1 },
            encoding: { x: { field: "x", ...x }, y: { field: "y", type: "quantitative" } },
          },
          {
            data: { values: points },
            mark: { type: "line", point: { filled: true, size: 36 }, strokeWidth: 2 },
            encoding: {
              x: { field: "p", ...x, title: null, axis: { labels: false } },
              y: { field: "f", type: "quantitative", title: "Fraction positive (synthetic)", scale: { domain: [0, 1] } },
              color,
            },
          },
        ],
      },
      {
        width,
        height: 90,
        data: { values: bars },
        mark: { type: "rect", opacity: 0.85 },
        encoding: {
          x: { field: "lo", ...x, title: "Mean predicted probability (synthetic)" },
          x2: { field: "hi" },
          y: { field: "n", type: "quantitative", title: "Count", axis: { tickCount: 3 } },
          y2: { datum: 0 },
          color,
        },
      },
    ],
  };
  return renderSvg(spec);
}

/** A metric against perturbation strength, one line (with points) per detector. */
export async function severitySvg(series: SeveritySeries[], opts: SeverityOptions): Promise<string> {
  checkNames(
    series.map((s) => s.name),
    "severitySvg",
  );
  const values = series.flatMap((s) => [...s.points].sort((a, b) => a.x - b.x).map((p) => ({ series: s.name, x: r6(p.x), y: r6(p.y) })));
  const xs = values.map((v) => v.x);
  const width = opts.width ?? 340;
  const yScale = { domain: opts.yDomain ?? [0, 1] };
  const layers: NonNullable<Extract<TopLevelSpec, { layer: unknown }>["layer"]> = [];
  if (opts.yRule !== undefined) {
    layers.push({ data: { values: [{ y: opts.yRule }] }, mark: { type: "rule", color: "#999999", strokeDash: [4, 4] }, encoding: { y: { field: "y", type: "quantitative", scale: yScale } } });
  }
  layers.push({
    data: { values },
    // clipped when the caller narrows the y range, so values outside it cannot draw over the axes
    mark: { type: "line", point: { filled: true, size: 36 }, strokeWidth: 2, clip: opts.yDomain !== undefined },
    encoding: {
      x: {
        field: "x",
        type: "quantitative",
        title: opts.xTitle,
        scale: { domain: xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1], reverse: opts.xReverse ?? false, nice: false, zero: false },
        axis: { values: [...new Set(xs)].sort((a, b) => a - b), format: ".6~g", labelOverlap: false, labelFlush: false },
      },
      y: { field: "y", type: "quantitative", title: opts.yTitle, scale: yScale },
      color: { field: "series", type: "nominal", title: "Detector", scale: colorScale(series.map((s) => s.name)) },
    },
  });
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(opts.title ? { title: opts.title } : {}),
    width,
    height: opts.height ?? 260,
    config: baseConfig(),
    layer: layers,
  };
  return renderSvg(spec);
}

/** Compiles a Vega-Lite spec and renders it to a deterministic SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Vega loads on the first plot, not with every module that imports this one (every CLI start)
  const [vega, { compile }] = await Promise.all([import("vega"), import("vega-lite")]);
  // not in vega's typings; exported by vega-scenegraph through vega
  (vega as unknown as { textMetrics: { canvas(use: boolean): void } }).textMetrics.canvas(false);
  vega.resetSVGDefIds();
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none", logLevel: vega.Warn });
  try {
    const svg = await view.toSVG();
    return prefixIds(svg);
  } finally {
    view.finalize();
  }
}

/** Makes the SVG's ids (`clip1`, `gradient_0`, …) unique per content: `<hash>-clip1`. */
function prefixIds(svg: string): string {
  const ids = [...svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!);
  if (ids.length === 0) return svg;
  const prefix = `p${createHash("sha256").update(svg).digest("hex").slice(0, 10)}-`;
  let out = svg;
  for (const id of new Set(ids)) {
    const esc = id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    out = out
      .replace(new RegExp(`(\\sid=")${esc}"`, "g"), `$1${prefix}${id}"`)
      .replace(new RegExp(`url\\(#${esc}\\)`, "g"), `url(#${prefix}${id})`)
      .replace(new RegExp(`href="#${esc}"`, "g"), `href="#${prefix}${id}"`);
  }
  return out;
}
