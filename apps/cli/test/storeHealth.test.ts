// StoreHealth on its own: a store operation retried through a watched schedule closes the way to requests; the
// operation succeeding, through storeOrStop as every store operation of the engine, opens it again.
import { assert, describe, it } from "@effect/vitest"
import { ReportSink } from "@vt-harvest/report-sink"
import { Effect, Fiber, Logger, Ref, Schedule } from "effect"
import * as Failure from "../src/engine/Failure.js"
import * as StoreHealth from "../src/engine/StoreHealth.js"

/** An operation that fails `failures` times, then succeeds, retried with the watched schedule. */
const flaky = (failures: Ref.Ref<number>) =>
  Effect.flatMap(Ref.getAndUpdate(failures, (n) => n - 1), (left) =>
    left > 0
      ? Effect.fail(new ReportSink.SinkError({ operation: "write", message: "connection refused" }))
      : Effect.void).pipe(Effect.retry(StoreHealth.watched(Schedule.recurs(5), () => true)))

describe("StoreHealth", () => {
  it.effect("the warning says why the store does not answer, also when the failure's own message is empty", () =>
    StoreHealth.during(Effect.gen(function*() {
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) => void logged.push(String(message)))
      // As the PostgreSQL store's failures are: no message of their own, the driver's error as the cause.
      const failure = Object.assign(new Error(""), { cause: new Error("Query read timeout") })
      yield* Effect.ignore(
        Effect.fail(failure).pipe(
          Effect.retry(StoreHealth.watched(Schedule.recurs(0), () => true)),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
      )
      assert.deepStrictEqual(logged, [
        "the store does not answer (Query read timeout): trying again for up to 5 minutes; no request is sent meanwhile"
      ])
    })))

  it.effect("storeOrElse: a failure of a store that answers is the item's; one that does not answer stops the run", () =>
    StoreHealth.during(Effect.gen(function*() {
      const down = new ReportSink.SinkError({ operation: "get", message: "down" })
      // A record that cannot be read (not a failure the store tries again): orElse, the way stays open.
      const unreadable = yield* Failure.storeOrElse(
        Effect.fail(new ReportSink.SinkError({ operation: "get", message: "cannot decompress" })),
        (error) => Effect.succeed(`else: ${error.message}`)
      )
      assert.strictEqual(unreadable, "else: cannot decompress")
      assert.isFalse(StoreHealth.failing())
      // Tried again and answered: the value, and the way open again (a request right after does not wait).
      const failures = yield* Ref.make(1)
      const read = yield* Failure.storeOrElse(Effect.as(flaky(failures), "record"), () => Effect.succeed("else"))
      assert.strictEqual(read, "record")
      assert.isFalse(StoreHealth.failing())
      // Tried again in vain: the run stops, orElse is not asked.
      const stopped = yield* Effect.flip(Failure.storeOrElse(
        Effect.fail(down).pipe(Effect.retry(StoreHealth.watched(Schedule.recurs(1), () => true))),
        () => Effect.succeed("else")
      ))
      assert.strictEqual(stopped._tag, "StoreFailed")
    })))

  it.effect("closed while an operation is retried, open again once it succeeds through storeOrStop", () =>
    StoreHealth.during(Effect.gen(function*() {
      const failures = yield* Ref.make(1)
      const gate = yield* Ref.make(0)
      assert.isFalse(StoreHealth.failing())
      // The operation fails once: the way closes; a request meanwhile waits.
      yield* Effect.ignore(
        Effect.flatMap(
          Ref.getAndUpdate(failures, (n) => n - 1),
          () => Effect.fail(new ReportSink.SinkError({ operation: "write", message: "down" }))
        ).pipe(
          Effect.retry(StoreHealth.watched(Schedule.recurs(0), () => true))
        )
      )
      assert.isTrue(StoreHealth.failing())
      const waiting = yield* Effect.fork(StoreHealth.whenReady(Ref.update(gate, (n) => n + 1)))
      yield* Effect.yieldNow()
      assert.strictEqual(yield* Ref.get(gate), 0)
      // A later operation (the start-up probe, a write) succeeds after being tried again: the way opens.
      yield* Ref.set(failures, 2)
      yield* Failure.storeOrStop(flaky(failures))
      assert.isFalse(StoreHealth.failing())
      yield* Fiber.join(waiting)
      assert.strictEqual(yield* Ref.get(gate), 1)
    })))

  it.live("another fiber's operation succeeding meanwhile (a read while writes fail) does not open the way", () =>
    StoreHealth.during(Effect.gen(function*() {
      const failures = yield* Ref.make(1)
      // Fails once and is retried in a fiber of its own, which waits for the store before its next attempt.
      const store = yield* Ref.make(false)
      const write = Effect.flatMap(
        Ref.get(store),
        (up) => up ? Effect.void : Effect.fail(new ReportSink.SinkError({ operation: "write", message: "down" }))
      ).pipe(
        Effect.tapError(() => Ref.update(failures, (n) => n + 1)),
        Effect.retry(StoreHealth.watched(Schedule.spaced("10 millis"), () => true))
      )
      const writer = yield* Effect.fork(Failure.storeOrStop(write))
      yield* Effect.sleep("5 millis")
      assert.isTrue(StoreHealth.failing())
      // A read of another fiber succeeds: still closed.
      yield* Failure.storeOrStop(Effect.void)
      assert.isTrue(StoreHealth.failing())
      // The write succeeds: open.
      yield* Ref.set(store, true)
      yield* Fiber.join(writer)
      assert.isFalse(StoreHealth.failing())
    })))

  it.effect("a failure the store does not try again (a 501 it answers otherwise, a refusal) closes nothing", () =>
    StoreHealth.during(Effect.gen(function*() {
      yield* Effect.ignore(
        Effect.fail(new ReportSink.SinkError({ operation: "write", message: "501" })).pipe(
          Effect.retry({ schedule: StoreHealth.watched(Schedule.recurs(3), () => false), while: () => false })
        )
      )
      assert.isFalse(StoreHealth.failing())
    })))

  it.effect("outside a run nothing waits and nothing is kept", () =>
    Effect.gen(function*() {
      const failures = yield* Ref.make(2)
      yield* Failure.storeOrStop(flaky(failures))
      assert.isFalse(StoreHealth.failing())
      assert.strictEqual(yield* StoreHealth.whenReady(Effect.succeed(1)), 1)
    }))
})
