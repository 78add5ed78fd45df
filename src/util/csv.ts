import { InputError } from "./errors.js";

/** A small RFC 4180 CSV reader: quoted fields (with "" escapes, commas and newlines inside), CRLF or LF. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ""));
}

/** A malformed CSV file: the file and the (1-based) line where the bad record starts. */
export class CsvError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
  }
  override name = "CsvError";
}

export interface CsvRecord {
  fields: string[];
  /** 1-based line on which the record starts (a quoted field may run over several lines) */
  line: number;
}

/**
 * An RFC 4180 reader for input files that must be well formed (a labels CSV): like parseCsv, but a
 * quote inside an unquoted field, text after a closing quote and an unterminated quote are errors
 * naming the line, and each record carries its line. Blank lines are skipped.
 */
export function parseCsvRecords(text: string, file: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let recordLine = 1;
  let quoteLine = 0; // line of the open quote, 0 when none is open
  let openedOn = 0; // line where the current field's quote opened
  let closed = false; // the current field's closing quote has been read
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === "" && !closed)) records.push({ fields, line: recordLine });
    fields = [];
    field = "";
    closed = false;
  };
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoteLine > 0) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoteLine = 0;
        closed = true;
      } else {
        if (c === "\n") line++;
        field += c;
      }
    } else if (c === ",") {
      fields.push(field);
      field = "";
      closed = false;
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRecord();
      line++;
      recordLine = line;
    } else if (closed) {
      if (openedOn === line) throw new CsvError(file, line, "text after a closing quote: a quoted field must end at a comma or the end of the line");
      throw new CsvError(file, openedOn, `a quoted field opened on this line closes on line ${line} and text follows the quote: is a closing quote missing on line ${openedOn}?`);
    } else if (c === '"') {
      if (field !== "") throw new CsvError(file, line, `a quote inside an unquoted field: quote the whole field and double the quote ("")`);
      quoteLine = line;
      openedOn = line;
    } else field += c;
  }
  if (quoteLine > 0) throw new CsvError(file, quoteLine, "unterminated quoted field: the file ends before its closing quote");
  if (field !== "" || fields.length > 0 || closed) endRecord();
  return records;
}
