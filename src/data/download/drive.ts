/**
 * Public Google Drive files by id. Small files come straight back; large ones first answer with an
 * HTML "can't scan this file for viruses" page whose form (or, on older pages, link) carries the
 * confirmation token for the real download.
 */
import { downloadFile, HtmlPageError, type DownloadOptions, type DownloadResult } from "./http.js";

export const DRIVE_BASE = "https://drive.usercontent.google.com/download";

export interface DriveDownloadOptions extends Omit<DownloadOptions, "url" | "htmlIsError"> {
  id: string;
  /** replaces DRIVE_BASE (a test server or a mirror) */
  driveBase?: string;
  /** applied to every URL requested, the confirmation URL included */
  rewriteUrl?: (url: string) => string;
}

export function driveUrl(id: string, base = DRIVE_BASE): string {
  const url = new URL(base);
  url.searchParams.set("id", id);
  url.searchParams.set("export", "download");
  return url.href;
}

export async function downloadDriveFile(opts: DriveDownloadOptions): Promise<DownloadResult> {
  const { id, driveBase, rewriteUrl = (u: string) => u, ...rest } = opts;
  const first = rewriteUrl(driveUrl(id, driveBase));
  let page: HtmlPageError;
  try {
    return await downloadFile({ ...rest, url: first, htmlIsError: true });
  } catch (err) {
    if (!(err instanceof HtmlPageError)) throw err;
    page = err;
  }
  const confirm = page.status === 200 ? parseDriveConfirmPage(page.body, page.url) : null;
  if (!confirm) throw new Error(describeUnusablePage(id, page));
  const headers = page.cookies.length > 0 ? { ...rest.headers, cookie: page.cookies.join("; ") } : rest.headers;
  try {
    return await downloadFile({ ...rest, headers, url: rewriteUrl(confirm), htmlIsError: true });
  } catch (err) {
    if (err instanceof HtmlPageError) throw new Error(`${describeUnusablePage(id, err)} (after confirming the download)`);
    throw err;
  }
}

/** The URL that confirms a large-file download, from the form or the older `confirm=` link; null when the page has neither. */
export function parseDriveConfirmPage(html: string, pageUrl: string): string | null {
  return fromDownloadForm(html, pageUrl) ?? fromConfirmLink(html, pageUrl);
}

function fromDownloadForm(html: string, pageUrl: string): string | null {
  for (const form of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = parseAttributes(form[1] ?? "");
    if (attrs.get("id") !== "download-form") continue;
    const url = new URL(attrs.get("action") || pageUrl, pageUrl);
    for (const input of (form[2] ?? "").matchAll(/<input\b([^>]*)>/gi)) {
      const a = parseAttributes(input[1] ?? "");
      const name = a.get("name");
      if (a.get("type")?.toLowerCase() === "hidden" && name) url.searchParams.set(name, a.get("value") ?? "");
    }
    return url.href;
  }
  return null;
}

function fromConfirmLink(html: string, pageUrl: string): string | null {
  for (const link of html.matchAll(/<a\b([^>]*)>/gi)) {
    const href = parseAttributes(link[1] ?? "").get("href");
    if (href && /[?&]confirm=/.test(href) && /[?&]export=download\b/.test(href)) return new URL(href, pageUrl).href;
  }
  return null;
}

function describeUnusablePage(id: string, page: HtmlPageError): string {
  const html = page.body;
  const text = decodeEntities(html.replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ");
  if (/too many users have viewed or downloaded this file recently/i.test(text)) {
    return `Google Drive refuses file ${id} for now: its download quota is exceeded ("Too many users have viewed or downloaded this file recently"); try again later (quotas reset within about 24 hours)`;
  }
  if (/ServiceLogin|accounts\.google\.com\/v\d\/signin|<title>[^<]*sign[- ]in/i.test(html)) {
    return `Google Drive asks to sign in for file ${id}: the file is not shared publicly (or was removed)`;
  }
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1];
  const shown = title ? ` (page title: "${decodeEntities(title).trim()}")` : "";
  return `Google Drive returned an HTML page (HTTP ${page.status}) without a download link for file ${id}${shown}`;
}

/** Attributes of one tag, names lower-cased, values entity-decoded. */
function parseAttributes(source: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const m of source.matchAll(/([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = m[1];
    if (name) attrs.set(name.toLowerCase(), decodeEntities(m[2] ?? m[3] ?? m[4] ?? ""));
  }
  return attrs;
}

const NAMED_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, body: string) => {
    if (body[0] === "#") {
      const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}
