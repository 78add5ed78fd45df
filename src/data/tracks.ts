/** Track views and splits over ImagiNet records, matching upstream `training_utils/datasets.py`. */
import type { ImagiNetRecord } from "./annotations.js";
import { InputError } from "../util/errors.js";

export const TRACKS = ["origin", "content_type", "model", "specific_model", "all"] as const;
export type Track = (typeof TRACKS)[number];

export interface TrackItem {
  path: string;
  /** one label, or [origin, content, group, specific] for the "all" track */
  label: number | [number, number, number, number];
}

export function parseTrack(name: string): Track {
  if ((TRACKS as readonly string[]).includes(name)) return name as Track;
  throw new InputError(`unknown track "${name}": expected one of ${TRACKS.join(", ")}`);
}

/**
 * The items of a track. As upstream: "origin" and "all" keep every image; "content_type", "model"
 * and "specific_model" keep synthetic images only (real ones have no generator to identify).
 */
export function trackView(records: readonly ImagiNetRecord[], track: Track): TrackItem[] {
  switch (track) {
    case "origin":
      return records.map((r) => ({ path: r.path, label: r.origin }));
    case "content_type":
      return records.filter((r) => r.origin === 1).map((r) => ({ path: r.path, label: r.content }));
    case "model":
      return records.filter((r) => r.origin === 1).map((r) => ({ path: r.path, label: r.group }));
    case "specific_model":
      return records.filter((r) => r.origin === 1).map((r) => ({ path: r.path, label: r.specific }));
    case "all":
      return records.map((r) => ({ path: r.path, label: [r.origin, r.content, r.group, r.specific] }));
  }
}

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
