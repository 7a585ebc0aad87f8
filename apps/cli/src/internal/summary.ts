/**
 * What `summary` prints of each saved report: the default columns (counts, names, dates), a permalink to
 * VirusTotal's page of the object, and any field of the stored document named by a dotted path (`--fields`).
 */
import { ReportSink } from "@vt-harvest/report-sink"
import { Effect, Either, Option, Stream } from "effect"
import * as Formats from "./formats.js"

export { csvField, csvLine } from "./formats.js"

/** The CSV columns, in order. */
export const columns = [
  "key",
  "id",
  "type",
  "malicious",
  "suspicious",
  "undetected",
  "harmless",
  "reputation",
  "last_analysis_date",
  "names"
] as const

export type Row = Readonly<Record<(typeof columns)[number], string>>

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const field = (value: unknown): string => typeof value === "number" || typeof value === "string" ? String(value) : ""

/** A saved report as `summary` reads it: its default row, its names, the whole document. */
export interface Report {
  readonly row: Row
  readonly names: ReadonlyArray<string>
  readonly document: unknown
}

/** One row from a stored report document, or the reason it is not one. */
export const row = (key: string, body: Uint8Array): Row | string => {
  const report = read(key, body)
  return typeof report === "string" ? report : report.row
}

// A date in seconds as ISO 8601; "" for what is no date (not a number, or beyond the years a Date can hold).
const isoDate = (seconds: unknown): string => {
  const date = typeof seconds === "number" ? new Date(seconds * 1000) : undefined
  return date === undefined || Number.isNaN(date.getTime()) ? "" : date.toISOString()
}

/** A stored report document read, or the reason it is not one. */
export const read = (key: string, body: Uint8Array): Report | string => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(body))
  } catch {
    return "not JSON"
  }
  const data = isRecord(json) ? json.data : undefined
  if (!isRecord(data)) return "not a VirusTotal object document"
  // What `scan --no-wait` saves for an analysis not waited for: the upload's descriptor, no attributes yet.
  const descriptor = data.type === "analysis" && data.attributes === undefined && typeof data.id === "string"
  if (!descriptor && !isRecord(data.attributes)) return "not a VirusTotal object document"
  const attributes: Record<string, unknown> = isRecord(data.attributes) ? data.attributes : {}
  // An analysis (a store's _analyses/) carries its verdicts in `stats` and names what it analysed in `meta`.
  const analysis = data.type === "analysis"
  const meta = analysis && isRecord(json) && isRecord(json.meta) ? json.meta : {}
  const stats = isRecord(attributes.last_analysis_stats)
    ? attributes.last_analysis_stats
    : analysis && isRecord(attributes.stats)
    ? attributes.stats
    : {}
  const names = Array.isArray(attributes.names) && attributes.names.length > 0
    ? attributes.names.filter((name): name is string => typeof name === "string")
    : [
      attributes.meaningful_name,
      attributes.url,
      isRecord(meta.file_info) ? meta.file_info.sha256 : undefined,
      isRecord(meta.url_info) ? meta.url_info.url : undefined
    ].filter((name): name is string => typeof name === "string")
  const date = analysis ? attributes.date : attributes.last_analysis_date
  const row = {
    key,
    id: field(data.id),
    type: field(data.type),
    malicious: field(stats.malicious),
    suspicious: field(stats.suspicious),
    undetected: field(stats.undetected),
    harmless: field(stats.harmless),
    reputation: field(attributes.reputation),
    last_analysis_date: isoDate(date),
    names: names.join("; ")
  }
  return { row, names, document: json }
}

/**
 * Every saved report of the store as a row, read a few at a time; not-found records are not reports. A record that
 * cannot be read or is not a report goes to `onProblem` instead.
 */
export const rows = (onProblem: (key: string, reason: string) => Effect.Effect<void>) =>
  Stream.unwrap(Effect.map(ReportSink.ReportSink, (sink) =>
    sink.list.pipe(
      Stream.filter((entry) => entry.presence === "saved"),
      // A record that cannot be read (permissions, an I/O error) is named and skipped: the others are still listed.
      Stream.mapEffect((entry) =>
        sink.get(entry.key).pipe(
          Effect.map((body) => [entry.key, body] as const),
          Effect.catchAll((error) =>
            Effect.as(onProblem(entry.key, `cannot read it (${error.message})`), [entry.key, Option.none()] as const)
          )
        ), { concurrency: 8 }),
      Stream.mapEffect(([key, body]) => {
        if (Option.isNone(body)) return Effect.succeed(Option.none<Report>())
        const result = read(key, body.value)
        return typeof result === "string"
          ? Effect.as(onProblem(key, result), Option.none<Report>())
          : Effect.succeed(Option.some(result))
      }),
      Stream.filterMap((row) => row)
    )))

/** The columns of the table on a terminal when no field is named. */
export const tableColumns = ["key", "type", "malicious", "suspicious", "undetected", "harmless", "names"] as const

/** A plain-text table for a terminal: aligned columns, long names cut. */
export const table = (all: ReadonlyArray<Row>, width: number): string =>
  Formats.table(
    [...tableColumns],
    all.map((r) => tableColumns.map((c) => r[c])),
    width,
    tableColumns.map((c) => (c === "key" || c === "type" || c === "names" ? "left" : "right"))
  )

/** The fields of a format when none is named: the table's on a terminal, every CSV column otherwise. */
export const defaultFields = (format: Formats.Format): ReadonlyArray<Field> =>
  (format === "table" ? tableColumns : columns).map((name) => ({ _tag: "Named", name }))

// -- fields ----------------------------------------------------------------------------------------------------------

const isPlainRecord = isRecord

/** VirusTotal's page of the object a document is, or that an analysis analysed; "" when there is none. */
export const permalink = (document: unknown): string => {
  const data = isPlainRecord(document) ? document.data : undefined
  if (!isPlainRecord(data) || typeof data.id !== "string" || data.id === "") return ""
  const page = (kind: string, id: unknown) => {
    if (typeof id !== "string" || id === "") return ""
    try {
      return `https://www.virustotal.com/gui/${kind}/${encodeURIComponent(id)}`
    } catch {
      // An id that is not well-formed UTF-16 (a lone surrogate) has no address.
      return ""
    }
  }
  switch (data.type) {
    case "file":
      return page("file", data.id)
    case "url":
      return page("url", data.id)
    case "domain":
      return page("domain", data.id)
    case "ip_address":
      return page("ip-address", data.id)
    case "analysis": {
      const meta = isPlainRecord(document) && isPlainRecord(document.meta) ? document.meta : {}
      if (isPlainRecord(meta.file_info)) return page("file", meta.file_info.sha256)
      if (isPlainRecord(meta.url_info)) return page("url", meta.url_info.id)
      return ""
    }
    default:
      return ""
  }
}

/** The names `--fields` takes as they are: the default columns and `permalink`. */
export const named = [...columns, "permalink"] as const

/** A field `--fields` names: a named column, or a path into the stored document. */
export type Field =
  | { readonly _tag: "Named"; readonly name: (typeof named)[number] }
  | { readonly _tag: "Path"; readonly name: string; readonly path: ReadonlyArray<string> }

const maxFields = 100
const maxFieldLength = 300

/**
 * `--fields`: names separated by commas, each a named column ({@link named}) or a dotted path into the stored
 * document. A path is read from `data` (`attributes.reputation`), or from the document itself when it begins with
 * `data.` or `meta.`; a segment made of digits indexes a list (`attributes.names.0`). Spaces around names are
 * ignored; an empty name or segment, a control character, or a name given twice makes the list malformed.
 */
export const parseFields = (text: string): Either.Either<ReadonlyArray<Field>, string> => {
  const names = text.split(",").map((name) => name.trim())
  if (names.length > maxFields) return Either.left(`at most ${maxFields} fields`)
  const fields: Array<Field> = []
  for (const [i, name] of names.entries()) {
    if (name === "") return Either.left(`field ${i + 1} is empty`)
    if (name.length > maxFieldLength) return Either.left(`field ${i + 1} is longer than ${maxFieldLength} characters`)
    if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(name)) {
      return Either.left(`field ${i + 1} has a control character`)
    }
    // A JSON object has one member of a name: a column named twice would be two in CSV, one in JSON.
    if (names.indexOf(name) !== i) return Either.left(`field ${i + 1} (${name}) is named twice`)
    if ((named as ReadonlyArray<string>).includes(name)) {
      fields.push({ _tag: "Named", name: name as (typeof named)[number] })
      continue
    }
    const path = name.split(".").map((segment) => segment.trim())
    if (path.some((segment) => segment === "")) return Either.left(`field ${i + 1} has an empty segment`)
    fields.push({ _tag: "Path", name, path: path[0] === "data" || path[0] === "meta" ? path : ["data", ...path] })
  }
  return Either.right(fields)
}

/** The value at `path` in `document`, `undefined` when there is none. */
export const lookup = (document: unknown, path: ReadonlyArray<string>): unknown => {
  let value: unknown = document
  for (const segment of path) {
    if (Array.isArray(value) && /^\d{1,9}$/.test(segment)) value = value[Number(segment)]
    else if (isPlainRecord(value) && Object.hasOwn(value, segment)) value = value[segment]
    else return undefined
  }
  return value
}

/**
 * A value as a cell: text as it is, numbers and booleans written out, nothing for null or a missing field, a list of
 * texts or numbers joined with "; " (as `names` is), any other list or object as its JSON text.
 */
export const cellText = (value: unknown): string => {
  if (value === undefined || value === null) return ""
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  if (Array.isArray(value) && value.every((item) => typeof item === "string" || typeof item === "number")) {
    return value.join("; ")
  }
  return JSON.stringify(value)
}

const count = (text: string) => (text === "" ? null : Number(text))

/** The column of a named field: its CSV text as the default CSV has it, a typed value in JSON. */
const namedColumn = (name: (typeof named)[number]): Formats.Column<Report> => {
  switch (name) {
    case "permalink":
      return { name, text: (r) => permalink(r.document), json: (r) => permalink(r.document) || null, align: "left" }
    case "names":
      return { name, text: (r) => r.row.names, json: (r) => r.names, align: "left" }
    case "malicious":
    case "suspicious":
    case "undetected":
    case "harmless":
    case "reputation":
      return { name, text: (r) => r.row[name], json: (r) => count(r.row[name]), align: "right" }
    default:
      return { name, text: (r) => r.row[name], json: (r) => r.row[name] || null, align: "left" }
  }
}

/** The output columns of `fields`. */
export const fieldColumns = (fields: ReadonlyArray<Field>): ReadonlyArray<Formats.Column<Report>> =>
  fields.map((field) =>
    field._tag === "Named" ? namedColumn(field.name) : {
      name: field.name,
      text: (r) => cellText(lookup(r.document, field.path)),
      json: (r) => lookup(r.document, field.path)
    }
  )
