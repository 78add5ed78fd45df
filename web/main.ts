/** The page: images in (drop, choose, paste), a card per image, a sortable table and CSV for many. */
import { csvField } from "../src/report/csv.js";
import { type DetectorInfo, type DetectorResult, detectOnServer, fetchDetectors, fetchLimits, type ImageResult, type Limits, type Provenance, requestGroups, token, Unauthorized } from "./api.js";
import { decodeInBrowser, LocalDetector, type LocalResult, type LogitMap } from "./local.js";

interface Row {
  name: string;
  url: string;
  results: (DetectorResult | LocalResult)[];
  provenance?: Provenance;
  error?: string;
  /** where it ran: "server" or the in-browser backend */
  where: string;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>("status");
const cards = $<HTMLElement>("cards");
let detectors: DetectorInfo[] = [];
let limits: Promise<Limits> | undefined;
const local = new Map<string, Promise<LocalDetector>>();
const rows: Row[] = [];
let sortBy: { column: number; descending: boolean } = { column: -1, descending: false };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const fixed = (x: number | undefined, digits: number): string => (x === undefined ? "–" : x.toFixed(digits));
const titleOf = (name: string): string => detectors.find((d) => d.name === name)?.title ?? name;
const selected = (): DetectorInfo[] => detectors.filter((d) => $<HTMLInputElement>(`det-${d.name}`)?.checked ?? false);
const mode = (): "server" | "local" => (document.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value === "local" ? "local" : "server");

// ------------------------------------------------------------------------------------------------ card

/** A bar for p(synthetic) with a tick at the decision threshold. */
function scoreBar(r: DetectorResult): HTMLElement {
  const p = r.p ?? 0;
  const threshold = r.threshold ?? 0.5;
  const label = `p(synthetic) ${p.toFixed(3)}, threshold ${threshold}`;
  return el(
    "div",
    { class: "bar", role: "img", "aria-label": label },
    el("span", { class: `fill ${r.verdict ?? ""}`, style: `width: ${(p * 100).toFixed(1)}%` }),
    el("span", { class: "threshold", style: `left: ${(threshold * 100).toFixed(1)}%` }),
  );
}

function groupBars(groups: Record<string, number>): HTMLElement {
  const list = el("dl", { class: "groups" });
  for (const [g, p] of Object.entries(groups)) {
    list.append(
      el("dt", {}, g),
      el(
        "dd",
        { "data-group": g, "data-p": String(p) },
        el("div", { class: "bar small", role: "img", "aria-label": `${g} ${(p * 100).toFixed(1)} %` }, el("span", { class: "fill group", style: `width: ${(p * 100).toFixed(1)}%` })),
        `${(p * 100).toFixed(1)} %`,
      ),
    );
  }
  return list;
}

function detectorBlock(r: DetectorResult | LocalResult): HTMLElement {
  const block = el("div", { class: "detector", "data-detector": r.detector }, el("h4", {}, titleOf(r.detector)));
  if (r.score !== undefined) {
    block.dataset.score = String(r.score);
    block.dataset.p = String(r.p);
    if (r.p === null) block.append(el("p", { class: "verdict" }, el("strong", {}, "no verdict"), ` · score ${fixed(r.score, 4)} · ${r.noVerdict ?? "uncalibrated"}`));
    else
      block.append(
        scoreBar(r),
        el(
          "p",
          { class: "verdict" },
          el("strong", { class: r.verdict ?? "" }, r.verdict ?? ""),
          ` · p = ${fixed(r.p, 3)}${r.calibrated ? " (calibrated)" : " (uncalibrated)"} · threshold ${r.threshold ?? 0.5} · score ${fixed(r.score, 4)}`,
        ),
      );
  }
  if (r.groups) block.append(el("p", { class: "note" }, "Generator group"), groupBars(r.groups));
  const details = el("details", {}, el("summary", {}, "Details"));
  if (r.preprocessing) details.append(el("p", {}, `Preprocessing: ${r.preprocessing}`));
  if (r.timings)
    details.append(
      el(
        "p",
        {},
        Object.entries(r.timings)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(", "),
      ),
    );
  if ("backend" in r) details.append(el("p", {}, `Ran in this browser on ${r.backend}`));
  block.append(details);
  return block;
}

function provenanceBlock(row: Row): HTMLElement {
  const block = el("div", { class: "provenance" }, el("h4", {}, "Provenance (a separate signal, not part of any score)"));
  const pv = row.provenance;
  if (!pv) {
    block.append(el("p", { class: "note" }, "Not read in this browser: the server reads C2PA Content Credentials, IPTC/XMP and EXIF."));
    return block;
  }
  block.append(
    el(
      "dl",
      {},
      el("dt", {}, "C2PA Content Credentials"),
      el("dd", {}, c2paText(pv.c2pa)),
      el("dt", {}, "Digital source type (IPTC/XMP)"),
      el("dd", {}, pv.digitalSourceType?.term ?? "none"),
      el("dt", {}, "Software (EXIF)"),
      el("dd", {}, pv.software ?? "none"),
    ),
  );
  return block;
}

/** What the Content Credentials say, as docs/serve-api.md gives them. */
function c2paText(c: Provenance["c2pa"]): string {
  if (!c.present) return "none";
  if ("error" in c) return `present but unreadable: ${c.error}`;
  const parts = [`present${c.claimGenerator ? `, made by ${c.claimGenerator}` : ""}`, `signature ${c.signatureValid ? "valid" : "NOT valid"}${c.validationState ? ` (${c.validationState})` : ""}`];
  if (c.signatureValid) parts.push(c.signerTrusted ? "signer trusted" : "signer not on a trust list");
  if (c.failures.length > 0) parts.push(`failures: ${c.failures.join(", ")}`);
  if (c.signer?.issuer || c.signer?.commonName) parts.push(`signed by ${[c.signer.commonName, c.signer.issuer].filter(Boolean).join(", ")}`);
  if (c.actions.length > 0) parts.push(`actions: ${c.actions.map((a) => (a.digitalSourceType ? `${a.action} (${a.digitalSourceType.split("/").at(-1)})` : a.action)).join(", ")}`);
  return parts.join("; ");
}

/** The side of the square the detector's recipe cuts from the image (its last sized step), as the contract's `inputs.size` gives it. */
function inputSize(info: DetectorInfo | undefined): number | undefined {
  if (!info) return undefined;
  const sized = info.inputs.recipe.steps.filter((s): s is Extract<typeof s, { size: number }> => "size" in s);
  return info.inputs.size ?? sized.at(-1)?.size;
}

/**
 * A logit map as a translucent overlay, red where the map says synthetic, blue where real, over
 * the part of the image the model saw: the centred square of side `side` (a padded side overhangs
 * and is clipped).
 */
function heatmapCanvas(map: LogitMap, image: { width: number; height: number }, side: number | undefined): HTMLCanvasElement {
  const canvas = el("canvas", { class: "heatmap", width: String(map.width), height: String(map.height), "aria-hidden": "true" });
  const w = side ? (side / image.width) * 100 : 100;
  const h = side ? (side / image.height) * 100 : 100;
  canvas.style.cssText = `left: ${(100 - w) / 2}%; top: ${(100 - h) / 2}%; width: ${w}%; height: ${h}%`;
  const ctx = canvas.getContext("2d")!;
  const img = ctx.createImageData(map.width, map.height);
  const scale = Math.max(1e-6, ...Array.from(map.values, Math.abs));
  map.values.forEach((v, i) => {
    const t = Math.max(-1, Math.min(1, v / scale));
    img.data.set(t >= 0 ? [220, 30, 30, Math.round(200 * t)] : [30, 80, 220, Math.round(-200 * t)], i * 4);
  });
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** The server's heatmap PNG (grey levels spanning min…max) back into logit values. */
async function serverLogitMap(h: NonNullable<DetectorResult["heatmap"]>): Promise<LogitMap> {
  const bytes = Uint8Array.from(atob(h.png), (c) => c.charCodeAt(0));
  const rgb = await decodeInBrowser(new Blob([bytes], { type: "image/png" }));
  const values = new Float32Array(rgb.width * rgb.height);
  for (let i = 0; i < values.length; i++) values[i] = h.min + (rgb.data[i * 3]! / 255) * (h.max - h.min);
  return { values, width: rgb.width, height: rgb.height };
}

async function fillCard(card: HTMLElement, row: Row): Promise<void> {
  const body = card.querySelector(".body")!;
  body.replaceChildren();
  if (row.error) {
    body.append(el("p", { class: "error", role: "alert" }, row.error));
    card.dataset.status = "error";
    return;
  }
  const figure = card.querySelector("figure")!;
  for (const r of row.results) {
    body.append(detectorBlock(r));
    const map = "logitMap" in r && r.logitMap ? r.logitMap : r.heatmap ? await serverLogitMap(r.heatmap) : undefined;
    if (map && !figure.querySelector("canvas")) {
      const toggle = el("input", { type: "checkbox", id: `${card.id}-heat`, checked: "" });
      const img = figure.querySelector("img")!;
      await img.decode();
      const canvas = heatmapCanvas(map, { width: img.naturalWidth, height: img.naturalHeight }, inputSize(detectors.find((d) => d.name === r.detector)));
      toggle.addEventListener("change", () => {
        canvas.hidden = !toggle.checked;
      });
      figure.append(canvas);
      body.append(el("p", { class: "toggle" }, toggle, el("label", { for: toggle.id }, ` Show ${titleOf(r.detector)}'s logit map over the image (red: synthetic, blue: real)`)));
    }
  }
  body.append(provenanceBlock(row), el("p", { class: "note" }, row.where === "server" ? "Scored on the server." : `Scored in this browser (${row.where}); the image was not uploaded.`));
  card.dataset.status = "done";
}

function newCard(file: File, index: number): HTMLElement {
  const url = URL.createObjectURL(file);
  const card = el(
    "article",
    { class: "card", id: `card-${index}`, "data-status": "working", "aria-busy": "true" },
    el("h3", {}, file.name || `pasted image ${index + 1}`),
    el("figure", {}, el("img", { src: url, alt: `thumbnail of ${file.name || "the pasted image"}` })),
    el("div", { class: "body" }, el("p", { class: "note" }, "Working…")),
  );
  cards.append(card);
  return card;
}

// ------------------------------------------------------------------------------------------------ table and CSV

function columns(): { title: string; value: (r: Row) => string | number }[] {
  const names = [...new Set(rows.flatMap((r) => r.results.map((x) => x.detector)))];
  const result = (r: Row, d: string) => r.results.find((x) => x.detector === d);
  return [
    { title: "Image", value: (r) => r.name },
    ...names.flatMap((d) => {
      const sample = rows.flatMap((r) => r.results).find((x) => x.detector === d);
      if (sample?.groups) return [{ title: `${titleOf(d)} group`, value: (r: Row) => topGroup(result(r, d)?.groups) }];
      return [
        { title: `${titleOf(d)} p(synthetic)`, value: (r: Row) => result(r, d)?.p ?? Number.NaN },
        { title: `${titleOf(d)} verdict`, value: (r: Row) => result(r, d)?.verdict ?? r.error ?? "" },
      ];
    }),
  ];
}

function topGroup(groups: Record<string, number> | undefined): string {
  if (!groups) return "";
  const [g] = Object.entries(groups).sort((a, b) => b[1] - a[1])[0] ?? [""];
  return g;
}

function renderTable(): void {
  const section = $<HTMLElement>("summary");
  section.hidden = rows.length < 2;
  if (section.hidden) return;
  const cols = columns();
  const sorted = [...rows];
  if (sortBy.column >= 0) {
    const v = cols[sortBy.column]!.value;
    sorted.sort((a, b) => {
      const x = v(a);
      const y = v(b);
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return sortBy.descending ? -c : c;
    });
  }
  const head = el(
    "tr",
    {},
    ...cols.map((c, i) => {
      const button = el("button", { type: "button" }, c.title);
      button.addEventListener("click", () => {
        sortBy = { column: i, descending: sortBy.column === i ? !sortBy.descending : false };
        renderTable();
        $<HTMLTableElement>("table").querySelectorAll<HTMLButtonElement>("th button")[i]?.focus();
      });
      const sort = sortBy.column === i ? (sortBy.descending ? "descending" : "ascending") : "none";
      return el("th", { scope: "col", "aria-sort": sort }, button);
    }),
  );
  const body = sorted.map((r) => el("tr", {}, ...cols.map((c) => el("td", {}, typeof c.value(r) === "number" ? fixed(c.value(r) as number, 3) : String(c.value(r))))));
  $<HTMLTableElement>("table").replaceChildren(el("caption", {}, "Select a column heading to sort by it"), el("thead", {}, head), el("tbody", {}, ...body));
}

/** One line per image and detector, every number at full precision. */
function csv(): string {
  const lines = [["image", "detector", "score", "p", "calibrated", "verdict", "threshold", "groups", "where", "error"].join(",")];
  for (const r of rows) {
    if (r.error) lines.push([csvField(r.name), "", "", "", "", "", "", "", r.where, csvField(r.error)].join(","));
    for (const x of r.results) {
      const groups = x.groups
        ? Object.entries(x.groups)
            .map(([g, p]) => `${g}=${p}`)
            .join(";")
        : "";
      lines.push([csvField(r.name), x.detector, x.score ?? "", x.p ?? "", x.calibrated ?? "", x.verdict ?? "", x.threshold ?? "", groups, csvField(r.where), ""].join(","));
    }
  }
  return `${lines.join("\n")}\n`;
}

// ------------------------------------------------------------------------------------------------ running

async function runLocal(file: File, chosen: readonly DetectorInfo[]): Promise<Omit<Row, "url" | "name">> {
  const img = await decodeInBrowser(file).catch((e: unknown) => {
    throw new Error(`${file.name}: this browser cannot decode it (${e instanceof Error ? e.message : String(e)})`);
  });
  const results: LocalResult[] = [];
  for (const d of chosen) {
    if (!local.has(d.name)) local.set(d.name, LocalDetector.load(d));
    const detector = await local.get(d.name)!.catch((e: unknown) => {
      local.delete(d.name);
      throw e;
    });
    results.push(await detector.run(img, file.name));
  }
  return { results, where: results[0]?.backend ?? "this browser" };
}

function fromServer(r: ImageResult): Omit<Row, "url" | "name"> {
  if ("error" in r) return { results: [], error: `${r.error.message} (${r.error.code})`, where: "server" };
  return { results: r.results, ...(r.provenance ? { provenance: r.provenance } : {}), where: "server" };
}

async function handle(files: File[]): Promise<void> {
  const chosen = selected();
  if (files.length === 0) return;
  if (chosen.length === 0) {
    status.textContent = "Select at least one detector.";
    return;
  }
  const where = mode();
  status.textContent = `Scoring ${files.length} image${files.length === 1 ? "" : "s"} ${where === "local" ? "in this browser" : "on the server"}…`;
  const start = rows.length;
  const pending = files.map((f, i) => ({ file: f, card: newCard(f, start + i) }));
  const finish = async (p: (typeof pending)[number], part: Omit<Row, "url" | "name">) => {
    const row: Row = { name: p.file.name || "pasted image", url: p.card.querySelector("img")!.src, ...part };
    rows.push(row);
    await fillCard(p.card, row);
    p.card.removeAttribute("aria-busy");
  };
  const fail = (e: unknown) => {
    if (e instanceof Unauthorized) askForToken(e.message);
    return { results: [], error: e instanceof Error ? e.message : String(e), where };
  };
  if (where === "local") {
    for (const p of pending) await finish(p, await runLocal(p.file, chosen).catch(fail));
  } else {
    // requests within the server's --max-images and --max-body-mb
    limits ??= fetchLimits();
    for (const batch of requestGroups(
      pending.map((p) => ({ ...p, size: p.file.size })),
      await limits,
    )) {
      const answers = await detectOnServer(
        batch.map((p) => p.file),
        chosen.map((d) => d.name),
      ).catch((e: unknown) => {
        if (e instanceof Unauthorized) askForToken(e.message);
        return batch.map(() => ({ name: "", error: { code: "request_failed", message: e instanceof Error ? e.message : String(e) } }));
      });
      for (const [k, p] of batch.entries()) await finish(p, fromServer(answers[k] ?? { name: p.file.name, error: { code: "missing", message: "no answer for this image" } }));
    }
  }
  renderTable();
  status.textContent = `Done: ${files.length} image${files.length === 1 ? "" : "s"} scored ${where === "local" ? "in this browser" : "on the server"}.`;
}

// ------------------------------------------------------------------------------------------------ wiring

const images = (list: Iterable<File>): File[] => [...list].filter((f) => f.type.startsWith("image/"));

async function init(): Promise<void> {
  const file = $<HTMLInputElement>("file");
  file.addEventListener("change", () => {
    void handle(images(file.files ?? []));
    file.value = "";
  });
  const drop = $<HTMLElement>("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    void handle(images(e.dataTransfer?.files ?? []));
  });
  document.addEventListener("paste", (e) => void handle(images(e.clipboardData?.files ?? [])));
  $<HTMLButtonElement>("csv").addEventListener("click", () => {
    const a = el("a", { href: URL.createObjectURL(new Blob([csv()], { type: "text/csv" })), download: "imaginet-results.csv" });
    a.click();
    URL.revokeObjectURL(a.href);
  });
  $<HTMLFormElement>("auth").addEventListener("submit", (e) => {
    e.preventDefault();
    token.set($<HTMLInputElement>("token").value);
    $<HTMLFormElement>("auth").hidden = true;
    if (detectors.length === 0) void loadDetectors();
    else status.textContent = "Token saved: choose the images again.";
  });
  await loadDetectors();
}

/** The server answered 401: the token field, shown only now (the page itself needs no token). */
function askForToken(why: string): void {
  const form = $<HTMLFormElement>("auth");
  $<HTMLParagraphElement>("auth-why").textContent = token.get() ? `The server refused this token: ${why}` : `This server needs an access token: ${why}`;
  form.hidden = false;
  $<HTMLInputElement>("token").focus();
}

async function loadDetectors(): Promise<void> {
  try {
    detectors = await fetchDetectors();
  } catch (e) {
    if (e instanceof Unauthorized) askForToken(e.message);
    status.textContent = `Cannot list the detectors: ${e instanceof Error ? e.message : String(e)}`;
    return;
  }
  const box = $<HTMLFieldSetElement>("detectors");
  for (const d of detectors) {
    box.append(el("label", {}, el("input", { type: "checkbox", id: `det-${d.name}`, checked: "" }), ` ${d.title}${d.output === "groups" ? " (generator group)" : ""}`));
  }
  status.textContent = `${detectors.length} detector${detectors.length === 1 ? "" : "s"} ready.`;
  document.body.dataset.ready = "true";
}

void init();
