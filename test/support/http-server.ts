/** A real HTTP server on loopback for tests: routes by path, records every request. */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

export interface Seen {
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

export class TestServer {
  readonly routes = new Map<string, Handler>();
  readonly seen: Seen[] = [];
  private server?: http.Server;
  base = "";

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", this.base);
      this.seen.push({ path: url.pathname, query: url.searchParams, headers: req.headers });
      const handler = this.routes.get(url.pathname);
      if (handler) handler(req, res, url);
      else res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  requests(pathname: string): Seen[] {
    return this.seen.filter((s) => s.path === pathname);
  }
}

/** A static file with Range support. */
export function serveBytes(data: Buffer, contentType = "application/octet-stream"): Handler {
  return (req, res) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (!range) {
      res.writeHead(200, { "content-length": data.length, "content-type": contentType }).end(data);
      return;
    }
    const start = Number(range[1]);
    if (start >= data.length) {
      res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
      return;
    }
    res.writeHead(206, {
      "content-length": data.length - start,
      "content-range": `bytes ${start}-${data.length - 1}/${data.length}`,
      "content-type": contentType,
    });
    res.end(data.subarray(start));
  };
}

/** Google Drive's "can't scan this file for viruses" page: its download form (to `action`) carries the confirmation token. */
export function driveConfirmPage(action: string, id: string): string {
  return `<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="${action}" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Download anyway"/>
<input type="hidden" name="id" value="${id}"><input type="hidden" name="export" value="download">
<input value="t0k&amp;en" type="hidden" name="confirm"><input type="hidden" name="uuid" value="u-123"></form></body></html>`;
}

/** Google Drive's download endpoint for these file ids: the confirmation page first (its form to `action`), the file once the token comes back. */
export function serveDrive(files: Record<string, Buffer>, action: string): Handler {
  return (req, res, url) => {
    const q = url.searchParams;
    const data = files[q.get("id") ?? ""];
    if (!data) return void res.writeHead(404).end();
    if (q.get("confirm") === "t0k&en" && q.get("uuid") === "u-123") return serveBytes(data)(req, res, url);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(driveConfirmPage(action, q.get("id") ?? ""));
  };
}
