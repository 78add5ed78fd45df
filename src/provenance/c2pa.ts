/**
 * C2PA Content Credentials through the Content Authenticity Initiative's own reader (c2pa-rs as
 * WebAssembly, @contentauth/c2pa-wasm; its .wasm is loaded from node_modules). The reader validates
 * the manifest store (the claim signature, the hashes binding it to the asset, the certificate) and
 * states the outcome as one of three validation states, passed on as it says them:
 * - Invalid: some check failed (e.g. assertion.dataHash.mismatch for changed pixels,
 *   claimSignature.mismatch for a changed claim); `failures` lists the reader's codes;
 * - Valid: the signature and the hash bindings check out, but the signer's certificate does not
 *   chain to a trust anchor (`failures` then holds just signingCredential.untrusted);
 * - Trusted: Valid, and the signer chains to a configured trust anchor.
 * No trust list is configured by imaginet, so a correctly signed asset reads Valid: "signature
 * valid" (`signatureValid`) and "signer trusted" (`signerTrusted`) are told apart.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type * as C2pa from "@contentauth/c2pa-wasm";

export interface C2paAction {
  action: string;
  digitalSourceType?: string;
  softwareAgent?: string;
}

export type C2paFindings =
  | { present: false }
  | {
      present: true;
      /** c2pa-rs's validation state: Invalid, Valid (signature and bindings check out) or Trusted (also a trusted signer) */
      validationState: string | null;
      /** the reader's state is Valid or Trusted: the claim signature and the asset's hash bindings validate */
      signatureValid: boolean;
      /** the reader's state is Trusted: the signer chains to a trust anchor (none is configured by default) */
      signerTrusted: boolean;
      claimGenerator: string | null;
      title: string | null;
      signer: { issuer: string | null; commonName: string | null; time: string | null } | null;
      actions: C2paAction[];
      /** the reader's failure codes (e.g. signingCredential.untrusted, assertion.dataHash.mismatch, claimSignature.mismatch) */
      failures: string[];
    }
  /** a manifest store is there but cannot be read */
  | { present: true; error: string };

let module: Promise<typeof C2pa> | undefined;

async function loadC2pa(): Promise<typeof C2pa> {
  module ??= (async () => {
    const c2pa = await import("@contentauth/c2pa-wasm");
    const wasm = await readFile(createRequire(import.meta.url).resolve("@contentauth/c2pa-wasm/c2pa.wasm"));
    await c2pa.default({ module_or_path: wasm });
    return c2pa;
  })();
  return module;
}

/** The reader's errors are strings like `C2pa(JumbfNotFound)`: these say there is no manifest. */
const NO_MANIFEST = /JumbfNotFound|ProvenanceMissing|UnsupportedType/;

/** `trustAnchorsPem`: root certificates (PEM) whose signers read Trusted; by default none. */
export async function readC2pa(bytes: Uint8Array, mime: string, trustAnchorsPem?: string): Promise<C2paFindings> {
  const c2pa = await loadC2pa();
  const context = trustAnchorsPem === undefined ? undefined : JSON.stringify({ trust: { trust_anchors: trustAnchorsPem } });
  let store: ManifestStore;
  try {
    const reader = await c2pa.WasmReader.fromBytes(mime, bytes, context);
    try {
      store = JSON.parse(reader.json()) as ManifestStore;
    } finally {
      reader.free();
    }
  } catch (err) {
    const message = String(err instanceof Error ? err.message : err);
    return NO_MANIFEST.test(message) ? { present: false } : { present: true, error: message.slice(0, 300) };
  }
  return findings(store);
}

/** The parts of c2pa-rs's manifest store JSON read here. */
interface ManifestStore {
  active_manifest?: string;
  manifests?: Record<
    string,
    {
      claim_generator?: string;
      claim_generator_info?: { name?: string; version?: string }[];
      title?: string;
      assertions?: { label?: string; data?: { actions?: { action?: string; digitalSourceType?: string; softwareAgent?: string | { name?: string } }[] } }[];
      signature_info?: { issuer?: string; common_name?: string; time?: string };
    }
  >;
  validation_state?: string;
  validation_status?: { code?: string }[];
  validation_results?: { activeManifest?: { failure?: { code?: string }[] } };
}

function findings(store: ManifestStore): C2paFindings {
  const m = store.active_manifest ? store.manifests?.[store.active_manifest] : undefined;
  const failureList = store.validation_results?.activeManifest?.failure ?? store.validation_status ?? [];
  const failures = failureList.map((f) => f.code ?? "").filter((c) => c !== "");
  const generator = m?.claim_generator ?? m?.claim_generator_info?.map((g) => [g.name, g.version].filter(Boolean).join(" ")).join(", ") ?? null;
  const actions = (m?.assertions ?? [])
    .filter((a) => a.label?.startsWith("c2pa.actions"))
    .flatMap((a) => a.data?.actions ?? [])
    .map((a) => {
      const agent = typeof a.softwareAgent === "string" ? a.softwareAgent : a.softwareAgent?.name;
      return { action: a.action ?? "", ...(a.digitalSourceType ? { digitalSourceType: a.digitalSourceType } : {}), ...(agent ? { softwareAgent: agent } : {}) };
    });
  const sig = m?.signature_info;
  const state = store.validation_state ?? null;
  return {
    present: true,
    validationState: state,
    signatureValid: m !== undefined && (state === "Valid" || state === "Trusted"),
    signerTrusted: m !== undefined && state === "Trusted",
    claimGenerator: generator || null,
    title: m?.title ?? null,
    signer: sig ? { issuer: sig.issuer ?? null, commonName: sig.common_name ?? null, time: sig.time ?? null } : null,
    actions,
    failures,
  };
}
