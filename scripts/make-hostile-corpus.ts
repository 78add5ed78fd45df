/**
 * Writes the hostile-input corpus (crafted archives, links, FIFOs, zip bombs, corrupt and CMYK
 * images, report names, score and calibration files) into a folder, one subfolder per case:
 *
 *   node --import tsx scripts/make-hostile-corpus.ts OUT
 *
 * The same builders feed test/hostile-{fs,media,report}.test.ts, which run every case against the
 * CLI and the library and assert its exact outcome.
 */
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { makeCorpus as fsCorpus } from "../test/support/hostile/fs.js";
import { makeCorpus as mediaCorpus } from "../test/support/hostile/media.js";
import { makeCorpus as reportCorpus } from "../test/support/hostile/report.js";

const out = process.argv[2];
if (!out) {
  process.stderr.write("usage: node --import tsx scripts/make-hostile-corpus.ts OUT\n");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
for (const [area, make] of [
  ["fs", fsCorpus],
  ["media", mediaCorpus],
  ["report", reportCorpus],
] as const) {
  const cases = await make(out);
  process.stdout.write(`${path.join(out, area)}: ${cases.join(", ")}\n`);
}
