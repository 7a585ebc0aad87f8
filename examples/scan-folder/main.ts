/**
 * Upload every file of a folder, wait for the analyses, and write a CSV verdict table.
 *
 * Each file is streamed from disk (`Files.upload`: up to 32 MiB to `POST /files`, larger ones through a one-time
 * upload URL; memory stays flat), then `Analysis.wait` polls its analysis on a Schedule until it is completed.
 * One CSV row per file, in the folder's order; a file whose upload or analysis failed gets its error in the last
 * column and the others go on.
 *
 * Every upload (and its upload URL) and every poll is a request against the key's quota. They all go through one
 * gated client (`QuotaGate.layerGated` over `VtClient.layerConfig`): the gate starts at most VT_PER_MINUTE
 * requests a minute, uploads and polls together, retries transient failures and holds every request back after a
 * quota refusal. VT_POLL_SECONDS says how often an analysis is asked about at most; the gate may space the polls
 * further. Against the emulator a short interval makes the analyses (which complete on its own clock) quick.
 *
 * Environment: VT_API_KEY (required), VT_BASE_URL (default: VirusTotal), VT_SCAN_DIR (required), VT_CSV
 * (default verdicts.csv), VT_POLL_SECONDS (default 20), VT_WAIT_MINUTES (default 10), VT_PER_MINUTE (default 4).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { ConsoleLog } from "@vt-harvest/logging"
import { QuotaGate, QuotaPolicy } from "@vt-harvest/rate-schedule"
import { Analysis, Files, VtClient } from "@vt-harvest/vt-client"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"

const columns = [
  "file",
  "sha256",
  "analysis_id",
  "status",
  "malicious",
  "suspicious",
  "undetected",
  "harmless",
  "engines",
  "error"
]

// RFC 4180: quote a field when it holds a comma, a quote or a line break; double the quotes inside.
const csvField = (value: string | number) => {
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll("\"", "\"\"")}"` : text
}
const csvLine = (fields: ReadonlyArray<string | number>) => `${fields.map(csvField).join(",")}\r\n`

const scan = (path: string, name: string, schedule: Schedule.Schedule<unknown, Analysis.Analysis>) =>
  Effect.gen(function*() {
    const upload = yield* Files.upload(path)
    yield* Effect.log(`${name}: uploaded, analysis ${upload.id}`)
    const analysis = yield* Analysis.wait(upload.id, {
      schedule,
      onProgress: (state) => Effect.log(`${name}: ${state.status}`)
    })
    const sha256 = Option.match(analysis.fileInfo, { onNone: () => "", onSome: (info) => info.sha256 })
    const { harmless, malicious, suspicious, undetected } = analysis.stats
    return [
      name,
      sha256,
      analysis.id,
      analysis.status,
      malicious,
      suspicious,
      undetected,
      harmless,
      Object.keys(analysis.results).length,
      ""
    ]
  }).pipe(
    // A failed file gets a row with its error; the other files go on.
    Effect.catchAll((error) =>
      Effect.as(Effect.logError(`${name}: ${error.message}`), [
        name,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        `${error._tag}: ${error.message}`
      ])
    )
  )

const program = Effect.gen(function*() {
  const directory = yield* Config.string("VT_SCAN_DIR")
  const csv = yield* Config.string("VT_CSV").pipe(Config.withDefault("verdicts.csv"))
  const pollSeconds = yield* Config.number("VT_POLL_SECONDS").pipe(Config.withDefault(20))
  const waitMinutes = yield* Config.number("VT_WAIT_MINUTES").pipe(Config.withDefault(10))
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const gate = yield* QuotaGate.QuotaGate

  // The poll schedule: every VT_POLL_SECONDS, for at most VT_WAIT_MINUTES (then AnalysisTimeoutError).
  const schedule = Schedule.spaced(Duration.millis(pollSeconds * 1000)).pipe(
    Schedule.upTo(Duration.minutes(waitMinutes))
  )

  const names = (yield* fs.readDirectory(directory)).sort()
  const files = yield* Effect.filter(
    names,
    (name) => Effect.map(fs.stat(path.join(directory, name)), (info) => info.type === "File")
  )
  yield* Effect.log(`${files.length} files to scan in ${directory}`)
  const rows = yield* Effect.forEach(files, (name) => scan(path.join(directory, name), name, schedule))

  yield* fs.writeFileString(csv, [columns, ...rows].map(csvLine).join(""))
  // Uploads, upload URLs and polls alike: every request the client sent, retries included.
  yield* Effect.log(`${rows.length} rows written to ${csv}, requests ${(yield* gate.status).requests}`)
})

// The client, behind a gate for the public tier at VT_PER_MINUTE: `Files.upload` and `Analysis.wait` send through it.
const ClientLive = Layer.unwrapEffect(
  Effect.map(
    Config.number("VT_PER_MINUTE").pipe(Config.withDefault(4)),
    (perMinute) => QuotaGate.layerGated(QuotaPolicy.make(QuotaPolicy.publicTier, { perMinute }))
  )
).pipe(Layer.provide(VtClient.layerConfig()), Layer.provide(NodeHttpClient.layerUndici))

const MainLive = Layer.mergeAll(
  ClientLive,
  ConsoleLog.layer()
).pipe(Layer.provideMerge(NodeContext.layer))

program.pipe(Effect.provide(MainLive), NodeRuntime.runMain({ disablePrettyLogger: true }))
