/**
 * What `analysis` does with each id.
 */
import { ReportKey } from "@vt-harvest/report-sink"
import { Analysis, VtClient, VtError } from "@vt-harvest/vt-client"
import { Duration, Effect, Either, Option } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Steps from "../engine/Steps.js"
import * as Analyses from "./analyses.js"
import type * as Input from "./input.js"

import type { Ref, Stream } from "effect"

/**
 * The plan of `analysis`: each id claimed; an analysis the store holds as completed is printed from it, any other
 * is fetched (with `wait`, polled until completed), kept and printed; an unknown one is recorded as not found.
 */
export const fetchAnalyses = (
  items: Stream.Stream<Pipeline.Item<string>, Input.InputError>,
  options: {
    readonly wait: boolean
    /** Writes what comes before the first row (a CSV header, `[`), and after the last one (`]`, a table). */
    readonly begin: Effect.Effect<void>
    readonly end: Effect.Effect<void>
    readonly overwrite: boolean
    readonly retryNotFound: boolean
    readonly concurrency: number
    readonly waiting: { readonly interval: Duration.Duration; readonly timeout: Duration.Duration }
    /** Writes a row to stdout (clearing the progress line first). */
    readonly print: (body: Uint8Array, key: string) => Effect.Effect<void>
  },
  tally: Ref.Ref<Outcome.Tally>
) =>
  Effect.gen(function*() {
    const store = yield* Run.AnalysisStore
    const client = yield* VtClient.VtClient
    yield* options.begin
    // Kept without a line of its own: the item's outcome (`saved _analyses/…`) is that line.
    const fetch = (id: string) =>
      options.wait
        ? Steps.awaitAnalysis(tally, store, id, options.waiting, { justSubmitted: false, logged: false })
        : Steps.requesting(`analysis ${id}`)(Analysis.get(id)).pipe(
          Effect.tap((analysis) => Steps.keepAnalysis(store, id, analysis.raw, false))
        )
    yield* Pipeline.run({
      items,
      concurrency: options.concurrency,
      store,
      overwrite: options.overwrite,
      retryNotFound: options.retryNotFound,
      logSkips: true,
      key: (work: Pipeline.Work<string>) =>
        Effect.succeed(Pipeline.claim(Either.getOrThrow(ReportKey.fromAnalysisId(work.value)), work.value)),
      // A completed analysis in the store is printed from it; an unfinished one is asked for again.
      stored: (work, key) =>
        Effect.map(
          // A saved analysis that cannot be read (too large, a bad gzip) is asked for again.
          Failure.storeOrElse(store.get(key), () => Effect.succeed(Option.none<Uint8Array>())),
          Option.filter((body) => Analyses.row(body)?.status === "completed")
        ).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.succeed(undefined),
            onSome: (body) =>
              Effect.as(options.print(body, key), Outcome.skipped(`skipped ${work.value}: completed, already saved`))
          }))
        ),
      fetch: (work, key) =>
        fetch(work.value).pipe(
          Effect.provideService(VtClient.VtClient, client),
          // An unfinished analysis in the store would not stop a duplicate: it is not kept.
          Effect.flatMap((analysis) =>
            Effect.as(
              options.print(analysis.raw, key),
              Outcome.saved(`saved _analyses/${key}.json`, {
                also: Analysis.isCompleted(analysis) ? ["completed"] : [],
                kept: Analysis.isCompleted(analysis)
              })
            )
          ),
          Effect.catchTag("AnalysisTimeoutError", (timeout) =>
            Effect.as(
              timeout.last === undefined ? Effect.void : options.print(timeout.last.raw, key),
              Outcome.failed(
                `analysis ${work.value} (${work.where}) still ${
                  Analyses.statusText(timeout)
                } after ${timeout.polls} poll${timeout.polls === 1 ? "" : "s"} in ${
                  Duration.format(options.waiting.timeout)
                } (--wait-timeout); its last state is saved, ask again later`
              )
            )),
          // A saved record wins over a not-found one, so the store alone would not stop a duplicate.
          Effect.catchIf(VtError.isNotFound, (error) =>
            Steps.keepNotFound(
              store,
              key,
              error,
              Outcome.notFound(`not found ${work.value} (${work.where})`, { kept: false, warn: true })
            ))
        )
    }, tally).pipe(Effect.ensuring(options.end))
  })
