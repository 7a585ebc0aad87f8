import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as QuotaPolicy from "../src/QuotaPolicy.js"
import * as QuotaSchedule from "../src/QuotaSchedule.js"
import { at, notFound, quota, transient } from "./util.js"

/** Retries an always-failing effect with `schedule` and returns the Clock time of every attempt. */
const attempts = <Out>(schedule: Schedule.Schedule<Out>, retries: number, advance: Duration.DurationInput) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    const fiber = yield* Clock.currentTimeMillis.pipe(
      Effect.tap((now) => times.push(now)),
      Effect.flatMap(() => Effect.fail("refused")),
      Effect.retry({ schedule, times: retries }),
      Effect.fork
    )
    yield* TestClock.adjust(advance)
    yield* Effect.flip(Fiber.join(fiber))
    return times
  })

describe("QuotaSchedule boundaries", () => {
  it("nextUtcMidnight is the next 00:00 UTC strictly after the instant", () => {
    assert.strictEqual(QuotaSchedule.nextUtcMidnight(at("2024-05-07T17:00:00Z")), at("2024-05-08T00:00:00Z"))
    assert.strictEqual(QuotaSchedule.nextUtcMidnight(at("2024-05-07T00:00:00Z")), at("2024-05-08T00:00:00Z"))
    assert.strictEqual(QuotaSchedule.nextUtcMidnight(at("2024-05-07T23:59:59.999Z")), at("2024-05-08T00:00:00Z"))
    assert.strictEqual(QuotaSchedule.nextUtcMidnight(at("2024-12-31T12:00:00Z")), at("2025-01-01T00:00:00Z"))
  })

  it("nextUtcHour is the next full UTC hour strictly after the instant", () => {
    assert.strictEqual(QuotaSchedule.nextUtcHour(at("2024-05-07T17:20:00Z")), at("2024-05-07T18:00:00Z"))
    assert.strictEqual(QuotaSchedule.nextUtcHour(at("2024-05-07T17:00:00Z")), at("2024-05-07T18:00:00Z"))
    assert.strictEqual(QuotaSchedule.nextUtcHour(at("2024-05-07T23:59:59.999Z")), at("2024-05-08T00:00:00Z"))
  })

  it("nextUtcMonth is 00:00 UTC on the 1st of the next month", () => {
    assert.strictEqual(QuotaSchedule.nextUtcMonth(at("2024-01-31T23:59:00Z")), at("2024-02-01T00:00:00Z"))
    assert.strictEqual(QuotaSchedule.nextUtcMonth(at("2024-02-01T00:00:00Z")), at("2024-03-01T00:00:00Z"))
    assert.strictEqual(QuotaSchedule.nextUtcMonth(at("2024-02-29T12:00:00Z")), at("2024-03-01T00:00:00Z"))
    assert.strictEqual(QuotaSchedule.nextUtcMonth(at("2024-12-15T08:00:00Z")), at("2025-01-01T00:00:00Z"))
  })
})

describe("QuotaSchedule schedules", () => {
  it.effect("quotaExceeded waits one window, then until 00:00 UTC plus the margin, then until the 1st", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-05-07T17:00:00Z"))
      const times = yield* attempts(QuotaSchedule.quotaExceeded(QuotaPolicy.publicTier), 4, "90 days")
      assert.deepStrictEqual(times, [
        at("2024-05-07T17:00:00Z"),
        at("2024-05-07T17:01:00Z"),
        at("2024-05-08T00:00:05Z"),
        at("2024-06-01T00:00:05Z"),
        at("2024-07-01T00:00:05Z")
      ])
    }))

  it.effect("quotaExceeded outputs each pause: a span first, then instants of wall time", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-05-07T17:00:00Z"))
      const outputs: Array<QuotaSchedule.Pause> = []
      const schedule = QuotaSchedule.quotaExceeded(QuotaPolicy.publicTier).pipe(
        Schedule.tapOutput((pause) => Effect.sync(() => outputs.push(pause)))
      )
      yield* attempts(schedule, 2, "2 days")
      assert.deepStrictEqual(outputs.slice(0, 2), [
        { _tag: "For", millis: 60_000 },
        { _tag: "Until", instant: at("2024-05-08T00:00:05Z") }
      ])
    }))

  it.effect("quotaExceeded skips to the 1st when told the monthly ledger is full", () =>
    Effect.gen(function*() {
      const schedule = QuotaSchedule.quotaExceeded(QuotaPolicy.publicTier)
      const now = at("2024-05-07T17:00:00Z")
      const [state, first] = yield* schedule.step(now, { monthFull: true }, schedule.initial)
      const [, second] = yield* schedule.step(now, { monthFull: true }, state)
      assert.deepStrictEqual(first, { _tag: "For", millis: 60_000 })
      assert.deepStrictEqual(second, { _tag: "Until", instant: at("2024-06-01T00:00:05Z") })
    }))

  it.effect("retry: quota refusals recur at once and forever, transient failures back off and run out", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.publicTier, { maxTransientRetries: 2 })
      const answers = [quota(), quota(), transient(), quota(), transient(), transient(), notFound()]
      const times: Array<number> = []
      const fiber = yield* Clock.currentTimeMillis.pipe(
        Effect.tap((now) => times.push(now)),
        Effect.flatMap(() => Effect.fail(answers[times.length - 1])),
        Effect.retry(QuotaSchedule.retry(policy)),
        Effect.fork
      )
      yield* TestClock.adjust("1 minute")
      const error = yield* Effect.flip(Fiber.join(fiber))
      // Two transient retries allowed: the third transient failure stands; the quota refusals cost none.
      assert.strictEqual(error._tag, "TransientError")
      assert.strictEqual(times.length, 6)
      assert.deepStrictEqual(times.slice(0, 3), [t0, t0, t0])
    }))

  it.effect("retry: anything neither quota nor transient ends at once", () =>
    Effect.gen(function*() {
      let calls = 0
      const error = yield* Effect.flip(
        Effect.retry(
          Effect.suspend(() => (calls++, Effect.fail(notFound()))),
          QuotaSchedule.retry(QuotaPolicy.publicTier)
        )
      )
      assert.strictEqual(error._tag, "NotFoundError")
      assert.strictEqual(calls, 1)
    }))

  it.effect("transientBackoff doubles from the base, never exceeds the cap, and stops after maxTransientRetries", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.publicTier, {
        maxTransientRetries: 8,
        backoffBase: Duration.seconds(1),
        backoffCap: Duration.seconds(10)
      })
      const times = yield* attempts(QuotaSchedule.transientBackoff(policy), 100, "10 minutes")
      assert.strictEqual(times.length, 9)
      const gaps = times.slice(1).map((t, i) => t - times[i])
      gaps.forEach((gap, i) => {
        const full = Math.min(1000 * 2 ** i, 10_000)
        assert.isAtLeast(gap, full / 2)
        assert.isAtMost(gap, full)
        assert.isTrue(Number.isInteger(gap))
      })
    }))

  it.effect("transientBackoff outputs the delay it waits", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-05-07T17:00:00Z"))
      const outputs: Array<number> = []
      const schedule = QuotaSchedule.transientBackoff(QuotaPolicy.publicTier).pipe(
        Schedule.tapOutput((delay) => Effect.sync(() => outputs.push(Duration.toMillis(delay))))
      )
      const times = yield* attempts(schedule, 10, "10 minutes")
      assert.strictEqual(times.length, 1 + QuotaPolicy.publicTier.maxTransientRetries)
      assert.deepStrictEqual(outputs.slice(0, times.length - 1), times.slice(1).map((t, i) => t - times[i]))
    }))
})
