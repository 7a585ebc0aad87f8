import { GateState, QuotaPolicy } from "@vt-harvest/rate-schedule"
import { describe, expect, it } from "vitest"
import * as Outcome from "../src/engine/Outcome.js"
import { describe as describeProgress, humanEta } from "../src/internal/progress.js"

const view = { counters: ["saved", "notFound", "failed"], whenAny: ["skipped", "invalid"] } as const

/** The gate's status as a fresh public-tier gate (or one that has been through `change`) reports it at `now`. */
const status = (
  now: number,
  change: (s: GateState.State) => GateState.State = (s) => s,
  policy = QuotaPolicy.publicTier
) => {
  const clocks = { wall: now, mono: now }
  return GateState.status(change(GateState.initial(policy, clocks)), clocks)
}

describe("progress", () => {
  it("says about 4 days for 2,000 hashes on a public key, wherever in the day it starts", () => {
    for (const start of ["2026-11-22T00:00:00Z", "2026-11-22T10:00:00Z", "2026-11-22T17:30:00Z"]) {
      const now = Date.parse(start)
      const text = describeProgress(Outcome.empty, view, 2000, status(now), QuotaPolicy.publicTier, now, now, false)
      expect(text).toMatch(
        /^0\/2000 · saved 0 · not found 0 · failed 0 · ETA 2026-11-2\d \d\d:\d\d UTC \(about 4 days\)$/
      )
    }
  })

  it("counts minutes and hours for short runs, and says until when a quota wait lasts", () => {
    const now = Date.parse("2026-11-22T10:00:00Z")
    expect(humanEta(now, now + 20_000)).toBe("under a minute")
    expect(humanEta(now, now + 12 * 60_000)).toBe("about 12 minutes")
    expect(humanEta(now, now + 5 * 3_600_000)).toBe("about 5 hours")
    const tally = { ...Outcome.empty, saved: 3, handled: 3 }
    const paused = status(now, (s) =>
      GateState.refused(s, { startedAt: now, sequence: 1 }, {
        _tag: "Until",
        instant: Date.parse("2026-11-23T00:00:05Z")
      }, { wall: now, mono: now }))
    const text = describeProgress(tally, view, 10, paused, QuotaPolicy.publicTier, now - 60_000, now, true)
    expect(text).toContain("[######--------------] 3/10")
    expect(text).toContain("waiting for quota until 2026-11-23 00:00 UTC")
  })

  it("without a total, counts the items done, not the blank, comment or other shards' lines read", () => {
    const now = Date.parse("2026-11-22T10:00:00Z")
    const tally = [
      Outcome.saved("saved a.json"),
      Outcome.ignored,
      Outcome.notFound("not found b"),
      Outcome.ignored,
      Outcome.invalid("line 5: invalid"),
      Outcome.skipped()
    ].reduce(Outcome.add, Outcome.empty)
    expect(tally.handled).toBe(6)
    const off = describeProgress(tally, view, undefined, status(now), QuotaPolicy.publicTier, now, now, false)
    expect(off).toMatch(/^4 done · saved 1 · not found 1 · failed 0 · skipped 1 · invalid 1/)
    // With the total of input lines, every line counts towards it.
    const on = describeProgress(tally, view, 8, status(now), QuotaPolicy.publicTier, now, now, false)
    expect(on).toMatch(/^6\/8 · /)
  })

  it("says until when the daily ledger makes it wait", () => {
    const now = Date.parse("2026-11-22T17:00:00Z")
    const spent = status(now, (s) => ({ ...s, ledger: GateState.ledger(now, { today: 500, thisMonth: 500 }) }))
    const text = describeProgress(Outcome.empty, view, 600, spent, QuotaPolicy.publicTier, now - 3_600_000, now, false)
    expect(text).toContain("waiting for quota until 2026-11-23 00:00 UTC")
  })

  it("the ETA uses the key's own limits once learned: 5 a day, 20 ids, about 4 days", () => {
    const now = Date.parse("2026-11-22T12:00:00Z")
    const learned = status(
      now,
      (s) => GateState.learn(s, { daily: { user: { used: 0, allowed: 5 } } }, { wall: now, mono: now }),
      QuotaPolicy.premiumTier
    )
    const text = describeProgress(Outcome.empty, view, 20, learned, QuotaPolicy.premiumTier, now, now, false)
    expect(text).toContain("(about 4 days)")
  })
})
