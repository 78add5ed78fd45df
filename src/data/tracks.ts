/** Splits of ImagiNet records by one of their labels. */
import type { ImagiNetRecord } from "./annotations.js";

export type SplitKey = "origin" | "content" | "group" | "specific";

/** Partitions records by one label (real images fall under group 4 / specific 8). Keys in ascending order. */
export function splitBy(records: readonly ImagiNetRecord[], key: SplitKey): Map<number, ImagiNetRecord[]> {
  const parts = new Map<number, ImagiNetRecord[]>();
  for (const r of records) {
    const k = r[key];
    let list = parts.get(k);
    if (!list) parts.set(k, (list = []));
    list.push(r);
  }
  return new Map([...parts.entries()].sort((a, b) => a[0] - b[0]));
}

/** Counts of records per value of `key`. */
export function countBy(records: readonly ImagiNetRecord[], key: SplitKey): Map<number, number> {
  return new Map([...splitBy(records, key)].map(([k, v]) => [k, v.length]));
}
