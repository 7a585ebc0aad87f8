/**
 * What a run remembers of what it sent VirusTotal to analyse: `scan`'s uploads in `<out>/_uploads/<sha256>.json`,
 * and the URLs `urls --submit-unknown` submitted in `<out>/_submissions/<key>.json`: the analysis the last upload (or
 * submission) started, and whether it was seen completed. A run stopped (or timed out) while waiting leaves it
 * `uploaded` (`submitted`); the next run asked for the same content or URL waits for that analysis again instead of
 * sending it again.
 *
 * `{"analysis_id":"<id>","status":"uploaded"}` (`"submitted"` for a URL), then `"completed"` once its analysis is.
 */
import type { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { Effect, Either, Option, Predicate } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Analyses from "./analyses.js"

/** What was sent: a file (uploaded) or a URL (submitted); each has its own store and its own word for "sent". */
export type Sent = "uploaded" | "submitted"

export type Status = Sent | "completed"

export interface Recorded {
  readonly analysisId: string
  readonly status: Status
}

/** The record of an upload or a submission. */
export const encode = (record: Recorded): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ analysis_id: record.analysisId, status: record.status }) + "\n")

/**
 * What a record of `sent` says, or `undefined` when it is not one (a store is files anyone may have edited: the id
 * is checked as the answer that gave it was, and the status must be `sent`'s or `completed`).
 */
export const decode = (bytes: Uint8Array, sent: Sent): Recorded | undefined => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch {
    return undefined
  }
  if (!Predicate.isRecord(json) || typeof json.analysis_id !== "string") return undefined
  const status: Status | undefined = json.status === sent ? sent : json.status === "completed" ? "completed" : undefined
  const id = Analyses.checkedId(json.analysis_id)
  return Either.isRight(id) && status !== undefined ? { analysisId: id.right, status } : undefined
}

/**
 * The analysis of an earlier upload (`sent`: `uploaded`) or submission (`submitted`) of `key` that was not seen
 * completed, if any. The record only saves a request: one that is not one of `sent`, or cannot be read, is none
 * (`unusable` says why, to be logged). A store that does not answer, or that could not keep a new record (a
 * directory where it is written), stops the run before anything is sent that it could not remember.
 */
export const pending = <R>(
  records: ReportSink.Service,
  key: ReportKey.ReportKey,
  sent: Sent,
  unusable: (why: string) => Effect.Effect<void, never, R>
): Effect.Effect<string | undefined, Failure.StoreFailed, R> =>
  Effect.flatMap(
    Failure.storeOrStop(records.has(key)),
    (presence) => presence === "absent" ? Effect.succeed(undefined) : recorded(records, key, sent, unusable)
  )

const recorded = <R>(
  records: ReportSink.Service,
  key: ReportKey.ReportKey,
  sent: Sent,
  unusable: (why: string) => Effect.Effect<void, never, R>
): Effect.Effect<string | undefined, Failure.StoreFailed, R> =>
  Failure.storeOrElse(
    Effect.flatMap(records.get(key), (stored) => {
      if (Option.isNone(stored)) return Effect.succeed(undefined)
      const record = decode(stored.value, sent)
      if (record === undefined) {
        return Effect.as(unusable(`is not one of ${sent === "uploaded" ? "an upload" : "a submission"}`), undefined)
      }
      return Effect.succeed(record.status === "completed" ? undefined : record.analysisId)
    }),
    (error) => Effect.as(unusable(`cannot be read (${error.message})`), undefined)
  )
