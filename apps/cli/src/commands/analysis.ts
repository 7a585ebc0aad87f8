/**
 * `vt-harvest analysis <id>...`: fetch analyses (and with --wait, until completed) into `<out>/_analyses/`, one
 * row each on stdout.
 */
import { Args, Command, Options } from "@effect/cli"
import { ReportKey } from "@vt-harvest/report-sink"
import { Analysis, VtClient, VtError } from "@vt-harvest/vt-client"
import { Duration, Effect, Either, Option, Stream } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Flags from "../engine/Flags.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Steps from "../engine/Steps.js"
import * as Analyses from "../internal/analyses.js"
import * as Input from "../internal/input.js"

export const analysis = Command.make("analysis", {
  ids: Args.text({ name: "id" }).pipe(
    Args.withDescription("An analysis id (as scan or VirusTotal gave it), or - to read ids from stdin"),
    Args.atLeast(1)
  ),
  ...Flags.common,
  concurrency: Flags.concurrency("Analyses fetched or waited for at once (default from the tier)"),
  wait: Options.boolean("wait").pipe(Options.withDescription("Poll each analysis until it is completed")),
  ...Flags.wait,
  overwrite: Flags.overwrite("Fetch again analyses already saved as completed"),
  retryNotFound: Flags.retryNotFound("Ask again for analyses recorded as not found by an earlier run"),
  json: Options.boolean("json").pipe(Options.withDescription("Print one JSON object per analysis instead of CSV"))
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const waiting = yield* Analyses.waitSettings(options)
    const prepared = yield* Run.prepare(options, Run.checkAnalysesOut(options))
    const fromArgs = yield* Analyses.checkIds(options.ids)
    const readsStdin = options.ids.some(Input.isStdin)
    // stdout and the progress line on stderr share a terminal: the line is cleared first (the next tick redraws it).
    const print = (body: Uint8Array, key: string) =>
      Effect.sync(() => {
        const row = Analyses.row(body)
        if (row === undefined) return
        prepared.screen.clear()
        process.stdout.write(`${Analyses.formatRow(row, key, options.json)}\n`)
      })
    return yield* Run.run({
      common: options,
      prepared,
      command: "analysis",
      source: readsStdin
        ? fromArgs.length > 0 ? `${fromArgs.length} ids and standard input` : "standard input"
        : `${fromArgs.length} id${fromArgs.length === 1 ? "" : "s"}`,
      target: Run.analysesLocation(options.out),
      writable: Effect.map(Run.AnalysisStore, (store) => [store]),
      summary: ["saved", "completed", "notFound", "skipped", "invalid", "failed"],
      progress: { counters: ["saved", "completed", "notFound", "failed"], whenAny: ["skipped", "invalid"] },
      total: readsStdin ? undefined : fromArgs.length,
      closing: (tally, log) =>
        tally.saved + tally.notFound > 0 ? [`analyses in ${Run.analysesLocation(options.out)}/, log in ${log}`] : [],
      body: (tally) =>
        Effect.gen(function*() {
          const store = yield* Run.AnalysisStore
          const client = yield* VtClient.VtClient
          if (!options.json) process.stdout.write(`${Analyses.columns.join(",")}\n`)
          const fetch = (id: string) =>
            options.wait
              ? Steps.awaitAnalysis(tally, store, id, waiting, { justSubmitted: false })
              : Steps.requesting(`analysis ${id}`)(Analysis.get(id)).pipe(
                Effect.tap((analysis) => Steps.keepAnalysis(store, id, analysis.raw))
              )
          yield* Pipeline.run({
            items: Stream.concat(
              Stream.fromIterable(fromArgs),
              readsStdin ? Stream.map(Input.lines(Input.stdinArgument), Analyses.fromLine) : Stream.empty
            ),
            concurrency: prepared.policy.concurrency,
            store,
            overwrite: options.overwrite,
            retryNotFound: options.retryNotFound,
            logSkips: true,
            key: (work: Pipeline.Work<string>) =>
              Effect.succeed(Pipeline.claim(Either.getOrThrow(ReportKey.fromAnalysisId(work.value)), work.value)),
            // A completed analysis in the store is printed from it; an unfinished one is asked for again.
            stored: (work, key) =>
              Effect.map(
                Failure.storeOrStop(store.get(key)),
                Option.filter((body) => Analyses.row(body)?.status === "completed")
              ).pipe(
                Effect.flatMap(Option.match({
                  onNone: () => Effect.succeed(undefined),
                  onSome: (body) =>
                    Effect.as(print(body, key), Outcome.skipped(`skipped ${work.value}: completed, already saved`))
                }))
              ),
            fetch: (work, key) =>
              fetch(work.value).pipe(
                Effect.provideService(VtClient.VtClient, client),
                // An unfinished analysis in the store would not stop a duplicate: it is not kept.
                Effect.flatMap((analysis) =>
                  Effect.as(
                    print(analysis.raw, key),
                    Outcome.saved(`saved _analyses/${key}.json`, {
                      also: Analysis.isCompleted(analysis) ? ["completed"] : [],
                      kept: Analysis.isCompleted(analysis)
                    })
                  )
                ),
                Effect.catchTag("AnalysisTimeoutError", (timeout) =>
                  Effect.as(
                    timeout.last === undefined ? Effect.void : print(timeout.last.raw, key),
                    Outcome.failed(
                      `analysis ${work.value} (${work.where}) still ${
                        Analyses.statusText(timeout)
                      } after ${timeout.polls} poll${timeout.polls === 1 ? "" : "s"} in ${
                        Duration.format(waiting.timeout)
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
          }, tally)
        })
    })
  }))).pipe(
    Command.withDescription(
      "Fetch analyses by id into <out>/_analyses/ and print one CSV row per analysis to stdout (id, status,\n" +
        "malicious, suspicious, undetected, harmless, item: the file's SHA-256 or the URL). An analysis already\n" +
        "saved as completed is printed from the store without a request. With - ids are read from stdin, one per\n" +
        "line.\nExample: vt-harvest analysis --wait NjY0MjRlOTFjMDIyYTkyNWM0NjU2NWQzYWNlMzFmZmI6MTQ3NTA0ODI3Nw=="
    )
  )
