/**
 * The routes' schemas, for /openapi.json (@fastify/swagger reads them). Response bodies are described
 * with `additionalProperties: true` so that serialisation never drops a field the contract has.
 */
const error = {
  type: "object",
  description: 'every error: {"error": {"code", "message"}}',
  properties: { error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" } }, required: ["code", "message"] } },
} as const;

const open = (description: string) => ({ type: "object", description, additionalProperties: true }) as const;
const bearer = [{ bearer: [] }];

export const healthz = {
  summary: "liveness, the detectors served, and the limits of one detect request",
  response: {
    200: {
      type: "object",
      properties: {
        ok: { type: "boolean" },
        detectors: { type: "array", items: { type: "string" } },
        limits: { type: "object", properties: { maxImages: { type: "integer" }, maxBodyBytes: { type: "integer" }, maxPixels: { type: "integer" } } },
      },
    },
  },
};

export const metrics = {
  summary: "Prometheus metrics: requests by route and status, latency histogram, batch sizes, queue depth, rejections",
  security: bearer,
  produces: ["text/plain"],
};

export const detectors = {
  summary: "the detectors served: inputs (recipe, normalisation, size), calibration, weights sha256, the model's URL",
  security: bearer,
  response: { 200: { type: "array", items: open("{name, title, output, inputs, calibration, weightsSha256, model, modelSha256, groups?}") }, 401: error },
};

export const model = {
  summary: "the exact ONNX model the server runs (ETag: its sha256)",
  security: bearer,
  params: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
  produces: ["application/octet-stream"],
  response: { 401: error, 404: error },
};

export const detect = {
  summary: "score images: multipart/form-data with file parts (any field name), or a raw body with an image/* content type",
  security: bearer,
  consumes: ["multipart/form-data", "image/png", "image/jpeg", "image/webp"],
  querystring: {
    type: "object",
    properties: {
      detectors: { type: "string", description: "comma-separated detector names (default: all served)" },
      heatmap: { type: "string", enum: ["0", "1"], description: "1: Corvi2022's logit map as a PNG (base64)" },
    },
  },
  response: {
    200: { type: "object", properties: { images: { type: "array", items: open("an image's results and provenance, or {name, sha256, error}") } } },
    400: error,
    401: error,
    413: error,
    415: error,
    503: error,
  },
};
