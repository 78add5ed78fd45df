/**
 * What the test-set builder will write, derived from the annotation files alone (as upstream's
 * `save_testset.py`): one numbered output per annotation line, across the files in order, under
 * `testset/{content}/{real|synthetic}[/{group}]/NNNNN.webp`, listed in `test_{group}.txt`, where a
 * file's real images go to the list of the group its synthetic images belong to.
 */
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

export function outputPath(r: ImagiNetRecord, k: number): string {
  const folder = `testset/${r.contentName}/${r.originName}${r.origin === 1 ? `/${r.groupName}` : ""}`;
  return `${folder}/${String(k).padStart(5, "0")}.webp`;
}

export async function makePlan(files: readonly string[]): Promise<Plan> {
  const items: PlanItem[] = [];
  const lists: string[] = [];
  for (const file of files) {
    const af = await readAnnotationFile(file, { format: "imaginet", allowDuplicates: true });
    const records = af.records as ImagiNetRecord[];
    const groups = [...new Set(records.filter((r) => r.origin === 1).map((r) => r.group))];
    if (groups.length !== 1) {
      throw new InputError(`${file}: a test-set file must hold the synthetic images of exactly one generator group (its real images are listed with them), found ${groups.length === 0 ? "none" : groups.map((g) => GROUPS[g]).join(", ")}`);
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
