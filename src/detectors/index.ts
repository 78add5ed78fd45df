/**
 * The detector registry: the modules, by name. Adding a detector means adding its module file and
 * listing it here.
 */
import { InputError } from "../util/errors.js";
import { CNNDETECTION, CNNDETECTION_P01 } from "./cnndetection.js";
import { CORVI2022, CORVI2022_IMAGINET } from "./corvi2022.js";
import { GRAG2021 } from "./grag2021.js";
import { IMAGINET, IMAGINET_ID } from "./imaginet.js";
import { NPR } from "./npr.js";
import { UNIVFD } from "./univfd.js";
import type { DetectorModule } from "./types.js";
import { WILD } from "./wild.js";
import { WU2023 } from "./wu2023.js";

export type { DetectorModule } from "./types.js";

export const DETECTORS: readonly DetectorModule[] = [WILD, GRAG2021, CORVI2022, IMAGINET, CORVI2022_IMAGINET, WU2023, IMAGINET_ID, CNNDETECTION, CNNDETECTION_P01, NPR, UNIVFD];

/** What `imaginet detect` runs without --detector: the one detector whose weights ship with imaginet. */
export const DEFAULT_DETECTOR = WILD.name;

export function findDetector(name: string): DetectorModule {
  const d = DETECTORS.find((x) => x.name === name);
  if (!d) throw new InputError(`unknown detector "${name}": expected one of ${DETECTORS.map((x) => x.name).join(", ")}`);
  return d;
}
