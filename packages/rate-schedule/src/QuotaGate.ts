/**
 * The process-wide quota gate: every request to VirusTotal passes through it, whichever worker sends it, so
 * the pacing, the pauses after a refusal and the own day/month ledger hold for the whole process.
 *
 * @since 0.1.0
 */
import * as VtError from "@vt-harvest/vt-client/VtError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Ledger from "./internal/ledger.js"
import * as QuotaPolicy from "./QuotaPolicy.js"
import * as QuotaSchedule from "./QuotaSchedule.js"

/**
 * The permission to send one request, handed out by `take`. Give it back to `refused` or `answered` when the
 * outcome is known: the gate needs to know when the request started to tell a fresh refusal from the refusal
 * of a request that was already in flight when the gate paused.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ticket {
  /** When the request was allowed to start (epoch milliseconds, from the `Clock`). */
  readonly startedAt: number
  /** The request's number in the process, from 1: orders starts even when they share a millisecond. */
  readonly sequence: number
}

/**
 * A snapshot of the gate, for progress displays and logs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  /** The end of the current pause (epoch milliseconds), `undefined` when not paused. */
  readonly pausedUntil: number | undefined
  /** Requests started in the current UTC day. */
  readonly today: number
  /** Requests started in the current UTC month. */
  readonly thisMonth: number
  /** Requests started since the gate was made. */
  readonly requests: number
}

/**
 * The gate itself, for callers that drive it by hand ({@link request} does it for one VirusTotal call): take a
 * ticket before each request, then report how VirusTotal answered it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The policy the gate enforces. */
  readonly policy: QuotaPolicy.QuotaPolicy
  /**
   * Waits until a request may start, records the start in the ledger and returns its ticket. Callers are
   * served one at a time, so starts are at least `spacing` apart for the whole process whatever the
   * concurrency; it also waits out a pause and a full day or month ledger.
   */
  readonly take: Effect.Effect<Ticket>
  /**
   * VirusTotal refused the request of `ticket` with `QuotaExceededError`: pause every worker. With a `probe`,
   * it is asked once which window is spent (no request starts meanwhile) and the pause lasts until that window
   * resets. Otherwise, or when it cannot tell: the first refusal pauses one `quotaWindow`; a refusal of a
   * request sent after that pause, with no answer in between, pauses until the next 00:00 UTC (the 1st of the
   * next month when the own monthly ledger is full) plus `resetMargin`. A refusal of a request that was in
   * flight when the latest pause was set changes nothing (and runs no probe).
   */
  readonly refused: (ticket: Ticket) => Effect.Effect<void>
  /** VirusTotal answered the request of `ticket` with anything but a quota refusal: the quota is not spent. */
  readonly answered: (ticket: Ticket) => Effect.Effect<void>
  /** The gate's state now. */
  readonly status: Effect.Effect<Status>
}

/**
 * Which quota window of the key is spent, as a probe of VirusTotal's quota endpoint reports it after a
 * `QuotaExceededError` (VirusTotal answers 429 for every window alike). The gate then waits exactly until that
 * window resets: `"minute"` one `quotaWindow`; `"hourly"` the next full UTC hour; `"daily"` the next 00:00
 * UTC; `"monthly"` 00:00 UTC on the 1st of the next month (the last three plus `resetMargin`). `"unknown"`:
 * the probe could not tell (it failed, or no window looks spent), so the gate escalates as it does without a
 * probe (one `quotaWindow`, then the next 00:00 UTC).
 *
 * @since 0.2.0
 * @category models
 */
export type SpentWindow = "minute" | "hourly" | "daily" | "monthly" | "unknown"

/**
 * The use of one quota window: `used` requests of the `allowed` ones (a part of VirusTotal's `overall_quotas`).
 *
 * @since 0.2.0
 * @category models
 */
export interface QuotaUsage {
  readonly used: number
  readonly allowed: number
}

/**
 * One window of VirusTotal's `overall_quotas` as it answers it: the key's own part (`user`) and, for a key in
 * a group, the group's part (`group`). Either being spent spends the window.
 *
 * @since 0.2.0
 * @category models
 */
export interface WindowUsage {
  readonly user?: QuotaUsage | undefined
  readonly group?: QuotaUsage | undefined
}

/**
 * The windows of VirusTotal's `overall_quotas` (`api_requests_hourly`, `api_requests_daily`,
 * `api_requests_monthly`), each either as VirusTotal answers it (`{ user, group }`) or already reduced to one
 * `{ used, allowed }`. A missing window says nothing.
 *
 * @since 0.2.0
 * @category models
 */
export interface OverallQuotas {
  readonly hourly?: QuotaUsage | WindowUsage | undefined
  readonly daily?: QuotaUsage | WindowUsage | undefined
  readonly monthly?: QuotaUsage | WindowUsage | undefined
}

const isSpent = (usage: QuotaUsage | WindowUsage | undefined): boolean =>
  usage === undefined
    ? false
    : "used" in usage
    ? typeof usage.used === "number" && typeof usage.allowed === "number" && usage.used >= usage.allowed
    : isSpent(usage.user) || isSpent(usage.group)

/**
 * Which window of a key is spent, from the numbers of its `overall_quotas`: the longest spent one, since
 * waiting for a shorter one to reset would only earn another refusal (monthly, then daily, then hourly). A
 * window is spent when `used >= allowed`, in the user's or in the group's part. `"unknown"` when none is
 * spent: then the minute window (which `overall_quotas` does not report) is the likely one, and the gate
 * escalates as without a probe. Use it to build a `probe` from the client's decoded quota response.
 *
 * @since 0.2.0
 * @category utils
 */
export const spentWindow = (quotas: OverallQuotas): SpentWindow =>
  isSpent(quotas.monthly)
    ? "monthly"
    : isSpent(quotas.daily)
    ? "daily"
    : isSpent(quotas.hourly)
    ? "hourly"
    : "unknown"

/**
 * What a gate may know beyond its policy.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<R = never> {
  /**
   * What the key already used in the current UTC day and month (the `used` of `api_requests_daily` and
   * `api_requests_monthly` in VirusTotal's `overall_quotas`), so that a second run on the same day starts its
   * ledger from there and waits for 00:00 UTC (or the 1st) by itself instead of spending a refusal to find
   * out. The counts belong to the UTC day and month in which the gate is made. Without it the ledger starts
   * from zero.
   */
  readonly initial?: { readonly today: number; readonly thisMonth: number } | undefined
  /**
   * Asks VirusTotal which window is spent (typically `GET /users/{apikey}/overall_quotas` and `spentWindow`).
   * After a `QuotaExceededError` that sets a pause, the gate runs it once, while every worker waits, and pauses
   * until that window resets instead of guessing. Failures are answered with `"unknown"` by the probe itself
   * (its error type is `never`); a defect, an interruption or no answer within one `quotaWindow` counts as
   * `"unknown"` too. Its request is not paced nor counted by the gate.
   */
  readonly probe?: Effect.Effect<SpentWindow, never, R> | undefined
}

/**
 * The gate shared by all workers of the process.
 *
 * @since 0.1.0
 * @category models
 */
export class QuotaGate extends Context.Tag("@vt-harvest/rate-schedule/QuotaGate")<QuotaGate, Service>() {}

interface State {
  readonly ledger: Ledger.Ledger
  /** Requests started so far; the sequence number of the latest ticket. */
  readonly requests: number
  readonly lastStart: number | undefined
  /** No request starts before this instant; `-Infinity` when never paused. */
  readonly pausedUntil: number
  /** Tickets up to this sequence number were in flight (or done) when the latest pause was set. */
  readonly pausedAfter: number
  /** The latest pause followed a refusal and no request sent after it has been answered since. */
  readonly refusedSinceAnswer: boolean
  /** The end of the ledger wait already logged, so that it is logged once. */
  readonly announced: number
  /** Completed when the probe run for the latest pause has answered; no request starts until then. */
  readonly probing: Deferred.Deferred<void> | undefined
}

type Step =
  | { readonly _tag: "Start"; readonly ticket: Ticket }
  | { readonly _tag: "Wait"; readonly until: number; readonly announce: string | undefined }
  | { readonly _tag: "Probing"; readonly answered: Deferred.Deferred<void> }

const iso = (ms: number): string => new Date(ms).toISOString()

const quotaExceededLine = (until: number, window: SpentWindow): string =>
  `QuotaExceededError... waiting until ${iso(until)} to request again${
    window === "unknown" ? "" : ` (${window} quota spent)`
  }`

/**
 * Makes a gate enforcing `policy`. Make one per process (or per API key) and share it between all workers.
 * `options.initial` seeds the ledger with what the key already used today and this month; `options.probe`
 * asks VirusTotal which window is spent after a refusal (the gate needs whatever the probe needs).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R = never>(
  policy: QuotaPolicy.QuotaPolicy,
  options?: Options<R>
): Effect.Effect<Service, never, R> =>
  Effect.gen(function*() {
    const spacing = Duration.toMillis(QuotaPolicy.spacing(policy))
    const windowMillis = Duration.toMillis(policy.quotaWindow)
    const margin = Duration.toMillis(policy.resetMargin)
    const now0 = yield* Clock.currentTimeMillis
    const context = yield* Effect.context<R>()
    const probe = options?.probe === undefined ? undefined : Effect.provide(options.probe, context)
    const state = yield* Ref.make<State>({
      ledger: options?.initial === undefined ? Ledger.empty(now0) : Ledger.seeded(now0, options.initial),
      requests: 0,
      lastStart: undefined,
      pausedUntil: -Infinity,
      pausedAfter: 0,
      refusedSinceAnswer: false,
      announced: -Infinity,
      probing: undefined
    })
    // Held while waiting: the next caller's spacing is measured from the start this caller makes.
    const permit = yield* Effect.makeSemaphore(1)

    const step = (s: State, now: number): readonly [Step, State] => {
      if (s.probing !== undefined) return [{ _tag: "Probing", answered: s.probing }, s]
      const ledger = Ledger.roll(s.ledger, now)
      let until = Math.max(s.pausedUntil, s.lastStart === undefined ? -Infinity : s.lastStart + spacing)
      let announce: string | undefined = undefined
      if (Ledger.dayFull(policy, ledger) && QuotaSchedule.nextUtcMidnight(now) > until) {
        until = QuotaSchedule.nextUtcMidnight(now)
        announce = `daily limit of ${policy.perDay} requests reached, waiting until ${iso(until)} to request again`
      }
      if (Ledger.monthFull(policy, ledger) && QuotaSchedule.nextUtcMonth(now) > until) {
        until = QuotaSchedule.nextUtcMonth(now)
        announce = `monthly limit of ${policy.perMonth} requests reached, waiting until ${iso(until)} to request again`
      }
      if (until <= now) {
        const ticket: Ticket = { startedAt: now, sequence: s.requests + 1 }
        return [{ _tag: "Start", ticket }, {
          ...s,
          ledger: Ledger.record(ledger),
          requests: ticket.sequence,
          lastStart: now
        }]
      }
      // A wait already announced (by this caller before a sleep, or by one that was interrupted) is not repeated.
      if (announce !== undefined && s.announced === until) announce = undefined
      return [{ _tag: "Wait", until, announce }, {
        ...s,
        ledger,
        announced: announce === undefined ? s.announced : until
      }]
    }

    const waitAndTake: Effect.Effect<Ticket> = permit.withPermits(1)(Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const next = yield* Ref.modify(state, (s) => step(s, now))
        if (next._tag === "Start") return next.ticket
        if (next._tag === "Probing") {
          // The length of the pause is not known yet: look again once the probe has answered.
          yield* Deferred.await(next.answered)
          continue
        }
        if (next.announce !== undefined) yield* Effect.logWarning(next.announce)
        // Sleep, then look again: another worker may have set a pause meanwhile.
        yield* Effect.sleep(Duration.millis(next.until - now))
      }
    }))

    // Without spacing a caller never queues behind another for a slot, so when the gate is open (no pause, no full
    // ledger) it takes its ticket at once, without the permit; otherwise it joins the queue. With spacing every
    // caller queues, so that the waiting ones keep their order.
    const take: Effect.Effect<Ticket> = spacing > 0 ? waitAndTake : Effect.flatMap(
      Clock.currentTimeMillis,
      (now) =>
        Effect.flatMap(
          Ref.modify(state, (s) => {
            const [next, after] = step(s, now)
            return next._tag === "Start" ? [next.ticket, after] : [undefined, s]
          }),
          (ticket) => ticket === undefined ? waitAndTake : Effect.succeed(ticket)
        )
    )

    // When a spent window resets, seen from the refusal at `now`; `undefined` for "unknown" (or anything a probe
    // returns that is not a window).
    const resetOf = (window: SpentWindow, now: number): number | undefined => {
      switch (window) {
        case "minute":
          return now + windowMillis
        case "hourly":
          return QuotaSchedule.nextUtcHour(now) + margin
        case "daily":
          return QuotaSchedule.nextUtcMidnight(now) + margin
        case "monthly":
          return QuotaSchedule.nextUtcMonth(now) + margin
        default:
          return undefined
      }
    }

    // Without an answer from a probe: one window, then (refused again with no answer in between) the next
    // 00:00 UTC, or the 1st when the own monthly ledger is full.
    const escalation = (s: State, ledger: Ledger.Ledger, now: number): number =>
      !s.refusedSinceAnswer
        ? now + windowMillis
        : (Ledger.monthFull(policy, ledger) ? QuotaSchedule.nextUtcMonth(now) : QuotaSchedule.nextUtcMidnight(now)) +
          margin

    const refused = (ticket: Ticket): Effect.Effect<void> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const probed = probe === undefined ? undefined : yield* Deferred.make<void>()
          const pause = yield* Ref.modify(
            state,
            (s): readonly [{ readonly before: number; readonly fallback: number } | undefined, State] => {
              if (ticket.sequence <= s.pausedAfter) return [undefined, s]
              const ledger = Ledger.roll(s.ledger, now)
              const fallback = Math.max(s.pausedUntil, escalation(s, ledger, now))
              // Until the probe answers, takers wait for it; `pausedUntil` is what `status` shows meanwhile.
              return [{ before: s.pausedUntil, fallback }, {
                ...s,
                ledger,
                pausedUntil: fallback,
                pausedAfter: s.requests,
                refusedSinceAnswer: true,
                probing: probed
              }]
            }
          )
          if (pause === undefined) return
          if (probe === undefined || probed === undefined) {
            return yield* Effect.logWarning(quotaExceededLine(pause.fallback, "unknown"))
          }
          // Interruptible while it waits for VirusTotal; an interruption counts as no answer, and the pause is
          // settled and the takers released whatever happens.
          const exit = yield* Effect.exit(restore(Effect.timeout(probe, policy.quotaWindow)))
          const answer: SpentWindow = Exit.isSuccess(exit) ? exit.value : "unknown"
          const reset = resetOf(answer, now)
          const until = reset === undefined ? pause.fallback : Math.max(pause.before, reset)
          yield* Ref.update(state, (s) => ({ ...s, pausedUntil: until, probing: undefined }))
          yield* Deferred.succeed(probed, undefined)
          yield* Effect.logWarning(quotaExceededLine(until, reset === undefined ? "unknown" : answer))
        })
      )

    const answered = (ticket: Ticket): Effect.Effect<void> =>
      Ref.update(
        state,
        (s) => ticket.sequence > s.pausedAfter && s.refusedSinceAnswer ? { ...s, refusedSinceAnswer: false } : s
      )

    const status: Effect.Effect<Status> = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(Ref.get(state), (s) => {
        const ledger = Ledger.roll(s.ledger, now)
        return {
          pausedUntil: s.pausedUntil > now ? s.pausedUntil : undefined,
          today: ledger.today,
          thisMonth: ledger.thisMonth,
          requests: s.requests
        }
      }))

    return QuotaGate.of({ policy, take, refused, answered, status })
  })

/**
 * The gate as a layer; build it once per process so that all workers share it. The options are those of
 * `make`: seed the ledger with `initial`, ask which window is spent with `probe`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R = never>(
  policy: QuotaPolicy.QuotaPolicy,
  options?: Options<R>
): Layer.Layer<QuotaGate, never, R> => Layer.effect(QuotaGate, make(policy, options))

// A network error is no answer, and an id the client refused was never sent: neither says anything about the quota.
const isAnswer = (error: VtError.VtError): boolean => error._tag !== "TransportError" && error._tag !== "InvalidIdError"

// Retries transient failures with `transientBackoff`, logging each retry; any other error ends at once.
const transientRetry = <E extends VtError.VtError>(policy: QuotaPolicy.QuotaPolicy): Schedule.Schedule<unknown, E> =>
  Schedule.recurWhile<E>((error) => VtError.isTransient(error)).pipe(
    Schedule.intersect(QuotaSchedule.transientBackoff(policy)),
    Schedule.intersect(Schedule.count),
    Schedule.onDecision(([[error, delay], retries], decision) =>
      ScheduleDecision.isDone(decision)
        ? Effect.void
        : Effect.logInfo(
          `retrying after ${error._tag} (attempt ${retries + 1}/${policy.maxTransientRetries}) in ${
            Duration.format(delay)
          }`
        )
    )
  )

/**
 * One request through the gate, not retried: waits for its ticket, runs `self`, and tells the gate how VirusTotal
 * answered (a `QuotaExceededError` pauses every worker). {@link retry} around one or more of these makes a unit of
 * work that is retried whole; {@link request} is the usual case of one.
 *
 * @since 0.2.0
 * @category utils
 */
export const attempt = <A, E extends VtError.VtError, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | QuotaGate> =>
  Effect.flatMap(QuotaGate, (gate) =>
    Effect.flatMap(gate.take, (ticket) =>
      Effect.tapBoth(self, {
        onFailure: (error) =>
          VtError.isQuotaExceeded(error)
            ? gate.refused(ticket)
            : isAnswer(error)
            ? gate.answered(ticket)
            : Effect.void,
        onSuccess: () => gate.answered(ticket)
      })))

/**
 * The gate's retry policy around a unit of work made of {@link attempt}s: a `QuotaExceededError` is retried at once
 * (the next attempt waits for the pause the refusal set), as often as it takes; a transient failure after
 * `QuotaSchedule.transientBackoff`, at most `maxTransientRetries` times, then the last error is returned; any other
 * error at once. The whole unit runs again each time, so a unit whose requests depend on each other (a one-time
 * upload URL and the upload to it) starts over from its first request.
 *
 * @since 0.2.0
 * @category utils
 */
export const retry = <A, E extends VtError.VtError, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | QuotaGate> =>
  Effect.flatMap(QuotaGate, (gate) => {
    // The retry schedule is only set up once the unit fails: a unit that succeeds costs one run.
    const retryable = (error: E) => VtError.isQuotaExceeded(error) || VtError.isTransient(error)
    return Effect.catchIf(self, retryable, (first) =>
      Effect.flatMap(Schedule.driver(transientRetry<E>(gate.policy)), (driver) => {
        const again = (error: E): Effect.Effect<A, E, R> =>
          VtError.isQuotaExceeded(error)
            ? Effect.catchIf(self, retryable, again)
            : Effect.matchEffect(driver.next(error), {
              onFailure: () =>
                Effect.fail(error),
              onSuccess: () =>
                Effect.catchIf(self, retryable, again)
            })
        return again(first)
      }))
  })

/**
 * The whole per-item policy around one VirusTotal call, `retry(attempt(self))`: each attempt waits for the gate; a
 * `QuotaExceededError` pauses the gate and the same call is tried again, as often as it takes; a transient
 * failure is retried after `QuotaSchedule.transientBackoff`, at most `maxTransientRetries` times, then the last
 * error is returned; any other error is returned at once. `self` is run once per attempt, so it must be the
 * request itself (not a memoised result).
 *
 * @since 0.1.0
 * @category utils
 */
export const request = <A, E extends VtError.VtError, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | QuotaGate> => retry(attempt(self))
