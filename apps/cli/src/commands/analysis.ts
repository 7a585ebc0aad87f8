/**
 * `vt-harvest analysis <id>...`: fetch analyses (and with --wait, until completed) into `<out>/_analyses/`, one
 * row each on stdout.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option, Stream } from "effect"
import * as Flags from "../engine/Flags.js"
import * as Run from "../engine/Run.js"
import * as Analyses from "../internal/analyses.js"
import { fetchAnalyses } from "../internal/analysisPlan.js"
import * as Formats from "../internal/formats.js"
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
  json: Options.boolean("json").pipe(
    Options.withDescription("Print one JSON object per analysis instead of CSV (the same as --format ndjson)")
  ),
  format: Options.choice("format", Formats.formats).pipe(
    Options.withDescription(
      "csv (default; formula-like cells defused), json (one array, written as analyses come), ndjson (one object per " +
        "line) or table (aligned, printed once every analysis is in)\nExample: vt-harvest analysis --wait --format " +
        "table <id>"
    ),
    Options.optional
  )
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const waiting = yield* Analyses.waitSettings(options)
    const prepared = yield* Run.prepare(options, Run.checkAnalysesOut(options))
    const fromArgs = yield* Analyses.checkIds(options.ids)
    const readsStdin = options.ids.some(Input.isStdin)
    // stdout and the progress line on stderr share a terminal: the line is cleared first (the next tick redraws it).
    const write = (line: string) =>
      Effect.sync(() => {
        prepared.screen.clear()
        process.stdout.write(`${line}\n`)
      })
    const format = Option.getOrElse(options.format, () => (options.json ? "ndjson" as const : "csv" as const))
    const writer = yield* Formats.writer(format, Analyses.outputColumns(format), write, {
      width: process.stdout.columns ?? 120,
      tty: process.stdout.isTTY === true
    })
    const print = (body: Uint8Array, key: string) => {
      const row = Analyses.row(body)
      return row === undefined ? Effect.void : writer.record({ row, key })
    }
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
        fetchAnalyses(
          Stream.concat(
            Stream.fromIterable(fromArgs),
            readsStdin ? Stream.map(Input.lines(Input.stdinArgument), Analyses.fromLine) : Stream.empty
          ),
          {
            ...options,
            waiting,
            print,
            begin: writer.begin,
            end: writer.end,
            concurrency: prepared.policy.concurrency
          },
          tally
        )
    })
  }))).pipe(
    Command.withDescription(
      "Fetch analyses by id into <out>/_analyses/ and print one CSV row per analysis to stdout (id, status,\n" +
        "malicious, suspicious, undetected, harmless, item: the file's SHA-256 or the URL), or with --format JSON,\n" +
        "JSON lines or a table. An analysis already saved as completed is printed from the store without a request.\n" +
        "With - ids are read from stdin, one per line.\n" +
        "Example: vt-harvest analysis --wait NjY0MjRlOTFjMDIyYTkyNWM0NjU2NWQzYWNlMzFmZmI6MTQ3NTA0ODI3Nw==\n" +
        "Example: vt-harvest analysis --format ndjson - < analysis-ids.txt"
    )
  )
