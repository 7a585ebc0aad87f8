/**
 * How long a run will take under a quota policy, for progress displays and ETAs.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as GateState from "./GateState.js"
import type { QuotaPolicy } from "./QuotaPolicy.js"
import { spacing } from "./QuotaPolicy.js"
import { nextUtcHour, nextUtcMidnight, nextUtcMonth } from "./QuotaSchedule.js"

/**
 * When the last of `pending` more requests may start (epoch milliseconds) if the first may start at `now`
 * and none is refused, following the same rules as the quota gate: starts `spacing` apart, no more than
 * `perHour` per UTC hour, `perDay` per UTC day nor `perMonth` per UTC month, counting `ledger` (the requests
 * already started in the UTC hour, day and month of `now`). Pass the limits in force (`QuotaGate.Status.limits`,
 * which include what the key itself is allowed) for an honest estimate. Add the latency of one request to estimate
 * when the last answer arrives. `now` when nothing is pending or nothing limits the pace; `Infinity` when a limit
 * of zero never lets a request start.
 *
 * @since 0.1.0
 * @category utils
 */
export const finishTime = (
  p: QuotaPolicy,
  pending: number,
  ledger: { readonly today: number; readonly thisMonth: number; readonly thisHour?: number | undefined },
  now: number
): number => {
  let remaining = Math.ceil(pending)
  if (!(remaining > 0)) return now
  const step = Duration.toMillis(spacing(p))
  const perHour = p.perHour ?? Infinity
  const perDay = p.perDay ?? Infinity
  const perMonth = p.perMonth ?? Infinity
  if (perHour <= 0 || perDay <= 0 || perMonth <= 0 || step === Infinity) return Infinity
  // Only the boundaries of a limit that is set matter; skipping the others keeps the loop short.
  const boundary = p.perHour !== undefined
    ? nextUtcHour
    : p.perDay !== undefined
    ? nextUtcMidnight
    : p.perMonth !== undefined
    ? nextUtcMonth
    : () => Infinity
  let t = now
  let counts: GateState.Ledger = GateState.ledger(now, ledger)
  while (true) {
    counts = GateState.roll(counts, t)
    if (counts.thisMonth >= perMonth) {
      t = nextUtcMonth(t)
      continue
    }
    if (counts.today >= perDay) {
      t = nextUtcMidnight(t)
      continue
    }
    if (counts.thisHour >= perHour) {
      t = nextUtcHour(t)
      continue
    }
    // Starts possible from t until the next boundary that could reset a counter.
    const end = boundary(t)
    const fitting = step === 0 ? Infinity : Math.floor((end - t - 1) / step) + 1
    const n = Math.min(
      remaining,
      perHour - counts.thisHour,
      perDay - counts.today,
      perMonth - counts.thisMonth,
      fitting
    )
    const last = t + (n - 1) * step
    remaining -= n
    if (remaining === 0) return last
    counts = {
      ...counts,
      thisHour: counts.thisHour + n,
      today: counts.today + n,
      thisMonth: counts.thisMonth + n
    }
    t = last + step
  }
}
