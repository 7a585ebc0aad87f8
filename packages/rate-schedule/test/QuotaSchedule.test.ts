import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as QuotaPolicy from "../src/QuotaPolicy.js"
import * as QuotaSchedule from "../src/QuotaSchedule.js"
import { at } from "./util.js"

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
  it.effect("untilNextUtcMidnight retries at each 00:00 UTC", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-05-07T17:00:00Z"))
      const times = yield* attempts(QuotaSchedule.untilNextUtcMidnight, 2, "3 days")
      assert.deepStrictEqual(times, [
        at("2024-05-07T17:00:00Z"),
        at("2024-05-08T00:00:00Z"),
        at("2024-05-09T00:00:00Z")
      ])
    }))

  it.effect("untilNextUtcMonth retries on each 1st at 00:00 UTC", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-01-31T23:59:00Z"))
      const times = yield* attempts(QuotaSchedule.untilNextUtcMonth, 2, "60 days")
      assert.deepStrictEqual(times, [
        at("2024-01-31T23:59:00Z"),
        at("2024-02-01T00:00:00Z"),
        at("2024-03-01T00:00:00Z")
      ])
    }))

  it.effect("quotaExceeded waits one window, then until each next 00:00 UTC plus the margin", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-05-07T17:00:00Z"))
      const times = yield* attempts(QuotaSchedule.quotaExceeded(QuotaPolicy.publicTier), 3, "3 days")
      assert.deepStrictEqual(times, [
        at("2024-05-07T17:00:00Z"),
        at("2024-05-07T17:01:00Z"),
        at("2024-05-08T00:00:05Z"),
        at("2024-05-09T00:00:05Z")
      ])
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
