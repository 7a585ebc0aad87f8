/**
 * `vt-harvest files|urls|domains|ips <input>`: the report of every id in a list, one request each.
 */
import { Command } from "@effect/cli"
import { ReportSink } from "@vt-harvest/report-sink"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import type { Ref } from "effect"
import { Effect, Either, Stream } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Flags from "../engine/Flags.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Steps from "../engine/Steps.js"
import * as Input from "../internal/input.js"
import * as Kinds from "../internal/kinds.js"
import * as Settings from "../internal/settings.js"

const encoder = new TextEncoder()

/** The plan: each id of `input` → its report saved, or its not-found record, or skipped when the store has it. */
export const harvest = (
  kind: Kinds.Kind,
  options: {
    readonly input: string
    readonly concurrency: number
    readonly overwrite: boolean
    readonly retryNotFound: boolean
  },
  tally: Ref.Ref<Outcome.Tally>
) =>
  Effect.gen(function*() {
    const store = yield* ReportSink.ReportSink
    const client = yield* VtClient.VtClient
    yield* Pipeline.run({
      items: Stream.map(Input.lines(options.input), Kinds.item(kind)),
      concurrency: options.concurrency,
      store,
      overwrite: options.overwrite,
      retryNotFound: options.retryNotFound,
      logSkips: false,
      key: (work: Pipeline.Work<string>) =>
        Effect.succeed(Pipeline.claim(Either.getOrThrow(kind.key(work.value)), work.value)),
      fetch: (work, key, seen) =>
        Steps.requesting(work.value)(kind.fetch(client, work.value)).pipe(
          Effect.flatMap((document) => Failure.storeOrStop(store.put(key, document.raw, { seen }))),
          Effect.as(Outcome.saved(`saved ${key}.json`)),
          Effect.catchIf(VtError.isNotFound, (error) =>
            Failure.storeOrStop(store.putNotFound(key, encoder.encode(error.body))).pipe(
              Effect.as(Outcome.notFound(`not found ${work.value}`))
            ))
        )
    }, tally)
  })

const command = (kind: Kinds.Kind, description: string) =>
  Command.make(kind.command, {
    input: Flags.input,
    ...Flags.common,
    retryNotFound: Flags.retryNotFound("Ask again for ids recorded as not found by an earlier run"),
    overwrite: Flags.overwrite("Fetch again ids that are already saved")
  }, (options) =>
    Run.exitWith(Effect.gen(function*() {
      const prepared = yield* Run.prepare(options, Run.checkOut(options))
      yield* Input.checkReadable(options.input).pipe(
        Effect.mapError((error) => new Settings.UsageError({ message: error.message }))
      )
      return yield* Run.run({
        common: options,
        prepared,
        command: kind.command,
        source: Input.isStdin(options.input) ? "standard input" : options.input,
        writable: Effect.map(ReportSink.ReportSink, (store) => [store]),
        summary: ["saved", "notFound", "skipped", "invalid", "failed"],
        progress: { counters: ["saved", "notFound", "failed"], whenAny: ["skipped", "invalid"] },
        total: prepared.screen.tty && !options.noProgress ? yield* Input.countLinesOfFile(options.input) : undefined,
        closing: (tally, log) =>
          tally.saved + tally.notFound > 0
            ? [`reports in ${Run.reportsLocation(options.out)}, log in ${log}`]
            : [],
        body: (tally) => harvest(kind, { ...options, concurrency: prepared.policy.concurrency }, tally)
      })
    }))).pipe(Command.withDescription(description))

export const files = command(
  Kinds.files,
  "Fetch the file report of every MD5, SHA-1 or SHA-256 hash in <input> (one per line; - reads stdin), " +
    "saved as <out>/<hash>.json.\nExample: vt-harvest files hashes.txt -o vt_reports"
)

export const urls = command(
  Kinds.urls,
  "Fetch the URL report of every http(s) URL in <input>, saved as <out>/<sha256 of the URL>.json.\n" +
    "Example: vt-harvest urls urls.txt -o vt_reports"
)

export const domains = command(
  Kinds.domains,
  "Fetch the domain report of every domain name in <input> (lower-cased; IDN names as punycode).\n" +
    "Example: vt-harvest domains domains.txt -o vt_reports"
)

export const ips = command(
  Kinds.ips,
  "Fetch the IP address report of every IPv4 or IPv6 address in <input> (IPv6 saved with _ for :).\n" +
    "Example: vt-harvest ips ips.txt -o vt_reports"
)
