/**
 * The quota gate: one per process (or per key), shared by every worker, decorating the client so that every request
 * any module sends passes through it (`layerClient`, `layerGated`). It keeps the pacing, the pauses after a refusal,
 * the own hour/day/month ledger and the key's learned limits for the whole process; it retries each request by
 * `QuotaSchedule.retry`; and once the key is refused (any 401/403) or TLS cannot be trusted, it sends nothing more.
 *
 * The decisions are the pure functions of `GateState`; this module runs them in one `Ref` on the `Clock`, sleeps
 * when they say wait, and steps the escalation Schedule (`QuotaSchedule.quotaExceeded`) on every refusal.
 *
 * @since 0.1.0
 */
import * as Quota from "@vt-harvest/vt-client/Quota"
import * as VtClient from "@vt-harvest/vt-client/VtClient"
import * as VtError from "@vt-harvest/vt-client/VtError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as GateState from "./GateState.js"
import type * as QuotaPolicy from "./QuotaPolicy.js"
import * as QuotaSchedule from "./QuotaSchedule.js"
import * as SharedLedger from "./SharedLedger.js"

/**
 * The permission to send one request, handed out by `take`. Give it back to `refused`, `throttled` or `answered`
 * when the outcome is known: the gate needs to know when the request started to tell a fresh refusal from the
 * refusal of a request that was already in flight when the gate paused.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ticket extends GateState.Ticket {
  /** With a shared ledger: the request's sequence number there, and the refusals in a row it had counted. */
  readonly shared?: { readonly sequence: number; readonly refusals: number } | undefined
}

/**
 * A snapshot of the gate, for progress displays and logs: until when and why no request may start (`waitingUntil`,
 * `waitingFor`), the ledger, the requests started, the limits in force.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = GateState.Status

/**
 * The gate itself. The client decorated with {@link layerClient} drives it; {@link attempt} and {@link retry} drive
 * it by hand around other work.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The policy the gate was made with (the limits in force, lowered to the key's, are in `status`). */
  readonly policy: QuotaPolicy.QuotaPolicy
  /**
   * Waits until a request may start, records the start in the ledger and returns its ticket. With spacing,
   * callers are served one at a time, so starts are at least `spacing` apart for the whole process whatever the
   * concurrency; it also waits out a pause and a full hour, day or month. Fails, sending nothing, once the gate is
   * halted.
   */
  readonly take: Effect.Effect<Ticket, VtError.VtError>
  /**
   * VirusTotal refused the request of `ticket` with `QuotaExceededError`: every worker pauses, for as long as the
   * escalation schedule says (`QuotaSchedule.quotaExceeded`) or, with a `probe`, until the window the probe finds
   * spent resets. A refusal of a request that was in flight when the latest pause was set changes nothing.
   */
  readonly refused: (ticket: Ticket) => Effect.Effect<void>
  /** VirusTotal answered `TooManyRequestsError`: every worker pauses briefly (doubling while it goes on). */
  readonly throttled: (ticket: Ticket) => Effect.Effect<void>
  /** VirusTotal answered the request of `ticket` with anything but a refusal: the quota is not spent. */
  readonly answered: (ticket: Ticket) => Effect.Effect<void>
  /** Nothing more may be sent: every later `take` fails with `error`. */
  readonly halt: (error: VtError.VtError) => Effect.Effect<void>
  /** The key's own quotas are known: limits are lowered to them and the ledger counts what the key used. */
  readonly learn: (usage: GateState.Usage) => Effect.Effect<void>
  /** The gate's state now. */
  readonly status: Effect.Effect<Status>
}

/**
 * Which quota window of the key is spent, as a probe of VirusTotal's quota endpoint reports it after a
 * `QuotaExceededError` (VirusTotal answers 429 for every window alike). The gate then waits exactly until that
 * window resets: `"minute"` one `quotaWindow`; `"hourly"` the next full UTC hour; `"daily"` the next 00:00
 * UTC; `"monthly"` 00:00 UTC on the 1st of the next month (the last three plus `resetMargin`). `"unknown"`:
 * the probe could not tell (it failed, or no window looks spent), so the gate escalates as it does without a
 * probe.
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
 * escalates as without a probe.
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
 * The key's quotas as `GET /users/{apikey}/overall_quotas` reports them, for {@link Options.quotas} and
 * {@link Service.learn}. Sent through the client in context as it is: give it the client the gate decorates, not
 * the decorated one (the gate does not pace nor count its own questions).
 *
 * @since 0.2.0
 * @category utils
 */
export const readQuotas: Effect.Effect<OverallQuotas, VtError.VtError, VtClient.VtClient> = Effect.map(
  Quota.overall(),
  (quotas) => ({
    hourly: Option.getOrUndefined(quotas.hourly),
    daily: Option.getOrUndefined(quotas.daily),
    monthly: Option.getOrUndefined(quotas.monthly)
  })
)

/**
 * A probe for {@link Options.probe}: asks `overall_quotas` which window is spent; `"unknown"` when it cannot tell.
 *
 * @since 0.2.0
 * @category utils
 */
export const windowProbe: Effect.Effect<SpentWindow, never, VtClient.VtClient> = readQuotas.pipe(
  Effect.map(spentWindow),
  Effect.orElseSucceed((): SpentWindow => "unknown")
)

/**
 * What a gate may know beyond its policy.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<R = never> {
  /**
   * What the key already used in the current UTC day and month, so that a second run on the same day starts its
   * ledger from there. Superseded by `quotas`, which also says what the key is allowed.
   */
  readonly initial?: { readonly today: number; readonly thisMonth: number } | undefined
  /**
   * The key's `overall_quotas` (see {@link readQuotas}): the limits in force become the smaller of the policy's and
   * the key's `allowed`, and the ledger starts from what the key already used (see `GateState.learn`).
   */
  readonly quotas?: OverallQuotas | undefined
  /**
   * Asks VirusTotal which window is spent (typically {@link windowProbe}). After a `QuotaExceededError` that sets
   * a pause, the gate runs it once, while every worker waits, and pauses until that window resets instead of
   * guessing. Failures are answered with `"unknown"` by the probe itself (its error type is `never`); a defect, an
   * interruption or no answer within one `quotaWindow` counts as `"unknown"` too. Its request is not paced nor
   * counted by the gate.
   */
  readonly probe?: Effect.Effect<SpentWindow, never, R> | undefined
  /**
   * A ledger shared with the other processes that use the key (`SharedLedger`): every request start is granted by
   * it, so that spacing, the hour/day/month counts and the pause after a refusal hold for all of them together.
   * Without one, the gate uses the `SharedLedger.QuotaLedger` in context, if any, else keeps its own.
   */
  readonly ledger?: SharedLedger.Service | undefined
}

/**
 * The gate shared by all workers of the process.
 *
 * @since 0.1.0
 * @category tags
 */
export class QuotaGate extends Context.Tag("@vt-harvest/rate-schedule/QuotaGate")<QuotaGate, Service>() {}

const iso = (ms: number): string => new Date(ms).toISOString()

/** A request cannot start while the shared ledger cannot say when: the request fails, sending nothing. */
const ledgerFailure = (ledger: SharedLedger.Service) => (error: SharedLedger.LedgerError): VtError.VtError =>
  new VtError.TransportError({
    reason: "Other",
    message: `the shared quota ledger (${ledger.location}) cannot be reached: ${error.message}`
  })

/**
 * How long a request waits for a shared ledger that does not answer (a database restarting, failing over): asked
 * again with backoff (200 ms doubling, at most 10 s apart) for up to 5 minutes, as a store is; then the request fails.
 */
const ledgerRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis", 2).pipe(
  Schedule.union(Schedule.spaced("10 seconds")),
  Schedule.upTo("5 minutes")
)

const warnLedger = (error: SharedLedger.LedgerError): Effect.Effect<void> =>
  Effect.logWarning(`the shared quota ledger could not be updated: ${error.message}`)

const quotaExceededLine = (until: number, window: SpentWindow): string =>
  `QuotaExceededError... waiting until ${iso(until)} to request again${
    window === "unknown" ? "" : ` (${window} quota spent)`
  }`

/**
 * Both clocks at once: wall time for UTC boundaries, the monotonic one (`currentTimeNanos`) for spans. Rounded to the
 * nearest millisecond: a clock that derives nanoseconds from a float of milliseconds (the TestClock) is off by a
 * fraction of one.
 */
const now: Effect.Effect<GateState.Now> = Effect.clockWith((clock) =>
  Effect.sync(() => ({
    wall: clock.unsafeCurrentTimeMillis(),
    mono: Number((clock.unsafeCurrentTimeNanos() + 500_000n) / 1_000_000n)
  }))
)

/**
 * Makes a gate enforcing `policy`. Make one per process (or per API key) and share it between all workers.
 * `options.quotas` lowers the limits to the key's own and seeds the ledger; `options.probe` asks VirusTotal which
 * window is spent after a refusal (the gate needs whatever the probe needs).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R = never>(
  policy: QuotaPolicy.QuotaPolicy,
  options?: Options<R>
): Effect.Effect<Service, never, R> =>
  Effect.gen(function*() {
    const windowMillis = Duration.toMillis(policy.quotaWindow)
    const margin = Duration.toMillis(policy.resetMargin)
    const backoffBase = Duration.toMillis(policy.backoffBase)
    const backoffCap = Duration.toMillis(policy.backoffCap)
    const start = yield* now
    const context = yield* Effect.context<R>()
    const probe = options?.probe === undefined ? undefined : Effect.provide(options.probe, context)
    const ledger = options?.ledger ?? Option.getOrUndefined(yield* Effect.serviceOption(SharedLedger.QuotaLedger))
    const fresh = GateState.initial(policy, start, options?.initial)
    const state = yield* Ref.make(options?.quotas === undefined ? fresh : GateState.learn(fresh, options.quotas, start))
    // Completed when the probe run for the latest pause has answered.
    const probing = yield* Ref.make<Deferred.Deferred<void> | undefined>(undefined)
    // Held while waiting for spacing: the next caller's spacing is measured from the start this caller makes.
    const permit = yield* Effect.makeSemaphore(1)
    // Refusals are settled one at a time: the escalation schedule steps once per fresh refusal.
    const refusing = yield* Effect.makeSemaphore(1)
    const escalation = QuotaSchedule.quotaExceeded(policy)

    // The shared ledger's last announced wait, so that it is announced once by this process.
    let announcedShared = -Infinity
    // Whether the shared ledger is being asked again (said once, and once when it answers again).
    let ledgerDown = false
    const takeShared = (shared: SharedLedger.Service, limits: GateState.Limits) =>
      shared.take(limits).pipe(
        Effect.tapError((error) => {
          if (ledgerDown) return Effect.void
          ledgerDown = true
          return Effect.logWarning(
            `the shared quota ledger (${shared.location}) does not answer (${error.message}): trying again for up ` +
              "to 5 minutes; no request is sent meanwhile"
          )
        }),
        // Only a ledger out of reach for now: a refused statement, or one not answered in time (it may have
        // counted a start), is not asked again.
        Effect.retry({ schedule: ledgerRetry, while: (error) => error.transient === true }),
        Effect.tap(() => {
          if (!ledgerDown) return Effect.void
          ledgerDown = false
          return Effect.logInfo("the shared quota ledger answers again: requests resume")
        }),
        Effect.mapError(ledgerFailure(shared))
      )
    const loop: Effect.Effect<Ticket, VtError.VtError> = Effect.gen(function*() {
      while (true) {
        const at = yield* now
        const next = ledger === undefined
          ? yield* Ref.modify(state, (s) => GateState.take(s, at))
          : GateState.take(yield* Ref.get(state), at, { shared: true })[0]
        switch (next._tag) {
          case "Start": {
            if (ledger === undefined) return next.ticket
            // This process lets the request go: the ledger shared with the others decides when.
            const limits = (yield* Ref.get(state)).limits
            const answer = yield* takeShared(ledger, limits)
            if (answer._tag === "Start") {
              // The start is now, not when the ledger was first asked (it may have been asked again meanwhile).
              const started = yield* now
              const ticket = yield* Ref.modify(state, (s) => GateState.start(s, started))
              return { ...ticket, shared: { sequence: answer.sequence, refusals: answer.refusals } }
            }
            // A full ledger, or another process's refusal, said once: else this one would wait (until 00:00 UTC,
            // say) in silence.
            const what = answer.reason === "paused"
              ? "QuotaExceededError in another process (shared ledger)..."
              : GateState.limitText(limits, answer.reason)?.concat(" reached (shared ledger),")
            if (what !== undefined && announcedShared !== answer.until) {
              announcedShared = answer.until
              yield* Effect.logWarning(`${what} waiting until ${iso(answer.until)} to request again`)
            }
            yield* Effect.sleep(Duration.millis(Math.max(1, answer.millis)))
            continue
          }
          case "Halted":
            return yield* Effect.fail(next.reason as VtError.VtError)
          case "Probing": {
            // The length of the pause is not known yet: look again once the probe has answered.
            const answered = yield* Ref.get(probing)
            if (answered !== undefined) yield* Deferred.await(answered)
            else yield* Effect.yieldNow()
            continue
          }
          case "Wait":
            if (next.announce !== undefined) yield* Effect.logWarning(next.announce)
            // Sleep, then look again: another worker may have set a pause meanwhile.
            yield* Effect.sleep(Duration.millis(next.millis))
        }
      }
    })
    const waitAndTake = permit.withPermits(1)(loop)

    // Without spacing a caller never queues behind another for a slot, so when the gate is open it takes its ticket
    // at once, without the permit; otherwise it joins the queue. With spacing every caller queues, so that the
    // waiting ones keep their order.
    // With a shared ledger and no spacing, callers ask the ledger side by side.
    const spaced = GateState.limitsOf(policy).spacing > 0
    const take: Effect.Effect<Ticket, VtError.VtError> = spaced
      ? waitAndTake
      : ledger !== undefined
      ? loop
      : Effect.flatMap(
        now,
        (at) =>
          Effect.flatMap(
            Ref.modify(state, (s) => {
              const [next, after] = GateState.take(s, at)
              return next._tag === "Start" ? [next.ticket, after] : [undefined, s]
            }),
            (ticket) => ticket === undefined ? waitAndTake : Effect.succeed(ticket)
          )
      )

    // When a spent window resets, seen from the refusal at `at`; `undefined` for "unknown".
    const resetOf = (window: SpentWindow, at: GateState.Now): QuotaSchedule.Pause | undefined => {
      switch (window) {
        case "minute":
          return { _tag: "For", millis: windowMillis }
        case "hourly":
          return { _tag: "Until", instant: QuotaSchedule.nextUtcHour(at.wall) + margin }
        case "daily":
          return { _tag: "Until", instant: QuotaSchedule.nextUtcMidnight(at.wall) + margin }
        case "monthly":
          return { _tag: "Until", instant: QuotaSchedule.nextUtcMonth(at.wall) + margin }
        default:
          return undefined
      }
    }

    const pausedUntil = (at: GateState.Now) => Effect.map(Ref.get(state), (s) => GateState.status(s, at).pausedUntil)

    const refused = (ticket: Ticket): Effect.Effect<void> =>
      Effect.uninterruptibleMask((restore) =>
        refusing.withPermits(1)(Effect.gen(function*() {
          const at = yield* now
          const before = yield* Ref.get(state)
          if (!GateState.isFresh(before, ticket)) return
          // With a shared ledger, every process pauses at once (for one window until the pause is known), and the
          // refusals in a row are counted there; a refusal another process already paused for says nothing new.
          const shared = ledger === undefined || ticket.shared === undefined
            ? undefined
            : yield* ledger.refused(ticket.shared.sequence, { _tag: "For", millis: windowMillis }).pipe(
              Effect.catchAll((error) => Effect.as(warnLedger(error), undefined))
            )
          if (shared !== undefined && !shared.fresh) return
          // The escalation schedule says how long, from how many refusals came in a row: with a shared ledger, as
          // the ledger counts them (another process's answer since this one's last refusal ended the series).
          const [, pause] = yield* escalation.step(
            at.wall,
            { monthFull: GateState.monthFull(before, at) },
            shared === undefined ? before.refusals : shared.refusals - 1
          )
          const answered = probe === undefined ? undefined : yield* Deferred.make<void>()
          if (answered !== undefined) yield* Ref.set(probing, answered)
          yield* Ref.update(state, (s) => GateState.refused(s, ticket, pause, at, { probing: answered !== undefined }))
          if (probe === undefined || answered === undefined) {
            yield* share(pause)
            return yield* Effect.logWarning(quotaExceededLine((yield* pausedUntil(at)) ?? at.wall, "unknown"))
          }
          // Interruptible while it waits for VirusTotal; an interruption counts as no answer, and the pause is
          // settled and the takers released whatever happens.
          const exit = yield* Effect.exit(restore(Effect.timeout(probe, policy.quotaWindow)))
          const window: SpentWindow = Exit.isSuccess(exit) ? exit.value : "unknown"
          const measured = resetOf(window, at)
          yield* Ref.update(state, (s) => GateState.probed(s, measured, pause, at, before))
          yield* share(measured ?? pause)
          yield* Ref.set(probing, undefined)
          yield* Deferred.succeed(answered, undefined)
          yield* Effect.logWarning(
            quotaExceededLine((yield* pausedUntil(at)) ?? at.wall, measured === undefined ? "unknown" : window)
          )
        }))
      )

    const throttled = (ticket: Ticket): Effect.Effect<void> =>
      Effect.flatMap(now, (at) => Ref.update(state, (s) => GateState.throttled(s, ticket, at, backoffBase, backoffCap)))

    // The pause every process keeps, in the shared ledger.
    const share = (pause: QuotaSchedule.Pause): Effect.Effect<void> =>
      ledger === undefined ? Effect.void : Effect.catchAll(ledger.extend(pause), warnLedger)

    const answered = (ticket: Ticket): Effect.Effect<void> =>
      Effect.zipRight(
        Ref.update(state, (s) => GateState.answered(s, ticket)),
        // Only a request that was let go after refusals ends them (the rest need no round trip).
        ledger !== undefined && ticket.shared !== undefined && ticket.shared.refusals > 0
          ? Effect.catchAll(ledger.answered(ticket.shared.sequence), warnLedger)
          : Effect.void
      )

    const halt = (error: VtError.VtError): Effect.Effect<void> => Ref.update(state, (s) => GateState.halt(s, error))

    // What the key used, as learned, counts in the shared ledger too.
    const shareUsed = (at: GateState.Now): Effect.Effect<void> =>
      ledger === undefined ? Effect.void : Effect.flatMap(Ref.get(state), (s) => {
        const l = GateState.roll(s.ledger, at.wall)
        return Effect.catchAll(
          ledger.learn({ thisHour: l.thisHour, today: l.today, thisMonth: l.thisMonth }),
          warnLedger
        )
      })
    if (options?.quotas !== undefined) yield* shareUsed(start)

    const learn = (usage: GateState.Usage): Effect.Effect<void> =>
      Effect.flatMap(
        now,
        (at) => Effect.zipRight(Ref.update(state, (s) => GateState.learn(s, usage, at)), shareUsed(at))
      )

    const status: Effect.Effect<Status> = Effect.flatMap(
      now,
      (at) => Effect.map(Ref.get(state), (s) => GateState.status(s, at))
    )

    return QuotaGate.of({ policy, take, refused, throttled, answered, halt, learn, status })
  })

/**
 * The gate as a layer; build it once per process so that all workers share it. The options are those of
 * `make`: lower the limits to the key's with `quotas`, ask which window is spent with `probe`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R = never>(
  policy: QuotaPolicy.QuotaPolicy,
  options?: Options<R>
): Layer.Layer<QuotaGate, never, R> => Layer.effect(QuotaGate, make(policy, options))

const isTagged = (u: unknown): u is { readonly _tag: string } =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string"

const tagOf = (u: unknown): string => (isTagged(u) ? u._tag : "an error")

// A network error is no answer, and a request the client refused was never sent: neither says anything about the
// quota.
const isAnswer = (error: VtError.VtError): boolean => error._tag !== "TransportError" && error._tag !== "InvalidIdError"

/** What the answer to the request of `ticket` tells the gate. */
const report = (gate: Service, ticket: Ticket, error: unknown): Effect.Effect<void> =>
  VtError.isQuotaExceeded(error)
    ? gate.refused(ticket)
    : error instanceof VtError.TooManyRequestsError
    ? gate.throttled(ticket)
    : VtError.isFatal(error)
    ? Effect.zipRight(gate.halt(error), gate.answered(ticket))
    : isTagged(error) && isAnswer(error as VtError.VtError)
    ? gate.answered(ticket)
    : Effect.void

/**
 * One request through the gate, not retried: waits for its ticket, runs `self`, and tells the gate how VirusTotal
 * answered (a `QuotaExceededError` pauses every worker, a refused key halts the gate). {@link retry} around one or
 * more of these makes a unit of work that is retried whole.
 *
 * @since 0.2.0
 * @category utils
 */
export const attempt = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | VtError.VtError, R | QuotaGate> =>
  Effect.flatMap(QuotaGate, (gate) => attemptWith(gate, self))

const attemptWith = <A, E, R>(gate: Service, self: Effect.Effect<A, E, R>): Effect.Effect<A, E | VtError.VtError, R> =>
  Effect.flatMap(gate.take, (ticket) =>
    Effect.tapBoth(self, {
      onFailure: (error) => report(gate, ticket, error),
      onSuccess: () => gate.answered(ticket)
    }))

// `QuotaSchedule.retry`, saying in the log what it retries and when.
const retrySchedule = (policy: QuotaPolicy.QuotaPolicy) =>
  QuotaSchedule.retry(policy).pipe(
    Schedule.onDecision((decision, next) =>
      ScheduleDecision.isDone(next) || decision._tag !== "Transient"
        ? Effect.void
        : Effect.logInfo(
          `retrying after ${tagOf(decision.error)} (attempt ${decision.attempt}/${policy.maxTransientRetries}) in ${
            Duration.format(decision.delay)
          }`
        )
    )
  )

/**
 * The gate's retry policy (`QuotaSchedule.retry`) around a unit of work made of {@link attempt}s: a
 * `QuotaExceededError` is retried at once (the next attempt waits for the pause the refusal set), as often as it
 * takes; a transient failure after `QuotaSchedule.transientBackoff`, at most `maxTransientRetries` times, then the
 * last error is returned; any other error at once. The whole unit runs again each time.
 *
 * @since 0.2.0
 * @category utils
 */
export const retry = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | QuotaGate> =>
  Effect.flatMap(QuotaGate, (gate) => retryAfterFirst(self, () => retrySchedule(gate.policy)))

/**
 * The whole per-request policy around one VirusTotal call, `retry(attempt(self))`. With the decorated client
 * ({@link layerClient}) every call already gets it; this is for work that does not go through a `VtClient`.
 *
 * @since 0.1.0
 * @category utils
 */
export const request = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | VtError.VtError, R | QuotaGate> =>
  retry(attempt(self))

/**
 * The gate as a client middleware: every request waits for its ticket and reports its answer; a request alone is
 * retried by `QuotaSchedule.retry`, a request inside a `VtClient.unit` is not (the unit is, whole).
 *
 * @since 0.2.0
 * @category combinators
 */
export const middleware = (gate: Service): VtClient.Middleware => {
  const schedule = retrySchedule(gate.policy)
  return {
    request: (send, info) => {
      const once = attemptWith(gate, send)
      return info.inUnit ? once : retryAfterFirst(once, () => schedule)
    },
    unit: (self) => retryAfterFirst(self, () => schedule)
  }
}

/**
 * `Effect.retry(self, schedule)` that builds its schedule only once `self` has failed (most requests succeed at
 * once): the schedule then sees that first failure, replayed without running `self` again, and every later one,
 * exactly as `Effect.retry` would.
 */
const retryAfterFirst = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  schedule: () => Schedule.Schedule<unknown, E, never>
): Effect.Effect<A, E, R> =>
  Effect.catchAll(self, (first) => {
    let replay = true
    return Effect.retry(
      Effect.suspend(() => {
        if (!replay) return self
        replay = false
        return Effect.fail(first)
      }),
      schedule()
    )
  })

/**
 * Replaces the `VtClient` in context by the same client behind the gate in context: from then on nothing sent
 * through it escapes the gate, whichever module sends it.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerClient: Layer.Layer<VtClient.VtClient, never, VtClient.VtClient | QuotaGate> = VtClient
  .layerTransform(() => Effect.map(QuotaGate, middleware))

/**
 * A gate for `policy` and the client in context decorated by it, in one layer: the usual way to build a program's
 * client. The gate's own questions (`options.probe`) go through the undecorated client.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerGated = <R = never>(
  policy: QuotaPolicy.QuotaPolicy,
  options?: Options<R>
): Layer.Layer<VtClient.VtClient | QuotaGate, never, VtClient.VtClient | R> =>
  layerClient.pipe(Layer.provideMerge(layer(policy, options)))
