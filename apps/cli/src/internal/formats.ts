/**
 * The output formats of the commands that print records (`summary`, `analysis`, `quota`): CSV (RFC 4180, cells a
 * spreadsheet would run as a formula defused), a JSON array, JSON lines, an aligned table for a terminal. One writer,
 * one rule per format, whatever the records are.
 */
import { Effect, Option } from "effect"
import * as Text from "./text.js"

/** The formats, as `--format` names them. */
export const formats = ["csv", "json", "ndjson", "table"] as const

export type Format = (typeof formats)[number]

/** `--format` when given, else a table on a terminal and CSV off one. */
export const choose = (format: Option.Option<Format>, tty: boolean): Format =>
  Option.getOrElse(format, () => (tty ? "table" : "csv"))

/** A column of output: its name (CSV header, JSON member, table header), a record's cell text and JSON value. */
export interface Column<A> {
  readonly name: string
  /** The cell in CSV and in a table (control characters are made safe by the writer). */
  readonly text: (record: A) => string
  /** The value in JSON (`undefined` is written as null). */
  readonly json: (record: A) => unknown
  /** How a table aligns it (default: right when every non-empty cell is a number). */
  readonly align?: "left" | "right" | undefined
}

/**
 * RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. A field a spreadsheet would run as
 * a formula (one that begins with =, +, -, @, a tab or a carriage return, and is not a number) is defused with a
 * leading apostrophe, as OWASP's CSV-injection rule says.
 */
export const csvField = (value: string): string => {
  const safe = /^[=+\-@\t\r]/.test(value) && !/^[+-]?\d+(?:\.\d+)?$/.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll("\"", "\"\"")}"` : safe
}

export const csvLine = (values: ReadonlyArray<string>): string => values.map(csvField).join(",")

const numeric = /^[+-]?\d+(?:\.\d+)?$/

/**
 * A plain-text table for a terminal: aligned columns two spaces apart, every cell on one line (control characters
 * blanked), the last column cut to what `width` leaves of the line (at least 10 characters).
 */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  width: number,
  align: ReadonlyArray<"left" | "right" | undefined> = []
): string => {
  const cells = [headers.map((h) => Text.oneLine(h)), ...rows.map((row) => row.map((cell) => Text.oneLine(cell)))]
  const right = headers.map((_, i) =>
    align[i] === undefined
      ? i < headers.length - 1 && rows.some((row) => row[i] !== "") &&
        rows.every((row) => row[i] === "" || numeric.test(row[i]))
      : align[i] === "right"
  )
  // A loop, not Math.max(...cells): one argument per row overflows the stack past about 125,000 rows.
  const widths = headers.map((_, i) => cells.reduce((widest, line) => Math.max(widest, line[i].length), 0))
  const fixed = widths.slice(0, -1).reduce((a, b) => a + b + 2, 0)
  widths[widths.length - 1] = Math.max(10, Math.min(widths[widths.length - 1], width - fixed))
  return cells.map((line) =>
    line.map((cell, i) => {
      const cut = cell.length > widths[i] ? `${cell.slice(0, widths[i] - 1)}…` : cell
      return right[i] ? cut.padStart(widths[i]) : cut.padEnd(widths[i])
    }).join("  ").trimEnd()
  ).join("\n")
}

/** What a format makes of records as they come: a first line, a line (or nothing yet) per record, the end. */
export interface Writer<A> {
  readonly begin: Effect.Effect<void>
  readonly record: (record: A) => Effect.Effect<void>
  readonly end: Effect.Effect<void>
}

const jsonObject = <A>(columns: ReadonlyArray<Column<A>>, record: A): string =>
  // JSON text that is valid and means the same, with DEL, C1 and U+2028/U+2029 escaped too: safe on a terminal.
  Text.json(Object.fromEntries(columns.map((column) => [column.name, column.json(record) ?? null])))

/**
 * A writer of `columns` in `format` through `write` (one call per line, without its line break). CSV and JSON lines
 * stream; a JSON array streams too (`[`, one element per line, `]`); a table needs every record, so it is printed at
 * the end, `width` columns wide. On a terminal (`tty`) CSV cells show control characters escaped; off one, every
 * control character but tab and line feed (CSV is piped on and `cat` to a terminal: an escape sequence in a server's
 * text must not reach it raw).
 */
export const writer = <A>(
  format: Format,
  columns: ReadonlyArray<Column<A>>,
  write: (line: string) => Effect.Effect<void>,
  screen: { readonly width: number; readonly tty: boolean }
): Effect.Effect<Writer<A>> =>
  Effect.sync(() => {
    const { tty, width } = screen
    const cell = (text: string) => (tty ? Text.escapeControls(text) : Text.escapeTerminalControls(text))
    switch (format) {
      case "csv":
        return {
          begin: write(csvLine(columns.map((c) => cell(c.name)))),
          // Off a terminal a line break or a tab stays as it is (a line break is quoted); on one, it is shown escaped too.
          record: (record) => write(csvLine(columns.map((c) => cell(c.text(record))))),
          end: Effect.void
        }
      case "ndjson":
        return { begin: Effect.void, record: (record) => write(jsonObject(columns, record)), end: Effect.void }
      case "json": {
        // Each element is written when the next one (or the end) shows whether a comma follows it.
        let pending: string | undefined
        return {
          begin: write("["),
          record: (record) =>
            Effect.suspend(() => {
              const previous = pending
              pending = jsonObject(columns, record)
              return previous === undefined ? Effect.void : write(`${previous},`)
            }),
          end: Effect.suspend(() => Effect.zipRight(pending === undefined ? Effect.void : write(pending), write("]")))
        }
      }
      case "table": {
        const rows: Array<ReadonlyArray<string>> = []
        return {
          begin: Effect.void,
          record: (record) => Effect.sync(() => void rows.push(columns.map((c) => c.text(record)))),
          end: Effect.suspend(() => write(table(columns.map((c) => c.name), rows, width, columns.map((c) => c.align))))
        }
      }
    }
  })
