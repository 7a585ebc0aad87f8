/**
 * VirusTotal's quota rules as plain Effect Schedules, for library users who pace or retry their own calls
 * (`Effect.retry`, `Effect.repeat`, `Stream.schedule`). All delays are computed from the `now` the schedule
 * driver reads from the `Clock`, so they follow `TestClock` in tests.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import type { QuotaPolicy } from "./QuotaPolicy.js"

const hourMillis = 3_600_000
const dayMillis = 86_400_000

/**
 * The next full UTC hour strictly after `ms` (epoch milliseconds): VirusTotal's hourly quota resets then.
 *
 * @since 0.2.0
 * @category utils
 */
export const nextUtcHour = (ms: number): number => (Math.floor(ms / hourMillis) + 1) * hourMillis

/**
 * The next 00:00 UTC strictly after `ms` (epoch milliseconds): VirusTotal's daily quota resets then.
 *
 * @since 0.1.0
 * @category utils
 */
export const nextUtcMidnight = (ms: number): number => (Math.floor(ms / dayMillis) + 1) * dayMillis

/**
 * 00:00 UTC on the 1st of the month after the one containing `ms`: VirusTotal's monthly quota resets then.
 *
 * @since 0.1.0
 * @category utils
 */
export const nextUtcMonth = (ms: number): number => {
  const date = new Date(ms)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
}

// A schedule that recurs forever, each time at the instant `next(now)`, and outputs that instant so that a
// caller can say when it will try again.
const at = (next: (now: number) => number): Schedule.Schedule<number> =>
  Schedule.makeWithState<void, unknown, number>(undefined, (now, _, state) => {
    const wakeAt = next(now)
    return Effect.succeed([state, wakeAt, ScheduleDecision.continueWith(ScheduleInterval.after(wakeAt))] as const)
  })

/**
 * Recurs forever, each time at the next 00:00 UTC. Outputs the instant (epoch milliseconds) it waits for.
 *
 * @since 0.1.0
 * @category constructors
 */
export const untilNextUtcMidnight: Schedule.Schedule<number> = at(nextUtcMidnight)

/**
 * Recurs forever, each time at 00:00 UTC on the 1st of the next month. Outputs the instant (epoch
 * milliseconds) it waits for.
 *
 * @since 0.1.0
 * @category constructors
 */
export const untilNextUtcMonth: Schedule.Schedule<number> = at(nextUtcMonth)

/**
 * What to do after a `QuotaExceededError` when only one caller is involved: wait one `quotaWindow` (the minute
 * window may be the one that is spent), and after every further refusal wait until the next 00:00 UTC plus
 * `resetMargin` (the daily quota is spent). Recurs forever: a refused item is never given up. Outputs the
 * instant (epoch milliseconds) it waits for.
 *
 * Concurrent workers should share a `QuotaGate` instead, which pauses all of them at once and does not
 * escalate on the refusals of requests that were already in flight.
 *
 * @since 0.1.0
 * @category constructors
 */
export const quotaExceeded = (p: QuotaPolicy): Schedule.Schedule<number> => {
  const window = Duration.toMillis(p.quotaWindow)
  const margin = Duration.toMillis(p.resetMargin)
  return Schedule.makeWithState<boolean, unknown, number>(false, (now, _, refusedBefore) => {
    const wakeAt = refusedBefore ? nextUtcMidnight(now) + margin : now + window
    return Effect.succeed([true, wakeAt, ScheduleDecision.continueWith(ScheduleInterval.after(wakeAt))] as const)
  })
}

/**
 * The backoff for transient failures (503, 504, `TooManyRequestsError`, network errors, truncated bodies):
 * `backoffBase` doubling on each retry, capped at `backoffCap`, then jittered down to between half and all of
 * that delay (so the cap holds and workers that failed together do not come back together), whole
 * milliseconds, at most `maxTransientRetries` recurrences. Outputs the delay it waits.
 *
 * @since 0.1.0
 * @category constructors
 */
export const transientBackoff = (p: QuotaPolicy): Schedule.Schedule<Duration.Duration> =>
  Schedule.exponential(p.backoffBase, 2).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, p.backoffCap)),
    Schedule.jitteredWith({ min: 0.5, max: 1 }),
    Schedule.modifyDelay((_, delay) => Duration.millis(Math.round(Duration.toMillis(delay)))),
    Schedule.intersect(Schedule.recurs(p.maxTransientRetries)),
    Schedule.delays
  )
