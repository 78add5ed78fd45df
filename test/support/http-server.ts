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
