/**
 * What a run remembers of what it sent VirusTotal to analyse: `scan`'s uploads in `<out>/_uploads/<sha256>.json`,
 * and the URLs `urls --submit-unknown` submitted in `<out>/_submissions/<key>.json`: the analysis the last upload (or
 * submission) started, and whether it was seen completed. A run stopped (or timed out) while waiting leaves it
 * `uploaded` (`submitted`); the next run asked for the same content or URL waits for that analysis again instead of
 * sending it again.
 *
 * `{"analysis_id":"<id>","status":"uploaded"}` (or `"submitted"`), then `"completed"` once its analysis is.
 */
import type { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { Effect, Either, Option, Predicate } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Analyses from "./analyses.js"

export type Status = "uploaded" | "submitted" | "completed"

export interface Upload {
  readonly analysisId: string
  readonly status: Status
}

const statuses: ReadonlySet<unknown> = new Set<Status>(["uploaded", "submitted", "completed"])

/** The record of an upload. */
export const encode = (upload: Upload): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ analysis_id: upload.analysisId, status: upload.status }) + "\n")

/**
 * The upload a record describes, or `undefined` when it is not one (a store is files anyone may have edited: the id
 * is checked as the upload's answer was).
 */
export const decode = (bytes: Uint8Array): Upload | undefined => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch {
    return undefined
  }
  if (!Predicate.isRecord(json) || typeof json.analysis_id !== "string" || !statuses.has(json.status)) {
    return undefined
  }
  const id = Analyses.checkedId(json.analysis_id)
  return Either.isRight(id) ? { analysisId: id.right, status: json.status as Status } : undefined
}

/**
 * The analysis of an earlier upload (submission) of `key` that was not seen completed, if any. The record only
 * saves a request: one that is not one of `what`, or cannot be read, is none (`unusable` says why, to be logged); a store
 * that does not answer stops the run.
 */
export const pending = <R>(
  records: ReportSink.Service,
  key: ReportKey.ReportKey,
  what: "an upload" | "a submission",
  unusable: (why: string) => Effect.Effect<void, never, R>
): Effect.Effect<string | undefined, Failure.StoreFailed, R> =>
  Failure.storeOrElse(
    Effect.flatMap(records.get(key), (stored) => {
      if (Option.isNone(stored)) return Effect.succeed(undefined)
      const record = decode(stored.value)
      if (record === undefined) return Effect.as(unusable(`is not one of ${what}`), undefined)
      return Effect.succeed(record.status === "completed" ? undefined : record.analysisId)
    }),
    (error) => Effect.as(unusable(`cannot be read (${error.message})`), undefined)
  )
