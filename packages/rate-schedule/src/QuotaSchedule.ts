/**
 * VirusTotal's quota rules as Effect Schedules: these are what the quota gate runs (`QuotaGate` steps
 * {@link quotaExceeded} on every refusal and retries requests with {@link retry}), and what a library user can run
 * around calls of their own (`Effect.retry`). All delays are computed from the `now` the schedule driver reads
 * from the `Clock`, so they follow `TestClock` in tests.
 *
 * @since 0.1.0
 */
import { isQuotaExceeded, isTransient } from "@vt-harvest/vt-client/VtError"
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

/**
 * How long a pause lasts: `For` a span of time (measured on a monotonic clock, so a wall clock set back or forward
 * changes nothing), or `Until` an instant of UTC wall time (a quota window that resets at 00:00 UTC resets then,
 * whatever the machine's clock did meanwhile).
 *
 * @since 0.2.0
 * @category models
 */
export type Pause =
  | { readonly _tag: "For"; readonly millis: number }
  | { readonly _tag: "Until"; readonly instant: number }

/**
 * What the gate tells {@link quotaExceeded} about a refusal: whether its own monthly ledger is full, in which case
 * the next step is the 1st of the month rather than the next 00:00 UTC.
 *
 * @since 0.2.0
 * @category models
 */
export interface Refusal {
  readonly monthFull?: boolean | undefined
}

/**
 * The pause after each `QuotaExceededError` of a series with no answer in between (VirusTotal answers 429 for the
 * minute, day and month windows alike, so the length is found out by escalating): first one `quotaWindow` (the
 * minute window may be the spent one); refused again, until the next 00:00 UTC plus `resetMargin` (the day is
 * spent), or the 1st when the input says the own monthly ledger is full; refused again after that, until 00:00 UTC
 * on the 1st of the next month plus `resetMargin` (the month is spent). Recurs forever: a refused request is never
 * given up. Outputs the {@link Pause}, and waits until its end.
 *
 * The quota gate steps this schedule once per refusal and starts it afresh after any answer; it is also usable
 * alone around one caller's requests (`Effect.retry(request, { schedule, while: VtError.isQuotaExceeded })`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const quotaExceeded = (p: QuotaPolicy): Schedule.Schedule<Pause, Refusal | unknown> => {
  const window = Duration.toMillis(p.quotaWindow)
  const margin = Duration.toMillis(p.resetMargin)
  return Schedule.makeWithState<number, Refusal | unknown, Pause>(0, (now, input, refusals) => {
    const monthFull = typeof input === "object" && input !== null && "monthFull" in input && input.monthFull === true
    const pause: Pause = refusals === 0
      ? { _tag: "For", millis: window }
      : refusals === 1 && !monthFull
      ? { _tag: "Until", instant: nextUtcMidnight(now) + margin }
      : { _tag: "Until", instant: nextUtcMonth(now) + margin }
    const wakeAt = pause._tag === "For" ? now + pause.millis : pause.instant
    return Effect.succeed([refusals + 1, pause, ScheduleDecision.continueWith(ScheduleInterval.after(wakeAt))] as const)
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

/**
 * What {@link retry} decided about a failure: `Quota` (try again at once; the quota gate makes the attempt wait for
 * the pause the refusal set) or `Transient` (try again after `delay`; `attempt` counts the transient retries).
 *
 * @since 0.2.0
 * @category models
 */
export type RetryDecision =
  | { readonly _tag: "Quota"; readonly error: unknown }
  | { readonly _tag: "Transient"; readonly error: unknown; readonly delay: Duration.Duration; readonly attempt: number }

/**
 * The retry policy of one request (or one unit of requests) behind a quota gate, as a Schedule over the failures:
 * a `QuotaExceededError` recurs at once and forever (the gate holds the next attempt until the quota resets, so
 * this never spins); a transient failure recurs after {@link transientBackoff}, at most `maxTransientRetries`
 * times; anything else ends the retries and the failure stands.
 *
 * @since 0.2.0
 * @category constructors
 */
export const retry = (p: QuotaPolicy): Schedule.Schedule<RetryDecision, unknown> => {
  const backoff = transientBackoff(p)
  type State = { readonly backoff: unknown; readonly transient: number }
  return Schedule.makeWithState<State, unknown, RetryDecision>(
    { backoff: backoff.initial, transient: 0 },
    (now, error, state) => {
      if (isQuotaExceeded(error)) {
        return Effect.succeed(
          [state, { _tag: "Quota", error }, ScheduleDecision.continueWith(ScheduleInterval.after(now))] as const
        )
      }
      if (!isTransient(error)) {
        return Effect.succeed([state, { _tag: "Quota", error }, ScheduleDecision.done] as const)
      }
      return Effect.map(backoff.step(now, error, state.backoff), ([next, delay, decision]) => {
        const transient = state.transient + 1
        return [
          { backoff: next, transient },
          { _tag: "Transient", error, delay, attempt: transient },
          decision
        ] as const
      })
    }
  )
}
