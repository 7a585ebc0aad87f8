/**
 * A Stream of hashes through the gated VtClient into the directory sink.
 *
 * Reads one hash per line from VT_INPUT, skips what the store already holds (so a rerun resumes), requests the
 * rest one at a time and saves each report (or VirusTotal's "not found") in VT_OUT. The client is gated
 * (`QuotaGate.layerGated`): every request passes one process-wide gate that starts at most VT_PER_MINUTE a minute,
 * keeps the public tier's daily and monthly ledger, retries transient failures and, after a quota refusal, holds
 * every request until the spent window resets. The pipeline itself has no pacing and no retries.
 *
 * Environment: VT_API_KEY (required), VT_BASE_URL (default: VirusTotal), VT_INPUT (default hashes.txt),
 * VT_OUT (default vt_reports), VT_PER_MINUTE (default 4, a public key's limit).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FileSystem from "@effect/platform/FileSystem"
import { ConsoleLog } from "@vt-harvest/logging"
import { QuotaGate, QuotaPolicy } from "@vt-harvest/rate-schedule"
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

const encoder = new TextEncoder()

// One id: request, store, say what happened. Every failure ends here, so one bad id never stops the stream.
const harvest = (hash: string, key: ReportKey.ReportKey) =>
  Effect.gen(function*() {
    const vt = yield* VtClient.VtClient
    const sink = yield* ReportSink.ReportSink
    return yield* vt.getFile(hash).pipe(
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
  const fs = yield* FileSystem.FileSystem
  const gate = yield* QuotaGate.QuotaGate
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
    Stream.mapEffect(({ hash, key }) => harvest(hash, key)),
    Stream.runForEach((outcome) => Effect.sync(() => counts[outcome]++))
  )
  // What the gate let through: every request the client sent, retries included.
  const { requests } = yield* gate.status
  yield* Effect.log(
    `summary: saved ${counts.saved}, not found ${counts["not found"]}, skipped ${counts.skipped}, ` +
      `invalid ${counts.invalid}, failed ${counts.failed}, requests ${requests}`
  )
})

// The client: VT_API_KEY (a Redacted value: it never appears in a log or an error) and VT_BASE_URL, behind a gate
// for the public tier at VT_PER_MINUTE. After a quota refusal the gate asks the key's quotas which window is spent
// (`windowProbe`) and waits until that one resets.
const ClientLive = Layer.unwrapEffect(
  Effect.map(
    Config.number("VT_PER_MINUTE").pipe(Config.withDefault(4)),
    (perMinute) =>
      QuotaGate.layerGated(QuotaPolicy.make(QuotaPolicy.publicTier, { perMinute }), { probe: QuotaGate.windowProbe })
  )
).pipe(Layer.provide(VtClient.layerConfig()), Layer.provide(NodeHttpClient.layerUndici))

const SinkLive = Layer.unwrapEffect(
  Effect.map(
    Config.string("VT_OUT").pipe(Config.withDefault("vt_reports")),
    (directory) => ReportSinkFs.layer({ directory })
  )
)

const MainLive = Layer.mergeAll(ClientLive, SinkLive, ConsoleLog.layer()).pipe(Layer.provideMerge(NodeContext.layer))

// The console logger replaces the pretty one runMain would add.
program.pipe(Effect.provide(MainLive), NodeRuntime.runMain({ disablePrettyLogger: true }))
