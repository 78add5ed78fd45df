/** Who may call the API: loopback-only by default, a bearer token (compared in constant time) elsewhere. */
import { createHash, timingSafeEqual } from "node:crypto";
import { InputError } from "../util/errors.js";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Refuses to listen beyond loopback with neither a token nor an explicit --no-auth. */
export function checkBindAuth(host: string, token: string | undefined, noAuth: boolean): void {
  if (token !== undefined && token.length === 0) throw new InputError("the token is empty: give --token T (or IMAGINET_TOKEN) with at least one character");
  if (token !== undefined && noAuth) throw new InputError("--token and --no-auth contradict each other: give one");
  if (!isLoopback(host) && token === undefined && !noAuth) {
    throw new InputError(`binding ${host} exposes the API beyond this machine: give --token T (or set IMAGINET_TOKEN), or --no-auth to serve it without authentication`);
  }
}

/**
 * Whether an Authorization header carries the token. Both sides are hashed first so that the
 * comparison takes the same time whatever the lengths (timingSafeEqual needs equal lengths).
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(header ?? "")?.[1] ?? "";
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

/** The paths that need the token when one is set: the API and the metrics; the page, /healthz and /openapi.json stay open. */
export function needsToken(url: string): boolean {
  return url.startsWith("/v1/") || url === "/metrics" || url.startsWith("/metrics?");
}
