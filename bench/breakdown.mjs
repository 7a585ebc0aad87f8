// Where the time of one report goes: each stage of the CLI's pipeline timed alone, in one process, on the packages'
// built output (the same code the bundle contains), against the emulator in its own process. Not a target, a map
// for whoever speeds the pipeline up: compare the stages with the per-report budget that (b) implies.
//
//   node bench/breakdown.mjs        (BENCH_BREAKDOWN_IDS=n, default 4,000)
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as L from "./lib.mjs"

const count = Number(process.env.BENCH_BREAKDOWN_IDS ?? 4_000)
const concurrency = 32

// The CLI's own dependencies, by real path, so that these modules are the very instances its packages import.
const cliRequire = createRequire(path.join(L.root, "apps/cli/package.json"))
const esm = async (name, file) =>
  import(pathToFileURL(path.join(fs.realpathSync(path.dirname(cliRequire.resolve(`${name}/package.json`))), file)).href)
const platformNodeRequire = createRequire(cliRequire.resolve("@effect/platform-node/package.json"))
const undici = await import(pathToFileURL(fs.realpathSync(platformNodeRequire.resolve("undici"))).href)
const pkg = (name) => import(pathToFileURL(path.join(L.root, "packages", name, "dist/index.js")).href)
const { Effect, Layer, Logger, LogLevel, Queue, Redacted, Stream } = await esm("effect", "dist/esm/index.js")
const { HttpClientRequest } = await esm("@effect/platform", "dist/esm/index.js")
const { NodeContext, NodeHttpClient } = await esm("@effect/platform-node", "dist/esm/index.js")
const { RunLog } = await pkg("logging")
const { QuotaGate, QuotaPolicy } = await pkg("rate-schedule")
const { ReportKey, ReportSink } = await pkg("report-sink")
const { ReportSinkFs } = await pkg("report-sink-fs")
const { VtClient } = await pkg("vt-client")

const loadBefore = L.load()
const emulator = await L.startEmulator()
const work = L.scratch("breakdown")
const ids = L.knownIds(count, "breakdown")
const keys = ids.map((id) => ReportKey.fromFileHash(id)).map((either) => either.right)
const report = VtEmulator.fileDocument(ids[0])
const reportText = Buffer.from(report).toString("utf8")

const services = Layer.mergeAll(
  VtClient.layer({ apiKey: Redacted.make(L.apiKey), baseUrl: emulator.url }),
  QuotaGate.layer(QuotaPolicy.make(QuotaPolicy.premiumTier, { concurrency })),
  ReportSinkFs.layer({ directory: path.join(work.dir, "out") }),
  RunLog.layer({ directory: path.join(work.dir, "log"), format: "text" })
).pipe(Layer.provideMerge(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)))

const rows = []
const time = (name, note, effect) =>
  Effect.gen(function*() {
    const cpu0 = process.cpuUsage()
    const started = performance.now()
    yield* effect
    const wall = performance.now() - started
    const cpu = process.cpuUsage(cpu0)
    rows.push({ name, note, wall: (wall * 1000) / count, cpu: (cpu.user + cpu.system) / count })
    L.log(`${name}: ${((wall * 1000) / count).toFixed(0)} µs/item`)
  })
const each = (f) => Effect.forEach(keys, (_, i) => f(i), { concurrency, discard: true })
const noop = () => Effect.promise(() => Promise.resolve())

const program = Effect.gen(function*() {
  const sink = yield* ReportSink.ReportSink
  const client = yield* VtClient.VtClient
  yield* each((i) => client.getFile(ids[i])) // warm-up: JIT, connections, the emulator's first sight of each id
  yield* time(
    "`Stream.mapEffect(f, { concurrency: 32, unordered: true })`, f = a resolved promise",
    "the pipeline before this change",
    Stream.fromIterable(keys).pipe(Stream.mapEffect(noop, { concurrency, unordered: true }), Stream.runDrain)
  )
  yield* time(
    "bounded queue + 32 workers, same f",
    "the pipeline now (apps/cli/src/internal/harvest.ts)",
    Effect.gen(function*() {
      const queue = yield* Queue.bounded(64)
      const reader = Stream.fromIterable(keys).pipe(
        Stream.runForEachChunk((chunk) => Queue.offerAll(queue, chunk)),
        Effect.zipRight(Queue.offerAll(queue, Array.from({ length: concurrency }, () => undefined)))
      )
      const worker = Effect.gen(function*() {
        while ((yield* Queue.take(queue)) !== undefined) yield* noop()
      })
      yield* Effect.all([reader, Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency })], {
        concurrency: 2
      })
    })
  )
  yield* time(
    "`QuotaGate.request(Effect.void)`, premium tier",
    "rate-schedule",
    each(() => QuotaGate.request(Effect.void))
  )
  yield* time(
    "`Effect.logInfo` to the run log",
    "logging (2 per report)",
    each((i) => Effect.logInfo(`requesting ${ids[i]}`))
  )
  yield* time("`sink.has` of an absent key", "report-sink-fs", each((i) => sink.has(keys[i])))
  yield* time(
    "`client.getFile` (200, ~40 KB)",
    "vt-client + @effect/platform + undici",
    each((i) => client.getFile(ids[i]))
  )
  const agent = new undici.Agent({ connections: concurrency })
  yield* time(
    "`undici.request` + `body.arrayBuffer()`, no Effect",
    "the HTTP floor in Node",
    each((i) =>
      Effect.promise(async () => {
        const response = await undici.request(`${emulator.url}/files/${ids[i]}`, {
          dispatcher: agent,
          headers: { "x-apikey": L.apiKey }
        })
        await response.body.arrayBuffer()
      })
    )
  )
  yield* Effect.promise(() => agent.close())
  yield* time(
    "`client.executeBytes` (the same GET, no JSON parsing)",
    "vt-client + @effect/platform + undici",
    each((i) => client.executeBytes(HttpClientRequest.get(`/files/${ids[i]}`)))
  )
  yield* time(
    "`JSON.parse` of one ~40 KB report",
    "inside getFile",
    Effect.sync(() => {
      for (let i = 0; i < count; i++) JSON.parse(reportText)
    })
  )
  yield* time("`sink.put` of a new report", "report-sink-fs", each((i) => sink.put(keys[i], report)))
  yield* time("`sink.has` of a saved key", "report-sink-fs", each((i) => sink.has(keys[i])))
})

try {
  await Effect.runPromise(
    program.pipe(
      Effect.scoped,
      Effect.provide(services),
      Logger.withMinimumLogLevel(LogLevel.Info),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  )
} finally {
  await emulator.stop()
  work.remove()
}

L.writeSection(
  "breakdown",
  `## Where the time of one report goes

${L.preamble("node bench/breakdown.mjs", loadBefore)}
- Each stage alone, ${L.fmt(count)} times, ${concurrency} at a time, in one process on the packages' built output
  (the same code the bundle holds); the emulator in its own process. CPU is the whole process's (main thread, libuv
  threads, GC), so it can exceed the wall time.

| stage | part of | wall µs/item | CPU µs/item |
|---|---|---|---|
${rows.map((r) => `| ${r.name} | ${r.note} | ${r.wall.toFixed(0)} | ${r.cpu.toFixed(0)} |`).join("\n")}
`
)
