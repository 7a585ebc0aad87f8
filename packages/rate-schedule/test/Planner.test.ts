import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as Planner from "../src/Planner.js"
import * as QuotaPolicy from "../src/QuotaPolicy.js"
import { at, harvest, join, ok } from "./util.js"

const fresh = { today: 0, thisMonth: 0 }
const day = 86_400_000

describe("Planner.finishTime", () => {
  it("2,000 requests on a public key from a fresh day take about 4 days: 500 a day", () => {
    const now = at("2024-05-07T00:00:00Z")
    const finish = Planner.finishTime(QuotaPolicy.publicTier, 2_000, fresh, now)
    // Three full days, then 500 starts 15 s apart from 00:00 on the fourth.
    assert.strictEqual(finish, at("2024-05-10T02:04:45Z"))
    assert.isAbove(finish - now, 3 * day)
    assert.isBelow(finish - now, 4 * day)
    assert.strictEqual(Planner.finishTime(QuotaPolicy.publicTier, 2_000, fresh, at("2024-05-07T12:00:00Z")), finish)
  })

  it("is now when nothing limits the pace or nothing is pending", () => {
    const now = at("2024-05-07T17:00:00Z")
    assert.strictEqual(Planner.finishTime(QuotaPolicy.premiumTier, 1_000_000, fresh, now), now)
    assert.strictEqual(Planner.finishTime(QuotaPolicy.publicTier, 0, fresh, now), now)
  })

  it("counts the requests already in today's ledger", () => {
    const now = at("2024-05-07T20:00:00Z")
    const finish = Planner.finishTime(QuotaPolicy.publicTier, 2, { today: 499, thisMonth: 499 }, now)
    assert.strictEqual(finish, at("2024-05-08T00:00:00Z"))
  })

  it("waits for the 1st when the monthly cap is reached, crossing the month", () => {
    const now = at("2024-01-31T00:00:00Z")
    const finish = Planner.finishTime(QuotaPolicy.publicTier, 300, { today: 0, thisMonth: 15_400 }, now)
    // 100 on 31 Jan (month cap), then 200 from 00:00 on 1 Feb.
    assert.strictEqual(finish, at("2024-02-01T00:49:45Z"))
    const midMonth = at("2024-01-15T10:00:00Z")
    const waited = Planner.finishTime(QuotaPolicy.publicTier, 2, { today: 10, thisMonth: 15_499 }, midMonth)
    assert.strictEqual(waited, at("2024-02-01T00:00:00Z"))
  })

  it("keeps the spacing across midnight when only a per-minute limit is set", () => {
    const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 4 })
    const finish = Planner.finishTime(policy, 5, fresh, at("2024-05-07T23:59:30Z"))
    assert.strictEqual(finish, at("2024-05-08T00:00:30Z"))
  })

  it("starts a day's worth at once when only a daily limit is set", () => {
    const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perDay: 100 })
    const finish = Planner.finishTime(policy, 250, fresh, at("2024-05-07T17:00:00Z"))
    assert.strictEqual(finish, at("2024-05-09T00:00:00Z"))
  })

  it("is Infinity when a limit of zero never lets a request start", () => {
    const policy = QuotaPolicy.make(QuotaPolicy.publicTier, { perDay: 0 })
    assert.strictEqual(Planner.finishTime(policy, 1, fresh, at("2024-05-07T17:00:00Z")), Infinity)
  })

  it.effect("agrees with the gate's own schedule across days and a month end", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-29T23:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.publicTier, { perMinute: 60, perDay: 100, perMonth: 250 })
      const items = Array.from({ length: 400 }, (_, i) => `item${i}`)
      const { calls, fiber } = yield* harvest(policy, items, ok)
      yield* TestClock.adjust("40 days")
      assert.strictEqual((yield* join(fiber)).length, 400)
      assert.strictEqual(calls[399].at, Planner.finishTime(policy, 400, fresh, t0))
      // 100 on each of 29 and 30 Jan, 50 on 31 Jan (the monthly cap), 100 on 1 Feb, 50 on 2 Feb.
      assert.strictEqual(calls[399].at, at("2024-02-02T00:00:49Z"))
    }))
})
