import { ReportSink } from "@vt-harvest/report-sink"
import { Effect, Option, Stream } from "effect"
import * as Text from "./text.js"

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

/** One row from a stored report document, or the reason it is not one. */
export const row = (key: string, body: Uint8Array): Row | string => {
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
  return {
    key,
    id: field(data.id),
    type: field(data.type),
    malicious: field(stats.malicious),
    suspicious: field(stats.suspicious),
    undetected: field(stats.undetected),
    harmless: field(stats.harmless),
    reputation: field(attributes.reputation),
    last_analysis_date: typeof date === "number" ? new Date(date * 1000).toISOString() : "",
    names: names.join("; ")
  }
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
        if (Option.isNone(body)) return Effect.succeed(Option.none<Row>())
        const result = row(key, body.value)
        return typeof result === "string"
          ? Effect.as(onProblem(key, result), Option.none<Row>())
          : Effect.succeed(Option.some(result))
      }),
      Stream.filterMap((row) => row)
    )))

/** A plain-text table for a terminal: aligned columns, long names cut. */
export const table = (all: ReadonlyArray<Row>, width: number): string => {
  const shown = ["key", "type", "malicious", "suspicious", "undetected", "harmless", "names"] as const
  const cells = [shown.map((c) => c as string), ...all.map((r) => shown.map((c) => Text.oneLine(r[c])))]
  const widths = shown.map((_, i) => Math.max(...cells.map((line) => line[i].length)))
  const fixed = widths.slice(0, -1).reduce((a, b) => a + b + 2, 0)
  widths[widths.length - 1] = Math.max(10, Math.min(widths[widths.length - 1], width - fixed))
  return cells.map((line) =>
    line.map((cell, i) => {
      const cut = cell.length > widths[i] ? `${cell.slice(0, widths[i] - 1)}…` : cell
      return i < 2 || i === line.length - 1 ? cut.padEnd(widths[i]) : cut.padStart(widths[i])
    }).join("  ").trimEnd()
  ).join("\n")
}
