import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import sharp from "sharp";
import { formatMetric, parseUpstreamCsv, scoreTableCsv, upstreamCsv, writeLikeUpstream } from "../src/report/csv.js";
import { reportHtml, type Report } from "../src/report/html.js";
import { scoreTableJson, valueTableJson } from "../src/report/json.js";
import { README_LAYOUTS, markdownTableAfter, parseScoreTableMarkdown, scoreTableMarkdown, valueTableMarkdown } from "../src/report/markdown.js";
import { reliabilitySvg, rocSvg, severitySvg, simplifyCurve, trapezoidAuc, type ReliabilityBin, type RocCurve } from "../src/report/plots.js";
import { README_DETECTORS, UPSTREAM_DETECTORS, bestIndices, diffScoreTables, rowMarks, tableFromUpstreamCsvs, withMean, type CellDiff, type ScoreTable, type ValueTable } from "../src/report/table.js";
import { HAVE_SHARED, REPO, SHARED, tmpDir } from "./helpers.js";

const FIXTURES = path.join(REPO, "test", "fixtures", "report");
/** Set to regenerate the committed sample report and reference screenshot. */
const UPDATE = process.env.UPDATE_REPORT_FIXTURES === "1";
const README = readFileSync(path.join(FIXTURES, "upstream-readme-results.md"), "utf8");
const SEED_README = path.resolve(SHARED, "..", "seed", "000_dd52b0c34932ad17.txt");
const RESULTS = path.join(SHARED, "reference_results");
const CHROMIUM = "/usr/bin/chromium";

const H = {
  group: "#### Results group of models",
  specific: "#### Results specific models",
  content: "#### Results content types",
  identification: "#### Results of our Synthetic Generator Identificator (in terms of ACC)",
  time: "### Inference Time",
} as const;

const readmeTable = (heading: string): string => markdownTableAfter(README, heading);
/** The table with every number replaced: what is left is layout and marks. */
const skeleton = (md: string): string => md.replace(/\d\.\d{4,5}/g, "#");
const key = (d: CellDiff): string => `${d.row} | ${d.column} | ${d.metric}`;

/** The README's identification table, from its numbers (the Mean column is computed). */
const IDENTIFICATION: ValueTable = {
  title: "Results of our Synthetic Generator Identificator (in terms of ACC)",
  corner: null,
  columns: ["GAN", "SD", "Midjourney", "DALL·E 3"],
  rows: [{ label: "ACC", values: [0.9998, 0.9978, 0.9964, 0.9872] }],
  digits: 4,
  best: null,
  meanColumn: "Mean",
};

const INFERENCE_TIME: ValueTable = {
  title: "Inference time (448×448 input, one RTX 4090)",
  corner: "Detector",
  columns: ["Inference Time (ms) ↓"],
  rows: [
    { label: "Grag2021", values: [24.23] },
    { label: "Corvi2022", values: [48.75] },
    { label: "Wu2023", values: [15.92] },
    { label: "Ours", values: [1.84] },
  ],
  digits: 2,
  best: { along: "column", better: "lower" },
  meanColumn: null,
};

describe("README tables re-fed with the README's numbers", () => {
  test("the committed excerpt is the upstream README's Results section", { skip: !existsSync(SEED_README) && "../shared/seed not present" }, () => {
    const body = README.slice(README.indexOf("\n") + 1);
    assert.ok(readFileSync(SEED_README, "utf8").includes(body));
  });

  for (const [name, heading, layout] of [
    ["group of models", H.group, README_LAYOUTS.group],
    ["specific models", H.specific, README_LAYOUTS.specific],
    ["content types", H.content, README_LAYOUTS.content],
  ] as const) {
    test(`${name}: byte for byte`, () => {
      const md = readmeTable(heading);
      assert.equal(scoreTableMarkdown(parseScoreTableMarkdown(md), layout), md);
    });
  }

  test("identification (Mean column computed) and inference time (lowest bold): byte for byte", () => {
    assert.equal(valueTableMarkdown(IDENTIFICATION, README_LAYOUTS.identification), readmeTable(H.identification));
    assert.equal(valueTableMarkdown(INFERENCE_TIME, README_LAYOUTS.inferenceTime), readmeTable(H.time));
  });

  test("the regular layout differs from the README only by the documented quirks", () => {
    const group = readmeTable(H.group);
    const regular = scoreTableMarkdown(parseScoreTableMarkdown(group));
    const diff = regular.split("\n").filter((l, i) => l !== group.split("\n")[i]);
    assert.deepEqual(diff, ["| **Mean**   | 0.5279 / 0.5637 | 0.5985 / 0.6562 | 0.5892 / 0.6116 | **0.8838** / <ins>0.9438</ins> |"]);
    const specific = scoreTableMarkdown(parseScoreTableMarkdown(readmeTable(H.specific)));
    assert.ok(specific.startsWith("|   ACC / AUC  |     Grag2021    |"), specific);
    assert.equal(scoreTableMarkdown(parseScoreTableMarkdown(readmeTable(H.content))), readmeTable(H.content));
  });

  test("upstream copy error: the content table's Ours column repeats the group table's (except Paintings AUC)", () => {
    const group = parseScoreTableMarkdown(readmeTable(H.group));
    const content = parseScoreTableMarkdown(readmeTable(H.content));
    const ours = (t: ScoreTable): string[] => [...t.rows.map((r) => r.cells[3]!), t.mean![3]!].flatMap((c) => [formatMetric(c.acc), formatMetric(c.auc)]);
    const g = ours(group);
    const c = ours(content);
    assert.deepEqual(
      c.map((v, i) => (v === g[i] ? "=" : `${g[i]}→${v}`)),
      ["=", "=", "=", "0.9724→0.8402", "=", "=", "=", "=", "=", "="],
    );
    // and so its Mean is not the mean of its rows (0.9108 AUC), while the other columns' are
    assert.equal(formatMetric(withMean(content).mean![3]!.auc), "0.9108");
    assert.deepEqual(diffScoreTables(content, withMean(content)).map(key), ["Mean | Ours | auc"]);
  });

  test("the README's own Means: Wu2023's group AUC (0.6116) and Ours' specific AUC (0.93423) are not the mean of their rows", () => {
    const group = parseScoreTableMarkdown(readmeTable(H.group));
    assert.deepEqual(diffScoreTables(group, withMean(group)), [{ row: "Mean", column: "Wu2023", metric: "auc", a: "0.6116", b: "0.6115" }]);
    const specific = parseScoreTableMarkdown(readmeTable(H.specific));
    // 0.934219 as a mean of the 5-decimal row values
    assert.deepEqual(
      diffScoreTables(specific, withMean(specific)).map((d) => [key(d), d.a, d.b]),
      [["Mean | Ours | auc", "0.93423", "0.9342"]],
    );
  });
});

describe("README tables from upstream's result CSVs", { skip: !HAVE_SHARED && "../shared/imaginet not present" }, () => {
  const fromCsvs = (set: string): ScoreTable => tableFromUpstreamCsvs(path.join(RESULTS, set), README_DETECTORS);

  test("group of models: same layout and marks; only Ours (a later model in the CSVs) and Wu2023's Mean AUC differ", () => {
    const md = scoreTableMarkdown(fromCsvs("ImagiNet"), README_LAYOUTS.group);
    const readme = readmeTable(H.group);
    assert.equal(skeleton(md), skeleton(readme));
    const diffs = diffScoreTables(parseScoreTableMarkdown(readme), fromCsvs("ImagiNet"));
    assert.deepEqual(
      diffs.map((d) => `${key(d)}: ${d.a} → ${d.b}`),
      [
        "GAN | Ours | acc: 0.8242 → 0.9372",
        "GAN | Ours | auc: 0.8871 → 0.9886",
        "SD | Ours | acc: 0.9145 → 0.9608",
        "SD | Ours | auc: 0.9724 → 0.9922",
        "Midjourney | Ours | acc: 0.8844 → 0.9652",
        "Midjourney | Ours | auc: 0.9448 → 0.9949",
        "DALL·E 3 | Ours | acc: 0.9120 → 0.9724",
        "DALL·E 3 | Ours | auc: 0.9709 → 0.9963",
        "Mean | Wu2023 | auc: 0.6116 → 0.6115",
        "Mean | Ours | acc: 0.8838 → 0.9589",
        "Mean | Ours | auc: 0.9438 → 0.9930",
      ],
    );
    // with the README's Ours column put back, only Wu2023's Mean AUC remains
    const readmeOurs = parseScoreTableMarkdown(readme);
    const csv = fromCsvs("ImagiNet");
    const patched: ScoreTable = {
      ...csv,
      rows: csv.rows.map((r, i) => ({ ...r, cells: [...r.cells.slice(0, 3), readmeOurs.rows[i]!.cells[3]!] })),
      mean: [...csv.mean!.slice(0, 3), readmeOurs.mean![3]!],
    };
    assert.equal(scoreTableMarkdown(patched, README_LAYOUTS.group), readme.replace("0.5892 / 0.6116", "0.5892 / 0.6115"));
  });

  test("specific models: the CSVs are another run for every detector; all cells but two differ, and StyleGAN3's marks move to Ours", () => {
    const csv = fromCsvs("ImagiNet_Specific_Model");
    const readme = readmeTable(H.specific);
    const diffs = diffScoreTables(parseScoreTableMarkdown(readme), csv).map(key);
    const all = [...csv.rows.map((r) => r.label), "Mean"].flatMap((r) => csv.columns.flatMap((c) => [`${r} | ${c} | acc`, `${r} | ${c} | auc`]));
    assert.equal(all.length, 72);
    assert.deepEqual(
      all.filter((k) => !diffs.includes(k)),
      ["StyleGAN-XL | Grag2021 | auc", "Animagine XL | Wu2023 | acc"],
    );
    assert.equal(diffs.length, 70);
    // the README's 5-decimal AUCs in Ours (0.96203 …) are the quirk; the CSV has 4 decimals everywhere
    const md = scoreTableMarkdown(csv, README_LAYOUTS.specific);
    const lines = (s: string): string[] => skeleton(s).split("\n");
    const differing = lines(md)
      .map((l, i) => [l, lines(readme)[i]])
      .filter(([a, b]) => a !== b);
    assert.deepEqual(differing, [["| StyleGAN3      | # / # | # / # | # / # | **#** / <ins>#</ins> |", "| StyleGAN3      | # / <ins>#</ins> | **#** / # | # / # | # / # |"]]);
    assert.ok(md.includes("| DALL·E 3       | 0.4204 / 0.3972 |"), "`DALL  E 3` in the CSV is shown as DALL·E 3");
  });

  test("content types: same layout and marks; exactly the Ours cells differ", () => {
    const csv = fromCsvs("ImagiNet_Content");
    const readme = readmeTable(H.content);
    assert.equal(skeleton(scoreTableMarkdown(csv, README_LAYOUTS.content)), skeleton(readme));
    assert.deepEqual(
      diffScoreTables(parseScoreTableMarkdown(readme), csv).map((d) => `${key(d)}: ${d.a} → ${d.b}`),
      [
        "Photos | Ours | acc: 0.8242 → 0.9643",
        "Photos | Ours | auc: 0.8871 → 0.9933",
        "Paintings | Ours | acc: 0.9145 → 0.9077",
        "Paintings | Ours | auc: 0.8402 → 0.9745",
        "Faces | Ours | acc: 0.8844 → 0.9551",
        "Faces | Ours | auc: 0.9448 → 0.9923",
        "Uncategorised | Ours | acc: 0.9120 → 0.9821",
        "Uncategorised | Ours | auc: 0.9709 → 0.9988",
        "Mean | Ours | acc: 0.8838 → 0.9523",
        "Mean | Ours | auc: 0.9438 → 0.9897",
      ],
    );
  });

  test("Mean rows: the CSVs' own Mean (from unrounded metrics) is within 0.0001 of the mean of their rounded rows", () => {
    const differ: string[] = [];
    for (const set of readdirSync(RESULTS).sort()) {
      const dets = UPSTREAM_DETECTORS.filter((d) => existsSync(path.join(RESULTS, set, d.file)));
      const t = tableFromUpstreamCsvs(path.join(RESULTS, set), dets);
      const r = tableFromUpstreamCsvs(path.join(RESULTS, set), dets, undefined, { mean: "recompute" });
      t.mean!.forEach((c, j) => {
        for (const m of ["acc", "auc"] as const) {
          const csv = c![m];
          const rows = r.mean![j]![m];
          assert.ok(Math.abs(csv - rows) <= 0.0001, `${set} ${t.columns[j]} ${m}: ${csv} vs ${rows}`);
          if (formatMetric(csv) !== formatMetric(rows)) differ.push(`${set} ${t.columns[j]} ${m}: ${formatMetric(csv)} (rows: ${rows.toFixed(6)})`);
        }
      });
    }
    // exact halves of the rounded rows, rounded down by upstream because the unrounded mean was below the half
    // (PracticalTestset Wu2023 AUC, 0.947850, went up: 0.9479 as here)
    assert.deepEqual(differ, ["PracticalTestset Corvi2022 acc: 0.7843 (rows: 0.784350)", "PracticalTestset Ours acc: 0.9428 (rows: 0.942850)"]);
  });

  test("all five detectors and all five sets load; a detector without a file for a row gets an empty cell", () => {
    const t = tableFromUpstreamCsvs(path.join(RESULTS, "Corvi"), UPSTREAM_DETECTORS);
    assert.deepEqual(t.columns, ["Grag2021", "Corvi2022", "Wu2023", "Ours", "Corvi2022*"]);
    assert.equal(t.rows.length, 12);
    assert.ok(scoreTableMarkdown(t).includes("| latent_diff  |"));
  });
});

describe("tables: ties, rounding, missing cells", () => {
  const t = (cells: ([number, number] | null)[]): ScoreTable => ({
    title: "t",
    corner: "ACC / AUC",
    columns: cells.map((_, i) => `D${i}`),
    rows: [{ label: "row", cells: cells.map((c) => (c ? { acc: c[0], auc: c[1] } : null)) }],
    mean: null,
  });

  test("ties on the shown (rounded) value are all marked", () => {
    // 0.91234 and 0.91226 both show 0.9123 (a tie); on raw values only the first would be marked
    const md = scoreTableMarkdown(
      t([
        [0.91234, 0.5],
        [0.91226, 0.7],
        [0.5, 0.7000004],
      ]),
    );
    assert.equal(md.split("\n")[2], "| row       | **0.9123** / 0.5000 | **0.9123** / <ins>0.7000</ins> | 0.5000 / <ins>0.7000</ins> |");
    const exact = rowMarks(
      t([
        [0.8, 0.9],
        [0.8, 0.9],
        [0.7, 0.95],
      ]).rows[0]!.cells,
    );
    assert.deepEqual([[...exact.acc], [...exact.auc]], [[0, 1], [2]]);
  });

  test("missing and NaN cells are never best; Mean of a column with a missing cell is empty", () => {
    const table = withMean({
      ...t([[0.6, 0.6], null, [Number.NaN, 0.9]]),
      rows: [
        ...t([[0.6, 0.6], null, [Number.NaN, 0.9]]).rows,
        {
          label: "r2",
          cells: [
            { acc: 0.8, auc: 0.8 },
            { acc: 1, auc: 1 },
            { acc: 0.7, auc: 0.7 },
          ],
        },
      ],
    });
    const md = scoreTableMarkdown(table).split("\n");
    assert.equal(md[2], "| row       | **0.6000** / 0.6000 |                 | NaN / <ins>0.9000</ins> |");
    assert.equal(md[4], "| **Mean**  | **0.7000** / 0.7000 |                 | NaN / <ins>0.8000</ins> |");
    assert.deepEqual([...bestIndices([Number.NaN, Number.NaN])], []);
    assert.deepEqual([...bestIndices([3, 1, 1], "lower")], [1, 2]);
  });

  test("rounding is half away from zero on the decimal value", () => {
    assert.equal(formatMetric(0.61155), "0.6116"); // 0.61155 is stored as 0.611549999…
    assert.equal(formatMetric(0.65615), "0.6562");
    assert.equal(formatMetric(0.94285), "0.9429");
    assert.equal(formatMetric((0.6971 + 0.6718 + 0.5289 + 0.5482) / 4), "0.6115");
    assert.equal(formatMetric(-0.00005), "-0.0001");
    assert.equal(formatMetric(Number.NaN), "NaN");
  });

  test("JSON carries values, shown text and marks", () => {
    const j = scoreTableJson(
      withMean(
        t([
          [0.91234, 0.5],
          [0.91226, 0.7],
        ]),
      ),
    );
    assert.deepEqual(j.rows[0]!.cells[0], { acc: 0.91234, auc: 0.5, accText: "0.9123", aucText: "0.5000", bestAcc: true, bestAuc: false });
    assert.equal(j.rows[1]!.mean, true);
    const v = valueTableJson(INFERENCE_TIME);
    assert.deepEqual(
      v.rows.map((r) => r.cells[0]!.best),
      [false, false, false, true],
    );
    assert.deepEqual(
      valueTableJson(IDENTIFICATION).rows[0]!.cells.map((c) => c.text),
      ["0.9998", "0.9978", "0.9964", "0.9872", "0.9953"],
    );
  });
});

describe("upstream CSVs", { skip: !HAVE_SHARED && "../shared/imaginet not present" }, () => {
  const files = HAVE_SHARED
    ? readdirSync(RESULTS)
        .sort()
        .flatMap((set) =>
          readdirSync(path.join(RESULTS, set))
            .sort()
            .map((f) => path.join(set, f)),
        )
    : [];

  test("all 24 files round-trip byte for byte (CRLF or LF, with or without a final line break)", () => {
    assert.equal(files.length, 24);
    const styles = new Set<string>();
    for (const f of files) {
      const text = readFileSync(path.join(RESULTS, f), "utf8");
      const csv = parseUpstreamCsv(text, f);
      styles.add(`${JSON.stringify(csv.eol)} final=${csv.finalNewline}`);
      assert.equal(writeLikeUpstream(csv), text, f);
    }
    assert.deepEqual([...styles].sort(), ['"\\n" final=false', '"\\n" final=true', '"\\r\\n" final=false', '"\\r\\n" final=true']);
  });

  test("a table's column written back as a per-detector CSV equals the upstream file", () => {
    for (const set of ["ImagiNet", "ImagiNet_Content", "ImagiNet_Specific_Model"]) {
      const dir = path.join(RESULTS, set);
      const dets = UPSTREAM_DETECTORS.filter((d) => existsSync(path.join(dir, d.file)));
      const table = tableFromUpstreamCsvs(dir, dets, {}); // labels as in the files
      dets.forEach((d, j) => {
        const text = readFileSync(path.join(dir, d.file), "utf8");
        const like = parseUpstreamCsv(text);
        assert.equal(scoreTableCsv(table, j, { labelHeader: like.labelHeader, eol: like.eol, finalNewline: like.finalNewline }), text, `${set}/${d.file}`);
      });
      // shown labels mapped back to the file's
      const shown = tableFromUpstreamCsvs(dir, dets);
      const csv = scoreTableCsv(shown, "Grag2021", {
        csvLabels: { "DALL·E 3": set === "ImagiNet" ? "DALLE3" : "DALL  E 3" },
        labelHeader: parseUpstreamCsv(readFileSync(path.join(dir, "grag2021_model.csv"), "utf8")).labelHeader,
      });
      assert.equal(csv.replace(/\r\n$/, ""), readFileSync(path.join(dir, "grag2021_model.csv"), "utf8").replace(/\r\n$/, ""));
    }
  });

  test("defaults: Model header, CRLF, final line break, 4 decimals; odd labels quoted; malformed input names the line", () => {
    assert.equal(
      upstreamCsv([
        { label: "GAN", acc: 0.5, auc: 0.61155 },
        { label: "Mean", acc: 0.5, auc: 0.61155 },
      ]),
      "Model,ACC,AUC\r\nGAN,0.5000,0.6116\r\nMean,0.5000,0.6116\r\n",
    );
    assert.throws(() => parseUpstreamCsv("Model,ACC,AUC\nGAN,0.5\n", "x.csv"), /x\.csv:2: expected/);
    assert.throws(() => parseUpstreamCsv("Model,ACC\n", "x.csv"), /x\.csv:1: expected header/);
    assert.equal(upstreamCsv([{ label: 'a,"b"\nc', acc: 0, auc: 0 }], { eol: "\n" }), 'Model,ACC,AUC\n"a,""b""\nc",0.0000,0.0000\n', "quoted as RFC 4180 does");
  });
});

// ------------------------------------------------------------------ plots

/** Minimal XML well-formedness: tags balance, attributes quoted, no stray `<` or bad entities. */
function assertWellFormedXml(xml: string): string[] {
  const stack: string[] = [];
  const names: string[] = [];
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text), `bad entity in ${JSON.stringify(text.slice(0, 80))}`);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    assert.ok(m, `malformed tag at ${lt}: ${JSON.stringify(xml.slice(lt, lt + 80))}`);
    const [all, close, name, attrs, selfClose] = m;
    assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(attrs!), `bad entity in attributes of <${name}>`);
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (!selfClose) stack.push(name!);
    if (!close) names.push(name!);
    i = lt + all.length;
  }
  assert.deepEqual(stack, [], "unclosed elements");
  return names;
}

const ROC_CURVES: RocCurve[] = [
  // fpr^(1/k): smooth, concave curves with a known AUC of k / (k + 1)
  { name: "Ours", k: 9 },
  { name: "Corvi2022", k: 2.2 },
  { name: "Grag2021", k: 1.25 },
].map(({ name, k }) => {
  const fpr = Array.from({ length: 201 }, (_, i) => i / 200);
  return { name, fpr, tpr: fpr.map((x) => x ** (1 / k)) };
});

function bins(shape: (p: number) => number, counts: number[]): ReliabilityBin[] {
  return counts.map((n, i) => ({ lo: i / 10, hi: (i + 1) / 10, meanPredicted: i / 10 + 0.05, fractionPositive: shape(i / 10 + 0.05), count: n }));
}
const RELIABILITY = [
  { name: "Ours", bins: bins((p) => Math.min(1, p * p * 1.1), [1900, 310, 160, 120, 95, 90, 110, 150, 340, 2100]), ece: 0.0712 },
  { name: "Corvi2022", bins: bins((p) => 0.25 + 0.5 * p, [800, 450, 380, 350, 0, 330, 360, 410, 520, 900]) },
];
const QUALITIES = [100, 95, 90, 80, 70, 60];
const JPEG = [
  { name: "Ours", points: QUALITIES.map((q, i) => ({ x: q, y: [0.9589, 0.9471, 0.9388, 0.9202, 0.9034, 0.8851][i]! })) },
  { name: "Corvi2022", points: QUALITIES.map((q, i) => ({ x: q, y: [0.5985, 0.5712, 0.5604, 0.5433, 0.5301, 0.5188][i]! })) },
  { name: "Grag2021", points: QUALITIES.map((q, i) => ({ x: q, y: [0.5279, 0.5136, 0.5087, 0.5035, 0.5012, 0.5004][i]! })) },
];
const RESIZE = [
  { name: "Ours", points: [0.5, 0.75, 1, 1.25, 1.5].map((s, i) => ({ x: s, y: [0.9012, 0.9377, 0.9589, 0.9443, 0.9318][i]! })) },
  { name: "Corvi2022", points: [0.5, 0.75, 1, 1.25, 1.5].map((s, i) => ({ x: s, y: [0.5203, 0.5566, 0.5985, 0.5701, 0.5514][i]! })) },
];

describe("plots (Vega-Lite → SVG)", () => {
  test("ROC: deterministic, well-formed, legend with each AUC", async () => {
    const a = await rocSvg(ROC_CURVES, { title: "ROC" });
    await reliabilitySvg(RELIABILITY); // renders in between must not change the next bytes
    const b = await rocSvg(ROC_CURVES, { title: "ROC" });
    assert.equal(a, b);
    const elements = assertWellFormedXml(a);
    assert.equal(elements[0], "svg");
    assert.ok(elements.filter((e) => e === "path").length >= 3);
    for (const [name, auc] of [
      ["Ours", 0.9],
      ["Corvi2022", 2.2 / 3.2],
      ["Grag2021", 1.25 / 2.25],
    ] as const) {
      const shown = trapezoidAuc(ROC_CURVES.find((c) => c.name === name)!.fpr, ROC_CURVES.find((c) => c.name === name)!.tpr);
      assert.ok(Math.abs(shown - auc) < 0.01, `${name}: ${shown}`);
      assert.ok(a.includes(`${name} (AUC ${shown.toFixed(4)})`), `legend for ${name}`);
    }
    assert.ok(a.includes(">False positive rate<") && a.includes(">True positive rate<"));
    // a given AUC wins over the trapezoid one
    assert.ok((await rocSvg([{ ...ROC_CURVES[0]!, auc: 0.97 }])).includes("Ours (AUC 0.9700)"));
  });

  test("reliability and severity: series names, axis titles, counts; names are escaped", async () => {
    const rel = await reliabilitySvg(RELIABILITY, { title: "Calibration" });
    assertWellFormedXml(rel);
    assert.ok(rel.includes("Ours (ECE 0.0712)") && rel.includes(">Corvi2022<") && rel.includes(">Count<"));
    const sev = await severitySvg(JPEG, { xTitle: "JPEG quality", yTitle: "Balanced accuracy", xReverse: true, yRule: 0.5 });
    assertWellFormedXml(sev);
    for (const n of ["Ours", "Corvi2022", "Grag2021", "JPEG quality", "Balanced accuracy"]) assert.ok(sev.includes(`>${n}<`), n);
    assert.equal(sev, await severitySvg(JPEG, { xTitle: "JPEG quality", yTitle: "Balanced accuracy", xReverse: true, yRule: 0.5 }));
    const odd = await severitySvg(
      [
        {
          name: `A<B> & "C"`,
          points: [
            { x: 1, y: 0.5 },
            { x: 2, y: 0.6 },
          ],
        },
      ],
      { xTitle: "x", yTitle: "y" },
    );
    assertWellFormedXml(odd);
    assert.ok(odd.includes("A&lt;B&gt; &amp;"), "series name escaped");
    await assert.rejects(severitySvg([JPEG[0]!, JPEG[0]!], { xTitle: "x", yTitle: "y" }), /appears twice/);
  });

  test("clip ids are stable across renders and unique between plots, so several SVGs can share one page", async () => {
    const opts = { xTitle: "JPEG quality", yTitle: "Balanced accuracy", yDomain: [0.4, 1] as [number, number] };
    const a = await severitySvg(JPEG, opts);
    const b = await severitySvg(RESIZE, opts);
    assert.equal(await severitySvg(JPEG, opts), a);
    const ids = (svg: string): string[] => [...svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(ids(a).length > 0);
    assert.deepEqual(
      ids(a).filter((id) => ids(b).includes(id)),
      [],
    );
    for (const svg of [a, b]) for (const ref of svg.matchAll(/url\(#([^)]+)\)/g)) assert.ok(ids(svg).includes(ref[1]!), `dangling ${ref[0]}`);
  });

  test("ROC curves are thinned invisibly: straight runs collapse, corners stay", () => {
    const x = [0, 0, 0, 0.5, 1, 1];
    const y = [0, 0.5, 1, 1, 1, 1];
    assert.deepEqual(simplifyCurve(x, y), { x: [0, 0, 1], y: [0, 1, 1] });
    const big = Array.from({ length: 100001 }, (_, i) => i / 100000);
    const s = simplifyCurve(
      big,
      big.map((v) => Math.sqrt(v)),
    );
    assert.ok(s.x.length < 200, `${s.x.length} points`);
  });
});

// ------------------------------------------------------------------ HTML report

async function sampleReport(): Promise<Report> {
  const sections: Report["sections"] = [{ kind: "heading", text: "Synthetic image detection" }];
  const readmeNote = "Upstream reference results (reference_results/*.csv); Ours is the later checkpoint, so it differs from the README.";
  if (HAVE_SHARED) {
    sections.push(
      { kind: "scores", table: tableFromUpstreamCsvs(path.join(RESULTS, "ImagiNet"), README_DETECTORS, undefined, { title: "Results group of models" }), caption: readmeNote },
      {
        kind: "scores",
        table: tableFromUpstreamCsvs(path.join(RESULTS, "ImagiNet_Specific_Model"), UPSTREAM_DETECTORS, undefined, { title: "Results specific models" }),
        caption: "Corvi2022*: Corvi2022 trained on ImagiNet.",
      },
      { kind: "scores", table: tableFromUpstreamCsvs(path.join(RESULTS, "ImagiNet_Content"), UPSTREAM_DETECTORS, undefined, { title: "Results content types" }) },
    );
  } else {
    // the same layout from the README's own numbers, so the report renders without ../shared
    for (const [title, h] of [
      ["Results group of models", H.group],
      ["Results specific models", H.specific],
      ["Results content types", H.content],
    ] as const) {
      sections.push({ kind: "scores", table: parseScoreTableMarkdown(readmeTable(h), title) });
    }
  }
  sections.push(
    { kind: "heading", text: "Model identification and inference time" },
    { kind: "values", table: IDENTIFICATION, caption: "AUC = 0.9999" },
    { kind: "values", table: INFERENCE_TIME },
    { kind: "heading", text: "Curves" },
    { kind: "plot", title: "ROC curves", svg: await rocSvg(ROC_CURVES, { title: "ROC — ImagiNet test set", width: 340 }), caption: "Sample curves (fixed arrays), AUC in the legend." },
    {
      kind: "plot",
      title: "Reliability diagram",
      svg: await reliabilitySvg(RELIABILITY, { title: "Reliability — calibration set", width: 340 }),
      caption: "Per bin: mean predicted probability vs fraction synthetic; bars: samples per bin.",
    },
    {
      kind: "plot",
      title: "JPEG severity",
      svg: await severitySvg(JPEG, { title: "Balanced accuracy under JPEG", xTitle: "JPEG quality", yTitle: "Balanced accuracy", xReverse: true, yRule: 0.5, yDomain: [0.4, 1], width: 340 }),
    },
    {
      kind: "plot",
      title: "Resize severity",
      svg: await severitySvg(RESIZE, { title: "Balanced accuracy under resizing", xTitle: "Resize factor", yTitle: "Balanced accuracy", yRule: 0.5, yDomain: [0.4, 1], width: 340 }),
    },
  );
  return {
    title: "ImagiNet benchmark report (sample)",
    meta: {
      Run: "sample-report",
      Created: "2024-06-01T12:00:00Z",
      "Test set": "ImagiNet test set, perturbed (testset recipe 1)",
      Detectors: "Grag2021, Corvi2022, Wu2023, Ours, Corvi2022*",
      "Upstream results": HAVE_SHARED ? "reference_results (CSV)" : "README tables",
      Toolkit: "imaginet 0.1.0",
      Seed: 0,
      Notes: undefined,
    },
    sections,
  };
}

describe("HTML report", () => {
  test("self-contained: inline CSS and SVG, no scripts, no external references; tables keep their marks", async () => {
    const html = reportHtml(await sampleReport());
    assert.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en">'));
    assert.ok(!/<script|<link|<img|<iframe|\ssrc=|\shref=|@import|url\((?!#)/i.test(html), "no external resources");
    assert.ok(!/https?:\/\//.test(html.replace(/xmlns(:xlink)?="http:\/\/www\.w3\.org\/[^"]+"/g, "")), "no URLs besides SVG namespaces");
    assert.equal((html.match(/<svg/g) ?? []).length, 4);
    assert.equal((html.match(/<table class="scores">/g) ?? []).length, 3);
    assert.ok(html.includes(`<tr class="mean"><th scope="row">Mean</th>`));
    assert.ok(html.includes("<td><strong>1.84</strong></td>"));
    assert.ok(!html.includes("Notes"), "undefined metadata left out");
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(ids.length >= 4, "the clipped severity plots have ids");
    assert.equal(new Set(ids).size, ids.length, "ids are unique in the page");
    // same input, same bytes: the committed sample report (made from the upstream CSVs)
    if (!HAVE_SHARED) return;
    const golden = path.join(FIXTURES, "sample-report.html");
    if (UPDATE) writeFileSync(golden, html);
    assert.equal(html, readFileSync(golden, "utf8"), `${golden} differs: rerun with UPDATE_REPORT_FIXTURES=1 if the change is intended`);
  });

  test("headless Chromium: the page shows the tables and plots; screenshot matches the reference", {
    skip: !existsSync(CHROMIUM) && `${CHROMIUM} absent (run scripts/setup.sh as root to install chromium)`,
    timeout: 120_000,
  }, async (t) => {
    const { chromium } = await import("playwright-core");
    const dir = tmpDir("imaginet-report-");
    const htmlFile = path.join(dir, "report.html");
    writeFileSync(htmlFile, reportHtml(await sampleReport()));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--font-render-hinting=none",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 }, deviceScaleFactor: 1 });
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(`file://${htmlFile}`, { waitUntil: "load" });
      assert.deepEqual(requests, [`file://${htmlFile}`], "the page loads nothing else");

      const dom = await page.evaluate(() => {
        const tables = [...document.querySelectorAll("table")];
        return {
          title: document.title,
          captions: tables.map((t) => t.caption?.textContent ?? ""),
          scoreRows: [...document.querySelectorAll("table.scores")].map((t) => t.querySelectorAll("tbody tr").length),
          bold: [...document.querySelectorAll("table.scores tbody td strong")].length,
          underlined: [...document.querySelectorAll("table.scores tbody td ins")].length,
          groupOursFirst: document.querySelector("table.scores tbody tr td:nth-child(5)")?.innerHTML ?? "",
          svgs: [...document.querySelectorAll("figure svg")].map((s) => {
            const r = s.getBoundingClientRect();
            return { w: Math.round(r.width), h: Math.round(r.height), texts: [...s.querySelectorAll("text")].map((t) => t.textContent ?? "") };
          }),
          metaKeys: [...document.querySelectorAll("dl.meta dt")].map((d) => d.textContent),
          overflow: document.documentElement.scrollWidth > window.innerWidth,
          strongWeight: getComputedStyle(document.querySelector("td strong")!).fontWeight,
          insDecoration: getComputedStyle(document.querySelector("td ins")!).textDecorationLine,
        };
      });
      assert.equal(dom.title, "ImagiNet benchmark report (sample)");
      assert.deepEqual(dom.captions, ["Results group of models", "Results specific models", "Results content types", IDENTIFICATION.title, INFERENCE_TIME.title]);
      assert.deepEqual(dom.scoreRows, [5, 9, 5]);
      assert.ok(dom.bold >= 18 && dom.underlined >= 18, `${dom.bold} bold, ${dom.underlined} underlined`);
      if (HAVE_SHARED) assert.equal(dom.groupOursFirst, "<strong>0.9372</strong> / <ins>0.9886</ins>");
      assert.equal(dom.svgs.length, 4);
      for (const s of dom.svgs) assert.ok(s.w > 300 && s.h > 200, JSON.stringify({ w: s.w, h: s.h }));
      const oursAuc = trapezoidAuc(ROC_CURVES[0]!.fpr, ROC_CURVES[0]!.tpr).toFixed(4);
      assert.ok(dom.svgs[0]!.texts.includes(`Ours (AUC ${oursAuc})`), dom.svgs[0]!.texts.join("|"));
      assert.ok(dom.svgs[1]!.texts.includes("Ours (ECE 0.0712)"));
      assert.ok(dom.svgs[2]!.texts.includes("JPEG quality") && dom.svgs[3]!.texts.includes("Resize factor"));
      assert.deepEqual(dom.metaKeys, ["Run", "Created", "Test set", "Detectors", "Upstream results", "Toolkit", "Seed"]);
      assert.equal(dom.overflow, false, "no horizontal scrolling at 1200 px");
      assert.equal(dom.strongWeight, "700");
      assert.equal(dom.insDecoration, "underline");

      const shot = path.join(dir, "report.png");
      await page.screenshot({ path: shot, fullPage: true, animations: "disabled" });
      t.diagnostic(`report: ${htmlFile}  screenshot: ${shot}`);
      const pdf = await page.pdf({ format: "A4", printBackground: true });
      assert.equal(pdf.subarray(0, 5).toString(), "%PDF-", "prints");
      writeFileSync(path.join(dir, "report.pdf"), pdf);

      const cur = await sharp(shot).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.equal(cur.info.width, 1200);
      assert.ok(cur.info.height > 1500, `page height ${cur.info.height}`);
      const stats = await sharp(shot).stats();
      assert.ok(
        stats.channels.slice(0, 3).every((c) => c.stdev > 20),
        "screenshot is not blank",
      );

      // the committed reference was taken of the report made from the upstream CSVs
      if (!HAVE_SHARED) return;
      const refFile = path.join(FIXTURES, "sample-report.png");
      if (UPDATE) writeFileSync(refFile, readFileSync(shot));
      const ref = await sharp(refFile).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual(
        [cur.info.width, cur.info.height],
        [ref.info.width, ref.info.height],
        `screenshot ${shot} has another size than ${refFile} (fonts? rerun with UPDATE_REPORT_FIXTURES=1 if intended)`,
      );
      let differing = 0;
      for (let i = 0; i < cur.data.length; i += 4) {
        const d = Math.max(Math.abs(cur.data[i]! - ref.data[i]!), Math.abs(cur.data[i + 1]! - ref.data[i + 1]!), Math.abs(cur.data[i + 2]! - ref.data[i + 2]!));
        if (d > 48) differing++;
      }
      const fraction = differing / (cur.info.width * cur.info.height);
      // font rasterisation may vary between Chromium builds; layout changes move far more than 1 %
      assert.ok(fraction < 0.01, `${(fraction * 100).toFixed(2)} % of pixels differ from ${refFile} (see ${shot})`);
    } finally {
      await browser.close();
    }
  });
});
