/**
 * Analyses as `scan` and `analysis` wait for them and print them: the wait settings, a status for a log line, and
 * the row printed for each analysis.
 */
import { ReportKey } from "@vt-harvest/report-sink"
import { Analysis, VtError, VtId } from "@vt-harvest/vt-client"
import type { Option } from "effect"
import { Duration, Effect, Either } from "effect"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import type * as Formats from "./formats.js"
import * as Input from "./input.js"
import * as Settings from "./settings.js"

/**
 * An analysis id from outside (a server's answer, an argument, a record), checked like any untrusted input: one
 * VirusTotal could give, that can name a file.
 */
export const checkedId = (text: string): Either.Either<string, string> =>
  Either.flatMap(
    VtId.analysisId(text),
    (id) =>
      Either.mapBoth(ReportKey.fromAnalysisId(id), {
        onLeft: () => "cannot be stored under a safe name",
        onRight: () => id
      })
  )

/**
 * VirusTotal's answer to a look-up of an analysis id refuses the id itself (404, or another 4xx about the request):
 * an id recorded by an earlier run names nothing to wait for. A refusal of the key or of its quota is not one (the
 * run stops, or waits, as for any request).
 */
export const refusesId = (error: VtError.VtError): boolean =>
  VtError.isApiError(error) && error.status >= 400 && error.status < 500 && error.status !== 429 &&
  !VtError.isAuthFailure(error)

/** An analysis' status for a log line: as it is when it looks like one (`queued`, `in-progress`…), else quoted. */
export const statusText = (analysis: { readonly status: string }): string =>
  /^[a-z][a-z-]{0,39}$/.test(analysis.status) ? analysis.status : Input.quote(analysis.status)

/** Seconds between two polls: VirusTotal's own clients poll every 20 s; a public key has 500 requests a day. */
export const defaultPollSeconds = (tier: "public" | "premium"): number => (tier === "public" ? 60 : 20)

/** How long to wait for one analysis by default: 10 minutes, as VirusTotal's command line does. */
export const defaultWaitTimeoutSeconds = 600

/** --poll-interval and --wait-timeout, checked (whole seconds, 1 to 86,400). */
export const waitSettings = (options: {
  readonly tier: "public" | "premium"
  readonly pollInterval: Option.Option<number>
  readonly waitTimeout: Option.Option<number>
}) =>
  Effect.gen(function*() {
    const interval = yield* Settings.seconds("poll-interval", options.pollInterval, defaultPollSeconds(options.tier))
    const timeout = yield* Settings.seconds("wait-timeout", options.waitTimeout, defaultWaitTimeoutSeconds)
    return { interval: Duration.seconds(interval), timeout: Duration.seconds(timeout) }
  })

// -- what is printed -----------------------------------------------------------------------------------------------

/** What a line of output says about an analysis. */
export interface Row {
  readonly id: string
  readonly status: string
  readonly malicious: string
  readonly suspicious: string
  readonly undetected: string
  readonly harmless: string
  /** The analysed file's SHA-256, or the URL. */
  readonly item: string
}

/** The CSV columns, in order. */
export const columns = ["id", "status", "malicious", "suspicious", "undetected", "harmless", "item"] as const

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const field = (value: unknown): string => (typeof value === "number" || typeof value === "string" ? String(value) : "")

/** A row from an analysis document as VirusTotal sent it (or as it was stored), `undefined` if it is not one. */
export const row = (body: Uint8Array): Row | undefined => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(body))
  } catch {
    return undefined
  }
  const data = isRecord(json) ? json.data : undefined
  if (!isRecord(data) || typeof data.id !== "string") return undefined
  const attributes = isRecord(data.attributes) ? data.attributes : {}
  const stats = isRecord(attributes.stats) ? attributes.stats : {}
  const meta = isRecord(json) && isRecord(json.meta) ? json.meta : {}
  const fileInfo = isRecord(meta.file_info) ? meta.file_info : {}
  const urlInfo = isRecord(meta.url_info) ? meta.url_info : {}
  return {
    id: data.id,
    status: field(attributes.status),
    malicious: field(stats.malicious),
    suspicious: field(stats.suspicious),
    undetected: field(stats.undetected),
    harmless: field(stats.harmless),
    item: field(fileInfo.sha256) || field(urlInfo.url) || field(urlInfo.id)
  }
}

/** An analysis as `analysis` prints it: its row, and the key it is stored under. */
export interface Printed {
  readonly row: Row
  readonly key: string
}

const count = (text: string) => (text === "" ? null : Number(text))

// One line per analysis whatever the server sent (control characters, C1 included, become spaces), under the same
// CSV rule as `summary`: a cell a spreadsheet would run as a formula is defused.
const flat = (text: string) =>
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, " ")

/**
 * The columns of each format: the CSV ones (and a table's), or in JSON the same with the store key after the id and
 * the counts as numbers.
 */
export const outputColumns = (format: Formats.Format): ReadonlyArray<Formats.Column<Printed>> => {
  const text = columns.map((name): Formats.Column<Printed> => ({
    name,
    text: (p) => flat(p.row[name]),
    json: (p) =>
      name === "malicious" || name === "suspicious" || name === "undetected" || name === "harmless"
        ? count(p.row[name])
        : p.row[name]
  }))
  if (format === "csv" || format === "table") return text
  return [text[0], { name: "key", text: (p) => p.key, json: (p) => p.key }, ...text.slice(1)]
}

/**
 * Polls the analysis until it is completed, every `interval` for at most `timeout` (after `initialDelay` when it
 * was just submitted); each poll is one request through the gated client. A timeout fails with
 * `AnalysisTimeoutError`, whose `last` is the last state polled.
 */
export const wait = (
  id: string,
  settings: { readonly interval: Duration.Duration; readonly timeout: Duration.Duration },
  options: { readonly justSubmitted: boolean }
) =>
  Analysis.wait(id, {
    schedule: Analysis.spacedUpTo(settings.interval, settings.timeout),
    initialDelay: options.justSubmitted ? settings.interval : undefined,
    onProgress: (analysis) => Effect.logInfo(`analysis ${id} ${statusText(analysis)}`)
  })

// -- ids as `analysis` reads them ---------------------------------------------------------------------------------

/** Every id argument checked before anything is sent: one that is not an analysis id makes the run unusable. */
export const checkIds = (ids: ReadonlyArray<string>) => {
  const problems: Array<string> = []
  const items: Array<Pipeline.Item<string>> = []
  ids.forEach((arg, i) => {
    if (Input.isStdin(arg)) return
    const id = checkedId(arg)
    if (Either.isLeft(id)) problems.push(`invalid analysis id ${Input.quote(arg)} (argument ${i + 1})`)
    else items.push(Pipeline.work(id.right, `argument ${i + 1}`))
  })
  if (ids.filter(Input.isStdin).length > 1) problems.push("- (standard input) can be given once")
  return problems.length > 0
    ? Effect.fail(new Settings.UsageError({ message: `${problems.join("\nvt-harvest: ")}\nnothing was sent` }))
    : Effect.succeed(items)
}

export const fromLine = (line: Input.Line): Pipeline.Item<string> => {
  const parsed = Input.classify(line, checkedId)
  return parsed._tag === "Ignored"
    ? Outcome.ignored
    : parsed._tag === "Invalid"
    ? Outcome.invalid(`line ${line.number}: invalid analysis id ${Input.quote(line.text)}: ${parsed.reason}`)
    : Pipeline.work(parsed.id, `line ${line.number}`)
}
