/**
 * The queries the README offers, run as written (default schema and table) on a store of sample reports.
 */
import { assert, describe, it } from "@effect/vitest"
import { ReportSink } from "@vt-harvest/report-sink"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import { ReportSinkPg } from "../src/index.js"
import { bytes, client, freshSchema, key, sql, url } from "./helpers.js"

const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8")
const queries = readme.slice(readme.indexOf("## Useful queries"), readme.indexOf("## Tests"))
  .split("```sql\n").slice(1).map((block) => block.slice(0, block.indexOf("```")))

const file = (malicious: number, label: string | undefined, firstSeen: string) =>
  bytes(JSON.stringify({
    data: {
      type: "file",
      attributes: {
        meaningful_name: `sample-${malicious}.exe`,
        last_analysis_stats: { malicious, suspicious: 0, undetected: 60 - malicious, harmless: 0 },
        first_submission_date: Date.parse(firstSeen) / 1000,
        ...(label === undefined ? {} : { popular_threat_classification: { suggested_threat_label: label } })
      }
    }
  }))

describe("README", () => {
  it.scopedLive("its queries run on the default table and answer what they say", () =>
    Effect.gen(function*() {
      assert.strictEqual(queries.length, 5)
      // A database of its own, so that the queries run as written, on vt_harvest.reports.
      const database = freshSchema("readme")
      const admin = yield* client()
      yield* sql(admin, `CREATE DATABASE ${database}`)
      yield* Effect.addFinalizer(() => sql(admin, `DROP DATABASE ${database} WITH (FORCE)`))
      const target = new URL(url())
      target.pathname = `/${database}`
      const sink = yield* Effect.map(
        Layer.build(ReportSinkPg.layer({ url: target.href })),
        (context) => Context.get(context, ReportSink.ReportSink)
      )
      yield* sink.put(key("a".repeat(64)), file(55, "trojan.emotet/heodo", "2023-01-31T23:59:00Z"))
      yield* sink.put(key("b".repeat(64)), file(3, "adware.gator", "2023-02-01T00:00:01Z"))
      yield* sink.put(key("c".repeat(64)), file(41, "trojan.emotet/heodo", "2024-07-15T12:00:00Z"))
      yield* sink.put(key("d".repeat(64)), file(0, undefined, "2024-07-01T00:00:00Z"))
      yield* sink.put(key("e".repeat(64)), new Uint8Array([0xff, 0x00]))
      yield* sink.putNotFound(key("f".repeat(64)), bytes("{\"error\":{\"code\":\"NotFoundError\"}}"))
      const db = yield* client(target.href)
      const run = (query: string) => sql(db, query)

      const mostDetected = yield* run(queries[0]!)
      assert.deepStrictEqual(mostDetected.map((row) => [row.key[0], row.malicious, row.name]), [
        ["a", 55, "sample-55.exe"],
        ["c", 41, "sample-41.exe"],
        ["b", 3, "sample-3.exe"],
        ["d", 0, "sample-0.exe"]
      ])
      assert.deepStrictEqual(yield* run(queries[1]!), [
        { label: "trojan.emotet/heodo", reports: "2" },
        { label: "adware.gator", reports: "1" }
      ])
      assert.deepStrictEqual(yield* run(queries[2]!), [
        { month: "2023-01", reports: "1" },
        { month: "2023-02", reports: "1" },
        { month: "2024-07", reports: "2" }
      ])
      // Two statements: the simple protocol answers one result each.
      const [notFound, sizes] = yield* Effect.promise(() =>
        db.query(queries[3]!) as unknown as Promise<Array<{ rows: Array<Record<string, unknown>> }>>
      )
      assert.deepStrictEqual(notFound!.rows.map((row) => String(row.key)[0]), ["f"])
      assert.deepStrictEqual(sizes!.rows.map((row) => [row.kind, row.count]).sort(), [["not-found", "1"], [
        "saved",
        "5"
      ]])
      // The index, then a query it serves.
      yield* run(queries[4]!)
      const contained = yield* run(
        "SELECT count(*)::int AS n FROM vt_harvest.reports WHERE document @> '{\"data\":{\"type\":\"file\"}}'"
      )
      assert.strictEqual(contained[0]!.n, 4)
    }))
})
