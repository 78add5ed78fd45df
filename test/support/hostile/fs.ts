/**
 * Hostile inputs for the dataset download and prune code: each case's files go under
 * `<dir>/fs/<case>/`. test/hostile-fs.test.ts runs every case and asserts its outcome.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { makeZip } from "../zip.js";

/** imaginet-synthetic's archive, which places `dalle3/` among other folders. */
export const SYNTHETIC_ARCHIVE = "imaginet-synthetic.zip";
/** An ImagiNet annotation line's labels for a DALL·E 3 image. */
export const DALLE3_LABELS = "1,3,3,7";
export const OUTSIDE_CONTENT = "outside the root: keep me";

type Builder = (dir: string) => Promise<void>;

export const CASES: Record<string, Builder> = {
  /**
   * Archive 1 plants `dalle3/up -> ../..`, harmless inside the staging folder but pointing above the
   * root once `wrapper/dalle3` is moved up to `dalle3`; archive 2 then writes `up/evil.txt` through it.
   */
  "archive-planted-link": async (dir) => {
    await fsp.writeFile(
      path.join(dir, "archive1.zip"),
      makeZip([{ name: "wrapper/dalle3/" }, { name: "wrapper/dalle3/a.png", data: await tinyPng() }, { name: "wrapper/dalle3/up", data: "../..", mode: 0o120777 }]),
    );
    await fsp.writeFile(path.join(dir, "archive2.zip"), makeZip([{ name: "wrapper/dalle3/up/evil.txt", data: "written through a planted link" }]));
  },

  /** A link already in the root (left by an older version or another tool) that archive 2 would write through. */
  "placement-through-link": async (dir) => {
    await fsp.mkdir(path.join(dir, "outside"));
    await fsp.mkdir(path.join(dir, "root", "dalle3"), { recursive: true });
    await fsp.symlink("../../outside", path.join(dir, "root", "dalle3", "up"));
    await fsp.writeFile(path.join(dir, "archive2.zip"), makeZip([{ name: "wrapper/dalle3/up/evil.txt", data: "written through a planted link" }]));
  },

  /**
   * Referenced paths that are links to unreferenced files in the root: a file link, a chain of two
   * links, and a linked folder. Only store/junk.png and store2/junk.png are unreferenced.
   */
  "prune-referenced-link": async (dir) => {
    const root = path.join(dir, "root");
    const png = await tinyPng();
    for (const f of ["store/a.png", "store/b.png", "store/junk.png", "store2/c.png", "store2/junk.png"]) await writeFileIn(root, f, png);
    await fsp.mkdir(path.join(root, "dalle3"));
    await fsp.symlink("../store/a.png", path.join(root, "dalle3", "a.png"));
    await fsp.symlink("b-hop.png", path.join(root, "dalle3", "b.png"));
    await fsp.symlink("../store/b.png", path.join(root, "dalle3", "b-hop.png"));
    await fsp.symlink("store2", path.join(root, "dalle3_addition"));
    await writeFileIn(dir, "list.txt", annotationLines(["dalle3/a.png", "dalle3/b.png", "dalle3_addition/c.png"]));
  },

  /** An unreferenced file in victim/, and a file of the same name in a folder outside the root. */
  "prune-race": async (dir) => {
    const root = path.join(dir, "root");
    await writeFileIn(root, "dalle3/a.png", await tinyPng());
    await writeFileIn(root, "victim/junk.png", "unreferenced");
    await writeFileIn(dir, "outside/junk.png", OUTSIDE_CONTENT);
    await writeFileIn(dir, "list.txt", annotationLines(["dalle3/a.png"]));
  },

  /**
   * Unreferenced files whose names are not valid UTF-8 (byte 0xff) or hold a newline, and one whose
   * valid name reads like the escape of the first (`bad\xff.png`, a real backslash).
   */
  "prune-non-utf8-name": async (dir) => {
    const root = path.join(dir, "root");
    await writeFileIn(root, "dalle3/a.png", await tinyPng());
    await fsp.writeFile(Buffer.concat([Buffer.from(path.join(root, "dalle3", "bad")), Buffer.from([0xff]), Buffer.from(".png")]), "x");
    await fsp.writeFile(path.join(root, "dalle3", "new\nline.png"), "y");
    await fsp.writeFile(path.join(root, "dalle3", "bad\\xff.png"), "zz");
    await writeFileIn(dir, "list.txt", annotationLines(["dalle3/a.png"]));
  },

  /** Anchor lists whose second line leaves the list's folder: through `..`, and absolute. */
  "anchors-escape": async (dir) => {
    await writeFileIn(dir, "anchors/a.png", await tinyPng());
    await writeFileIn(dir, "secret.png", await tinyPng());
    await writeFileIn(dir, "anchors/climbs.txt", `./a.png,0,0,4,8\n../secret.png,0,0,4,8\n`);
    await writeFileIn(dir, "anchors/absolute.txt", `./a.png,0,0,4,8\n${path.join(dir, "secret.png")},0,0,4,8\n`);
  },
};

export async function makeCorpus(dir: string): Promise<string[]> {
  for (const [name, build] of Object.entries(CASES)) {
    const caseDir = path.join(dir, "fs", name);
    await fsp.mkdir(caseDir, { recursive: true });
    await build(caseDir);
  }
  return Object.keys(CASES);
}

async function tinyPng(): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .png()
    .toBuffer();
}

async function writeFileIn(dir: string, rel: string, data: string | Buffer): Promise<void> {
  await fsp.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
  await fsp.writeFile(path.join(dir, rel), data);
}

function annotationLines(paths: string[]): string {
  return paths.map((p) => `./${p},${DALLE3_LABELS}\n`).join("");
}
