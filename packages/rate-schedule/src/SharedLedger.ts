/**
 * A quota ledger shared by every process that uses one key: the spacing between request starts, the UTC hour, day
 * and month counts, and the pause after a refusal, kept in one place (a PostgreSQL row, say) and changed
 * atomically, so that N processes on M machines together keep the key's quota. A gate given a ledger
 * (`QuotaGate.Options.ledger`, or a `QuotaLedger` in context) asks it once per request start; the rest of the gate
 * (its retries, the probe after a refusal, the halt on a refused key) stays in the process.
 *
 * The rules are the gate's own (`GateState`): the transitions below run them on a ledger's {@link Row}, with one
 * clock, the ledger's (wall time: the processes' monotonic clocks cannot be compared). An implementation over a
 * database runs the same transitions in one statement; {@link memory} runs them in a `Ref`.
 *
 * @since 0.3.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as GateState from "./GateState.js"
import type { Pause } from "./QuotaSchedule.js"

/**
 * The shared state of one key.
 *
 * @since 0.3.0
 * @category models
 */
export interface Row {
  /** Requests started so far by every process; the sequence number of the latest start. */
  readonly requests: number
  /** When the latest request started (epoch milliseconds, the ledger's clock); `undefined` before the first. */
  readonly lastStart: number | undefined
  /** No request starts before this instant (epoch milliseconds): the pause after a refusal. */
  readonly pausedUntil: number
  /** Starts up to this sequence number were in flight (or done) when the latest pause was set. */
  readonly pausedAfter: number
  /** Refusals in a row, from every process: how far the escalation (`QuotaSchedule.quotaExceeded`) has gone. */
  readonly refusals: number
  /** Requests started in the current UTC hour, day and month, as `GateState.Ledger` counts them. */
  readonly ledger: GateState.Ledger
}

/**
 * The row of a key no process has used yet.
 *
 * @since 0.3.0
 * @category constructors
 */
export const empty = (now: number): Row => ({
  requests: 0,
  lastStart: undefined,
  pausedUntil: 0,
  pausedAfter: 0,
  refusals: 0,
  ledger: GateState.ledger(now)
})

/**
 * What the ledger answers a request that wants to start: start now (its sequence number in the ledger, and the
 * refusals in a row so far), or wait (how long, until when, why).
 *
 * @since 0.3.0
 * @category models
 */
export type Answer =
  | { readonly _tag: "Start"; readonly sequence: number; readonly refusals: number }
  | {
    readonly _tag: "Wait"
    readonly millis: number
    readonly until: number
    readonly reason: GateState.WaitReason
  }

// A latest start in the future (the ledger's clock was set back) holds the next start back by the spacing at most.
const stateOf = (row: Row, limits: GateState.Limits = noLimits, now = Infinity): GateState.State => ({
  limits,
  ledger: row.ledger,
  requests: row.requests,
  lastStart: row.lastStart === undefined ? undefined : Math.min(row.lastStart, now),
  pausedMono: -Infinity,
  pausedWall: row.pausedUntil,
  pausedAfter: row.pausedAfter,
  refusals: row.refusals,
  throttles: 0,
  probing: false,
  halted: undefined,
  announced: -Infinity
})

const noLimits: GateState.Limits = { spacing: 0, perHour: undefined, perDay: undefined, perMonth: undefined }

// The row of a gate state on the ledger's one clock (a pause for a span and one until an instant are one instant).
const rowOf = (s: GateState.State): Row => ({
  requests: s.requests,
  lastStart: s.lastStart,
  pausedUntil: Math.max(s.pausedWall, s.pausedMono),
  pausedAfter: s.pausedAfter,
  refusals: s.refusals,
  ledger: s.ledger
})

/**
 * A request of a process whose limits are `limits` wants to start at `now`: `GateState.take` on the shared row,
 * with the ledger's clock for spacing and UTC boundaries alike. A clock set back since the latest start costs at most
 * the spacing (the ledger's clock is wall time, which can step).
 *
 * @since 0.3.0
 * @category transitions
 */
export const take = (row: Row, limits: GateState.Limits, now: number): readonly [Answer, Row] => {
  const [decision, after] = GateState.take(stateOf(row, limits, now), { wall: now, mono: now })
  // The latest start is kept as seen from now, so that a clock set back holds starts back by the spacing once, not
  // until it catches up.
  const next = rowOf(after)
  switch (decision._tag) {
    case "Start":
      return [{ _tag: "Start", sequence: decision.ticket.sequence, refusals: row.refusals }, next]
    case "Wait":
      return [{ _tag: "Wait", millis: decision.millis, until: decision.until, reason: decision.reason }, next]
    default:
      // A shared row is never probing nor halted: those stay in each process.
      return [{ _tag: "Wait", millis: 0, until: now, reason: "paused" }, next]
  }
}

const endOf = (pause: Pause, now: number): number => pause._tag === "For" ? now + pause.millis : pause.instant

/**
 * VirusTotal refused the request started as `sequence`: when that refusal is fresh (the request started after the
 * latest pause was set), every process pauses until `pause` ends and the refusals in a row count one more. Answers
 * whether it was fresh and the refusals in a row after it.
 *
 * @since 0.3.0
 * @category transitions
 */
export const refused = (
  row: Row,
  sequence: number,
  pause: Pause,
  now: number
): readonly [{ readonly fresh: boolean; readonly refusals: number }, Row] => {
  const s = stateOf(row)
  const ticket: GateState.Ticket = { startedAt: now, sequence }
  if (!GateState.isFresh(s, ticket)) return [{ fresh: false, refusals: row.refusals }, row]
  const after = GateState.refused(s, ticket, pause, { wall: now, mono: now })
  // The ledger keeps its own row's counts: refusing does not roll them.
  return [{ fresh: true, refusals: after.refusals }, { ...rowOf(after), ledger: row.ledger }]
}

/**
 * The pause lasts at least until `pause` ends (a probe found a longer window spent).
 *
 * @since 0.3.0
 * @category transitions
 */
export const extend = (row: Row, pause: Pause, now: number): Row => ({
  ...row,
  pausedUntil: Math.max(row.pausedUntil, endOf(pause, now))
})

/**
 * The request started as `sequence` was answered with anything but a refusal: the refusals in a row are over (unless
 * it was already in flight when the latest pause was set).
 *
 * @since 0.3.0
 * @category transitions
 */
export const answered = (row: Row, sequence: number): Row => {
  const s = stateOf(row)
  const after = GateState.answered(s, { startedAt: 0, sequence })
  return after === s ? row : rowOf(after)
}

/**
 * What the key already used, as its quota endpoint reports it: each count of the row becomes at least that.
 *
 * @since 0.3.0
 * @category transitions
 */
export const learn = (row: Row, used: Used, now: number): Row => {
  const l = GateState.roll(row.ledger, now)
  return {
    ...row,
    ledger: {
      ...l,
      thisHour: Math.max(l.thisHour, used.thisHour ?? 0),
      today: Math.max(l.today, used.today ?? 0),
      thisMonth: Math.max(l.thisMonth, used.thisMonth ?? 0)
    }
  }
}

/**
 * Requests the key already used in the current UTC hour, day and month.
 *
 * @since 0.3.0
 * @category models
 */
export interface Used {
  readonly thisHour?: number | undefined
  readonly today?: number | undefined
  readonly thisMonth?: number | undefined
}

/**
 * The shared ledger could not be read or written (the database is unreachable, say).
 *
 * @since 0.3.0
 * @category errors
 */
export class LedgerError extends Schema.TaggedError<LedgerError>()("LedgerError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect),
  /**
   * The ledger could not be reached for now (a connection refused or lost): worth asking again later. Anything else
   * (a refusal of the statement, no answer in time) is not asked again by the gate.
   *
   * @since 0.3.0
   */
  transient: Schema.optional(Schema.Boolean)
}) {}

/**
 * A shared ledger for one key: the transitions above, each done atomically where every process sees it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Service {
  /** Where the ledger is kept, for messages (no password). */
  readonly location: string
  /** One request wants to start (one round trip): start, or wait. */
  readonly take: (limits: GateState.Limits) => Effect.Effect<Answer, LedgerError>
  /** A refusal of the request started as `sequence`; see {@link refused}. */
  readonly refused: (
    sequence: number,
    pause: Pause
  ) => Effect.Effect<{ readonly fresh: boolean; readonly refusals: number }, LedgerError>
  /** The pause lasts at least until `pause` ends; see {@link extend}. */
  readonly extend: (pause: Pause) => Effect.Effect<void, LedgerError>
  /** The request started as `sequence` was answered; see {@link answered}. */
  readonly answered: (sequence: number) => Effect.Effect<void, LedgerError>
  /** What the key already used; see {@link learn}. */
  readonly learn: (used: Used) => Effect.Effect<void, LedgerError>
  /** The row as it is now. */
  readonly read: Effect.Effect<Row, LedgerError>
}

/**
 * The shared ledger a gate uses when its options name none: provide it (a PostgreSQL ledger, say) under the gate's
 * layer and every gate built there shares it.
 *
 * @since 0.3.0
 * @category tags
 */
export class QuotaLedger extends Context.Tag("@vt-harvest/rate-schedule/QuotaLedger")<QuotaLedger, Service>() {}

/**
 * A ledger in memory, on the `Clock`: shared by the gates of one process that are given it (several keys' gates
 * each need their own), and the reference the other ledgers are tested against.
 *
 * @since 0.3.0
 * @category constructors
 */
export const memory: Effect.Effect<Service> = Effect.gen(function*() {
  const row = yield* Ref.make(empty(yield* Clock.currentTimeMillis))
  const at = <A>(f: (row: Row, now: number) => readonly [A, Row]) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.modify(row, (r) => f(r, now)))
  return QuotaLedger.of({
    location: "memory",
    take: (limits) => at((r, now) => take(r, limits, now)),
    refused: (sequence, pause) => at((r, now) => refused(r, sequence, pause, now)),
    extend: (pause) => at((r, now) => [undefined, extend(r, pause, now)]),
    answered: (sequence) => Ref.update(row, (r) => answered(r, sequence)),
    learn: (used) => at((r, now) => [undefined, learn(r, used, now)]),
    read: Ref.get(row)
  })
})
