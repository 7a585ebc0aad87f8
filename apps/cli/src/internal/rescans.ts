/**
 * `files|urls --rescan-older-than <age>`: the age a report may have (`12h`, `30d`, `2w`), how old a report is (its
 * `attributes.last_analysis_date`), and the rescan request (`POST /files/{id}/analyse`, `/urls/{id}/analyse`), whose
 * analysis id is checked like any untrusted input before it names a file or reaches the log.
 */
import { ReportKey } from "@vt-harvest/report-sink"
import type { Analysis, VtClient, VtError } from "@vt-harvest/vt-client"
import { VtId } from "@vt-harvest/vt-client"
import { Duration, Effect, Either, Option } from "effect"
import * as Input from "./input.js"
import * as Settings from "./settings.js"

const units: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 }

/** The longest age accepted: ten years, far beyond any report VirusTotal keeps unanalysed. */
const maxSeconds = 10 * 366 * 86_400

/**
 * `--rescan-older-than`: a whole number and a unit, s, m, h, d or w (`12h`, `30d`, `2w`); anything else makes the
 * run unusable before a request is sent.
 */
export const parseAge = (
  value: Option.Option<string>
): Effect.Effect<Duration.Duration | undefined, Settings.UsageError> => {
  if (Option.isNone(value)) return Effect.succeed(undefined)
  const match = /^\s*(\d{1,9})\s*([smhdw])\s*$/i.exec(value.value)
  const seconds = match === null ? 0 : Number(match[1]) * units[match[2].toLowerCase()]
  return match === null || seconds <= 0 || seconds > maxSeconds
    ? Effect.fail(
      new Settings.UsageError({
        message: `--rescan-older-than ${
          Input.quote(value.value)
        }: expected a positive age with a unit, s, m, h, d or w (12h, 30d, 2w), at most 10 years`
      })
    )
    : Effect.succeed(Duration.seconds(seconds))
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * When VirusTotal last analysed the object of a report document (`data.attributes.last_analysis_date`, Unix
 * seconds), or `undefined` when the document does not say.
 */
export const analysedAt = (raw: Uint8Array): number | undefined => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(raw))
  } catch {
    return undefined
  }
  const data = isRecord(json) ? json.data : undefined
  const attributes = isRecord(data) ? data.attributes : undefined
  const date = isRecord(attributes) ? attributes.last_analysis_date : undefined
  return typeof date === "number" && Number.isFinite(date) ? date : undefined
}

/**
 * Whether a report is older than `age` at `nowMs`. A report that names no analysis date is not: its age is unknown,
 * and rescanning it would not make the next run's answer any different (a rerun would rescan it again).
 */
export const isStale = (raw: Uint8Array, age: Duration.Duration, nowMs: number): boolean => {
  const date = analysedAt(raw)
  return date !== undefined && date * 1000 < nowMs - Duration.toMillis(age)
}

/** The date of a report for a log line: ISO 8601, "no analysis date", or the number where no Date can hold it. */
export const describeDate = (raw: Uint8Array): string => {
  const date = analysedAt(raw)
  if (date === undefined) return "no analysis date"
  const when = new Date(date * 1000)
  return Number.isNaN(when.getTime()) ? `analysed ${date}, not a date` : `analysed ${when.toISOString()}`
}

/** Asks VirusTotal to analyse `id` again; answers the analysis id and the answer, or why the answer is unusable. */
export const request = (
  id: string,
  send: (id: string) => Effect.Effect<Analysis.Descriptor, VtError.VtError, VtClient.VtClient>
) =>
  Effect.gen(function*() {
    const sent = yield* send(id)
    const analysis = Either.flatMap(
      VtId.analysisId(sent.id),
      (checked) => Either.map(ReportKey.fromAnalysisId(checked), () => checked)
    )
    if (Either.isLeft(analysis)) {
      return Either.left(`asked to rescan ${id}, but the analysis id ${Input.quote(sent.id)} is unusable`)
    }
    yield* Effect.logInfo(`rescanning ${id} as analysis ${analysis.right}`)
    return Either.right({ id: analysis.right, raw: sent.raw })
  })
