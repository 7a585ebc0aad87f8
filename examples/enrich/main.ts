/**
 * Re-read stored reports and enrich them with relationships.
 *
 * Lists a store written by vt-harvest or by another pipeline (`ReportSink.list`), reads each saved report back
 * (`get`: decompressed whatever the gzip setting it was written with), asks VirusTotal for a few relationships of
 * the object (`Relationships.pages`: the first page, with `meta.count`, one request per relationship, through a client
 * gated by `QuotaGate.layerGated`, so paced and retried by the quota gate), and stores the report with a `relationships` member, in VirusTotal's own shape
 * (`data.relationships.<name> = { data: [...], meta: { count } }`), in a second store under the same key.
 * Reports already enriched are skipped, so a rerun resumes; not-found records are ignored.
 *
 * Environment: VT_API_KEY (required), VT_BASE_URL (default: VirusTotal), VT_STORE (default vt_reports),
 * VT_OUT (default vt_enriched), VT_RELATIONSHIP_LIMIT (related objects kept per relationship, default 10, at most
 * 40), VT_PER_MINUTE (default 4).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ConsoleLog } from "@vt-harvest/logging"
import { QuotaGate, QuotaPolicy } from "@vt-harvest/rate-schedule"
import type { ReportSink } from "@vt-harvest/report-sink"
import type { ReportKey } from "@vt-harvest/report-sink"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import type { Collection } from "@vt-harvest/vt-client"
import { Relationships, VtClient, VtObject } from "@vt-harvest/vt-client"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

// Which relationships to add, by object type (names as in VirusTotal's API reference).
const relationshipsOf: Record<string, ReadonlyArray<string>> = {
  file: ["contacted_domains", "contacted_ips"],
  url: ["contacted_domains", "downloaded_files"],
  domain: ["resolutions", "subdomains"],
  ip_address: ["resolutions", "communicating_files"]
}

// A stored report: `{"data": {type, id, attributes, …}}`; every member is kept.
const StoredReport = Schema.Struct(
  { data: VtObject.Envelope },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
const decodeReport = Schema.decodeUnknownEither(Schema.parseJson(StoredReport))
const decodeObject = Schema.decodeUnknownOption(VtObject.Envelope)

// A file is asked about by the hash its report was fetched with (the store key), anything else by its id.
const refOf = (key: ReportKey.ReportKey, object: VtClient.VtObject): Option.Option<VtObject.Ref> => {
  switch (object.type) {
    case "file":
      return Option.some(VtObject.file(key))
    case "url":
      return Option.some(VtObject.url(object.id))
    case "domain":
      return Option.some(VtObject.domain(object.id))
    case "ip_address":
      return Option.some(VtObject.ipAddress(object.id))
    default:
      return Option.none()
  }
}

// What is kept of a related object: its descriptor, and its detection counts when it has them.
const summary = (item: unknown) =>
  Option.match(decodeObject(item), {
    onNone: () => item,
    onSome: (object) => ({
      type: object.type,
      id: object.id,
      ...Option.match(VtObject.lastAnalysisStats(object), {
        onNone: () => ({}),
        onSome: (stats) => ({ last_analysis_stats: stats })
      })
    })
  })

// The first page of one relationship: one request, through the gated client.
const firstPage = (ref: VtObject.Ref, name: string, limit: number) =>
  Stream.runHead(Relationships.pages(ref, name, { limit, maxPages: 1 })).pipe(
    Effect.map(Option.match({
      onNone: () => ({ data: [], meta: { count: 0 } }),
      onSome: (page: Collection.Page) => ({
        data: page.data.slice(0, limit).map(summary),
        meta: { count: Option.getOrElse(page.count, () => page.data.length) }
      })
    }))
  )

const enrich = (input: ReportSink.Service, output: ReportSink.Service, key: ReportKey.ReportKey, limit: number) =>
  Effect.gen(function*() {
    if ((yield* output.has(key)) === "saved") return "skipped" as const
    const bytes = yield* input.get(key)
    if (Option.isNone(bytes)) return "skipped" as const // removed since it was listed
    const report = yield* decodeReport(new TextDecoder().decode(bytes.value))
    const ref = refOf(key, report.data)
    if (Option.isNone(ref)) return "skipped" as const
    const names = relationshipsOf[report.data.type] ?? []
    const pages = yield* Effect.forEach(names, (name) => firstPage(ref.value, name, limit))
    const relationships = Object.fromEntries(names.map((name, i) => [name, pages[i]]))
    const enriched = {
      ...report,
      data: { ...report.data, relationships: { ...report.data.relationships, ...relationships } }
    }
    yield* output.put(key, new TextEncoder().encode(JSON.stringify(enriched)))
    yield* Effect.log(`enriched ${key}: ${names.map((name, i) => `${name} ${pages[i].meta.count}`).join(", ")}`)
    return "enriched" as const
  }).pipe(
    // One report that cannot be enriched is named and skipped; a store that fails stops the run.
    Effect.catchIf(
      (error) => error._tag !== "SinkError",
      (error) => Effect.as(Effect.logError(`${key}: ${error.message}`), "failed" as const)
    )
  )

const program = Effect.gen(function*() {
  const store = yield* Config.string("VT_STORE").pipe(Config.withDefault("vt_reports"))
  const out = yield* Config.string("VT_OUT").pipe(Config.withDefault("vt_enriched"))
  const limit = yield* Config.integer("VT_RELATIONSHIP_LIMIT").pipe(Config.withDefault(10))
  // Two stores at once: `make` gives each its own service (a layer would give one ReportSink).
  // The input may be shared with a running harvest: leave its temporary files alone.
  const input = yield* ReportSinkFs.make({ directory: store, removeStaleTemps: false })
  const output = yield* ReportSinkFs.make({ directory: out })

  const gate = yield* QuotaGate.QuotaGate
  const counts = { enriched: 0, skipped: 0, failed: 0 }
  yield* input.list.pipe(
    Stream.filter((entry) => entry.presence === "saved"),
    Stream.mapEffect((entry) => enrich(input, output, entry.key, Math.min(Math.max(limit, 1), 40))),
    Stream.runForEach((outcome) => Effect.sync(() => counts[outcome]++))
  )
  const { requests } = yield* gate.status
  yield* Effect.log(
    `summary: enriched ${counts.enriched}, skipped ${counts.skipped}, failed ${counts.failed}, requests ${requests}`
  )
})

// The client, behind a gate for the public tier at VT_PER_MINUTE: `Relationships.pages` sends through it.
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
