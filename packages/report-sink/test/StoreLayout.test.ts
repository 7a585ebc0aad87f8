import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Gzip from "../src/Gzip.js"
import * as ReportKey from "../src/ReportKey.js"
import * as ReportSink from "../src/ReportSink.js"
import * as StoreLayout from "../src/StoreLayout.js"
import { makeMemory, primitives } from "./memorySink.js"

const key = (s: string): ReportKey.ReportKey => Either.getOrThrow(ReportKey.make(s))

describe("StoreLayout", () => {
  it("names records <key>.json, or <key>.json.gz with gzip", () => {
    assert.strictEqual(StoreLayout.fileName(key("abc")), "abc.json")
    assert.strictEqual(StoreLayout.fileName(key("abc"), { gzip: false }), "abc.json")
    assert.strictEqual(StoreLayout.fileName(key("abc"), { gzip: true }), "abc.json.gz")
    assert.strictEqual(StoreLayout.notFoundDirectory, "_not_found")
    assert.strictEqual(StoreLayout.analysesDirectory, "_analyses")
  })

  it("parses the names it makes back", () => {
    for (const gzip of [false, true]) {
      for (const k of ["abc", "a.json", "2001_db8__1", "x".repeat(200)]) {
        assert.deepStrictEqual(
          Option.getOrUndefined(StoreLayout.parseFileName(StoreLayout.fileName(key(k), { gzip }))),
          { key: key(k), gzip }
        )
      }
    }
  })

  it("refuses names that are not records", () => {
    for (
      const name of [
        ".json",
        ".abc.json",
        "abc.json.tmp",
        ".abc.0123456789ab.tmp",
        "abc.gz",
        "abc.txt",
        "a/b.json",
        "../a.json",
        "a b.json",
        "_not_found",
        `${"x".repeat(201)}.json`
      ]
    ) {
      assert.isTrue(Option.isNone(StoreLayout.parseFileName(name)), name)
    }
  })
})

describe("Gzip", () => {
  it.effect("round-trips any bytes, and compresses a JSON document", () =>
    Effect.gen(function*() {
      const document = new TextEncoder().encode(
        JSON.stringify({ data: { attributes: { names: Array(200).fill("x") } } })
      )
      const compressed = yield* Gzip.compress(document)
      assert.isTrue(Gzip.isGzip(compressed))
      assert.isBelow(compressed.length, document.length / 4)
      assert.deepStrictEqual(yield* Gzip.decompress(compressed), document)
      const empty = yield* Gzip.compress(new Uint8Array(0))
      assert.deepStrictEqual(yield* Gzip.decompress(empty), new Uint8Array(0))
      const binary = new Uint8Array([0x7b, 0x00, 0xff, 0xfe, 0x0a, 0x0d, 0x7d])
      assert.deepStrictEqual(yield* Gzip.decompress(yield* Gzip.compress(binary)), binary)
    }))

  it.effect("compresses the same document to the same bytes", () =>
    Effect.gen(function*() {
      const document = new TextEncoder().encode("{\"data\":{\"id\":\"abc\"}}")
      assert.deepStrictEqual(yield* Gzip.compress(document), yield* Gzip.compress(document))
    }))

  it.effect("fails with a GzipError on bytes that are not gzip or are truncated", () =>
    Effect.gen(function*() {
      const notGzip = yield* Effect.flip(Gzip.decompress(new TextEncoder().encode("{\"data\":{}}")))
      assert.strictEqual(notGzip._tag, "GzipError")
      const compressed = yield* Gzip.compress(new TextEncoder().encode("x".repeat(1000)))
      const truncated = yield* Effect.flip(Gzip.decompress(compressed.slice(0, compressed.length - 5)))
      assert.strictEqual(truncated._tag, "GzipError")
      assert.isFalse(Gzip.isGzip(new Uint8Array([0x1f])))
    }))
})

describe("a record's size", () => {
  it.effect("decompress stops at maxBytes: a gzip bomb costs no more memory than that", () =>
    Effect.gen(function*() {
      const zeros = new Uint8Array(4 * 1024 * 1024)
      const bomb = yield* Gzip.compress(zeros)
      assert.isBelow(bomb.length, 10_000)
      assert.strictEqual((yield* Gzip.decompress(bomb, { maxBytes: zeros.length })).length, zeros.length)
      const error = yield* Effect.flip(Gzip.decompress(bomb, { maxBytes: 1024 * 1024 }))
      assert.strictEqual(error._tag, "GzipError")
      assert.include(error.message, `it holds more than ${1024 * 1024} bytes`)
    }))

  it.effect("get refuses a record over StoreLayout.maxRecordBytes, as stored or decompressed; others are read", () =>
    Effect.gen(function*() {
      assert.strictEqual(StoreLayout.maxRecordBytes, 64 * 1024 * 1024)
      const memory = makeMemory()
      const sink = ReportSink.make(primitives(memory))
      const bomb = yield* Gzip.compress(new Uint8Array(StoreLayout.maxRecordBytes + 1))
      memory.records.saved.set(key("bomb"), { bytes: bomb, gzip: true })
      memory.records.saved.set(key("huge"), { bytes: new Uint8Array(StoreLayout.maxRecordBytes + 1), gzip: false })
      const edge = yield* Gzip.compress(new Uint8Array(StoreLayout.maxRecordBytes))
      memory.records.saved.set(key("edge"), { bytes: edge, gzip: true })
      const bombed = yield* Effect.flip(sink.get(key("bomb")))
      assert.strictEqual(bombed.operation, "get")
      assert.include(bombed.message, `it holds more than ${StoreLayout.maxRecordBytes} bytes`)
      const huge = yield* Effect.flip(sink.get(key("huge")))
      assert.include(huge.message, "is larger than a record can be")
      assert.strictEqual(Option.getOrThrow(yield* sink.get(key("edge"))).length, StoreLayout.maxRecordBytes)
    }))
})

describe("ReportSink.checkKey", () => {
  it.effect("passes keys and refuses anything else, naming the store", () =>
    Effect.gen(function*() {
      yield* ReportSink.checkKey("put", "abc", "vt_reports")
      const error = yield* Effect.flip(ReportSink.checkKey("put", "../abc", "vt_reports"))
      assert.strictEqual(error.operation, "put")
      assert.strictEqual(error.key, "../abc")
      assert.strictEqual(error.message, "refusing invalid report key \"../abc\" for vt_reports")
    }))
})
