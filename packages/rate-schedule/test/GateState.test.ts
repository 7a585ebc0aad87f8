import { assert, describe, it } from "@effect/vitest"
import * as GateState from "../src/GateState.js"
import * as QuotaPolicy from "../src/QuotaPolicy.js"
import { at } from "./util.js"

const publicTier = QuotaPolicy.publicTier
const premium = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 1_000, concurrency: 32 })

/** Both clocks at `wall`, the monotonic one `mono` ms from its origin. */
const now = (wall: number, mono: number): GateState.Now => ({ wall, mono })

const start = (s: GateState.State, n: GateState.Now): GateState.State => {
  const [decision, next] = GateState.take(s, n)
  assert.strictEqual(decision._tag, "Start", `expected a start at ${new Date(n.wall).toISOString()}`)
  return next
}

const waitOf = (s: GateState.State, n: GateState.Now) => {
  const [decision] = GateState.take(s, n)
  if (decision._tag !== "Wait") throw new Error(`expected a wait, got ${decision._tag}`)
  return decision
}

describe("GateState spacing", () => {
  it("spaces starts by the policy's interval on the monotonic clock", () => {
    const t0 = at("2024-05-07T10:00:00Z")
    let s = GateState.initial(publicTier, now(t0, 0))
    s = start(s, now(t0, 0))
    const wait = waitOf(s, now(t0 + 1_000, 1_000))
    assert.deepStrictEqual([wait.millis, wait.reason, wait.announce], [14_000, "spacing", undefined])
    s = start(s, now(t0 + 15_000, 15_000))
    assert.strictEqual(GateState.status(s, now(t0 + 15_000, 15_000)).requests, 2)
  })

  it("a wall clock stepped back an hour does not hold back the next start", () => {
    const t0 = at("2024-05-07T10:00:00Z")
    let s = GateState.initial(publicTier, now(t0, 0))
    s = start(s, now(t0, 0))
    // 15 s later by the monotonic clock, but the wall clock was set back 1 h in between.
    s = start(s, now(t0 - 3_600_000 + 15_000, 15_000))
    assert.strictEqual(waitOf(s, now(t0 - 3_600_000 + 16_000, 16_000)).millis, 14_000)
  })

  it("a wall clock stepped forward does not shorten the spacing", () => {
    const t0 = at("2024-05-07T10:00:00Z")
    let s = GateState.initial(publicTier, now(t0, 0))
    s = start(s, now(t0, 0))
    assert.strictEqual(waitOf(s, now(t0 + 3_600_000, 1_000)).reason, "spacing")
  })

  it("a policy without spacing starts at once", () => {
    const t0 = at("2024-05-07T10:00:00Z")
    let s = GateState.initial(QuotaPolicy.premiumTier, now(t0, 0))
    for (let i = 0; i < 10; i++) s = start(s, now(t0, 0))
    assert.strictEqual(GateState.status(s, now(t0, 0)).requests, 10)
  })
})

describe("GateState ledger", () => {
  it("a full day waits until the next 00:00 UTC, announced once, and starts there", () => {
    const t0 = at("2024-05-07T23:00:00Z")
    let s = GateState.initial(publicTier, now(t0, 0), { today: 499, thisMonth: 0 })
    s = start(s, now(t0, 0))
    const [first, after] = GateState.take(s, now(t0 + 60_000, 60_000))
    assert.deepStrictEqual(first, {
      _tag: "Wait",
      millis: 3_540_000,
      until: at("2024-05-08T00:00:00Z"),
      reason: "day",
      announce: "daily limit of 500 requests reached, waiting until 2024-05-08T00:00:00.000Z to request again"
    })
    assert.strictEqual(waitOf(after, now(t0 + 61_000, 61_000)).announce, undefined)
    assert.deepStrictEqual(GateState.status(after, now(t0 + 61_000, 61_000)).waitingFor, "day")
    const midnight = at("2024-05-08T00:00:00Z")
    s = start(after, now(midnight, 3_600_000))
    assert.deepStrictEqual(GateState.status(s, now(midnight, 3_600_000)).today, 1)
  })

  it("the monthly ledger rolls on the 1st, the daily one at 00:00", () => {
    const l = GateState.ledger(at("2024-01-31T23:59:59Z"), { thisHour: 3, today: 5, thisMonth: 50 })
    assert.deepStrictEqual(GateState.roll(l, at("2024-01-31T23:59:59.999Z")), l)
    const rolled = GateState.roll(l, at("2024-02-01T00:00:00Z"))
    assert.deepStrictEqual([rolled.thisHour, rolled.today, rolled.thisMonth], [0, 0, 0])
    const nextHour = GateState.roll(
      GateState.ledger(at("2024-01-15T10:59:00Z"), { thisHour: 3, today: 5, thisMonth: 50 }),
      at("2024-01-15T11:00:00Z")
    )
    assert.deepStrictEqual([nextHour.thisHour, nextHour.today, nextHour.thisMonth], [0, 5, 50])
  })

  it("an hourly limit waits until the next UTC hour", () => {
    const t0 = at("2024-05-07T10:59:00Z")
    let s = GateState.initial(QuotaPolicy.make(QuotaPolicy.premiumTier, { perHour: 2 }), now(t0, 0))
    s = start(start(s, now(t0, 0)), now(t0, 0))
    const wait = waitOf(s, now(t0, 0))
    assert.deepStrictEqual([wait.reason, wait.until], ["hour", at("2024-05-07T11:00:00Z")])
    start(s, now(at("2024-05-07T11:00:00Z"), 60_000))
  })
})

describe("GateState learns the key's limits", () => {
  it("a key allowed 5 a day starts 5 and waits for 00:00 UTC instead of spending a refusal on the 6th", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    let s = GateState.learn(GateState.initial(premium, now(t0, 0)), {
      daily: { user: { used: 0, allowed: 5 } },
      monthly: { user: { used: 0, allowed: 1e12 } }
    }, now(t0, 0))
    assert.deepStrictEqual(s.limits, { spacing: 60, perHour: undefined, perDay: 5, perMonth: undefined })
    let mono = 0
    for (let i = 0; i < 5; i++) s = start(s, now(t0 + mono, mono += 60))
    const wait = waitOf(s, now(t0 + 1_000, 1_000))
    assert.deepStrictEqual([wait.reason, wait.until], ["day", at("2024-05-08T00:00:00Z")])
  })

  it("the smaller of the policy's and the key's limit wins, and the key's use so far is counted", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    const s = GateState.learn(GateState.initial(publicTier, now(t0, 0)), {
      hourly: { user: { used: 10, allowed: 240 } },
      daily: { user: { used: 100, allowed: 10_000 } },
      monthly: { user: { used: 200, allowed: 1_000 } }
    }, now(t0, 0))
    assert.deepStrictEqual(s.limits, { spacing: 15_000, perHour: 240, perDay: 500, perMonth: 1_000 })
    const status = GateState.status(s, now(t0, 0))
    assert.deepStrictEqual([status.thisHour, status.today, status.thisMonth], [10, 100, 200])
  })

  it("a group's smaller allowance caps what is left", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    const s = GateState.learn(GateState.initial(premium, now(t0, 0)), {
      daily: { user: { used: 1, allowed: 1_000 }, group: { used: 95, allowed: 100 } }
    }, now(t0, 0))
    // 100 allowed, 5 left: the ledger counts 95.
    assert.deepStrictEqual([s.limits.perDay, GateState.status(s, now(t0, 0)).today], [100, 95])
  })

  it("a window reported as unlimited, or not at all, keeps the policy's limit", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    const s = GateState.learn(GateState.initial(publicTier, now(t0, 0)), {
      daily: { user: { used: 3, allowed: 1e10 } }
    }, now(t0, 0))
    assert.deepStrictEqual([s.limits.perDay, s.limits.perMonth, GateState.status(s, now(t0, 0)).today], [
      500,
      15_500,
      0
    ])
  })

  it("a window whose allowance is no count (negative, not finite) is unknown: the policy's limit holds", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    for (const allowed of [-1, Number.NaN, Number.POSITIVE_INFINITY, 0.5]) {
      const s = GateState.learn(GateState.initial(publicTier, now(t0, 0)), {
        monthly: { user: { used: 3, allowed } }
      }, now(t0, 0))
      assert.strictEqual(s.limits.perMonth, 15_500, String(allowed))
      assert.strictEqual(GateState.take(s, now(t0, 0))[0]._tag, "Start", String(allowed))
    }
  })

  it("a key already past its allowance waits at once", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    const s = GateState.learn(GateState.initial(premium, now(t0, 0)), {
      monthly: { used: 1_200, allowed: 1_000 }
    }, now(t0, 0))
    const wait = waitOf(s, now(t0, 0))
    assert.deepStrictEqual([wait.reason, wait.until], ["month", at("2024-06-01T00:00:00Z")])
  })
})

describe("GateState refusals", () => {
  it("a fresh refusal pauses every start; a refusal of a request in flight before the pause changes nothing", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    let s = GateState.initial(premium, now(t0, 0))
    const tickets: Array<GateState.Ticket> = []
    for (let i = 0; i < 3; i++) {
      const [d, next] = GateState.take(s, now(t0 + i * 60, i * 60))
      if (d._tag !== "Start") throw new Error("expected a start")
      tickets.push(d.ticket)
      s = next
    }
    s = GateState.refused(s, tickets[0]!, { _tag: "For", millis: 60_000 }, now(t0 + 200, 200))
    assert.strictEqual(s.refusals, 1)
    assert.strictEqual(GateState.isFresh(s, tickets[2]!), false)
    const same = GateState.refused(s, tickets[2]!, { _tag: "For", millis: 999_000 }, now(t0 + 300, 300))
    assert.strictEqual(same, s)
    const wait = waitOf(s, now(t0 + 1_000, 1_000))
    assert.deepStrictEqual([wait.reason, wait.until], ["paused", t0 + 60_200])
    s = start(s, now(t0 + 60_200, 60_200))
  })

  it("a pause until a UTC instant follows wall time", () => {
    const t0 = at("2024-05-07T23:59:00Z")
    let s = GateState.initial(premium, now(t0, 0))
    const [d, next] = GateState.take(s, now(t0, 0))
    if (d._tag !== "Start") throw new Error("expected a start")
    s = GateState.refused(next, d.ticket, { _tag: "Until", instant: at("2024-05-08T00:00:10Z") }, now(t0, 10))
    assert.deepStrictEqual(GateState.status(s, now(t0, 10)).pausedUntil, at("2024-05-08T00:00:10Z"))
    start(s, now(at("2024-05-08T00:00:10Z"), 70_000))
  })

  it("an answer ends the series of refusals; throttles double up to the cap", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    let s = GateState.initial(premium, now(t0, 0))
    const take = (mono: number) => {
      const [d, next] = GateState.take(s, now(t0 + mono, mono))
      if (d._tag !== "Start") throw new Error(`expected a start at ${mono}`)
      s = next
      return d.ticket
    }
    s = GateState.throttled(s, take(0), now(t0, 0), 1_000, 3_000)
    assert.strictEqual(waitOf(s, now(t0 + 10, 10)).millis, 990)
    s = GateState.throttled(s, take(1_000), now(t0 + 1_000, 1_000), 1_000, 3_000)
    assert.strictEqual(waitOf(s, now(t0 + 1_000, 1_000)).millis, 2_000)
    s = GateState.throttled(s, take(3_000), now(t0 + 3_000, 3_000), 1_000, 3_000)
    assert.strictEqual(waitOf(s, now(t0 + 3_000, 3_000)).millis, 3_000)
    s = GateState.answered(s, take(6_000))
    assert.deepStrictEqual([s.refusals, s.throttles], [0, 0])
  })

  it("a halted gate starts nothing more and keeps the first reason", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    const s = GateState.halt(GateState.halt(GateState.initial(premium, now(t0, 0)), "refused"), "tls")
    assert.deepStrictEqual(GateState.take(s, now(t0, 0))[0], { _tag: "Halted", reason: "refused" })
    assert.strictEqual(GateState.status(s, now(t0, 0)).halted, true)
  })

  it("while a probe runs, nothing starts", () => {
    const t0 = at("2024-05-07T12:00:00Z")
    let s = GateState.initial(premium, now(t0, 0))
    const [d, next] = GateState.take(s, now(t0, 0))
    if (d._tag !== "Start") throw new Error("expected a start")
    s = GateState.refused(next, d.ticket, { _tag: "For", millis: 60_000 }, now(t0, 0), { probing: true })
    assert.deepStrictEqual(GateState.take(s, now(t0 + 120_000, 120_000))[0], { _tag: "Probing" })
    const before = next
    s = GateState.probed(
      s,
      { _tag: "Until", instant: at("2024-05-08T00:00:00Z") },
      { _tag: "For", millis: 60_000 },
      now(t0, 5),
      before
    )
    const wait = waitOf(s, now(t0 + 120_000, 120_000))
    assert.deepStrictEqual([wait.reason, wait.until], ["paused", at("2024-05-08T00:00:00Z")])
  })
})
