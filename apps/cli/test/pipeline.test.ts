// The one item pipeline, on its own: claims and duplicates, the store decision, outcomes folded into the tally,
// and what stops a run. A store in memory (primitives over two Maps, the rules from ReportSink.make).
import { assert, describe, it } from "@effect/vitest"
import type { ReportKey, StorePrimitives } from "@vt-harvest/report-sink"
import { ReportClaims, ReportSink } from "@vt-harvest/report-sink"
import { VtError } from "@vt-harvest/vt-client"
import { Deferred, Effect, Fiber, Option, Ref, Stream } from "effect"
import * as Failure from "../src/engine/Failure.js"
import * as Outcome from "../src/engine/Outcome.js"
import * as Pipeline from "../src/engine/Pipeline.js"

const memoryStore = (options?: { readonly failWrites?: boolean | undefined }) => {
  const records = {
    saved: new Map<ReportKey.ReportKey, Uint8Array>(),
    "not-found": new Map<ReportKey.ReportKey, Uint8Array>()
  }
  const fail = new ReportSink.SinkError({ operation: "put", key: undefined, message: "disk full" } as never)
  const primitives: StorePrimitives.StorePrimitives = {
    location: "memory",
    exists: (kind, key) => Effect.sync(() => records[kind].has(key)),
    read: (kind, key) =>
      Effect.sync(() => Option.map(Option.fromNullable(records[kind].get(key)), (bytes) => ({ bytes, gzip: false }))),
    write: (kind, key, bytes) =>
      options?.failWrites === true ? Effect.fail(fail) : Effect.sync(() => void records[kind].set(key, bytes)),
    remove: (kind, key) => Effect.sync(() => void records[kind].delete(key)),
    keys: (kind) => Stream.suspend(() => Stream.fromIterable([...records[kind].keys()])),
    probe: Effect.void
  }
  return { records, store: ReportSink.make(primitives) }
}

const key = (id: string) => id as ReportKey.ReportKey

const fields = (status: number, code: string) => ({ status, code, message: "", body: "" })
const bytes = (text: string) => new TextEncoder().encode(text)

/** Runs ids through the pipeline; `answer` says what "VirusTotal" does for each id; answers the tally and the calls. */
const harvest = (
  ids: ReadonlyArray<string>,
  answer: (id: string) => Effect.Effect<string, VtError.VtError>,
  options: {
    readonly retryNotFound?: boolean
    readonly overwrite?: boolean
    readonly seed?: (s: ReturnType<typeof memoryStore>) => void
    readonly failWrites?: boolean
  } = {}
) =>
  Effect.gen(function*() {
    const memory = memoryStore({ failWrites: options.failWrites })
    options.seed?.(memory)
    const tally = yield* Ref.make(Outcome.empty)
    const calls: Array<string> = []
    const exit = yield* Effect.exit(Pipeline.run({
      items: Stream.fromIterable(ids.map((id, i) => Pipeline.work(id, `line ${i + 1}`))),
      concurrency: 3,
      store: memory.store,
      overwrite: options.overwrite ?? false,
      retryNotFound: options.retryNotFound ?? false,
      logSkips: false,
      key: (work: Pipeline.Work<string>) => Effect.succeed(Pipeline.claim(key(work.value), work.value)),
      fetch: (work, key) =>
        Effect.sync(() => calls.push(work.value)).pipe(
          Effect.zipRight(answer(work.value)),
          Effect.flatMap((body) =>
            Effect.as(Failure.storeOrStop(memory.store.put(key, bytes(body))), Outcome.saved(`saved ${key}`))
          ),
          Effect.catchIf(
            VtError.isNotFound,
            () =>
              Effect.as(Failure.storeOrStop(memory.store.putNotFound(key, bytes("{}"))), Outcome.notFound(`nf ${key}`))
          )
        )
    }, tally))
    return { exit, tally: yield* Ref.get(tally), calls, memory }
  })

const report = (id: string) => Effect.succeed(`{"data":{"id":"${id}"}}`)

describe("the item pipeline", () => {
  it.effect("each key is requested once, duplicates in flight or done are skipped, every item counted once", () =>
    Effect.gen(function*() {
      const { calls, exit, tally } = yield* harvest(["a", "b", "a", "c", "b", "a"], report)
      assert.isTrue(exit._tag === "Success")
      assert.deepStrictEqual([...calls].sort(), ["a", "b", "c"])
      assert.deepStrictEqual([tally.saved, tally.skipped, tally.handled, Outcome.exitStatus(tally)], [3, 3, 6, 0])
    }))

  it.effect("what the store holds is not requested; not-found records only with retryNotFound", () =>
    Effect.gen(function*() {
      const seed = (m: ReturnType<typeof memoryStore>) => {
        m.records.saved.set(key("a"), bytes("{}"))
        m.records["not-found"].set(key("b"), bytes("{}"))
      }
      const kept = yield* harvest(["a", "b", "c"], report, { seed })
      assert.deepStrictEqual([kept.calls, kept.tally.skipped, kept.tally.saved], [["c"], 2, 1])
      const retried = yield* harvest(["a", "b", "c"], report, { seed, retryNotFound: true })
      assert.deepStrictEqual([[...retried.calls].sort(), retried.tally.skipped], [["b", "c"], 1])
      const overwritten = yield* harvest(["a", "b", "a"], report, { seed, overwrite: true })
      assert.deepStrictEqual([[...overwritten.calls].sort(), overwritten.tally.skipped], [["a", "b"], 1])
    }))

  it.effect("a failure fails that item only (exit status 1) and its duplicate is not requested again", () =>
    Effect.gen(function*() {
      const { calls, exit, tally } = yield* harvest(
        ["a", "x", "b", "x"],
        (id) =>
          id === "x" ? Effect.fail(new VtError.InvalidArgumentError(fields(400, "InvalidArgumentError"))) : report(id)
      )
      assert.isTrue(exit._tag === "Success")
      assert.deepStrictEqual(calls.filter((c) => c === "x"), ["x"])
      assert.deepStrictEqual([tally.saved, tally.failed, tally.skipped, Outcome.exitStatus(tally)], [2, 1, 1, 1])
    }))

  it.effect("any 401/403 stops the run with KeyRefused; a TLS failure with Untrusted; a store failure with StoreFailed", () =>
    Effect.gen(function*() {
      const refused = yield* harvest(
        ["a"],
        () => Effect.fail(new VtError.ForbiddenError(fields(403, "ForbiddenError")))
      )
      assert.isTrue(refused.exit._tag === "Failure" && String(refused.exit.cause).includes("KeyRefused"))
      const tls = yield* harvest(
        ["a"],
        () => Effect.fail(new VtError.TransportError({ reason: "Tls", message: "self-signed certificate" }))
      )
      assert.isTrue(tls.exit._tag === "Failure" && String(tls.exit.cause).includes("Untrusted"))
      const full = yield* harvest(["a", "b"], report, { failWrites: true })
      assert.isTrue(full.exit._tag === "Failure" && String(full.exit.cause).includes("StoreFailed"))
      assert.strictEqual(full.tally.saved, 0)
    }))
})

/** Claims in memory, as PgClaims keeps them: one owner per key, released by its owner only. */
const memoryClaims = () => {
  const held = new Map<string, string>()
  return (owner: string): ReportClaims.Service =>
    ReportClaims.ReportClaims.of({
      location: "memory",
      owner,
      acquire: (scope, key) =>
        Effect.sync((): ReportClaims.Attempt => {
          const holder = held.get(`${scope} ${key}`)
          if (holder !== undefined && holder !== owner) return { _tag: "Held", holder, retryIn: 0 }
          held.set(`${scope} ${key}`, owner)
          return { _tag: "Claimed", takenFrom: undefined }
        }),
      release: (scope, key) =>
        Effect.sync(() => {
          if (held.get(`${scope} ${key}`) === owner) held.delete(`${scope} ${key}`)
        })
    })
}

describe("the item pipeline with claims shared between processes", () => {
  // Process A requests "a" and is slow to answer; process B, on the same list, finds "a" held, waits, and gets the
  // claim once A has stored the answer and let it go.
  const overlapping = (
    options: { readonly overwrite: boolean; readonly retryNotFound: boolean; readonly found: boolean }
  ) =>
    Effect.gen(function*() {
      const memory = memoryStore()
      memory.records.saved.set(key("a"), bytes("{}"))
      memory.records["not-found"].set(key("b"), bytes("{}"))
      const claims = memoryClaims()
      const calls: Array<string> = []
      const started = yield* Deferred.make<void>()
      const proceed = yield* Deferred.make<void>()
      const id = options.found ? "a" : "b"
      const process = (owner: string, slow: boolean) =>
        Effect.gen(function*() {
          const tally = yield* Ref.make(Outcome.empty)
          yield* Pipeline.run({
            items: Stream.make(Pipeline.work(id, "line 1")),
            concurrency: 1,
            store: memory.store,
            overwrite: options.overwrite,
            retryNotFound: options.retryNotFound,
            logSkips: false,
            key: (work: Pipeline.Work<string>) => Effect.succeed(Pipeline.claim(key(work.value), work.value)),
            fetch: (work, key) =>
              Effect.gen(function*() {
                calls.push(`${owner} ${work.value}`)
                if (slow) {
                  yield* Deferred.succeed(started, undefined)
                  yield* Deferred.await(proceed)
                }
                if (!options.found) {
                  yield* Failure.storeOrStop(memory.store.putNotFound(key, bytes("{}")))
                  return Outcome.notFound(`nf ${key}`)
                }
                yield* Failure.storeOrStop(memory.store.put(key, bytes(`{"data":{"id":"${key}"}}`)))
                return Outcome.saved(`saved ${key}`)
              })
          }, tally).pipe(
            Effect.provideService(Pipeline.Sharing, { claims: { service: claims(owner), scope: "files memory" } })
          )
          return yield* Ref.get(tally)
        })
      const a = yield* Effect.fork(process("A", true))
      yield* Deferred.await(started)
      const b = yield* Effect.fork(process("B", false))
      // B has found the id held and is waiting for it.
      yield* Effect.sleep("200 millis")
      yield* Deferred.succeed(proceed, undefined)
      const [ta, tb] = [yield* Fiber.join(a), yield* Fiber.join(b)]
      return { calls, a: ta, b: tb }
    })

  it.live("--overwrite: an id another process fetched while this one waited for its claim is not requested again", () =>
    Effect.gen(function*() {
      const { a, b, calls } = yield* overlapping({ overwrite: true, retryNotFound: false, found: true })
      assert.deepStrictEqual(calls, ["A a"])
      assert.deepStrictEqual([a.saved, b.skipped, Outcome.exitStatus(b)], [1, 1, 0])
    }))

  it.live("--retry-not-found: an id another process found still unknown meanwhile is not requested again", () =>
    Effect.gen(function*() {
      const { a, b, calls } = yield* overlapping({ overwrite: false, retryNotFound: true, found: false })
      assert.deepStrictEqual(calls, ["A b"])
      assert.deepStrictEqual([a.notFound, b.skipped], [1, 1])
    }))

  it.effect("--shard: another shard's ids are not requested, yet counted as handled (progress reaches the total)", () =>
    Effect.gen(function*() {
      const ids = Array.from({ length: 40 }, (_, i) => `id${i}`)
      const tally = yield* Ref.make(Outcome.empty)
      const calls: Array<string> = []
      const memory = memoryStore()
      yield* Pipeline.run({
        items: Stream.fromIterable(ids.map((id, i) => Pipeline.work(id, `line ${i + 1}`))),
        concurrency: 2,
        store: memory.store,
        overwrite: false,
        retryNotFound: false,
        logSkips: false,
        key: (work: Pipeline.Work<string>) => Effect.succeed(Pipeline.claim(key(work.value), work.value)),
        fetch: (work) => Effect.sync(() => calls.push(work.value)).pipe(Effect.as(Outcome.saved(`saved ${work.value}`)))
      }, tally).pipe(Effect.provideService(Pipeline.Sharing, { shard: { index: 1, count: 3 } }))
      const mine = ids.filter((id) => Pipeline.shardOf(id, 3) === 1)
      assert.deepStrictEqual([...calls].sort(), [...mine].sort())
      const t = yield* Ref.get(tally)
      assert.deepStrictEqual([t.handled, t.saved, t.skipped], [40, mine.length, 0])
    }))
})
