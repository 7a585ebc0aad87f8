// The one item pipeline, on its own: claims and duplicates, the store decision, outcomes folded into the tally,
// and what stops a run. A store in memory (primitives over two Maps, the rules from ReportSink.make).
import { assert, describe, it } from "@effect/vitest"
import type { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { ReportClaims } from "@vt-harvest/report-sink"
import { VtError } from "@vt-harvest/vt-client"
import { Deferred, Effect, Fiber, Logger, Ref, Stream, TestClock } from "effect"
import * as Failure from "../src/engine/Failure.js"
import * as Outcome from "../src/engine/Outcome.js"
import * as Pipeline from "../src/engine/Pipeline.js"
import * as Steps from "../src/engine/Steps.js"
import { memoryStore } from "./memoryStore.js"

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
    readonly sharing?: Pipeline.SharingService
  } = {}
) =>
  Effect.gen(function*() {
    const memory = memoryStore({ failWrites: options.failWrites })
    options.seed?.(memory)
    const tally = yield* Ref.make(Outcome.empty)
    const calls: Array<string> = []
    const exit = yield* Effect.exit(
      Pipeline.run({
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
                Effect.as(
                  Failure.storeOrStop(memory.store.putNotFound(key, bytes("{}"))),
                  Outcome.notFound(`nf ${key}`)
                )
            )
          )
      }, tally).pipe(Effect.provideService(Pipeline.Sharing, options.sharing ?? {}))
    )
    return { exit, tally: yield* Ref.get(tally), calls, memory }
  })

const report = (id: string) => Effect.succeed(`{"data":{"id":"${id}"}}`)

/** The pipeline over the one id "a", forked, with `fetch` as its only step; answers the fiber. */
const forkOne = (
  store: ReportSink.Service,
  tally: Ref.Ref<Outcome.Tally>,
  fetch: (key: ReportKey.ReportKey, seen: ReportSink.Presence | undefined) => ReturnType<typeof Steps.keep>
) =>
  Pipeline.run({
    items: Stream.make(Pipeline.work("a", "line 1")),
    concurrency: 1,
    store,
    overwrite: false,
    retryNotFound: false,
    logSkips: false,
    key: (work: Pipeline.Work<string>) => Effect.succeed(Pipeline.claim(key(work.value), work.value)),
    fetch: (_work, k, seen) => fetch(k, seen)
  }, tally).pipe(Effect.provideService(Pipeline.Sharing, {}), Effect.fork)

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

  it.effect("an unexpected failure (a defect) in one item's steps fails that item only; the run goes on", () =>
    Effect.gen(function*() {
      const { calls, exit, tally } = yield* harvest(
        ["a", "x", "b", "x"],
        (id) => id === "x" ? Effect.sync(() => new Date(-1e16).toISOString()) : report(id)
      )
      assert.isTrue(exit._tag === "Success")
      assert.deepStrictEqual(calls.filter((c) => c === "x"), ["x"])
      assert.deepStrictEqual([tally.saved, tally.failed, tally.skipped, Outcome.exitStatus(tally)], [2, 1, 1, 1])
    }))

  it.effect("a record that landed as the run was stopped is counted and logged all the same", () =>
    Effect.gen(function*() {
      for (const kind of ["saved", "not-found"] as const) {
        const written = yield* Deferred.make<void>()
        const memory = memoryStore({ afterWrite: Effect.zipRight(Deferred.succeed(written, undefined), Effect.never) })
        const tally = yield* Ref.make(Outcome.empty)
        const logged: Array<string> = []
        const logger = Logger.make(({ message }) => void logged.push(String(message)))
        const fiber = yield* forkOne(memory.store, tally, (k, seen) =>
          kind === "saved"
            ? Steps.keep(memory.store, k, bytes("{}"), Outcome.saved(`saved ${k}.json`), seen)
            : Steps.keepNotFound(
              memory.store,
              k,
              new VtError.NotFoundError(fields(404, "NotFoundError")),
              Outcome.notFound(`not found ${k}`)
            )).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        yield* Deferred.await(written)
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(memory.records[kind].size, 1)
        const t = yield* Ref.get(tally)
        assert.deepStrictEqual([t.saved, t.notFound, t.handled], kind === "saved" ? [1, 0, 1] : [0, 1, 1])
        assert.deepStrictEqual(logged, [kind === "saved" ? "saved a.json" : "not found a"])
      }
    }))

  it.effect("a store that does not answer whether a record landed holds a stop back 5 s at most", () =>
    Effect.gen(function*() {
      const written = yield* Deferred.make<void>()
      const memory = memoryStore({
        afterWrite: Effect.zipRight(Deferred.succeed(written, undefined), Effect.never),
        beforeRead: Effect.never
      })
      const tally = yield* Ref.make(Outcome.empty)
      const fiber = yield* forkOne(
        memory.store,
        tally,
        (k, seen) => Steps.keep(memory.store, k, bytes("{}"), Outcome.saved(`saved ${k}.json`), seen)
      )
      yield* Deferred.await(written)
      const stopping = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(stopping)
      // Not known to have landed: not counted.
      assert.strictEqual((yield* Ref.get(tally)).saved, 0)
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

  it.effect("--shard i/n: the n parts are disjoint and together hold every id", () =>
    Effect.gen(function*() {
      const ids = Array.from({ length: 60 }, (_, i) => `id${i}`)
      const parts = []
      for (let index = 0; index < 3; index++) {
        parts.push((yield* harvest(ids, report, { sharing: { shard: { index, count: 3 } } })).calls)
      }
      assert.deepStrictEqual(parts.flat().sort(), [...ids].sort())
      for (const part of parts) assert.isAbove(part.length, 10)
      // The same id is in the same part every time.
      assert.strictEqual(Pipeline.shardOf("id7", 3), Pipeline.shardOf("id7", 3))
    }))

  it.live("shared claims: an id another process holds is not requested; it is skipped once that process saved it", () =>
    Effect.gen(function*() {
      let memory: ReturnType<typeof memoryStore> | undefined
      const held = new Set(["b"])
      const asked: Array<string> = []
      const claims: ReportClaims.Service = {
        location: "memory",
        owner: "me",
        acquire: (_scope, k) =>
          Effect.sync((): ReportClaims.Attempt => {
            asked.push(k)
            if (!held.has(k)) return { _tag: "Claimed", takenFrom: undefined }
            // The other process saves it and lets its claim go while this one waits.
            memory?.records.saved.set(k, bytes("{}"))
            held.delete(k)
            return { _tag: "Held", holder: "other", retryIn: 20 }
          }),
        release: () => Effect.void
      }
      const run = yield* harvest(["a", "b", "c"], report, {
        seed: (m) => (memory = m),
        sharing: { claims: { service: claims, scope: "files out" } }
      })
      assert.deepStrictEqual([...run.calls].sort(), ["a", "c"])
      assert.deepStrictEqual([run.tally.saved, run.tally.skipped], [2, 1])
    }))

  it.live("shared claims: an id saved by another process between the store's answer and the claim is not requested", () =>
    Effect.gen(function*() {
      let memory: ReturnType<typeof memoryStore> | undefined
      const claims: ReportClaims.Service = {
        location: "memory",
        owner: "me",
        // The other process saved "a" and let its claim go just before this one claims it.
        acquire: (_scope, k) =>
          Effect.sync((): ReportClaims.Attempt => {
            if (k === "a") memory?.records.saved.set(k, bytes("{}"))
            return { _tag: "Claimed", takenFrom: undefined }
          }),
        release: () => Effect.void
      }
      const run = yield* harvest(["a", "b"], report, {
        seed: (m) => (memory = m),
        sharing: { claims: { service: claims, scope: "files out" } }
      })
      assert.deepStrictEqual(run.calls, ["b"])
      assert.deepStrictEqual([run.tally.saved, run.tally.skipped], [1, 1])
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
