/** Where the installed package lives: the folder above src/ (from source) or dist/ (built). */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
