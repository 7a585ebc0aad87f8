/**
 * A Stream of hashes through VtClient into the directory sink, paced by a Schedule of its own.
 *
 * Reads one hash per line from VT_INPUT, skips what the store already holds (so a rerun resumes), requests the
 * rest one at a time, at most VT_PER_MINUTE a minute, and saves each report (or VirusTotal's "not found") in
 * VT_OUT. Transient failures are retried with backoff; a quota refusal waits a minute and retries.
 *
 * Environment: VT_API_KEY (required), VT_BASE_URL (default: VirusTotal), VT_INPUT (default hashes.txt),
 * VT_OUT (default vt_reports), VT_PER_MINUTE (default 4, a public key's limit).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FileSystem from "@effect/platform/FileSystem"
import { ConsoleLog } from "@vt-harvest/logging"
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

// The policy of this example, as plain Schedules (@vt-harvest/rate-schedule has the complete one, QuotaGate).
// Transient failures (503, 504, 429 TooManyRequests, network errors): 1 s, 2 s, 4 s, 8 s, jittered.
const transientRetry = Schedule.exponential("1 second").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(4)))
// A quota refusal: wait for the next minute window, twice at most; then the id fails and the run goes on.
const quotaRetry = Schedule.spaced("1 minute").pipe(Schedule.intersect(Schedule.recurs(2)))
// The pacing: the first request at once, then at least 60 s / perMinute after the previous answer.
const pacing = (perMinute: number) =>
  Schedule.andThen(Schedule.once, Schedule.spaced(`${Math.ceil(60_000 / perMinute)} millis`))

const encoder = new TextEncoder()

// One id: request, store, say what happened. Every failure ends here, so one bad id never stops the stream.
const harvest = (hash: string, key: ReportKey.ReportKey) =>
  Effect.gen(function*() {
    const vt = yield* VtClient.VtClient
    const sink = yield* ReportSink.ReportSink
    return yield* vt.getFile(hash).pipe(
      Effect.retry({ schedule: transientRetry, while: VtError.isTransient }),
      Effect.retry({ schedule: quotaRetry, while: VtError.isQuotaExceeded }),
      Effect.flatMap((report) => Effect.as(sink.put(key, report.raw), "saved" as const)),
      Effect.catchIf(
        VtError.isNotFound,
        (error) => Effect.as(sink.putNotFound(key, encoder.encode(error.body)), "not found" as const)
      )
    )
  }).pipe(
    Effect.tap((outcome) => Effect.log(`${outcome} ${hash}`)),
    Effect.catchAll((error) => Effect.as(Effect.logError(`failed ${hash}: ${error.message}`), "failed" as const))
  )

const program = Effect.gen(function*() {
  const input = yield* Config.string("VT_INPUT").pipe(Config.withDefault("hashes.txt"))
  const perMinute = yield* Config.number("VT_PER_MINUTE").pipe(Config.withDefault(4))
  const fs = yield* FileSystem.FileSystem
  const counts = { saved: 0, "not found": 0, failed: 0, skipped: 0, invalid: 0 }

  yield* fs.stream(input).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.map((line) => line.trim()),
    Stream.filter((line) => line !== "" && !line.startsWith("#")),
    Stream.map((hash) => Either.map(ReportKey.fromFileHash(hash), (key) => ({ hash, key }))),
    // Invalid lines are reported and never sent.
    Stream.tap(Either.match({
      onLeft: (error) => Effect.zipRight(Effect.sync(() => counts.invalid++), Effect.logWarning(error.message)),
      onRight: () => Effect.void
    })),
    Stream.filterMap(Either.getRight),
    // Resume: ids already saved or recorded as not found cost no request.
    Stream.filterEffect(({ key }) =>
      Effect.tap(
        ReportSink.isPending(key, { retryNotFound: false, overwrite: false }),
        (pending) => pending ? Effect.void : Effect.sync(() => counts.skipped++)
      )
    ),
    Stream.schedule(pacing(perMinute)),
    Stream.mapEffect(({ hash, key }) => harvest(hash, key)),
    Stream.runForEach((outcome) => Effect.sync(() => counts[outcome]++))
  )
  yield* Effect.log(
    `summary: saved ${counts.saved}, not found ${counts["not found"]}, skipped ${counts.skipped}, ` +
      `invalid ${counts.invalid}, failed ${counts.failed}`
  )
})

const SinkLive = Layer.unwrapEffect(
  Effect.map(
    Config.string("VT_OUT").pipe(Config.withDefault("vt_reports")),
    (directory) => ReportSinkFs.layer({ directory })
  )
)

const MainLive = Layer.mergeAll(
  // VT_API_KEY (a Redacted value: it never appears in a log or an error) and VT_BASE_URL.
  VtClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici)),
  SinkLive,
  ConsoleLog.layer()
).pipe(Layer.provideMerge(NodeContext.layer))

// The console logger replaces the pretty one runMain would add.
program.pipe(Effect.provide(MainLive), NodeRuntime.runMain({ disablePrettyLogger: true }))
