/** A recipe's identity, apart from recipe.ts so that the recipes themselves stay browser-safe (no node:crypto). */
import { createHash } from "node:crypto";
import { canonicalJson, type Recipe } from "./recipe.js";

/** sha256 of the recipe's steps (its name and description do not change what it does). */
export function recipeHash(recipe: Recipe): string {
  return createHash("sha256").update(canonicalJson(recipe.steps)).digest("hex");
}
