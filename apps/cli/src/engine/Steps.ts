/**
 * The steps a command's plan is made of, written once: keep a document, keep a not-found record, wait for an
 * analysis (counted while it lasts, its last state kept whatever happens).
 */
import type { ReportSink } from "@vt-harvest/report-sink"
import { ReportKey } from "@vt-harvest/report-sink"
import type { Analysis, VtError } from "@vt-harvest/vt-client"
import type { Duration, Ref } from "effect"
import { Effect, Either } from "effect"
import * as Analyses from "../internal/analyses.js"
import * as Failure from "./Failure.js"
import type * as Outcome from "./Outcome.js"
import * as Pipeline from "./Pipeline.js"

const encoder = new TextEncoder()

/** Stores a document under `key` and answers `outcome`; a store that fails stops the run. */
export const keep = (
  store: ReportSink.Service,
  key: ReportKey.ReportKey,
  raw: Uint8Array,
  outcome: Outcome.Outcome,
  seen?: ReportSink.Presence
): Effect.Effect<Outcome.Outcome, Failure.StoreFailed> =>
  Effect.as(Failure.storeOrStop(store.put(key, raw, { seen })), outcome)

/** Records VirusTotal's not-found answer under `key` and answers `outcome`. */
export const keepNotFound = (
  store: ReportSink.Service,
  key: ReportKey.ReportKey,
  error: VtError.NotFoundError,
  outcome: Outcome.Outcome
): Effect.Effect<Outcome.Outcome, Failure.StoreFailed> =>
  Effect.as(Failure.storeOrStop(store.putNotFound(key, encoder.encode(error.body))), outcome)

/** Stores an analysis (in `<out>/_analyses`) under the key of its id, which was checked when it was received. */
export const keepAnalysis = (analyses: ReportSink.Service, id: string, raw: Uint8Array) => {
  const key = Either.getOrThrow(ReportKey.fromAnalysisId(id))
  return Failure.storeOrStop(analyses.put(key, raw)).pipe(
    Effect.zipRight(Effect.logInfo(`saved _analyses/${key}.json`))
  )
}

/**
 * Waits for an analysis, counted as one being waited for while it lasts; the completed state, or on
 * `AnalysisTimeoutError` the last one polled, is kept in `analyses`.
 */
export const awaitAnalysis = (
  tally: Ref.Ref<Outcome.Tally>,
  analyses: ReportSink.Service,
  id: string,
  waiting: { readonly interval: Duration.Duration; readonly timeout: Duration.Duration },
  options: { readonly justSubmitted: boolean }
) =>
  Pipeline.waitingFor(tally, Analyses.wait(id, waiting, options)).pipe(
    Effect.tap((analysis: Analysis.Analysis) => keepAnalysis(analyses, id, analysis.raw)),
    Effect.tapErrorTag("AnalysisTimeoutError", (timeout) =>
      timeout.last === undefined ? Effect.void : keepAnalysis(analyses, id, timeout.last.raw))
  )
