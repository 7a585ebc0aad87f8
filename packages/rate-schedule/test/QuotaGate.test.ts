import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as QuotaGate from "../src/QuotaGate.js"
import * as QuotaPolicy from "../src/QuotaPolicy.js"
import {
  at,
  captureLogs,
  connection,
  harvest,
  invalidArgument,
  iso,
  join,
  notFound,
  ok,
  quota,
  startsOf,
  transient,
  wrongCredentials
} from "./util.js"

// One capture per test: the layer is rebuilt for every `Effect.provide`.
let captured = captureLogs()
const captureLogsLayer = Effect.sync(() => {
  captured = captureLogs()
  return captured.layer
}).pipe((make) => Layer.unwrapEffect(make))
const lines = (level = "WARN"): ReadonlyArray<string> =>
  captured.lines.filter((l) => l.level === level).map((l) => l.message)

const seconds = (n: number) => n * 1000
const items = (n: number) => Array.from({ length: n }, (_, i) => `item${i}`)
const publicTier = QuotaPolicy.publicTier
const after = (t0: number, ...offsets: ReadonlyArray<number>) => offsets.map((s) => t0 + seconds(s))

describe("QuotaGate spacing", () => {
  it.effect("starts requests exactly 60 s / perMinute apart at concurrency 1", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(publicTier, items(5), ok)
      yield* TestClock.adjust("2 minutes")
      const results = yield* join(fiber)
      assert.deepStrictEqual(results, items(5))
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 15, 30, 45, 60))
    }))

  it.effect("measures start to start: a latency below the spacing does not add to it", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(
        publicTier,
        items(4),
        (item) => Effect.as(Effect.sleep("10 seconds"), item)
      )
      yield* TestClock.adjust("2 minutes")
      yield* join(fiber)
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 15, 30, 45))
    }))

  it.effect("keeps 16 concurrent workers 15 s apart at 4/min, whatever their latency", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { concurrency: 16 })
      const { calls, fiber } = yield* harvest(
        policy,
        items(16),
        (item) => Effect.as(Effect.sleep("40 seconds"), item)
      )
      yield* TestClock.adjust("5 minutes")
      const results = yield* join(fiber)
      assert.strictEqual(results.length, 16)
      assert.deepStrictEqual(startsOf(calls), Array.from({ length: 16 }, (_, i) => t0 + i * seconds(15)))
    }))

  it.effect("lets a premium gate start all requests at once", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(QuotaPolicy.premiumTier, items(16), ok)
      yield* join(fiber)
      assert.deepStrictEqual(startsOf(calls), Array.from({ length: 16 }, () => t0))
    }))

  it.effect("keeps the spacing for retries and 404s", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a", "b", "c"],
        (item, attempt) =>
          item === "a" ? Effect.fail(notFound()) : item === "b" && attempt === 1 ? Effect.fail(transient()) : ok(item)
      )
      yield* TestClock.adjust("2 minutes")
      const results = yield* join(fiber)
      assert.deepStrictEqual(results, [undefined, "b", "c"])
      assert.deepStrictEqual(calls.map((c) => c.item), ["a", "b", "b", "c"])
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 15, 30, 45))
    }))

  it.effect("a worker sleeping for its turn honours a pause set meanwhile", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { concurrency: 2 })
      // a is refused at 10 s, while b's worker sleeps until its 15 s slot.
      const { calls, fiber } = yield* harvest(policy, ["a", "b"], (item, attempt) =>
        item === "a" && attempt === 1
          ? Effect.zipRight(Effect.sleep("10 seconds"), Effect.fail(quota()))
          : ok(item))
      yield* TestClock.adjust("3 minutes")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b"])
      assert.deepStrictEqual(startsOf(calls, "b"), after(t0, 70))
      assert.deepStrictEqual(startsOf(calls, "a"), after(t0, 0, 85))
    }))
})

describe("QuotaGate on QuotaExceededError", () => {
  it.effect("pauses every worker for the quota window and retries the same item", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { concurrency: 3 })
      const { calls, fiber, gate } = yield* harvest(
        policy,
        ["a", "b", "c", "d"],
        (item, attempt) => item === "b" && attempt === 1 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("16 seconds")
      assert.strictEqual((yield* gate.status).pausedUntil, t0 + seconds(75))
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b", "c", "d"])
      const starts = startsOf(calls)
      assert.deepStrictEqual(starts.filter((t) => t > t0 + seconds(15) && t < t0 + seconds(75)), [])
      assert.deepStrictEqual(starts, after(t0, 0, 15, 75, 90, 105))
      assert.deepStrictEqual(startsOf(calls, "b").length, 2)
      assert.isAtLeast(startsOf(calls, "b")[1], t0 + seconds(75))
      assert.deepStrictEqual(lines(), [
        `QuotaExceededError... waiting until ${iso(t0 + seconds(75))} to request again`
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("after a second refusal waits until 00:00 UTC plus the margin, then fetches the same item", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber, gate } = yield* harvest(
        publicTier,
        ["a", "b"],
        (item, attempt) => item === "a" && attempt <= 2 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 60))
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-05-08T00:00:05Z"))
      // Nothing is sent before midnight plus the margin.
      yield* TestClock.setTime(at("2024-05-08T00:00:04.999Z"))
      assert.strictEqual(calls.length, 2)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(calls[2], { item: "a", at: at("2024-05-08T00:00:05Z") })
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b"])
      assert.deepStrictEqual(calls[3], { item: "b", at: at("2024-05-08T00:00:20Z") })
      assert.deepStrictEqual(lines(), [
        `QuotaExceededError... waiting until 2024-05-07T17:01:00.000Z to request again`,
        `QuotaExceededError... waiting until 2024-05-08T00:00:05.000Z to request again`
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("keeps pausing until the next midnight while refused, without dropping the item", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a"],
        (item, attempt) => attempt <= 3 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("3 days")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      assert.deepStrictEqual(startsOf(calls), [
        t0,
        t0 + seconds(60),
        at("2024-05-08T00:00:05Z"),
        at("2024-05-09T00:00:05Z")
      ])
    }))

  it.effect("does not escalate on refusals of requests that were in flight when the pause was set", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { concurrency: 4 })
      // All four start together and are refused one after the other, 1 to 4 s later.
      const { calls, fiber, gate } = yield* harvest(policy, items(4), (item, attempt) =>
        attempt === 1
          ? Effect.zipRight(Effect.sleep(Duration.seconds(1 + Number(item.slice(4)))), Effect.fail(quota()))
          : ok(item))
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* gate.status).pausedUntil, t0 + seconds(61))
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(yield* join(fiber), items(4))
      assert.deepStrictEqual(startsOf(calls), [t0, t0, t0, t0, ...after(t0, 61, 61, 61, 61)])
      assert.deepStrictEqual(lines(), [
        `QuotaExceededError... waiting until ${iso(t0 + seconds(61))} to request again`
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("does not escalate on refusals of tickets taken before the pause, even in the same millisecond", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const gate = yield* QuotaGate.make(QuotaPolicy.premiumTier)
      const [t1, t2, t3] = [yield* gate.take, yield* gate.take, yield* gate.take]
      assert.deepStrictEqual([t1, t2, t3].map((t) => t.startedAt), [t0, t0, t0])
      yield* gate.refused(t1)
      yield* gate.refused(t2)
      yield* gate.refused(t3)
      assert.strictEqual((yield* gate.status).pausedUntil, t0 + seconds(60))
      // The pause holds every caller back; the first request after it, refused again, escalates.
      const t4 = yield* Effect.fork(gate.take)
      yield* TestClock.adjust("59 seconds")
      assert.isTrue((yield* Fiber.poll(t4))._tag === "None")
      yield* TestClock.adjust("1 second")
      const ticket = yield* Fiber.join(t4)
      assert.strictEqual(ticket.startedAt, t0 + seconds(60))
      yield* gate.refused(t3)
      assert.strictEqual((yield* gate.status).pausedUntil, undefined)
      yield* gate.refused(ticket)
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-05-08T00:00:05Z"))
    }))

  it.effect("an answer after a pause resets the escalation", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      // a is refused, then answered; c is refused later: a window pause again, not a wait until midnight.
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a", "b", "c"],
        (item, attempt) =>
          item !== "b" && attempt === 1 ? Effect.fail(quota()) : item === "b" ? Effect.fail(notFound()) : ok(item)
      )
      yield* TestClock.adjust("10 minutes")
      assert.deepStrictEqual(yield* join(fiber), ["a", undefined, "c"])
      assert.deepStrictEqual(calls.map((c) => c.item), ["a", "a", "b", "c", "c"])
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 60, 75, 90, 150))
    }))

  it.effect("an answer to a request sent before the pause does not reset the escalation", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { concurrency: 2 })
      // slow is answered (late) after fast was refused; fast is refused again after the pause.
      const { calls, fiber } = yield* harvest(policy, ["slow", "fast"], (item, attempt) =>
        item === "slow"
          ? Effect.as(Effect.sleep("30 seconds"), item)
          : attempt === 1
          ? Effect.zipRight(Effect.sleep("1 second"), Effect.fail(quota()))
          : attempt === 2
          ? Effect.fail(quota())
          : ok(item))
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* join(fiber), ["slow", "fast"])
      assert.deepStrictEqual(startsOf(calls, "fast"), [t0, t0 + seconds(61), at("2024-05-08T00:00:05Z")])
    }))

  it.effect("waits until the 1st of next month when refused again with the monthly ledger full", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-15T12:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { perMonth: 2 })
      const { calls, fiber, gate } = yield* harvest(
        policy,
        ["a"],
        (item, attempt) => attempt <= 2 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-02-01T00:00:05Z"))
      yield* TestClock.setTime(at("2024-02-01T00:00:00Z"))
      assert.strictEqual(calls.length, 2)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      assert.deepStrictEqual(startsOf(calls), [t0, t0 + seconds(60), at("2024-02-01T00:00:05Z")])
      assert.deepStrictEqual(yield* gate.status, { pausedUntil: undefined, today: 1, thisMonth: 1, requests: 3 })
    }))
})

describe("QuotaGate own ledger", () => {
  it.effect("a ledger reaching its daily limit at 17:00 waits until midnight without sending", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T16:59:30Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { perDay: 3 })
      const { calls, fiber, gate } = yield* harvest(policy, items(5), ok)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(startsOf(calls), [t0, t0 + seconds(15), at("2024-05-07T17:00:00Z")])
      assert.deepStrictEqual(yield* gate.status, { pausedUntil: undefined, today: 3, thisMonth: 3, requests: 3 })
      yield* TestClock.setTime(at("2024-05-07T23:59:59.999Z"))
      assert.strictEqual(calls.length, 3)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(calls[3].at, at("2024-05-08T00:00:00Z"))
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* join(fiber), items(5))
      assert.deepStrictEqual(startsOf(calls).slice(3), [at("2024-05-08T00:00:00Z"), at("2024-05-08T00:00:15Z")])
      assert.deepStrictEqual(yield* gate.status, { pausedUntil: undefined, today: 2, thisMonth: 5, requests: 5 })
      assert.deepStrictEqual(lines(), [
        "daily limit of 3 requests reached, waiting until 2024-05-08T00:00:00.000Z to request again"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("rolls the day and month counters over from 31 Jan 23:59 to 1 Feb", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-31T23:59:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber, gate } = yield* harvest(publicTier, items(6), ok)
      yield* TestClock.adjust("59 seconds")
      assert.deepStrictEqual(yield* gate.status, { pausedUntil: undefined, today: 4, thisMonth: 4, requests: 4 })
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* join(fiber)).length, 6)
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 15, 30, 45, 60, 75))
      assert.deepStrictEqual(yield* gate.status, { pausedUntil: undefined, today: 2, thisMonth: 2, requests: 6 })
    }))

  it.effect("a full monthly ledger waits until the 1st of the next month, not the next day", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-15T12:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { perMonth: 3 })
      const { calls, fiber } = yield* harvest(policy, items(4), ok)
      yield* TestClock.adjust("1 day")
      assert.strictEqual(calls.length, 3)
      yield* TestClock.setTime(at("2024-01-31T23:59:59.999Z"))
      assert.strictEqual(calls.length, 3)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* join(fiber), items(4))
      assert.deepStrictEqual(startsOf(calls), [...after(t0, 0, 15, 30), at("2024-02-01T00:00:00Z")])
      assert.deepStrictEqual(lines(), [
        "monthly limit of 3 requests reached, waiting until 2024-02-01T00:00:00.000Z to request again"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("counts every request it lets start, refused or not", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { fiber, gate } = yield* harvest(
        publicTier,
        ["a", "b"],
        (item, attempt) => item === "a" && attempt === 1 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("2 minutes")
      yield* join(fiber)
      assert.deepStrictEqual(yield* gate.status, { pausedUntil: undefined, today: 3, thisMonth: 3, requests: 3 })
    }))
})

describe("QuotaGate.request errors", () => {
  const fast = QuotaPolicy.make(QuotaPolicy.premiumTier, {
    maxTransientRetries: 4,
    backoffBase: Duration.seconds(1),
    backoffCap: Duration.seconds(3)
  })

  it.effect("retries transient errors with capped, jittered backoff, then fails with the last error", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(
        fast,
        ["a"],
        (_, attempt) => Effect.fail(attempt === 5 ? connection() : transient())
      )
      yield* TestClock.adjust("1 minute")
      const results = yield* Fiber.join(fiber)
      assert.strictEqual(results.length, 1)
      const result = results[0]
      assert.isTrue(result._tag === "Left" && result.left._tag === "TransportError")
      const starts = startsOf(calls)
      assert.strictEqual(starts.length, 5)
      const delays = starts.slice(1).map((t, i) => t - starts[i])
      const bounds = [[500, 1000], [1000, 2000], [1500, 3000], [1500, 3000]]
      delays.forEach((d, i) => {
        assert.isAtLeast(d, bounds[i][0])
        assert.isAtMost(d, bounds[i][1])
      })
      const retries = lines("INFO")
      assert.strictEqual(retries.length, 4)
      retries.forEach((line, i) =>
        assert.match(line, new RegExp(`^retrying after TransientError \\(attempt ${i + 1}/4\\) in \\d+(s|ms)`))
      )
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("succeeds when a transient error clears up, and quota refusals do not use up retries", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(fast, { maxTransientRetries: 2 })
      const outcomes = [transient(), quota(), transient(), quota()]
      const { calls, fiber } = yield* harvest(
        policy,
        ["a"],
        (item, attempt) => attempt <= outcomes.length ? Effect.fail(outcomes[attempt - 1]) : ok(item)
      )
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      assert.strictEqual(calls.length, 5)
    }))

  it.effect("fails at once on not-found, auth and other client errors", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const errors = { a: notFound(), b: wrongCredentials(), c: invalidArgument() }
      const { calls, fiber } = yield* harvest(
        QuotaPolicy.make(fast, { concurrency: 1 }),
        ["a", "b", "c"],
        (item) => Effect.fail(errors[item as keyof typeof errors])
      )
      const results = yield* Fiber.join(fiber)
      assert.deepStrictEqual(results.map((r) => r._tag === "Left" ? r.left._tag : r._tag), [
        "NotFoundError",
        "WrongCredentialsError",
        "InvalidArgumentError"
      ])
      assert.deepStrictEqual(startsOf(calls), [t0, t0, t0])
    }))

  it.effect("uses the gate from the context, shared by separate callers", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const starts: Array<number> = []
      const call = Effect.map(Clock.currentTimeMillis, (now) => {
        starts.push(now)
      })
      const fiber = yield* Effect.all([QuotaGate.request(call), QuotaGate.request(call), QuotaGate.request(call)], {
        concurrency: "unbounded"
      }).pipe(Effect.provide(QuotaGate.layer(publicTier)), Effect.fork)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(starts, after(t0, 0, 15, 30))
    }))
})
