/**
 * The steps a command's plan is made of, written once: keep a document, keep a not-found record, wait for an
 * analysis (counted while it lasts, its last state kept whatever happens).
 */
import type { ReportSink } from "@vt-harvest/report-sink"
import { ReportKey } from "@vt-harvest/report-sink"
import type { VtError } from "@vt-harvest/vt-client"
import { Analysis, type Collection, VtClient } from "@vt-harvest/vt-client"
import type { Duration, Layer, Ref } from "effect"
import { Deferred, Effect, Either, FiberRef, Option, Stream } from "effect"
import * as Analyses from "../internal/analyses.js"
import * as Failure from "./Failure.js"
import type * as Outcome from "./Outcome.js"
import * as Pipeline from "./Pipeline.js"
import * as StoreHealth from "./StoreHealth.js"

const encoder = new TextEncoder()

/** What the requests of the running step are for, as the run log names them (`requesting <label>`). */
const requestLabel = FiberRef.unsafeMake<string | undefined>(undefined)

/**
 * Runs `effect` with its requests named `label` in the run log: each one is logged as `requesting <label>` when
 * the gate lets it go (a retry is logged again), not when it starts waiting for its turn.
 */
export const requesting = (label: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, requestLabel, label)

/**
 * Below the gate: each request that leaves waits while the store does not answer (StoreHealth: none is spent on a
 * report that may not be kept, also one already given its turn), and is logged under the label its step gave it.
 */
export const layerRequestLog: Layer.Layer<VtClient.VtClient, never, VtClient.VtClient> = VtClient.layerTransform(() =>
  Effect.succeed({
    request: (send) =>
      StoreHealth.whenReady(
        Effect.flatMap(
          FiberRef.get(requestLabel),
          (label) => label === undefined ? send : Effect.zipRight(Effect.logInfo(`requesting ${label}`), send)
        )
      )
  })
)

/**
 * Above the gate: the first request of a run goes alone, the others wait for its answer. A key refused for a privilege
 * it lacks (403 on a premium endpoint, which the start-up quota probe cannot reveal) then costs exactly one request
 * whatever the concurrency: the gate has halted before any other request asks it for a turn.
 */
export const layerFirstAlone: Layer.Layer<VtClient.VtClient, never, VtClient.VtClient> = VtClient.layerTransform(() =>
  Effect.map(Deferred.make<void>(), (answered) => {
    let first = true
    return {
      request: (send) =>
        Effect.suspend(() => {
          if (!first) return Effect.zipRight(Deferred.await(answered), send)
          first = false
          return Effect.ensuring(send, Deferred.succeed(answered, undefined))
        })
    }
  })
)

/**
 * The most of one record a step gathers in memory before it is kept (a relationship followed page after page, every
 * comment of an object): 16 MiB. A larger collection, or a server that never stops handing out pages, is kept as far
 * as that and the step says so: memory stays bounded whatever the answers say.
 */
export const maxGathered = 16 * 1024 * 1024

/**
 * The elements of `stream` up to the one that brings their size (`sizeOf`) to {@link maxGathered}; `cut()` then says
 * whether it stopped there.
 */
export const gathering = <A>(sizeOf: (a: A) => number) => {
  let held = 0
  return {
    // Counted afresh each time the stream runs (a retry runs it again).
    take: <E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
      Stream.suspend(() => {
        held = 0
        return Stream.takeUntil(stream, (a) => (held += sizeOf(a)) >= maxGathered)
      }),
    cut: () => held >= maxGathered
  }
}

/**
 * Says in the run log (a warning) why the pages of `what` (`votes of <id>`) stopped before the collection's end:
 * `maxBytes` (what the caller bounded them at), a server going round or naming pages without progress or out of the
 * API. Reaching a number of pages asked for (`maxPages`) is no news.
 */
export const collectionStopped = (what: string, maxBytes?: number) => (stop: Collection.Stop): Effect.Effect<void> => {
  switch (stop) {
    case "maxPages":
      return Effect.void
    case "maxBytes":
      return Effect.logWarning(
        `${what}: stopped after ${
          maxBytes === undefined ? "the most pages it reads" : `${maxBytes / 1024 / 1024} MiB of pages`
        }; the rest is not fetched`
      )
    case "cycle":
      return Effect.logWarning(`${what}: the server's next page leads back to one already read; stopped there`)
    case "noProgress":
      return Effect.logWarning(`${what}: the server named a next page after one without items; stopped there`)
    case "unfollowable":
      return Effect.logWarning(`${what}: the server's next page is outside the API and names no cursor; not followed`)
  }
}

/** Stores a document under `key` and answers `outcome`; a store that fails stops the run. */
export const keep = (
  store: ReportSink.Service,
  key: ReportKey.ReportKey,
  raw: Uint8Array,
  outcome: Outcome.Outcome,
  seen?: ReportSink.Presence
): Effect.Effect<Outcome.Outcome, Failure.StoreFailed> =>
  Effect.zipRight(
    // Landed: the store holds these very bytes (an earlier record of the key, still there, is not this one).
    Pipeline.landing(Effect.map(store.get(key), Option.exists((held) => Buffer.from(held).equals(raw))), outcome),
    Effect.as(Failure.storeOrStop(store.put(key, raw, { seen })), outcome)
  )

/** Records VirusTotal's not-found answer under `key` and answers `outcome`. */
export const keepNotFound = (
  store: ReportSink.Service,
  key: ReportKey.ReportKey,
  error: VtError.NotFoundError,
  outcome: Outcome.Outcome
): Effect.Effect<Outcome.Outcome, Failure.StoreFailed> =>
  Effect.zipRight(
    Pipeline.landing(Effect.map(store.has(key), (presence) => presence === "not-found"), outcome),
    Effect.as(Failure.storeOrStop(store.putNotFound(key, encoder.encode(error.body))), outcome)
  )

/**
 * Stores an analysis (in `<out>/_analyses`) under the key of its id, which was checked when it was received, and logs
 * it, unless `logged` is false (the item's own outcome says it: `analysis`).
 */
export const keepAnalysis = (analyses: ReportSink.Service, id: string, raw: Uint8Array, logged = true) => {
  const key = Either.getOrThrow(ReportKey.fromAnalysisId(id))
  const kept = Failure.storeOrStop(analyses.put(key, raw))
  return logged ? Effect.zipRight(kept, Effect.logInfo(`saved _analyses/${key}.json`)) : kept
}

/**
 * An analysis an earlier run recorded (an upload's, a submission's), looked at once: `undefined` when VirusTotal
 * refuses its id ({@link Analyses.refusesId}): the record names nothing to wait for.
 */
export const lookAtRecorded = (
  id: string
): Effect.Effect<Analysis.Analysis | undefined, VtError.VtError, VtClient.VtClient> =>
  requesting(`analysis ${id}`)(Analysis.get(id)).pipe(
    Effect.catchIf(Analyses.refusesId, () => Effect.succeed(undefined))
  )

/**
 * Waits for an analysis, counted as one being waited for while it lasts; the completed state, or on
 * `AnalysisTimeoutError` the last one polled, is kept in `analyses`.
 */
export const awaitAnalysis = (
  tally: Ref.Ref<Outcome.Tally>,
  analyses: ReportSink.Service,
  id: string,
  waiting: { readonly interval: Duration.Duration; readonly timeout: Duration.Duration },
  options: { readonly justSubmitted: boolean; readonly logged?: boolean }
) =>
  Pipeline.waitingFor(tally, requesting(`analysis ${id}`)(Analyses.wait(id, waiting, options))).pipe(
    Effect.tap((analysis: Analysis.Analysis) => keepAnalysis(analyses, id, analysis.raw, options.logged)),
    Effect.tapErrorTag("AnalysisTimeoutError", (timeout) =>
      timeout.last === undefined ? Effect.void : keepAnalysis(analyses, id, timeout.last.raw, options.logged))
  )
