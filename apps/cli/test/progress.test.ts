import { QuotaPolicy } from "@vt-harvest/rate-schedule"
import { describe, expect, it } from "vitest"
import { emptyCounts } from "../src/internal/harvest.js"
import { describe as describeProgress, humanEta } from "../src/internal/progress.js"

const fresh = { pausedUntil: undefined, today: 0, thisMonth: 0, requests: 0 }

describe("progress", () => {
  it("says about 4 days for 2,000 hashes on a public key, wherever in the day it starts", () => {
    for (const start of ["2026-11-22T00:00:00Z", "2026-11-22T10:00:00Z", "2026-11-22T17:30:00Z"]) {
      const now = Date.parse(start)
      const text = describeProgress(emptyCounts(), 2000, fresh, QuotaPolicy.publicTier, now, now, false)
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
    const counts = { ...emptyCounts(), saved: 3, done: 3 }
    const paused = { ...fresh, pausedUntil: Date.parse("2026-11-23T00:00:05Z"), requests: 4 }
    const text = describeProgress(counts, 10, paused, QuotaPolicy.publicTier, now - 60_000, now, true)
    expect(text).toContain("[######--------------] 3/10")
    expect(text).toContain("waiting for quota until 2026-11-23 00:00 UTC")
  })

  it("says until when the own daily ledger makes it wait", () => {
    const now = Date.parse("2026-11-22T17:00:00Z")
    const spent = { ...fresh, today: 500, thisMonth: 500, requests: 500 }
    const text = describeProgress(emptyCounts(), 600, spent, QuotaPolicy.publicTier, now - 3_600_000, now, false)
    expect(text).toContain("waiting for quota until 2026-11-23 00:00 UTC")
  })
})
