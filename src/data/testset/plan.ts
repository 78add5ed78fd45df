/**
 * What the test-set builder will write, derived from the annotation files alone (as upstream's
 * `save_testset.py`): one numbered output per annotation line, across the files in order, under
 * `testset/{content}/{real|synthetic}[/{group}]/NNNNN.webp`, listed in `test_{group}.txt`, where a
 * file's real images go to the list of the group its synthetic images belong to.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import { readAnnotationFile, type ImagiNetRecord } from "../annotations.js";
import { GROUPS } from "../labels.js";
import { InputError } from "../../util/errors.js";

export interface PlanItem {
  /** the output number, unique across the whole test set */
  k: number;
  source: string;
  output: string;
  /** the list (group name) this image is written to */
  list: string;
  record: ImagiNetRecord;
}

export interface Plan {
  items: PlanItem[];
  /** list name → the annotation files it comes from */
  lists: string[];
}

export const DEFAULT_TEST_FILES = ["test_annotations_gan.txt", "test_annotations_sd.txt", "test_annotations_midjourney.txt", "test_annotations_dalle3.txt"];

/** The list the builder writes for a generator group's images (and its real ones): `test_{group}.txt`. */
export function builtListName(group: string): string {
  return `test_${group}.txt`;
}

/** A built test set's lists, one per generator group, in upstream's order. */
export const BUILT_LISTS = GROUPS.filter((g) => g !== "real").map(builtListName);

/** The original-image test files in ROOT/annotations (DEFAULT_TEST_FILES); an InputError naming those missing. */
export function defaultTestFiles(root: string): string[] {
  const files = DEFAULT_TEST_FILES.map((f) => path.join(root, "annotations", f));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new InputError(
      `no annotation files given and ${missing.map((f) => path.basename(f)).join(", ")} not found in ${path.join(root, "annotations")}: pass them, or fetch them with \`imaginet dataset download annotations --root ${root}\``,
    );
  }
  return files;
}

/** What `testset audit DIR` reads by default: DIR's built lists when there are any, else DIR's original-image test files. */
export function auditFiles(dir: string): string[] {
  const built = BUILT_LISTS.map((f) => path.join(dir, f)).filter((f) => existsSync(f));
  return built.length > 0 ? built : defaultTestFiles(dir);
}

export function outputPath(r: ImagiNetRecord, k: number): string {
  const folder = `testset/${r.contentName}/${r.originName}${r.origin === 1 ? `/${r.groupName}` : ""}`;
  return `${folder}/${String(k).padStart(5, "0")}.webp`;
}

export async function makePlan(files: readonly string[]): Promise<Plan> {
  const items: PlanItem[] = [];
  const lists: string[] = [];
  for (const file of files) {
    const af = await readAnnotationFile(file, { format: "imaginet", keepRepeats: true });
    const records = af.records as ImagiNetRecord[];
    const groups = [...new Set(records.filter((r) => r.origin === 1).map((r) => r.group))];
    if (groups.length !== 1) {
      throw new InputError(
        `${file}: a test-set file must hold the synthetic images of exactly one generator group (its real images are listed with them), found ${groups.length === 0 ? "none" : groups.map((g) => GROUPS[g]).join(", ")}`,
      );
    }
    const list = GROUPS[groups[0]!]!;
    if (lists.includes(list)) throw new InputError(`${file}: a second file for group "${list}"`);
    lists.push(list);
    for (const r of records) {
      const k = items.length;
      items.push({ k, source: r.path, output: outputPath(r, k), list, record: r });
    }
  }
  return { items, lists };
}

/** The lines of `test_{list}.txt` in upstream's format. */
export function listLine(item: PlanItem): string {
  const r = item.record;
  return `./${item.output},${r.origin},${r.content},${r.group},${r.specific}`;
}
