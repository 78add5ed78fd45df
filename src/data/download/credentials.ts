/** Credentials for the sources that need them: Kaggle (Basic auth) and Hugging Face (Bearer token). */
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InputError } from "../../util/errors.js";

export type Env = Readonly<Record<string, string | undefined>>;

export interface CredentialOptions {
  /** default process.env */
  env?: Env;
  /** default os.homedir() */
  homeDir?: string;
  /** how to obtain the credentials (the source's `credentials.help`), appended to the error */
  help?: string;
}

export class MissingCredentialsError extends InputError {
  constructor(
    readonly service: string,
    /** the environment variables that are not set */
    readonly missing: string[],
    detail: string,
    help?: string,
  ) {
    super(`missing ${service} credentials: ${detail}${help ? `. To fix: ${help}` : ""}`);
    this.name = "MissingCredentialsError";
  }
}

export const KAGGLE_API_BASE = "https://www.kaggle.com/api/v1";

export function kaggleCompetitionUrl(competition: string, base = KAGGLE_API_BASE): string {
  return `${base.replace(/\/+$/, "")}/competitions/data/download-all/${encodeURIComponent(competition)}`;
}

const KAGGLE_VARS = ["KAGGLE_USERNAME", "KAGGLE_KEY"] as const;

/** From KAGGLE_USERNAME + KAGGLE_KEY, else `kaggle.json` in $KAGGLE_CONFIG_DIR or ~/.kaggle. */
export async function kaggleAuthHeaders(opts: CredentialOptions = {}): Promise<Record<string, string>> {
  const env = opts.env ?? process.env;
  const username = env.KAGGLE_USERNAME;
  const key = env.KAGGLE_KEY;
  if (username && key) return basicAuth(username, key);
  const file = path.join(env.KAGGLE_CONFIG_DIR || path.join(opts.homeDir ?? os.homedir(), ".kaggle"), "kaggle.json");
  const text = await fsp.readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (text === undefined) {
    const missing = KAGGLE_VARS.filter((v) => !env[v]);
    throw new MissingCredentialsError("Kaggle", missing, `${listVars(missing)} not set, and ${file} does not exist`, opts.help);
  }
  const parsed = parseKaggleJson(text, file);
  return basicAuth(parsed.username, parsed.key);
}

function parseKaggleJson(text: string, file: string): { username: string; key: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const obj = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  const { username, key } = obj;
  if (typeof username !== "string" || typeof key !== "string" || !username || !key) {
    throw new InputError(`${file}: expected {"username": "...", "key": "..."}`);
  }
  return { username, key };
}

function basicAuth(username: string, key: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${username}:${key}`).toString("base64")}` };
}

/** From HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the token file `huggingface-cli login` writes. */
export async function huggingFaceAuthHeaders(opts: CredentialOptions = {}): Promise<Record<string, string>> {
  const env = opts.env ?? process.env;
  const fromEnv = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv) return { authorization: `Bearer ${fromEnv.trim()}` };
  const file = env.HF_TOKEN_PATH || path.join(env.HF_HOME || path.join(opts.homeDir ?? os.homedir(), ".cache", "huggingface"), "token");
  const token = (await fsp.readFile(file, "utf8").catch(() => "")).trim();
  if (token) return { authorization: `Bearer ${token}` };
  throw new MissingCredentialsError("Hugging Face", ["HF_TOKEN"], `HF_TOKEN is not set (nor HUGGING_FACE_HUB_TOKEN), and there is no token in ${file}`, opts.help);
}

function listVars(vars: readonly string[]): string {
  if (vars.length === 1) return `${vars[0]} is`;
  return `${vars.slice(0, -1).join(", ")} and ${vars[vars.length - 1]} are`;
}
