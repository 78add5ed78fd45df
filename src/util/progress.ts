/** A progress bar with rate and ETA on stderr; silent when stderr is not a TTY (or when asked). */
export interface ProgressOptions {
  total?: number;
  unit?: string;
  /** force on/off; default: on only when stderr is a TTY */
  enabled?: boolean;
  stream?: NodeJS.WriteStream;
}

export class Progress {
  private done = 0;
  private suffix = "";
  private readonly start = Date.now();
  private lastDraw = 0;
  private readonly enabled: boolean;
  private readonly stream: NodeJS.WriteStream;

  constructor(
    private readonly label: string,
    private readonly opts: ProgressOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.enabled = opts.enabled ?? Boolean(this.stream.isTTY);
  }

  setTotal(total: number): void {
    this.opts.total = total;
  }

  /** text shown after the bar (e.g. the running loss) */
  setSuffix(text: string): void {
    this.suffix = text;
  }

  tick(n = 1): void {
    this.done += n;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw >= 100) {
      this.lastDraw = now;
      this.draw();
    }
  }

  finish(): void {
    if (!this.enabled) return;
    this.draw();
    this.stream.write("\n");
  }

  private draw(): void {
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const unit = this.opts.unit ?? "it";
    const total = this.opts.total;
    let line: string;
    if (total && total > 0) {
      const frac = Math.min(1, this.done / total);
      const width = 24;
      const filled = Math.round(frac * width);
      const eta = rate > 0 ? (total - this.done) / rate : Infinity;
      line = `${this.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${formatCount(this.done, unit)}/${formatCount(total, unit)} ${(frac * 100).toFixed(1)}% ${formatCount(rate, unit)}/s ETA ${formatDuration(eta)}`;
    } else {
      line = `${this.label} ${formatCount(this.done, unit)} ${formatCount(rate, unit)}/s ${formatDuration(elapsed)}`;
    }
    if (this.suffix) line += ` ${this.suffix}`;
    const cols = this.stream.columns ?? 120;
    this.stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length))}\x1b[K`);
  }
}

export function formatCount(n: number, unit: string): string {
  if (unit === "B") return formatBytes(n);
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(sec).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
