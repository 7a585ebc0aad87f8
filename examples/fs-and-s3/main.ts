/**
 * One stream into a directory and an S3 bucket at once.
 *
 * Both stores implement the same contract (`ReportSink.Service` from @vt-harvest/report-sink), so a third one can
 * be built from the two: `both(fs, s3)` puts every record into each store, and counts an id as stored only when
 * both have it. The pipeline sees one `ReportSink` and does not know there are two; a rerun after a crash or an
 * outage of either store requests only what is missing from one of them, and fills in both.
 *
 * The client is gated (`QuotaGate.layerGated` over `VtClient.layerConfig`): every request passes one process-wide
 * gate that starts at most VT_PER_MINUTE a minute, retries transient failures and waits out quota refusals.
 *
 * Environment: VT_API_KEY (required), VT_BASE_URL (default: VirusTotal), VT_INPUT (default hashes.txt),
 * VT_OUT (default vt_reports), VT_S3_OUT (required, s3://bucket/prefix), VT_PER_MINUTE (default 4), and the
 * standard AWS variables (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3 for a local S3).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FileSystem from "@effect/platform/FileSystem"
import { ConsoleLog } from "@vt-harvest/logging"
import { QuotaGate, QuotaPolicy } from "@vt-harvest/rate-schedule"
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import { ReportSinkS3, S3Location } from "@vt-harvest/report-sink-s3"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

// The weaker of two presences: "saved" only when both stores have the report.
const rank: Record<ReportSink.Presence, number> = { absent: 0, "not-found": 1, saved: 2 }
const weaker = (a: ReportSink.Presence, b: ReportSink.Presence) => rank[a] <= rank[b] ? a : b

/** A sink writing to two sinks: each record goes to both (concurrently), reads come from the first. */
const both = (first: ReportSink.Service, second: ReportSink.Service): ReportSink.Service => ({
  location: `${first.location} + ${second.location}`,
  has: (key) => Effect.zipWith(first.has(key), second.has(key), weaker, { concurrent: true }),
  put: (key, body) => Effect.zip(first.put(key, body), second.put(key, body), { concurrent: true }).pipe(Effect.asVoid),
  putNotFound: (key, body) =>
    Effect.zip(first.putNotFound(key, body), second.putNotFound(key, body), { concurrent: true }).pipe(Effect.asVoid),
  get: (key) =>
    Effect.flatMap(first.get(key), Option.match({ onNone: () => second.get(key), onSome: Effect.succeedSome })),
  list: first.list,
  checkWritable: Effect.zip(first.checkWritable, second.checkWritable, { concurrent: true }).pipe(Effect.asVoid)
})

const SinkLive = Layer.effect(
  ReportSink.ReportSink,
  Effect.gen(function*() {
    const directory = yield* Config.string("VT_OUT").pipe(Config.withDefault("vt_reports"))
    const s3Out = yield* Config.string("VT_S3_OUT")
    // An Either is an Effect: a malformed VT_S3_OUT fails here with InvalidLocationError.
    const location = yield* S3Location.parse(s3Out)
    // Opening checks each store: the directory is created, the bucket must answer, before any quota is spent.
    const [fs, s3] = yield* Effect.all([ReportSinkFs.make({ directory }), ReportSinkS3.make(location)], {
      concurrency: 2
    })
    const sink = both(fs, s3)
    // Each store proves it takes records (a probe written and removed) before anything is spent on reports.
    yield* sink.checkWritable
    return sink
  })
).pipe(
  // The S3 client from the standard AWS environment (a custom endpoint turns on path-style addressing).
  Layer.provide(ReportSinkS3.layerS3Client())
)

const encoder = new TextEncoder()

const harvest = (hash: string, key: ReportKey.ReportKey) =>
  Effect.gen(function*() {
    const vt = yield* VtClient.VtClient
    const sink = yield* ReportSink.ReportSink
    return yield* vt.getFile(hash).pipe(
      Effect.flatMap((report) => Effect.as(sink.put(key, report.raw), "saved")),
      Effect.catchIf(VtError.isNotFound, (error) =>
        Effect.as(sink.putNotFound(key, encoder.encode(error.body)), "not found"))
    )
  }).pipe(
    Effect.flatMap((outcome) =>
      Effect.log(`${outcome} ${hash}`)
    ),
    // A store that stays down fails the run (SinkError): nothing is requested that could not be kept.
    Effect.catchIf(
      (error) => error._tag !== "SinkError",
      (error) => Effect.logError(`failed ${hash}: ${error.message}`)
    )
  )

const program = Effect.gen(function*() {
  const input = yield* Config.string("VT_INPUT").pipe(Config.withDefault("hashes.txt"))
  const sink = yield* ReportSink.ReportSink
  const gate = yield* QuotaGate.QuotaGate
  const fs = yield* FileSystem.FileSystem
  yield* Effect.log(`storing into ${sink.location}`)
  yield* fs.stream(input).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.map((line) => line.trim()),
    Stream.filterMap((line) =>
      Option.map(Either.getRight(ReportKey.fromFileHash(line)), (key) => ({ hash: line, key }))
    ),
    Stream.filterEffect(({ key }) => ReportSink.isPending(key, { retryNotFound: false, overwrite: false })),
    Stream.runForEach(({ hash, key }) => harvest(hash, key))
  )
  yield* Effect.log(`done: requests ${(yield* gate.status).requests}`)
})

// The client, behind a gate for the public tier at VT_PER_MINUTE.
const ClientLive = Layer.unwrapEffect(
  Effect.map(
    Config.number("VT_PER_MINUTE").pipe(Config.withDefault(4)),
    (perMinute) => QuotaGate.layerGated(QuotaPolicy.make(QuotaPolicy.publicTier, { perMinute }))
  )
).pipe(Layer.provide(VtClient.layerConfig()), Layer.provide(NodeHttpClient.layerUndici))

const MainLive = Layer.mergeAll(
  ClientLive,
  SinkLive,
  ConsoleLog.layer()
).pipe(Layer.provideMerge(NodeContext.layer))

program.pipe(Effect.provide(MainLive), NodeRuntime.runMain({ disablePrettyLogger: true }))
