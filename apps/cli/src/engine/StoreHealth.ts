/**
 * Whether the store answers, as a run sees it. S3 and PostgreSQL try a failed operation again for up to 5 minutes (a
 * store down for a moment); meanwhile no new item is started, so that no request is spent on a report that may not be
 * kept, and the run log says so. The first store operation that succeeds opens the way again; one that fails for good
 * stops the run (`Failure.StoreFailed`).
 */
import { Context, Effect, Option, Schedule } from "effect"
import * as Text from "../internal/text.js"

export interface Service {
  /** A store operation failed and is about to be tried again. */
  readonly retrying: (error: unknown) => Effect.Effect<void>
  /** A store operation succeeded. */
  readonly answered: Effect.Effect<void>
  /** Waits while the store does not answer. */
  readonly ready: Effect.Effect<void>
}

export class StoreHealth extends Context.Tag("@vt-harvest/cli/StoreHealth")<StoreHealth, Service>() {}

const describe = (error: unknown): string => Text.oneLine(error instanceof Error ? error.message : String(error), 200)

export const make: Effect.Effect<Service> = Effect.map(Effect.makeLatch(true), (latch) => {
  let failing = false
  return {
    retrying: (error) =>
      Effect.suspend(() => {
        if (failing) return Effect.void
        failing = true
        return Effect.zipRight(
          latch.close,
          Effect.logWarning(
            `the store does not answer (${
              describe(error)
            }): trying again for up to 5 minutes; no new id is requested ` +
              "meanwhile"
          )
        )
      }),
    answered: Effect.suspend(() => {
      if (!failing) return Effect.void
      failing = false
      return Effect.zipRight(latch.open, Effect.logInfo("the store answers again: requests resume"))
    }),
    ready: Effect.suspend(() => (failing ? latch.await : Effect.void))
  }
})

const withHealth = (f: (health: Service) => Effect.Effect<void>): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(StoreHealth), Option.match({ onNone: () => Effect.void, onSome: f }))

/** `schedule` (a store's retry policy) telling the run's StoreHealth, when there is one, of each failure it retries. */
export const watched = <Out>(schedule: Schedule.Schedule<Out, unknown>): Schedule.Schedule<Out, unknown> =>
  Schedule.tapInput(schedule, (error) => withHealth((health) => health.retrying(error)))

/** Tells the run's StoreHealth, when there is one, that a store operation succeeded. */
export const answered: Effect.Effect<void> = withHealth((health) => health.answered)

/** Waits while the run's store does not answer (at once when there is no StoreHealth). */
export const ready: Effect.Effect<void> = withHealth((health) => health.ready)
