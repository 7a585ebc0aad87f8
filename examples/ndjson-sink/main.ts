/**
 * A sink of one's own, built on the store contract: every record is one line of an NDJSON file.
 *
 * `NdjsonSink.make` implements `ReportSink.Service` (from @vt-harvest/report-sink): `has`, `put`, `putNotFound`,
 * `get`, `list`, `checkWritable`. Anything written against the contract works with it unchanged: here a harvest
 * through a client gated by @vt-harvest/rate-schedule (`QuotaGate.layerGated`: every request paced and retried by
 * one process-wide gate), which resumes from the file on a rerun.
 *
 * The file: one JSON object per line, `{"key","presence":"saved"|"not-found","at","document"}`, appended with a
 * single write each. A process killed mid-write leaves at most a partial last line, which is ignored when the
 * file is opened again, so a record is either absent or complete. `document` is the report parsed and written on
 * one line, so `get` answers the same JSON value, re-serialised (not the exact bytes VirusTotal sent).
 *
 * Environment: VT_API_KEY (required), VT_BASE_URL (default: VirusTotal), VT_INPUT (default hashes.txt),
 * VT_NDJSON (default reports.ndjson), VT_PER_MINUTE (default 4).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import { ConsoleLog } from "@vt-harvest/logging"
import { QuotaGate, QuotaPolicy } from "@vt-harvest/rate-schedule"
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

// ---------------------------------------------------------------------------------------------------------------
// The sink
// ---------------------------------------------------------------------------------------------------------------

interface Line {
  readonly key: string
  readonly presence: "saved" | "not-found"
  readonly at: string
  readonly document: unknown
}

const parseLine = (text: string): Option.Option<Line> => {
  try {
    const line = JSON.parse(text) as Partial<Line> | null
    return line !== null && typeof line.key === "string" && (line.presence === "saved" || line.presence === "not-found")
      ? Option.some(line as Line)
      : Option.none()
  } catch {
    // A partial last line left by a killed process, or a line that is not ours.
    return Option.none()
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Opens (or creates) the NDJSON store at `path`. Its keys are indexed in memory; reports are read back from the
 * file by `get`. The file stays open until the scope closes. One process per file at a time.
 */
const make = (
  path: string,
  options: { readonly overwrite?: boolean | undefined } = {}
): Effect.Effect<ReportSink.Service, ReportSink.SinkError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const failure = (operation: string, key?: string) => (error: PlatformError.PlatformError) =>
      new ReportSink.SinkError({ operation, key, message: `${path}: ${error.message}`, cause: error })
    const lines = fs.stream(path).pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.filterMap(parseLine),
      Stream.mapError(failure("list"))
    )

    // The index: the presence of every key, "saved" winning over "not-found".
    const index = new Map<ReportKey.ReportKey, "saved" | "not-found">()
    const exists = yield* fs.exists(path).pipe(Effect.mapError(failure("open")))
    if (exists) {
      yield* Stream.runForEach(lines, (line) =>
        Effect.sync(() => {
          if (!ReportKey.isReportKey(line.key)) return
          if (line.presence === "saved" || index.get(line.key) !== "saved") index.set(line.key, line.presence)
        }))
    }
    const file = yield* fs.open(path, { flag: "a" }).pipe(Effect.mapError(failure("open")))
    // After a partial last line, start on a new one.
    const size = Number((yield* file.stat.pipe(Effect.mapError(failure("open")))).size)
    if (size > 0) {
      const last = yield* fs.open(path, { flag: "r" }).pipe(
        Effect.tap((reader) => reader.seek(size - 1, "start")),
        Effect.flatMap((reader) => reader.readAlloc(1)),
        Effect.scoped,
        Effect.mapError(failure("open"))
      )
      if (Option.exists(last, (byte) => byte[0] !== 0x0a)) {
        yield* file.writeAll(encoder.encode("\n")).pipe(Effect.mapError(failure("open")))
      }
    }

    // One writer at a time, so lines never interleave.
    const lock = yield* Effect.makeSemaphore(1)
    const append = (operation: string, key: ReportKey.ReportKey, presence: Line["presence"], body: Uint8Array) =>
      Effect.gen(function*() {
        yield* ReportSink.checkKey(operation, key, path)
        const text = decoder.decode(body)
        const document = yield* Effect.try({
          try: () => JSON.parse(text) as unknown,
          catch: () =>
            new ReportSink.SinkError({ operation, key, message: `${path}: the record for ${key} is not JSON` })
        })
        const line: Line = { key, presence, at: new Date().toISOString(), document }
        yield* file.writeAll(encoder.encode(`${JSON.stringify(line)}\n`)).pipe(Effect.mapError(failure(operation, key)))
        if (presence === "saved" || index.get(key) !== "saved") index.set(key, presence)
      }).pipe(lock.withPermits(1))

    return ReportSink.ReportSink.of({
      location: path,
      has: (key) => Effect.sync(() => index.get(key) ?? "absent"),
      put: (key, body) =>
        index.get(key) === "saved" && options.overwrite !== true ? Effect.void : append("put", key, "saved", body),
      putNotFound: (key, body) => append("putNotFound", key, "not-found", body),
      get: (key) =>
        index.get(key) !== "saved" ? Effect.succeedNone : lines.pipe(
          Stream.filter((line) => line.key === key && line.presence === "saved"),
          Stream.runLast,
          Effect.map(Option.map((line) => encoder.encode(JSON.stringify(line.document)))),
          Effect.mapError((error) =>
            new ReportSink.SinkError({ operation: "get", key, message: error.message, cause: error })
          )
        ),
      list: Stream.suspend(() => Stream.fromIterable([...index].map(([key, presence]) => ({ key, presence })))),
      // The file was opened for appending when the sink was made, which failed unless it takes writes.
      checkWritable: Effect.void
    })
  })

const layer = (path: string) => Layer.scoped(ReportSink.ReportSink, make(path))

// ---------------------------------------------------------------------------------------------------------------
// A harvest written against the contract only
// ---------------------------------------------------------------------------------------------------------------

const harvest = (hash: string, key: ReportKey.ReportKey) =>
  Effect.gen(function*() {
    const vt = yield* VtClient.VtClient
    const sink = yield* ReportSink.ReportSink
    // The client is gated: this request is paced, held back after a quota refusal and retried if it fails transiently.
    yield* vt.getFile(hash).pipe(
      Effect.flatMap((report) => sink.put(key, report.raw)),
      Effect.catchIf(VtError.isNotFound, (error) => sink.putNotFound(key, encoder.encode(error.body)))
    )
  }).pipe(
    Effect.catchIf((error) => error._tag !== "SinkError", (error) => Effect.logError(`${hash}: ${error.message}`))
  )

const program = Effect.gen(function*() {
  const input = yield* Config.string("VT_INPUT").pipe(Config.withDefault("hashes.txt"))
  const fs = yield* FileSystem.FileSystem
  const sink = yield* ReportSink.ReportSink
  const gate = yield* QuotaGate.QuotaGate

  yield* fs.stream(input).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.map((line) => line.trim()),
    Stream.filterMap((line) =>
      Option.map(Either.getRight(ReportKey.fromFileHash(line)), (key) => ({ hash: line, key }))
    ),
    Stream.filterEffect(({ key }) => ReportSink.isPending(key, { retryNotFound: false, overwrite: false })),
    Stream.mapEffect(({ hash, key }) => harvest(hash, key), { concurrency: gate.policy.concurrency }),
    Stream.runDrain
  )

  // Read the store back through the contract.
  const entries = yield* Stream.runCollect(sink.list)
  const saved = [...entries].filter((entry) => entry.presence === "saved")
  yield* Effect.log(
    `${sink.location}: ${saved.length} reports, ${entries.length - saved.length} not found, ` +
      `requests ${(yield* gate.status).requests}`
  )
  if (saved.length > 0) {
    const report = yield* sink.get(saved[0].key)
    yield* Effect.log(`${saved[0].key}: ${Option.getOrThrow(report).length} bytes read back`)
  }
})

// The client, behind a gate for the public tier at VT_PER_MINUTE.
const ClientLive = Layer.unwrapEffect(
  Effect.map(
    Config.number("VT_PER_MINUTE").pipe(Config.withDefault(4)),
    (perMinute) => QuotaGate.layerGated(QuotaPolicy.make(QuotaPolicy.publicTier, { perMinute }))
  )
).pipe(Layer.provide(VtClient.layerConfig()), Layer.provide(NodeHttpClient.layerUndici))

const SinkLive = Layer.unwrapEffect(
  Effect.map(Config.string("VT_NDJSON").pipe(Config.withDefault("reports.ndjson")), layer)
)

const MainLive = Layer.mergeAll(
  ClientLive,
  SinkLive,
  ConsoleLog.layer()
).pipe(Layer.provideMerge(NodeContext.layer))

program.pipe(Effect.provide(MainLive), NodeRuntime.runMain({ disablePrettyLogger: true }))
