/**
 * The behaviour every ReportSink must have, as a reusable suite.
 *
 * It lives under test/ (not src/) so that vitest never becomes a runtime dependency of the package; sinks in this
 * monorepo import it relatively: `import { contract } from "../../report-sink/test/contract.js"`.
 *
 * Tests run on the live clock: sinks talk to real stores, with real timeouts and retry backoff.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ReportKey from "../src/ReportKey.js"
import * as ReportSink from "../src/ReportSink.js"

/** One empty store, opened as many times as a test needs (a rerun opens the same store again). */
export interface Store {
  readonly open: (
    options: { readonly overwrite: boolean; readonly gzip: boolean; readonly readOnly?: boolean }
  ) => Effect.Effect<ReportSink.Service, unknown, Scope.Scope>
  /**
   * The document stored for a report (`"saved"`) or a not-found record, decompressed if the store compressed it;
   * `undefined` when there is none.
   */
  readonly read: (
    kind: "saved" | "not-found",
    key: ReportKey.ReportKey
  ) => Effect.Effect<Uint8Array | undefined, unknown, Scope.Scope>
}

const key = (s: string): ReportKey.ReportKey => Either.getOrThrow(ReportKey.make(s))
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b)

const listed = (sink: ReportSink.Service) =>
  Stream.runCollect(sink.list).pipe(
    Effect.map((entries) =>
      Chunk.toReadonlyArray(entries)
        .map((e) => `${e.presence}:${e.key}`)
        .sort()
    )
  )

/** How the suite opens stores. */
export interface ContractOptions {
  /** The `gzip` setting of every open, except in the tests that mix both settings (default `false`). */
  readonly gzip?: boolean
}

/**
 * Registers the contract tests. `makeStore` must give a fresh, empty store each time it runs.
 */
export const contract = (
  name: string,
  makeStore: Effect.Effect<Store, unknown, Scope.Scope>,
  contractOptions: ContractOptions = {}
): void => {
  const gzip = contractOptions.gzip ?? false
  describe(`ReportSink contract: ${name}${gzip ? " (gzip)" : ""}`, () => {
    const a = key("44d88612fea8a8f36de82e1278abb02f")
    const b = key("example.com")
    const c = key("2001_db8__1")

    it.scopedLive("an empty store has nothing", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        assert.strictEqual(yield* sink.has(a), "absent")
        assert.deepStrictEqual(yield* listed(sink), [])
        assert.isString(sink.location)
      }))

    it.scopedLive("put stores the exact bytes and has() says saved", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        // Not valid UTF-8 on purpose: a sink must not decode or re-encode.
        const body = new Uint8Array([0x7b, 0x00, 0xff, 0xfe, 0x0a, 0x0d, 0x7d])
        yield* sink.put(a, body)
        assert.strictEqual(yield* sink.has(a), "saved")
        assert.deepStrictEqual(yield* store.read("saved", a), body)
        assert.strictEqual(yield* sink.has(b), "absent")
      }))

    it.scopedLive("has and put are Effects: each looks at the store when it runs, not when it was made", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        const check = sink.has(a)
        const write = sink.put(a, new TextEncoder().encode("{}"), { seen: "absent" })
        assert.strictEqual(yield* check, "absent")
        yield* write
        assert.strictEqual(yield* check, "saved")
        assert.strictEqual(yield* sink.put(a, new Uint8Array([1])).pipe(Effect.zipRight(sink.has(a))), "saved")
      }))

    it.scopedLive("put after has() said absent (the harvest's order) stores the report like any put", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        const body = new TextEncoder().encode("{\"data\":{}}")
        const seen = yield* sink.has(a)
        assert.strictEqual(seen, "absent")
        yield* sink.put(a, body, { seen })
        assert.strictEqual(yield* sink.has(a), "saved")
        assert.deepStrictEqual(yield* store.read("saved", a), body)
        assert.deepStrictEqual(yield* listed(sink), [`saved:${a}`])
        // After a not-found record, the hint says so, and the record is cleared as without it.
        yield* sink.putNotFound(b, new TextEncoder().encode("{\"error\":{}}"))
        yield* sink.put(b, body, { seen: yield* sink.has(b) })
        assert.strictEqual(yield* sink.has(b), "saved")
        assert.deepStrictEqual(yield* listed(sink), [`saved:${a}`, `saved:${b}`].sort())
      }))

    it.scopedLive("get returns the exact bytes of a saved report, and nothing for not-found or absent ids", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        const body = new Uint8Array([0x7b, 0x00, 0xff, 0x1f, 0x8b, 0x7d])
        yield* sink.put(a, body)
        yield* sink.putNotFound(b, bytes("nf"))
        // Compared unwrapped: assert.deepStrictEqual takes any Option for None, and None for any Some.
        assert.deepStrictEqual(Option.getOrUndefined(yield* sink.get(a)), body)
        assert.isTrue(Option.isNone(yield* sink.get(b)))
        assert.isTrue(Option.isNone(yield* sink.get(c)))
        // A report written with the other compression setting reads back the same.
        const other = yield* store.open({ overwrite: true, gzip: !gzip })
        assert.deepStrictEqual(Option.getOrUndefined(yield* other.get(a)), body)
        yield* other.put(c, bytes("from the other setting"))
        assert.strictEqual(text(Option.getOrUndefined(yield* sink.get(c))), "from the other setting")
      }))

    it.scopedLive("an empty body round-trips", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        yield* sink.put(a, new Uint8Array(0))
        assert.strictEqual(yield* sink.has(a), "saved")
        assert.deepStrictEqual(yield* store.read("saved", a), new Uint8Array(0))
      }))

    it.scopedLive("putNotFound records not-found and replaces an earlier record", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        yield* sink.putNotFound(b, bytes("first"))
        assert.strictEqual(yield* sink.has(b), "not-found")
        yield* sink.putNotFound(b, bytes("second"))
        assert.strictEqual(text(yield* store.read("not-found", b)), "second")
        assert.strictEqual(yield* store.read("saved", b), undefined)
      }))

    it.scopedLive("a put after a not-found record makes the id saved and clears the record", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        yield* sink.putNotFound(b, bytes("{\"error\":{}}"))
        yield* sink.put(b, bytes("{\"data\":{}}"))
        assert.strictEqual(yield* sink.has(b), "saved")
        assert.strictEqual(yield* store.read("not-found", b), undefined)
        assert.deepStrictEqual(yield* listed(sink), [`saved:${b}`])
      }))

    it.scopedLive("saved wins over a later not-found record", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        yield* sink.put(c, bytes("report"))
        yield* sink.putNotFound(c, bytes("nf"))
        assert.strictEqual(yield* sink.has(c), "saved")
        assert.strictEqual(text(yield* store.read("saved", c)), "report")
        assert.deepStrictEqual(yield* listed(sink), [`saved:${c}`])
      }))

    it.scopedLive("without overwrite an existing report is kept and the put succeeds", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        yield* sink.put(a, bytes("old"))
        yield* sink.put(a, bytes("new"))
        assert.strictEqual(text(yield* store.read("saved", a)), "old")
      }))

    it.scopedLive("with overwrite an existing report is replaced", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const first = yield* store.open({ overwrite: false, gzip })
        yield* first.put(a, bytes("old"))
        const second = yield* store.open({ overwrite: true, gzip })
        yield* second.put(a, bytes("newer and longer"))
        assert.strictEqual(text(yield* store.read("saved", a)), "newer and longer")
      }))

    it.scopedLive("records survive reopening the store (resume)", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const first = yield* store.open({ overwrite: false, gzip })
        yield* first.put(a, bytes("a"))
        yield* first.putNotFound(b, bytes("b"))
        const second = yield* store.open({ overwrite: false, gzip })
        assert.strictEqual(yield* second.has(a), "saved")
        assert.strictEqual(yield* second.has(b), "not-found")
        assert.strictEqual(yield* second.has(c), "absent")
        assert.deepStrictEqual(yield* listed(second), [`not-found:${b}`, `saved:${a}`])
      }))

    it.scopedLive("list streams every record once", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        const keys = Array.from({ length: 40 }, (_, i) => key(`k${String(i).padStart(3, "0")}`))
        yield* Effect.forEach(
          keys,
          (k, i) => i % 4 === 0 ? sink.putNotFound(k, bytes(k)) : sink.put(k, bytes(k)),
          { concurrency: 8, discard: true }
        )
        const expected = keys.map((k, i) => `${i % 4 === 0 ? "not-found" : "saved"}:${k}`).sort()
        assert.deepStrictEqual(yield* listed(sink), expected)
      }))

    it.scopedLive("concurrent puts of the same key leave one complete report", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: true, gzip })
        const bodies = Array.from({ length: 10 }, (_, i) => bytes(String(i).repeat(1000 + i)))
        yield* Effect.forEach(bodies, (body) => sink.put(a, body), { concurrency: "unbounded", discard: true })
        const stored = text(yield* store.read("saved", a))
        assert.isTrue(bodies.some((body) => text(body) === stored))
      }))

    it.scopedLive("isPending follows presence, retryNotFound and overwrite", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        yield* sink.put(a, bytes("a"))
        yield* sink.putNotFound(b, bytes("b"))
        const pending = (k: ReportKey.ReportKey, retryNotFound: boolean, overwrite: boolean) =>
          ReportSink.isPending(k, { retryNotFound, overwrite }).pipe(
            Effect.provideService(ReportSink.ReportSink, sink)
          )
        assert.isFalse(yield* pending(a, false, false))
        assert.isFalse(yield* pending(a, true, false))
        assert.isTrue(yield* pending(a, false, true))
        assert.isFalse(yield* pending(b, false, false))
        assert.isTrue(yield* pending(b, true, false))
        assert.isTrue(yield* pending(b, false, true))
        assert.isTrue(yield* pending(c, false, false))
      }))

    it.scopedLive("records written with the other gzip setting are seen alike (resume)", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const first = yield* store.open({ overwrite: false, gzip: !gzip })
        yield* first.put(a, bytes("first report"))
        yield* first.putNotFound(b, bytes("first record"))
        const second = yield* store.open({ overwrite: false, gzip })
        assert.strictEqual(yield* second.has(a), "saved")
        assert.strictEqual(yield* second.has(b), "not-found")
        yield* second.put(a, bytes("second report"))
        assert.strictEqual(text(yield* store.read("saved", a)), "first report")
        assert.deepStrictEqual(yield* listed(second), [`not-found:${b}`, `saved:${a}`])
      }))

    it.scopedLive("overwrite, putNotFound and put replace records written with the other gzip setting", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const first = yield* store.open({ overwrite: false, gzip: !gzip })
        yield* first.put(a, bytes("old"))
        yield* first.putNotFound(b, bytes("old record"))
        yield* first.putNotFound(c, bytes("not found yet"))
        const second = yield* store.open({ overwrite: true, gzip })
        yield* second.put(a, bytes("new"))
        yield* second.putNotFound(b, bytes("new record"))
        yield* second.put(c, bytes("found now"))
        assert.strictEqual(text(yield* store.read("saved", a)), "new")
        assert.strictEqual(text(yield* store.read("not-found", b)), "new record")
        assert.strictEqual(text(yield* store.read("saved", c)), "found now")
        assert.strictEqual(yield* store.read("not-found", c), undefined)
        assert.strictEqual(yield* second.has(c), "saved")
        assert.deepStrictEqual(yield* listed(second), [`not-found:${b}`, `saved:${c}`, `saved:${a}`].sort())
      }))

    it.scopedLive("checkWritable passes on a store that takes records, and leaves nothing to list", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: false, gzip })
        yield* sink.checkWritable
        assert.deepStrictEqual(yield* listed(sink), [])
        yield* sink.put(a, bytes("a"))
        yield* sink.putNotFound(b, bytes("b"))
        yield* sink.checkWritable
        assert.deepStrictEqual(yield* listed(sink), [`not-found:${b}`, `saved:${a}`])
      }))

    it.scopedLive("a store opened read-only reads what is there and refuses every write", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const writer = yield* store.open({ overwrite: false, gzip })
        yield* writer.put(a, bytes("a"))
        yield* writer.putNotFound(b, bytes("b"))
        const reader = yield* store.open({ overwrite: true, gzip, readOnly: true })
        assert.strictEqual(yield* reader.has(a), "saved")
        assert.strictEqual(yield* reader.has(b), "not-found")
        assert.strictEqual(text(Option.getOrUndefined(yield* reader.get(a))), "a")
        assert.deepStrictEqual(yield* listed(reader), [`not-found:${b}`, `saved:${a}`])
        for (
          const [operation, attempt] of [
            ["put", reader.put(a, bytes("new"))],
            ["put", reader.put(c, bytes("c"), { seen: "absent" })],
            ["putNotFound", reader.putNotFound(c, bytes("c"))],
            ["checkWritable", reader.checkWritable]
          ] as const
        ) {
          const error = yield* Effect.flip(attempt)
          assert.strictEqual(error._tag, "SinkError")
          assert.strictEqual(error.operation, operation)
          assert.include(error.message, `${reader.location} is open read-only`)
        }
        assert.strictEqual(text(yield* store.read("saved", a)), "a")
        assert.strictEqual(yield* store.read("saved", c), undefined)
        assert.strictEqual(yield* store.read("not-found", c), undefined)
        assert.deepStrictEqual(yield* listed(writer), [`not-found:${b}`, `saved:${a}`])
      }))

    it.scopedLive("refuses keys that bypassed the type, and stores nothing", () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sink = yield* store.open({ overwrite: true, gzip })
        const hostile = [
          "../evil",
          "a/b",
          "/abs",
          "a\\b",
          ".hidden",
          "..",
          ".",
          "",
          "x\u0000y",
          "_not_found/x",
          "k".repeat(201)
        ]
        for (const raw of hostile) {
          const k = raw as ReportKey.ReportKey
          for (const attempt of [sink.put(k, bytes("x")), sink.putNotFound(k, bytes("x")), sink.has(k)]) {
            const error = yield* Effect.flip(attempt)
            assert.strictEqual(error._tag, "SinkError", JSON.stringify(raw))
            assert.include(error.message, "invalid report key")
          }
        }
        assert.deepStrictEqual(yield* listed(sink), [])
      }))
  })
}
