/** The API's errors: a status, a stable code and a message, sent as `{"error": {"code", "message"}}`. */

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** Seconds a client is told to wait (Retry-After) when the queue is full or a request timed out. */
export const RETRY_AFTER_S = 1;

export const overloaded = (what: string): HttpError => new HttpError(503, "overloaded", `${what}: the queue is full, retry later`, { "retry-after": String(RETRY_AFTER_S) });

/** Fastify's and @fastify/multipart's own errors, by their code, as the API's. */
const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: "body_too_large" },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: "body_too_large" },
  FST_FILES_LIMIT: { status: 413, code: "too_many_images" },
  FST_PARTS_LIMIT: { status: 413, code: "too_many_images" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: "unsupported_media_type" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: "bad_request" },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: "unsupported_media_type" },
  FST_ERR_VALIDATION: { status: 400, code: "bad_request" },
};

/** Any error a route or plugin throws, as the status and body the API sends. */
export function toApiError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  const known = e.code ? FASTIFY_CODES[e.code] : undefined;
  if (known) return new HttpError(known.status, known.code, e.message ?? known.code);
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) return new HttpError(e.statusCode, "bad_request", e.message ?? "bad request");
  return new HttpError(500, "internal", "internal error");
}
