import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as TestClock from "effect/TestClock"
import type * as GateState from "../src/GateState.js"
import * as QuotaGate from "../src/QuotaGate.js"
import * as QuotaPolicy from "../src/QuotaPolicy.js"
import * as SharedLedger from "../src/SharedLedger.js"
import { at, harvest, join, ok, quota, startsOf } from "./util.js"

const limits = (spacing: number, perDay?: number): GateState.Limits => ({
  spacing,
  perHour: undefined,
  perDay,
  perMonth: undefined
})

describe("SharedLedger transitions", () => {
  it("spaces starts from every process by the caller's spacing, on the ledger's clock", () => {
    const t0 = at("2024-05-07T10:00:00Z")
    const [first, row1] = SharedLedger.take(SharedLedger.empty(t0), limits(1000), t0)
    assert.deepStrictEqual(first, { _tag: "Start", sequence: 1, refusals: 0 })
    const [second] = SharedLedger.take(row1, limits(1000), t0 + 400)
    assert.deepStrictEqual(second, { _tag: "Wait", millis: 600, until: t0 + 1000, reason: "spacing" })
    const [third, row3] = SharedLedger.take(row1, limits(1000), t0 + 1000)
    assert.deepStrictEqual(third, { _tag: "Start", sequence: 2, refusals: 0 })
    assert.strictEqual(row3.ledger.today, 2)
  })

  it("waits for 00:00 UTC once the day's count reaches the limit", () => {
    const t0 = at("2024-05-07T23:59:00Z")
    let row = SharedLedger.empty(t0)
    for (let i = 0; i < 3; i++) row = SharedLedger.take(row, limits(0, 3), t0)[1]
    const [wait] = SharedLedger.take(row, limits(0, 3), t0)
    assert.deepStrictEqual(wait, { _tag: "Wait", millis: 60_000, until: at("2024-05-08T00:00:00Z"), reason: "day" })
    const [next] = SharedLedger.take(row, limits(0, 3), at("2024-05-08T00:00:00Z"))
    assert.strictEqual(next._tag, "Start")
  })

  it("counts a refusal once: a request already in flight when the pause was set changes nothing", () => {
    const t0 = at("2024-05-07T10:00:00Z")
    let row = SharedLedger.empty(t0)
    for (let i = 0; i < 3; i++) row = SharedLedger.take(row, limits(0), t0)[1]
    const [first, paused] = SharedLedger.refused(row, 2, { _tag: "For", millis: 60_000 }, t0 + 10)
    assert.deepStrictEqual(first, { fresh: true, refusals: 1 })
    assert.strictEqual(paused.pausedUntil, t0 + 60_010)
    const [stale, same] = SharedLedger.refused(paused, 3, { _tag: "For", millis: 60_000 }, t0 + 20)
    assert.deepStrictEqual(stale, { fresh: false, refusals: 1 })
    assert.strictEqual(same, paused)
    const [wait] = SharedLedger.take(paused, limits(0), t0 + 30)
    assert.deepStrictEqual(wait, { _tag: "Wait", millis: 59_980, until: t0 + 60_010, reason: "paused" })
    // The next request after the pause is answered: the refusals in a row are over.
    const [start, resumed] = SharedLedger.take(paused, limits(0), t0 + 60_010)
    assert.deepStrictEqual(start, { _tag: "Start", sequence: 4, refusals: 1 })
    assert.strictEqual(SharedLedger.answered(resumed, 3).refusals, 1)
    assert.strictEqual(SharedLedger.answered(resumed, 4).refusals, 0)
  })

  it("a ledger clock set back waits at most the spacing, not until the clock catches up", () => {
    const t0 = at("2024-05-07T10:00:00Z")
    const [, row] = SharedLedger.take(SharedLedger.empty(t0), limits(1000), t0)
    const back = t0 - 3_600_000
    const [wait, waited] = SharedLedger.take(row, limits(1000), back)
    assert.deepStrictEqual(wait, { _tag: "Wait", millis: 1000, until: back + 1000, reason: "spacing" })
    const [start] = SharedLedger.take(waited, limits(1000), back + 1000)
    assert.strictEqual(start._tag, "Start")
  })

  it("learns what the key used, never lowering a count", () => {
    const t0 = at("2024-05-07T10:00:00Z")
    let row = SharedLedger.empty(t0)
    for (let i = 0; i < 5; i++) row = SharedLedger.take(row, limits(0), t0)[1]
    const learned = SharedLedger.learn(row, { today: 3, thisMonth: 40 }, t0)
    assert.strictEqual(learned.ledger.today, 5)
    assert.strictEqual(learned.ledger.thisMonth, 40)
  })
})

describe("QuotaGate with a shared ledger", () => {
  it.effect("two gates on one ledger start requests 15 s apart together at 4/min", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const ledger = yield* SharedLedger.memory
      const policy = QuotaPolicy.make(QuotaPolicy.publicTier, { concurrency: 2 })
      const a = yield* harvest(policy, ["a1", "a2", "a3"], ok, 2, { ledger })
      const b = yield* harvest(policy, ["b1", "b2", "b3"], ok, 2, { ledger })
      yield* TestClock.adjust("3 minutes")
      yield* join(a.fiber)
      yield* join(b.fiber)
      const starts = [...startsOf(a.calls), ...startsOf(b.calls)].sort((x, y) => x - y)
      assert.deepStrictEqual(starts, [0, 15, 30, 45, 60, 75].map((s) => t0 + s * 1000))
      assert.strictEqual((yield* ledger.read).requests, 6)
    }))

  it.effect("a refusal in one process pauses the other for the window", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const ledger = yield* SharedLedger.memory
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 60, concurrency: 1 })
      // a's first request is refused once; b keeps asking.
      const a = yield* harvest(policy, ["a1"], (item, n) => n === 1 ? Effect.fail(quota()) : ok(item), 1, { ledger })
      yield* TestClock.adjust("500 millis")
      const b = yield* harvest(policy, ["b1", "b2"], ok, 1, { ledger })
      yield* TestClock.adjust("3 minutes")
      assert.deepStrictEqual(yield* join(a.fiber), ["a1"])
      assert.deepStrictEqual(yield* join(b.fiber), ["b1", "b2"])
      // a: refused at t0; nothing else starts during the minute's pause a's refusal set for both, then the three
      // remaining requests go 1 s apart.
      const starts = [...startsOf(a.calls), ...startsOf(b.calls)].sort((x, y) => x - y)
      assert.deepStrictEqual(starts, [t0, t0 + 60_000, t0 + 61_000, t0 + 62_000])
      assert.strictEqual((yield* ledger.read).refusals, 0)
    }))

  it.effect("a second refusal in a row, in the other process, escalates to 00:00 UTC for both", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const ledger = yield* SharedLedger.memory
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 60, concurrency: 1 })
      const midnight = at("2024-05-08T00:00:00Z")
      // Refused until midnight, whoever asks.
      const respond = (item: string) =>
        Effect.flatMap(
          Effect.clockWith((clock) => clock.currentTimeMillis),
          (now) => now < midnight ? Effect.fail(quota()) : ok(item)
        )
      const a = yield* harvest(policy, ["a1"], respond, 1, { ledger })
      yield* TestClock.adjust("30 seconds")
      const b = yield* harvest(policy, ["b1"], respond, 1, { ledger })
      yield* TestClock.adjust("15 hours")
      yield* join(a.fiber)
      yield* join(b.fiber)
      const starts = [...startsOf(a.calls), ...startsOf(b.calls)].sort((x, y) => x - y)
      // One refusal each side of the minute's pause, then nothing until 00:00 UTC.
      assert.deepStrictEqual(starts.filter((s) => s < midnight), [t0, t0 + 60_000])
      assert.strictEqual(starts.filter((s) => s >= midnight).length, 2)
    }))

  it.effect("the day's limit holds for both processes together", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T23:00:00Z")
      yield* TestClock.setTime(t0)
      const ledger = yield* SharedLedger.memory
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perDay: 4, concurrency: 4 })
      const a = yield* harvest(policy, ["a1", "a2", "a3"], ok, 4, { ledger })
      const b = yield* harvest(policy, ["b1", "b2", "b3"], ok, 4, { ledger })
      yield* TestClock.adjust("2 hours")
      yield* join(a.fiber)
      yield* join(b.fiber)
      const starts = [...startsOf(a.calls), ...startsOf(b.calls)]
      assert.strictEqual(starts.filter((s) => s < at("2024-05-08T00:00:00Z")).length, 4)
      assert.strictEqual(starts.filter((s) => s === at("2024-05-08T00:00:00Z")).length, 2)
    }))

  it.effect("a refusal after another process's answer starts the escalation afresh, whatever this process saw", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const ledger = yield* SharedLedger.memory
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 60, concurrency: 1 })
      const a = yield* QuotaGate.make(policy, { ledger })
      const b = yield* QuotaGate.make(policy, { ledger })
      // a is refused; after the minute's pause b's request is answered: the refusals in a row are over.
      yield* a.refused(yield* a.take)
      yield* TestClock.adjust("60 seconds")
      yield* b.answered(yield* b.take)
      assert.strictEqual((yield* ledger.read).refusals, 0)
      // a's next request is refused: the first refusal of a new series, one window for everyone, not 00:00 UTC.
      yield* TestClock.adjust("1 second")
      yield* a.refused(yield* a.take)
      const row = yield* ledger.read
      assert.strictEqual(row.refusals, 1)
      assert.strictEqual(row.pausedUntil, t0 + 61_000 + 60_000)
      assert.strictEqual((yield* a.status).pausedUntil, t0 + 61_000 + 60_000)
    }))

  it.effect("a ledger that does not answer for a while holds requests back, said once; they start once it answers", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const memory = yield* SharedLedger.memory
      // Down for the first 90 seconds.
      const ledger: SharedLedger.Service = {
        ...memory,
        take: (limits) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            now < t0 + 90_000
              ? Effect.fail(
                new SharedLedger.LedgerError({ message: "connect ECONNREFUSED 127.0.0.1:5432", transient: true })
              )
              : memory.take(limits))
      }
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 600, concurrency: 2 })
      const gate = yield* QuotaGate.make(policy, { ledger })
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push(String(message)))
      const taking = yield* Effect.fork(
        Effect.all([gate.take, gate.take], { concurrency: 2 }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
      )
      yield* TestClock.adjust("2 minutes")
      const tickets = yield* Fiber.join(taking)
      assert.strictEqual(tickets.length, 2)
      assert.strictEqual((yield* memory.read).requests, 2)
      assert.deepStrictEqual(lines, [
        `the shared quota ledger (${memory.location}) does not answer (connect ECONNREFUSED 127.0.0.1:5432): trying ` +
        "again for up to 5 minutes; no request is sent meanwhile",
        "the shared quota ledger answers again: requests resume"
      ])
    }))

  it.effect("a ledger refusing the statement, or not answering in time, fails the request at once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-05-07T10:00:00Z"))
      const memory = yield* SharedLedger.memory
      let takes = 0
      const ledger: SharedLedger.Service = {
        ...memory,
        take: () =>
          Effect.suspend(() => {
            takes++
            return Effect.fail(new SharedLedger.LedgerError({ message: "no answer within 15s" }))
          })
      }
      const gate = yield* QuotaGate.make(QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 600 }), { ledger })
      const error = yield* Effect.flip(gate.take)
      assert.strictEqual(error._tag, "TransportError")
      assert.strictEqual(takes, 1)
    }))

  it.effect("a ledger that does not answer for 5 minutes fails the request, sending nothing", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-05-07T10:00:00Z"))
      const memory = yield* SharedLedger.memory
      const ledger: SharedLedger.Service = {
        ...memory,
        take: () => Effect.fail(new SharedLedger.LedgerError({ message: "connect ECONNREFUSED", transient: true }))
      }
      const gate = yield* QuotaGate.make(QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 600 }), { ledger })
      const taking = yield* Effect.fork(Effect.flip(gate.take))
      yield* TestClock.adjust("4 minutes")
      assert.isUndefined(taking.unsafePoll() ?? undefined)
      yield* TestClock.adjust("2 minutes")
      const error = yield* Fiber.join(taking)
      assert.strictEqual(error._tag, "TransportError")
      assert.include(error.message, "cannot be reached")
    }))

  it.effect("a process refused itself says so once, not again as another process's refusal", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const ledger = yield* SharedLedger.memory
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 60, concurrency: 2 })
      const gate = yield* QuotaGate.make(policy, { ledger })
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push(String(message)))
      // Two workers: one refused, the other asking the ledger meanwhile.
      const run = Effect.all([
        Effect.gen(function*() {
          yield* gate.refused(yield* gate.take)
          return yield* gate.take
        }),
        Effect.zipRight(Effect.sleep("500 millis"), gate.take)
      ], { concurrency: 2 }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      const fiber = yield* Effect.fork(run)
      yield* TestClock.adjust("70 seconds")
      yield* Fiber.join(fiber)
      const announced = lines.filter((line) => line.includes("waiting until"))
      assert.strictEqual(announced.length, 1, JSON.stringify(lines))
      assert.include(announced[0]!, "QuotaExceededError... waiting until")
      assert.notInclude(announced[0]!, "another process")
    }))

  it.effect("a process held back by another's refusal says until when it waits, once", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const ledger = yield* SharedLedger.memory
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 60, concurrency: 1 })
      const a = yield* QuotaGate.make(policy, { ledger })
      const b = yield* QuotaGate.make(policy, { ledger })
      yield* a.refused(yield* a.take)
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push(String(message)))
      const waiting = yield* Effect.fork(
        Effect.zip(b.take, b.take).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      )
      yield* TestClock.adjust("70 seconds")
      yield* Fiber.join(waiting)
      const announced = lines.filter((line) => line.includes("waiting until"))
      assert.deepStrictEqual(announced.length, 1, JSON.stringify(lines))
      assert.include(announced[0]!, new Date(t0 + 60_000).toISOString())
    }))
})
