import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Gzip from "../src/Gzip.js"
import * as ReportKey from "../src/ReportKey.js"
import * as ReportSink from "../src/ReportSink.js"
import type * as StorePrimitives from "../src/StorePrimitives.js"
import { contract } from "./contract.js"
import { makeMemory, makeStore, primitives } from "./memorySink.js"

for (const gzip of [false, true]) contract("memory", Effect.sync(makeStore), { gzip })

describe("isPendingPresence", () => {
  it("absent is always pending", () => {
    for (const retryNotFound of [false, true]) {
      for (const overwrite of [false, true]) {
        assert.isTrue(ReportSink.isPendingPresence("absent", { retryNotFound, overwrite }))
      }
    }
  })

  it("saved is pending only with overwrite", () => {
    assert.isFalse(ReportSink.isPendingPresence("saved", { retryNotFound: true, overwrite: false }))
    assert.isTrue(ReportSink.isPendingPresence("saved", { retryNotFound: false, overwrite: true }))
  })

  it("not-found is pending with retryNotFound or overwrite", () => {
    assert.isFalse(ReportSink.isPendingPresence("not-found", { retryNotFound: false, overwrite: false }))
    assert.isTrue(ReportSink.isPendingPresence("not-found", { retryNotFound: true, overwrite: false }))
    assert.isTrue(ReportSink.isPendingPresence("not-found", { retryNotFound: false, overwrite: true }))
  })
})

describe("SinkError", () => {
  it("is a tagged, yieldable error carrying its fields", () => {
    const error = new ReportSink.SinkError({ operation: "put", key: "k", message: "cannot write /x/k.json" })
    assert.strictEqual(error._tag, "SinkError")
    assert.strictEqual(error.message, "cannot write /x/k.json")
    assert.strictEqual(error.key, "k")
  })
})

/**
 * The memory store's primitives with every run recorded (`write saved k fresh ifAbsent gzip`), and every call
 * counted, run or not.
 */
const recording = (extra: Partial<StorePrimitives.StorePrimitives> = {}) => {
  const memory = makeMemory()
  const base = { ...primitives(memory), ...extra }
  const runs: Array<string> = []
  let calls = 0
  const recorded = <A, E>(what: string, effect: () => Effect.Effect<A, E>) => {
    calls++
    return Effect.suspend(() => {
      runs.push(what)
      return effect()
    })
  }
  const flags = (options: StorePrimitives.WriteOptions) =>
    (["fresh", "ifAbsent", "gzip"] as const).filter((flag) => options[flag]).map((flag) => ` ${flag}`).join("")
  const store: StorePrimitives.StorePrimitives = {
    ...base,
    exists: (kind, key) => recorded(`exists ${kind} ${key}`, () => base.exists(kind, key)),
    read: (kind, key) => recorded(`read ${kind} ${key}`, () => base.read(kind, key)),
    write: (kind, key, bytes, options) =>
      recorded(`write ${kind} ${key}${flags(options)}`, () => base.write(kind, key, bytes, options)),
    remove: (kind, key) => recorded(`remove ${kind} ${key}`, () => base.remove(kind, key)),
    keys: (kind) => {
      calls++
      return base.keys(kind)
    },
    presence: extra.presence === undefined
      ? undefined
      : (key) => recorded(`presence ${key}`, () => extra.presence!(key))
  }
  return {
    memory,
    store,
    runs,
    calls: () => calls,
    /** The runs recorded while `effect` ran. */
    during: <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.suspend(() => {
        runs.length = 0
        return Effect.as(effect, runs)
      })
  }
}

describe("ReportSink.make: the rules over primitives", () => {
  const a = Either.getOrThrow(ReportKey.make("aa"))
  const body = new TextEncoder().encode("{\"data\":{}}")

  it.effect("checks keys before any primitive is called", () =>
    Effect.gen(function*() {
      const recorder = recording()
      const sink = ReportSink.make(recorder.store, { overwrite: true })
      for (const raw of ["../x", "a/b", ".hidden", "", "_not_found/x"]) {
        const k = raw as ReportKey.ReportKey
        for (const attempt of [sink.has(k), sink.put(k, body), sink.put(k, body, { seen: "absent" }), sink.get(k)]) {
          const error = yield* Effect.flip(attempt)
          assert.include(error.message, "invalid report key")
        }
        assert.include((yield* Effect.flip(sink.putNotFound(k, body))).message, "invalid report key")
      }
      assert.strictEqual(recorder.calls(), 2) // the two `keys` streams of `list`, made once with the sink
    }))

  it.effect("put skips what `seen` already answers", () =>
    Effect.gen(function*() {
      const recorder = recording()
      const sink = ReportSink.make(recorder.store)
      assert.deepStrictEqual(yield* recorder.during(sink.put(a, body, { seen: "absent" })), [
        "write saved aa fresh ifAbsent"
      ])
      assert.deepStrictEqual(yield* recorder.during(sink.put(a, body, { seen: "saved" })), ["remove not-found aa"])
      assert.deepStrictEqual(yield* recorder.during(sink.put(a, body)), ["exists saved aa", "remove not-found aa"])
      const b = Either.getOrThrow(ReportKey.make("bb"))
      yield* sink.putNotFound(b, body)
      assert.deepStrictEqual(yield* recorder.during(sink.put(b, body, { seen: "not-found" })), [
        "write saved bb fresh ifAbsent",
        "remove not-found bb"
      ])
      const c = Either.getOrThrow(ReportKey.make("cc"))
      assert.deepStrictEqual(yield* recorder.during(sink.put(c, body)), [
        "exists saved cc",
        "write saved cc ifAbsent",
        "remove not-found cc"
      ])
    }))

  it.effect("with overwrite put writes whatever `seen` says, and still clears the not-found record", () =>
    Effect.gen(function*() {
      const recorder = recording()
      const sink = ReportSink.make(recorder.store, { overwrite: true, gzip: true })
      assert.deepStrictEqual(yield* recorder.during(sink.put(a, body, { seen: "absent" })), [
        "write saved aa fresh gzip"
      ])
      assert.deepStrictEqual(yield* recorder.during(sink.put(a, body, { seen: "saved" })), [
        "write saved aa gzip",
        "remove not-found aa"
      ])
      assert.deepStrictEqual(yield* recorder.during(sink.put(a, body)), ["write saved aa gzip", "remove not-found aa"])
      assert.isTrue(Gzip.isGzip(recorder.memory.records.saved.get(a)!.bytes))
      assert.deepStrictEqual(Option.getOrUndefined(yield* sink.get(a)), body)
      assert.deepStrictEqual(yield* recorder.during(sink.putNotFound(a, body)), ["write not-found aa gzip"])
    }))

  it.effect("has asks the store's one-step presence when it has one, else exists twice", () =>
    Effect.gen(function*() {
      const plain = recording()
      const sink = ReportSink.make(plain.store)
      assert.deepStrictEqual(yield* plain.during(sink.has(a)), ["exists saved aa", "exists not-found aa"])
      const fast = recording({ presence: () => Effect.succeed("not-found" as const) })
      assert.strictEqual(yield* ReportSink.make(fast.store).has(a), "not-found")
      assert.deepStrictEqual(fast.runs, ["presence aa"])
    }))

  it.effect("a primitive's failure keeps its message and names the operation that ran", () =>
    Effect.gen(function*() {
      const failing = recording({
        write: () => Effect.fail(new ReportSink.SinkError({ operation: "write", message: "cannot write /x/aa.json" })),
        keys: () => Stream.fail(new ReportSink.SinkError({ operation: "keys", message: "cannot read /x" }))
      })
      const sink = ReportSink.make(failing.store)
      const put = yield* Effect.flip(sink.put(a, body, { seen: "absent" }))
      assert.strictEqual(put.operation, "put")
      assert.strictEqual(put.message, "cannot write /x/aa.json")
      assert.strictEqual((yield* Effect.flip(sink.putNotFound(a, body))).operation, "putNotFound")
      assert.strictEqual((yield* Effect.flip(Stream.runDrain(sink.list))).operation, "list")
    }))

  it.effect("runs each put and putNotFound inside the store's `exclusive`, when it has one", () =>
    Effect.gen(function*() {
      const held: Array<string> = []
      const recorder = recording({
        exclusive: (key, effect) => Effect.zipRight(Effect.sync(() => held.push(key)), effect)
      })
      const sink = ReportSink.make(recorder.store)
      yield* sink.put(a, body, { seen: "absent" })
      yield* sink.put(a, body)
      yield* sink.putNotFound(a, body)
      yield* sink.has(a)
      assert.deepStrictEqual(held, ["aa", "aa", "aa"])
    }))
})

describe("ReportSink.make: read-only and checkWritable", () => {
  const a = Either.getOrThrow(ReportKey.make("aa"))

  it.effect("a read-only sink calls no primitive to write, nor the probe", () =>
    Effect.gen(function*() {
      const recorder = recording({ probe: Effect.dieMessage("probed") })
      const sink = ReportSink.make(recorder.store, { readOnly: true })
      yield* Effect.flip(sink.put(a, new Uint8Array([1]), { seen: "absent" }))
      yield* Effect.flip(sink.putNotFound(a, new Uint8Array([1])))
      const error = yield* Effect.flip(sink.checkWritable)
      assert.strictEqual(error.message, "memory is open read-only")
      assert.deepStrictEqual(recorder.runs, [])
    }))

  it.effect("checkWritable is the store's probe, its failure named checkWritable", () =>
    Effect.gen(function*() {
      const recorder = recording({
        probe: Effect.fail(new ReportSink.SinkError({ operation: "probe", message: "cannot write in /x: EACCES" }))
      })
      const error = yield* Effect.flip(ReportSink.make(recorder.store).checkWritable)
      assert.strictEqual(error.operation, "checkWritable")
      assert.strictEqual(error.message, "cannot write in /x: EACCES")
    }))
})
