// Resume of --relationship-pages, on its own: whether a saved report's further pages are all there for what is asked.
import { assert, describe, it } from "@effect/vitest"
import type { ReportKey } from "@vt-harvest/report-sink"
import { Effect } from "effect"
import * as Relationships from "../src/internal/relationships.js"
import { memoryStore } from "./memoryStore.js"

const key = "44d88612fea8a8f36de82e1278abb02f" as ReportKey.ReportKey
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))

/** A report whose relationship `contacted_domains` has more than its first page. */
const report = bytes({
  data: {
    id: key,
    type: "file",
    relationships: { contacted_domains: { data: [{ type: "domain", id: "a.example" }], meta: { cursor: "c1" } } }
  }
})

const lacks = (pages: Relationships.Pages, stored: unknown) =>
  Effect.gen(function*() {
    const { store } = memoryStore()
    if (stored !== undefined) yield* store.put(key, bytes(stored))
    return yield* Relationships.missing(
      { names: ["contacted_domains"], pages },
      new Map([["contacted_domains", store]]),
      key,
      report
    )
  })

describe("--relationship-pages on a saved report", () => {
  it.effect("pages not kept yet are missing", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* lacks(1, undefined), "further pages of contacted_domains")
    }))

  it.effect("pages kept to the end, or as many as asked, are enough", () =>
    Effect.gen(function*() {
      assert.isUndefined(yield* lacks("all", { data: [], meta: { pages: 2 } }))
      assert.isUndefined(yield* lacks(1, { data: [], meta: { pages: 1, cursor: "c2" } }))
      assert.isUndefined(yield* lacks(2, { data: [], meta: { pages: 3, cursor: "c4" } }))
      // Cut at the most one record holds: no run keeps more, none fetches it again.
      assert.isUndefined(yield* lacks("all", { data: [], meta: { pages: 400, cursor: "c401", truncated: true } }))
    }))

  it.effect("pages kept by a run that asked fewer, with more remaining, are missing for a run that asks more", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* lacks("all", { data: [], meta: { pages: 1, cursor: "c2" } }),
        "further pages of contacted_domains"
      )
      assert.strictEqual(
        yield* lacks(3, { data: [], meta: { pages: 1, cursor: "c2" } }),
        "further pages of contacted_domains"
      )
    }))
})
