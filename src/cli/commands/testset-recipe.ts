import type { Command } from "commander";
import { canonicalJson } from "../../image/recipe.js";
import { recipeHash } from "../../image/recipe-hash.js";
import { findRecipe, RECIPES } from "../../image/recipes.js";
import { action, printJson } from "../common.js";

export function registerTestsetRecipe(testset: Command): void {
  testset
    .command("recipe")
    .description("print the perturbation recipes (as data, with their hashes)")
    .argument("[name]", `one of ${Object.keys(RECIPES).join(", ")} (default: all)`)
    .option("--json", "print as JSON")
    .action(
      action(async (name: string | undefined, opts: { json?: boolean }) => {
        const recipes = name ? [findRecipe(name)] : Object.values(RECIPES);
        const withHash = recipes.map((r) => ({ ...r, hash: recipeHash(r) }));
        if (opts.json) return printJson(name ? withHash[0] : withHash);
        for (const r of withHash) process.stdout.write(`${r.name} (${r.hash.slice(0, 12)}): ${r.description}\n  ${canonicalJson(r.steps)}\n`);
      }),
    );
}
