/**
 * The process-wide quota gate: every request to VirusTotal passes through it, whichever worker sends it, so
 * the pacing, the pauses after a refusal and the own day/month ledger hold for the whole process.
 *
 * @since 0.1.0
 */
import * as VtError from "@vt-harvest/vt-client/VtError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
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
   * VirusTotal refused the request of `ticket` with `QuotaExceededError`: pause every worker. The first
   * refusal pauses one `quotaWindow`; a refusal of a request sent after that pause, with no answer in between,
   * pauses until the next 00:00 UTC (the 1st of the next month when the own monthly ledger is full) plus
   * `resetMargin`. A refusal of a request that was in flight when the latest pause was set changes nothing.
   */
  readonly refused: (ticket: Ticket) => Effect.Effect<void>
  /** VirusTotal answered the request of `ticket` with anything but a quota refusal: the quota is not spent. */
  readonly answered: (ticket: Ticket) => Effect.Effect<void>
  /** The gate's state now. */
  readonly status: Effect.Effect<Status>
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
}

type Step =
  | { readonly _tag: "Start"; readonly ticket: Ticket }
  | { readonly _tag: "Wait"; readonly until: number; readonly announce: string | undefined }

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * Makes a gate enforcing `policy`. Make one per process (or per API key) and share it between all workers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (policy: QuotaPolicy.QuotaPolicy): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const spacing = Duration.toMillis(QuotaPolicy.spacing(policy))
    const window = Duration.toMillis(policy.quotaWindow)
    const margin = Duration.toMillis(policy.resetMargin)
    const now0 = yield* Clock.currentTimeMillis
    const state = yield* Ref.make<State>({
      ledger: Ledger.empty(now0),
      requests: 0,
      lastStart: undefined,
      pausedUntil: -Infinity,
      pausedAfter: 0,
      refusedSinceAnswer: false,
      announced: -Infinity
    })
    // Held while waiting: the next caller's spacing is measured from the start this caller makes.
    const permit = yield* Effect.makeSemaphore(1)

    const step = (s: State, now: number): readonly [Step, State] => {
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

    const take: Effect.Effect<Ticket> = permit.withPermits(1)(Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const next = yield* Ref.modify(state, (s) => step(s, now))
        if (next._tag === "Start") return next.ticket
        if (next.announce !== undefined) yield* Effect.logWarning(next.announce)
        // Sleep, then look again: another worker may have set a pause meanwhile.
        yield* Effect.sleep(Duration.millis(next.until - now))
      }
    }))

    const refused = (ticket: Ticket): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(state, (s): readonly [number | undefined, State] => {
          if (ticket.sequence <= s.pausedAfter) return [undefined, s]
          const ledger = Ledger.roll(s.ledger, now)
          const until = s.refusedSinceAnswer
            ? (Ledger.monthFull(policy, ledger)
              ? QuotaSchedule.nextUtcMonth(now)
              : QuotaSchedule.nextUtcMidnight(now)) + margin
            : now + window
          const pausedUntil = Math.max(s.pausedUntil, until)
          return [pausedUntil, { ...s, ledger, pausedUntil, pausedAfter: s.requests, refusedSinceAnswer: true }]
        }).pipe(
          Effect.flatMap((until) =>
            until === undefined
              ? Effect.void
              : Effect.logWarning(`QuotaExceededError... waiting until ${iso(until)} to request again`)
          )
        ))

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
 * The gate as a layer; build it once per process so that all workers share it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (policy: QuotaPolicy.QuotaPolicy): Layer.Layer<QuotaGate> => Layer.effect(QuotaGate, make(policy))

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
 * The whole per-item policy around one VirusTotal call: each attempt waits for the gate; a
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
): Effect.Effect<A, E, R | QuotaGate> =>
  Effect.flatMap(QuotaGate, (gate) => {
    const attempt = Effect.flatMap(gate.take, (ticket) =>
      Effect.tapBoth(self, {
        onFailure: (error) =>
          VtError.isQuotaExceeded(error)
            ? gate.refused(ticket)
            : isAnswer(error)
            ? gate.answered(ticket)
            : Effect.void,
        onSuccess: () => gate.answered(ticket)
      }))
    return attempt.pipe(
      // No delay here: the next `take` waits for the pause the refusal set.
      Effect.retry(Schedule.recurWhile<E>((error) => VtError.isQuotaExceeded(error))),
      Effect.retry(transientRetry<E>(gate.policy))
    )
  })
