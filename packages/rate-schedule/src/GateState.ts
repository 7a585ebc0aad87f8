/**
 * The quota gate's state machine as pure functions: given the state and the time, what happens to a request that
 * wants to start, to a refusal, to an answer. No fibers, no clock, no effects: the gate (`QuotaGate`) runs these
 * inside one `Ref`, and tests drive them with plain numbers.
 *
 * Time comes in two readings. Spacing and short pauses use a monotonic clock (`mono`, which never jumps), so a wall
 * clock set back an hour costs nothing; UTC boundaries (the hour, 00:00, the 1st) use wall time (`wall`, epoch
 * milliseconds), since that is when VirusTotal resets its windows.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as QuotaPolicy from "./QuotaPolicy.js"
import type { Pause } from "./QuotaSchedule.js"
import { nextUtcHour, nextUtcMidnight, nextUtcMonth } from "./QuotaSchedule.js"

/**
 * A reading of both clocks at one instant.
 *
 * @since 0.2.0
 * @category models
 */
export interface Now {
  /** UTC wall time, epoch milliseconds. */
  readonly wall: number
  /** A monotonic clock, milliseconds from an arbitrary origin. */
  readonly mono: number
}

/**
 * The limits in force: the policy's, lowered to what the key itself is allowed once known (see {@link learn}).
 *
 * @since 0.2.0
 * @category models
 */
export interface Limits {
  /** Minimum time between two request starts (0: none). */
  readonly spacing: number
  readonly perHour: number | undefined
  readonly perDay: number | undefined
  readonly perMonth: number | undefined
}

/**
 * Requests started in the current UTC hour, day and month.
 *
 * @since 0.2.0
 * @category models
 */
export interface Ledger {
  readonly hour: number
  readonly thisHour: number
  readonly day: number
  readonly today: number
  readonly month: number
  readonly thisMonth: number
}

/**
 * The permission to send one request.
 *
 * @since 0.2.0
 * @category models
 */
export interface Ticket {
  /** When the request was allowed to start (epoch milliseconds, wall time). */
  readonly startedAt: number
  /** The request's number at this gate, from 1: orders starts even when they share a millisecond. */
  readonly sequence: number
}

/**
 * Why no request may start yet: the spacing since the last start, a pause after a refusal, or a full ledger.
 *
 * @since 0.2.0
 * @category models
 */
export type WaitReason = "spacing" | "paused" | "hour" | "day" | "month"

/**
 * The whole state of a gate.
 *
 * @since 0.2.0
 * @category models
 */
export interface State {
  readonly limits: Limits
  readonly ledger: Ledger
  /** Requests started so far; the sequence number of the latest ticket. */
  readonly requests: number
  /** The monotonic instant of the latest start. */
  readonly lastStart: number | undefined
  /** No request starts before this monotonic instant (a pause for a span of time). */
  readonly pausedMono: number
  /** No request starts before this wall instant (a pause until a quota window resets). */
  readonly pausedWall: number
  /** Tickets up to this sequence number were in flight (or done) when the latest pause was set. */
  readonly pausedAfter: number
  /** Refusals since the last answer: the state of the escalation schedule (`QuotaSchedule.quotaExceeded`). */
  readonly refusals: number
  /** `TooManyRequestsError` answers since the last other answer: how long the next short pause is. */
  readonly throttles: number
  /** Set while a probe asks VirusTotal which window is spent: no request starts meanwhile. */
  readonly probing: boolean
  /** Set once nothing more may be sent (the key was refused, TLS cannot be trusted): why. */
  readonly halted: unknown
  /** The ledger wait already announced, so that it is announced once. */
  readonly announced: number
}

const dayMillis = 86_400_000
const hourMillis = 3_600_000

const utcMonth = (ms: number): number => {
  const date = new Date(ms)
  return date.getUTCFullYear() * 12 + date.getUTCMonth()
}

const count = (n: number): number => (n > 0 && Number.isFinite(n) ? Math.floor(n) : 0)

/**
 * A ledger for the UTC hour, day and month of `wall` that already counts the given requests.
 *
 * @since 0.2.0
 * @category constructors
 */
export const ledger = (
  wall: number,
  counts?: { readonly thisHour?: number | undefined; readonly today?: number; readonly thisMonth?: number }
): Ledger => ({
  hour: Math.floor(wall / hourMillis),
  thisHour: count(counts?.thisHour ?? 0),
  day: Math.floor(wall / dayMillis),
  today: count(counts?.today ?? 0),
  month: utcMonth(wall),
  thisMonth: count(counts?.thisMonth ?? 0)
})

/**
 * The ledger as seen at `wall`: counters of an hour, day or month that has ended start again from zero.
 *
 * @since 0.2.0
 * @category utils
 */
export const roll = (l: Ledger, wall: number): Ledger => {
  const hour = Math.floor(wall / hourMillis)
  if (hour === l.hour) return l
  const day = Math.floor(wall / dayMillis)
  const month = utcMonth(wall)
  return {
    hour,
    thisHour: 0,
    day,
    today: day === l.day ? l.today : 0,
    month,
    thisMonth: month === l.month ? l.thisMonth : 0
  }
}

/**
 * The limits a policy sets.
 *
 * @since 0.2.0
 * @category constructors
 */
export const limitsOf = (policy: QuotaPolicy.QuotaPolicy): Limits => ({
  spacing: Duration.toMillis(QuotaPolicy.spacing(policy)),
  perHour: policy.perHour,
  perDay: policy.perDay,
  perMonth: policy.perMonth
})

/**
 * A fresh gate state for `policy` at `now`, its ledger counting `counts` (what the key already used).
 *
 * @since 0.2.0
 * @category constructors
 */
export const initial = (
  policy: QuotaPolicy.QuotaPolicy,
  now: Now,
  counts?: { readonly thisHour?: number | undefined; readonly today?: number; readonly thisMonth?: number }
): State => ({
  limits: limitsOf(policy),
  ledger: ledger(now.wall, counts),
  requests: 0,
  lastStart: undefined,
  pausedMono: -Infinity,
  pausedWall: -Infinity,
  pausedAfter: 0,
  refusals: 0,
  throttles: 0,
  probing: false,
  halted: undefined,
  announced: -Infinity
})

/**
 * The use of one quota window as VirusTotal's `overall_quotas` reports it for the key (`user`) and, for a key in a
 * group, for the group (`group`); or already reduced to one `{ used, allowed }`.
 *
 * @since 0.2.0
 * @category models
 */
export type WindowUsage =
  | { readonly used: number; readonly allowed: number }
  | {
    readonly user?: { readonly used: number; readonly allowed: number } | undefined
    readonly group?: { readonly used: number; readonly allowed: number } | undefined
  }

/**
 * The key's windows as `overall_quotas` reports them; a missing window says nothing.
 *
 * @since 0.2.0
 * @category models
 */
export interface Usage {
  readonly hourly?: WindowUsage | undefined
  readonly daily?: WindowUsage | undefined
  readonly monthly?: WindowUsage | undefined
}

/** VirusTotal reports a window without a limit with an allowance in the billions. */
const unlimited = 1e9

const parts = (usage: WindowUsage | undefined) =>
  usage === undefined
    ? []
    : "used" in usage
    ? [usage]
    : [usage.user, usage.group].filter((p): p is { used: number; allowed: number } => p !== undefined)

/**
 * A limit lowered to what one window of the key allows, and how many of those requests are already used. The
 * window's parts (the key's own, the group's) each cap what is left.
 */
const learnWindow = (
  limit: number | undefined,
  usage: WindowUsage | undefined
): { readonly limit: number | undefined; readonly used: number | undefined } => {
  // An allowance that is no count of requests (negative, fractional, not finite) says nothing: as if not reported.
  const known = parts(usage).filter((p) =>
    typeof p.allowed === "number" && typeof p.used === "number" && Number.isSafeInteger(p.allowed) &&
    p.allowed >= 0 && p.allowed < unlimited
  )
  if (known.length === 0) return { limit, used: undefined }
  const allowed = Math.min(...known.map((p) => count(p.allowed)))
  const left = Math.min(...known.map((p) => Math.max(0, count(p.allowed) - count(p.used))))
  const effective = limit === undefined ? allowed : Math.min(limit, allowed)
  // The key's own use counts against any limit, and what is left of the effective limit is never more than what
  // the key has left.
  const used = Math.max(...known.map((p) => count(p.used)))
  return { limit: effective, used: Math.max(used, effective - left) }
}

/**
 * The state once the key's own quotas are known (VirusTotal's `overall_quotas`): each hourly, daily and monthly
 * limit becomes the smaller of the policy's and the key's `allowed`, and the ledger counts what the key already
 * used in that window (the most of the gate's own count and the key's): a key allowed 5 requests a day starts its
 * 6th at the next 00:00 UTC instead of spending a refusal to find out.
 *
 * @since 0.2.0
 * @category transitions
 */
export const learn = (s: State, usage: Usage, now: Now): State => {
  const l = roll(s.ledger, now.wall)
  const hourly = learnWindow(s.limits.perHour, usage.hourly)
  const daily = learnWindow(s.limits.perDay, usage.daily)
  const monthly = learnWindow(s.limits.perMonth, usage.monthly)
  return {
    ...s,
    limits: { ...s.limits, perHour: hourly.limit, perDay: daily.limit, perMonth: monthly.limit },
    ledger: {
      ...l,
      thisHour: Math.max(l.thisHour, hourly.used ?? 0),
      today: Math.max(l.today, daily.used ?? 0),
      thisMonth: Math.max(l.thisMonth, monthly.used ?? 0)
    }
  }
}

/**
 * What happens to a request that wants to start.
 *
 * @since 0.2.0
 * @category models
 */
export type Decision =
  | { readonly _tag: "Start"; readonly ticket: Ticket }
  | {
    readonly _tag: "Wait"
    /** How long to sleep before looking again. */
    readonly millis: number
    /** Until when (wall time), for displays. */
    readonly until: number
    readonly reason: WaitReason
    /** A line to log once: a full ledger's wait. */
    readonly announce: string | undefined
  }
  | { readonly _tag: "Probing" }
  | { readonly _tag: "Halted"; readonly reason: unknown }

interface Blocker {
  readonly millis: number
  readonly reason: WaitReason
}

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * What holds the next start back at `now` (the longest wait wins), with the ledger as rolled to `now`. With `shared`,
 * spacing and the ledger's limits are a shared ledger's to enforce (`SharedLedger`), and only this gate's own pauses
 * count here.
 */
const blocker = (s: State, l: Ledger, now: Now, shared = false): Blocker | undefined => {
  let worst: Blocker | undefined
  const consider = (millis: number, reason: WaitReason) => {
    if (millis > 0 && (worst === undefined || millis > worst.millis)) worst = { millis, reason }
  }
  consider(s.pausedMono - now.mono, "paused")
  consider(s.pausedWall - now.wall, "paused")
  if (shared) return worst
  if (s.lastStart !== undefined && s.limits.spacing > 0) consider(s.lastStart + s.limits.spacing - now.mono, "spacing")
  const { perDay, perHour, perMonth } = s.limits
  if (perHour !== undefined && l.thisHour >= perHour) consider(nextUtcHour(now.wall) - now.wall, "hour")
  if (perDay !== undefined && l.today >= perDay) consider(nextUtcMidnight(now.wall) - now.wall, "day")
  if (perMonth !== undefined && l.thisMonth >= perMonth) consider(nextUtcMonth(now.wall) - now.wall, "month")
  return worst
}

/**
 * The limit a wait for `reason` is owed to, for the line that announces it (`daily limit of 500 requests`);
 * `undefined` for a wait that is no limit's (spacing, a pause).
 *
 * @since 0.3.0
 * @category utils
 */
export const limitText = (limits: Limits, reason: WaitReason): string | undefined => {
  switch (reason) {
    case "hour":
      return `hourly limit of ${limits.perHour} requests`
    case "day":
      return `daily limit of ${limits.perDay} requests`
    case "month":
      return `monthly limit of ${limits.perMonth} requests`
    default:
      return undefined
  }
}

/**
 * A request starts at `now`, whatever holds others back: it is counted in the ledger and gets the next ticket. What
 * {@link take} does when nothing holds it back; a gate with a shared ledger (`SharedLedger`) does it once the
 * ledger has let the request start.
 *
 * @since 0.3.0
 * @category transitions
 */
export const start = (s: State, now: Now): readonly [Ticket, State] => {
  const l = roll(s.ledger, now.wall)
  const ticket: Ticket = { startedAt: now.wall, sequence: s.requests + 1 }
  return [ticket, {
    ...s,
    ledger: { ...l, thisHour: l.thisHour + 1, today: l.today + 1, thisMonth: l.thisMonth + 1 },
    requests: ticket.sequence,
    lastStart: now.mono
  }]
}

/**
 * A request wants to start at `now`: it starts (and is counted), or waits (how long, and why), or waits for a
 * probe, or may not start at all. A full ledger waits until the UTC boundary that empties it.
 *
 * With `shared`, the gate's spacing and limits are kept by a ledger shared between processes (`SharedLedger`), which
 * the gate asks next: here only the halt, a probe and this gate's own pauses hold a request back.
 *
 * @since 0.2.0
 * @category transitions
 */
export const take = (
  s: State,
  now: Now,
  options?: { readonly shared?: boolean | undefined }
): readonly [Decision, State] => {
  if (s.halted !== undefined) return [{ _tag: "Halted", reason: s.halted }, s]
  if (s.probing) return [{ _tag: "Probing" }, s]
  const l = roll(s.ledger, now.wall)
  const wait = blocker(s, l, now, options?.shared === true)
  if (wait === undefined) {
    const [ticket, after] = start(s, now)
    return [{ _tag: "Start", ticket }, after]
  }
  const until = now.wall + wait.millis
  const what = limitText(s.limits, wait.reason)
  // A ledger wait is announced once (by this caller before a sleep, or by one that was interrupted).
  const announce = what !== undefined && s.announced !== until
    ? `${what} reached, waiting until ${iso(until)} to request again`
    : undefined
  return [
    { _tag: "Wait", millis: wait.millis, until, reason: wait.reason, announce },
    { ...s, ledger: l, announced: what === undefined ? s.announced : until }
  ]
}

/**
 * Whether a refusal of the request of `ticket` says something new: a refusal of a request that was already in
 * flight when the latest pause was set changes nothing.
 *
 * @since 0.2.0
 * @category utils
 */
export const isFresh = (s: State, ticket: Ticket): boolean => ticket.sequence > s.pausedAfter && s.halted === undefined

/**
 * Whether the gate's own monthly ledger is full at `now` (the escalation then skips to the 1st).
 *
 * @since 0.2.0
 * @category utils
 */
export const monthFull = (s: State, now: Now): boolean =>
  s.limits.perMonth !== undefined && roll(s.ledger, now.wall).thisMonth >= s.limits.perMonth

const pauseUntil = (s: State, pause: Pause, now: Now): State =>
  pause._tag === "For"
    ? { ...s, pausedMono: Math.max(s.pausedMono, now.mono + pause.millis) }
    : { ...s, pausedWall: Math.max(s.pausedWall, pause.instant) }

/**
 * VirusTotal refused the request of `ticket` with `QuotaExceededError`, and the escalation schedule said `pause`:
 * every request waits until it ends (or, with `probing`, until a probe has said how long). A refusal that is not
 * fresh ({@link isFresh}) changes nothing.
 *
 * @since 0.2.0
 * @category transitions
 */
export const refused = (
  s: State,
  ticket: Ticket,
  pause: Pause,
  now: Now,
  options?: { readonly probing?: boolean | undefined }
): State =>
  isFresh(s, ticket)
    ? {
      ...pauseUntil(s, pause, now),
      ledger: roll(s.ledger, now.wall),
      pausedAfter: s.requests,
      refusals: s.refusals + 1,
      probing: options?.probing === true
    }
    : s

/**
 * The probe has answered: the pause it measured (`undefined` when it could not tell) replaces the escalation's
 * guess when there is one, and requests may start again once the pause is over.
 *
 * @since 0.2.0
 * @category transitions
 */
export const probed = (s: State, pause: Pause | undefined, fallback: Pause, now: Now, before: State): State => {
  const base = { ...s, pausedMono: before.pausedMono, pausedWall: before.pausedWall, probing: false }
  return pauseUntil(base, pause ?? fallback, now)
}

/**
 * VirusTotal answered `TooManyRequestsError` (too many requests at once): every request waits a short pause,
 * `base` doubling on each such answer in a row, capped at `cap`.
 *
 * @since 0.2.0
 * @category transitions
 */
export const throttled = (s: State, ticket: Ticket, now: Now, base: number, cap: number): State =>
  ticket.sequence > s.pausedAfter
    ? {
      ...pauseUntil(s, { _tag: "For", millis: Math.min(cap, base * 2 ** Math.min(s.throttles, 30)) }, now),
      pausedAfter: s.requests,
      throttles: s.throttles + 1
    }
    : s

/**
 * VirusTotal answered the request of `ticket` with anything but a refusal: the series of refusals (and of
 * throttles) is over, and the next refusal starts the escalation afresh.
 *
 * @since 0.2.0
 * @category transitions
 */
export const answered = (s: State, ticket: Ticket): State =>
  ticket.sequence > s.pausedAfter && (s.refusals > 0 || s.throttles > 0) ? { ...s, refusals: 0, throttles: 0 } : s

/**
 * Nothing more may be sent (the key was refused, the connection cannot be secured): every later request fails
 * with `reason` without being sent. The first reason stays.
 *
 * @since 0.2.0
 * @category transitions
 */
export const halt = (s: State, reason: unknown): State => s.halted === undefined ? { ...s, halted: reason } : s

/**
 * A snapshot for progress displays and logs.
 *
 * @since 0.2.0
 * @category models
 */
export interface Status {
  /** Until when (wall time) no request may start for a reason other than spacing; `undefined` when none. */
  readonly waitingUntil: number | undefined
  /** Why, when `waitingUntil` is set. */
  readonly waitingFor: Exclude<WaitReason, "spacing"> | undefined
  /** The end of a pause after a refusal (wall time), `undefined` when not paused. */
  readonly pausedUntil: number | undefined
  readonly thisHour: number
  readonly today: number
  readonly thisMonth: number
  /** Requests started since the gate was made. */
  readonly requests: number
  /** The limits in force (the policy's, lowered to the key's own once learned). */
  readonly limits: Limits
  /** Set once nothing more may be sent. */
  readonly halted: boolean
}

/**
 * The gate's state seen at `now`.
 *
 * @since 0.2.0
 * @category utils
 */
export const status = (s: State, now: Now): Status => {
  const l = roll(s.ledger, now.wall)
  const pausedFor = Math.max(s.pausedMono - now.mono, s.pausedWall - now.wall)
  const wait = blocker({ ...s, lastStart: undefined }, l, now)
  return {
    waitingUntil: wait === undefined ? undefined : now.wall + wait.millis,
    waitingFor: wait === undefined || wait.reason === "spacing" ? undefined : wait.reason,
    pausedUntil: pausedFor > 0 ? now.wall + pausedFor : undefined,
    thisHour: l.thisHour,
    today: l.today,
    thisMonth: l.thisMonth,
    requests: s.requests,
    limits: s.limits,
    halted: s.halted !== undefined
  }
}
