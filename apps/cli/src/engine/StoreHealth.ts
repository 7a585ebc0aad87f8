/**
 * Whether the store answers, as the run sees it. S3 and PostgreSQL try a failed operation again for up to 5 minutes (a
 * store down for a moment); meanwhile no request leaves and no new item is started, so that no request is spent on a
 * report that may not be kept, and the run log says so. The first store operation that succeeds opens the way again;
 * one that fails for good stops the run (`Failure.StoreFailed`).
 *
 * One state for the process, that of the run in progress (`during`): it is asked on every request and every store
 * operation, and a plain check costs nothing there, where looking a service up in the context would.
 */
import { Effect, type FiberId, Schedule } from "effect"
import * as Text from "../internal/text.js"

interface State {
  failing: boolean
  readonly latch: Effect.Latch
  /** The fibers whose store operation is being tried again: the way opens when the last of them succeeds. */
  readonly retrying: Set<FiberId.FiberId>
}

let current: State | undefined

/** The failure's own words, or its cause's when it has none (the PostgreSQL store's failures carry the driver's). */
const describe = (error: unknown): string => {
  const words = (u: unknown): string => {
    if (u instanceof Error) return u.message
    if (u === undefined || u === null) return ""
    try {
      return String(u)
    } catch {
      return "" // An object without a string form.
    }
  }
  const own = words(error)
  const cause = typeof error === "object" && error !== null && "cause" in error ? words(error.cause) : ""
  return Text.oneLine(own !== "" ? own : cause !== "" ? cause : "no reason given", 200)
}

/** Runs `self` (a run) with a store health of its own, which the steps below consult. */
export const during = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.map(Effect.makeLatch(true), (latch) => {
      const previous = current
      current = { failing: false, latch, retrying: new Set() }
      return previous
    }),
    () => self,
    (previous) => Effect.sync(() => void (current = previous))
  )

// The flag and the latch change together, in one step: a fiber never sees the one without the other.
const retrying = (error: unknown): Effect.Effect<void> =>
  Effect.fiberIdWith((fiber) => {
    const state = current
    if (state === undefined) return Effect.void
    state.retrying.add(fiber)
    if (state.failing) return Effect.void
    state.failing = true
    state.latch.unsafeClose()
    return Effect.logWarning(
      `the store does not answer (${describe(error)}): trying again for up to 5 minutes; no request is sent meanwhile`
    )
  })

/**
 * `schedule` (a store's retry policy) telling the run's store health of each failure it will wait on: those
 * `transient` says the store tries again (a schedule is stepped for every failure, also one that is not retried).
 */
export const watched = <Out>(
  schedule: Schedule.Schedule<Out, unknown>,
  transient: (failure: unknown) => boolean
): Schedule.Schedule<Out, unknown> =>
  Schedule.tapInput(schedule, (failure) => (transient(failure) ? retrying(failure) : Effect.void))

/** Whether the store does not answer now. */
export const failing = (): boolean => current?.failing === true

/**
 * A store operation of this fiber ended (succeeded, or failed for good): once none is being tried again, the way is
 * open. Another fiber's operation succeeding meanwhile (a read while writes fail) opens nothing.
 */
export const answered: Effect.Effect<void> = Effect.fiberIdWith((fiber) => {
  const state = current
  if (state === undefined || !state.failing) return Effect.void
  state.retrying.delete(fiber)
  if (state.retrying.size > 0) return Effect.void
  state.failing = false
  state.latch.unsafeOpen()
  return Effect.logInfo("the store answers again: requests resume")
})

/** `self` once the store answers: at once when it does (a plain check), else when it answers again. */
export const whenReady = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const state = current
  return state === undefined || !state.failing
    ? self
    : Effect.zipRight(state.latch.await, Effect.suspend(() => whenReady(self)))
}
