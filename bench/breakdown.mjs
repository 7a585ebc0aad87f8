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
const clientRequire = createRequire(path.join(L.root, "packages/vt-client/package.json"))
const undici = await import(pathToFileURL(fs.realpathSync(clientRequire.resolve("undici"))).href)
const pkg = (name, file = "index.js") => import(pathToFileURL(path.join(L.root, "packages", name, "dist", file)).href)
const { Effect, Layer, Logger, LogLevel, Queue, Redacted, Stream } = await esm("effect", "dist/esm/index.js")
const { HttpClientRequest } = await esm("@effect/platform", "dist/esm/index.js")
const { NodeContext, NodeHttpClient } = await esm("@effect/platform-node", "dist/esm/index.js")
const { RunLog } = await pkg("logging")
const { QuotaGate, QuotaPolicy } = await pkg("rate-schedule")
const { ReportKey } = await pkg("report-sink")
const { ReportSinkFs } = await pkg("report-sink-fs")
const { VtClient } = await pkg("vt-client")
// Internal, not part of the package's API: measured here because every object answer goes through it.
const Json = await pkg("vt-client", "internal/json.js")

const loadBefore = L.load()
const emulator = await L.startEmulator()
// The stores on a memory file system when there is one, as in (b): a disk adds the kernel's work for earlier runs.
const work = L.scratch("breakdown", L.storeParent())
const storeFs = L.fileSystemOf(work.dir)
const ids = L.knownIds(count, "breakdown")
const keys = ids.map((id) => ReportKey.fromFileHash(id)).map((either) => either.right)
const report = VtEmulator.fileDocument(ids[0])
const reportText = Buffer.from(report).toString("utf8")
const options = { apiKey: Redacted.make(L.apiKey), baseUrl: emulator.url }

const services = Layer.mergeAll(
  QuotaGate.layer(QuotaPolicy.make(QuotaPolicy.premiumTier, { concurrency })),
  RunLog.layer({ directory: path.join(work.dir, "log"), format: "text" })
).pipe(Layer.provideMerge(Layer.merge(NodeContext.layer, NodeHttpClient.layerUndici)))

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
const store = (name) => ReportSinkFs.make({ directory: path.join(work.dir, name) })

const program = Effect.gen(function*() {
  const viaHttpClient = yield* VtClient.make(options)
  const client = yield* VtClient.makeUndici(options)
  // Warm-up: JIT, connections, the emulator's first sight of each id.
  yield* each((i) => client.getFile(ids[i]))
  yield* each((i) => viaHttpClient.getFile(ids[i]))

  yield* time(
    "bounded queue + 32 workers, f = a resolved promise",
    "the pipeline's skeleton (apps/cli/src/engine/Pipeline.ts)",
    Effect.gen(function*() {
      const queue = yield* Queue.bounded(64)
      const reader = Stream.fromIterable(keys).pipe(
        Stream.runForEachChunk((chunk) => Queue.offerAll(queue, chunk)),
        Effect.zipRight(Queue.offerAll(queue, Array.from({ length: concurrency }, () => undefined)))
      )
      const worker = Effect.gen(function*() {
        while ((yield* Queue.take(queue)) !== undefined) yield* Effect.promise(() => Promise.resolve())
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
  const sink = yield* store("out")
  yield* time("`sink.has` of an absent key (4 stats)", "report-sink-fs", each((i) => sink.has(keys[i])))
  yield* time(
    "`sink.put(key, report, { seen: \"absent\" })` of a new report",
    "report-sink-fs (write and rename on libuv's threads)",
    each((i) => sink.put(keys[i], report, { seen: "absent" }))
  )
  yield* time("`sink.has` of a saved key", "report-sink-fs", each((i) => sink.has(keys[i])))
  const plain = yield* store("plain")
  yield* time(
    "`sink.put(key, report)` without the hint",
    "report-sink-fs (the checks `has` already made, again)",
    each((i) => plain.put(keys[i], report))
  )
  yield* time(
    "`client.getFile` through `VtClient.layer` (HttpClient)",
    "vt-client + @effect/platform + undici",
    each((i) => viaHttpClient.getFile(ids[i]))
  )
  yield* time(
    "`client.getFile` through `VtClient.layerUndici`",
    "vt-client + undici: what the CLI uses",
    each((i) => client.getFile(ids[i]))
  )
  yield* time(
    "`client.getFile` through `layerUndici`, then `document.data` read",
    "what getFile cost when it parsed every answer (JSON.parse in the pipeline, garbage included)",
    each((i) => Effect.map(client.getFile(ids[i]), (document) => document.data.id))
  )
  yield* time(
    "`client.executeBytes` through `layerUndici` (the same GET, body not checked)",
    "vt-client + undici",
    each((i) => client.executeBytes(HttpClientRequest.get(`/files/${ids[i]}`)))
  )
  const agent = new undici.Agent()
  yield* time(
    "`undici.request` + `body.arrayBuffer()`, no Effect, no gunzip",
    "the HTTP floor in Node",
    each((i) =>
      Effect.promise(async () => {
        const response = await undici.request(`${emulator.url}/files/${ids[i]}`, {
          dispatcher: agent,
          headers: { "x-apikey": L.apiKey, "accept-encoding": "gzip" }
        })
        await response.body.arrayBuffer()
      })
    )
  )
  yield* Effect.promise(() => agent.close())
  yield* time(
    "the byte scan of one ~40 KB report (syntax and envelope)",
    "inside getFile",
    Effect.sync(() => {
      for (let i = 0; i < count; i++) Json.scan(report)
    })
  )
  yield* time(
    "`JSON.parse` of one ~40 KB report",
    "what the scan replaces (plus the garbage it leaves)",
    Effect.sync(() => {
      for (let i = 0; i < count; i++) JSON.parse(reportText)
    })
  )
  const whole = yield* store("whole")
  yield* time(
    "one report end to end: has, gate, log, getFile, put, log",
    "the CLI's per-id work (apps/cli/src/engine/Pipeline.ts and commands/files.ts)",
    each((i) =>
      whole.has(keys[i]).pipe(
        Effect.flatMap((seen) =>
          QuotaGate.request(Effect.logInfo(`requesting ${ids[i]}`).pipe(Effect.zipRight(client.getFile(ids[i])))).pipe(
            Effect.flatMap((document) => whole.put(keys[i], document.raw, { seen })),
            Effect.zipRight(Effect.logInfo(`saved ${keys[i]}.json`))
          )
        )
      )
    )
  )
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
  (the same code the bundle holds); the emulator in its own process, answering gzip as VirusTotal does; stores on
  ${storeFs}. CPU is the
  whole process's (main thread, libuv threads, GC), so it can exceed the wall time.

| stage | part of | wall µs/item | CPU µs/item |
|---|---|---|---|
${rows.map((r) => `| ${r.name} | ${r.note} | ${r.wall.toFixed(0)} | ${r.cpu.toFixed(0)} |`).join("\n")}
`
)
