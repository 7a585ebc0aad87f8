import { assert, describe, it } from "@effect/vitest"
import { QuotaGate, QuotaPolicy } from "@vt-harvest/rate-schedule"
import type { Analysis } from "@vt-harvest/vt-client"
import { Clock, Duration, Effect, Fiber, Option, TestClock } from "effect"
import {
  awaitCompleted,
  defaultPollSeconds,
  defaultWaitTimeoutSeconds,
  WaitTimedOut
} from "../src/internal/analysis.js"

const state = (status: string): Analysis.Analysis => ({
  raw: new Uint8Array(),
  data: { type: "analysis", id: "x", attributes: { status } } as never,
  id: "x",
  status,
  date: Option.none(),
  stats: {} as never,
  results: {},
  fileInfo: Option.none(),
  urlInfo: Option.none()
})

/** A fake GET /analyses/{id}: answers the given statuses in turn and records when (test clock, ms) it was asked. */
const fakeAnalysis = (statuses: ReadonlyArray<string>) => {
  const at: Array<number> = []
  const fetch = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.sync(() => {
      at.push(now)
      return state(statuses[Math.min(at.length - 1, statuses.length - 1)])
    }))
  return { at, fetch }
}

/** Moves the test clock on a second at a time until the fiber is done. */
const runToEnd = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100_000; i++) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* Fiber.join(fiber)
      yield* TestClock.adjust(Duration.seconds(1))
    }
    return yield* Effect.dieMessage("the wait never ended")
  })

describe("waiting for an analysis", () => {
  it.effect("polls every interval after a first wait, until the analysis is completed", () =>
    Effect.gen(function*() {
      const { at, fetch } = fakeAnalysis(["queued", "in-progress", "completed"])
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(awaitCompleted(fetch, {
        interval: Duration.seconds(60),
        timeout: Duration.minutes(10),
        delayFirst: true,
        onState: (analysis) => Effect.sync(() => void seen.push(analysis.status))
      }))
      const completed = yield* runToEnd(fiber)
      assert.strictEqual(completed.status, "completed")
      assert.deepStrictEqual(at, [60_000, 120_000, 180_000])
      assert.deepStrictEqual(seen, ["queued", "in-progress", "completed"])
    }))

  it.effect("without delayFirst the first poll is at once", () =>
    Effect.gen(function*() {
      const { at, fetch } = fakeAnalysis(["completed"])
      const fiber = yield* Effect.fork(awaitCompleted(fetch, {
        interval: Duration.seconds(20),
        timeout: Duration.minutes(10),
        delayFirst: false
      }))
      yield* runToEnd(fiber)
      assert.deepStrictEqual(at, [0])
    }))

  it.effect("gives up when the next poll would start after the timeout, with the last state", () =>
    Effect.gen(function*() {
      const { at, fetch } = fakeAnalysis(["queued", "in-progress"])
      const fiber = yield* Effect.fork(
        Effect.flip(awaitCompleted(fetch, {
          interval: Duration.seconds(60),
          timeout: Duration.seconds(150),
          delayFirst: true
        }))
      )
      const error = yield* runToEnd(fiber)
      assert.instanceOf(error, WaitTimedOut)
      assert.strictEqual(error.polls, 2)
      assert.strictEqual(error.last.status, "in-progress")
      assert.deepStrictEqual(at, [60_000, 120_000])
    }))

  it.effect("every poll goes through the quota gate: its spacing wins over a shorter interval", () =>
    Effect.gen(function*() {
      // One request a minute, polls asked for every 20 s: the gate holds each poll back until its turn, and the
      // interval is counted from the end of a poll, so polls start at 20 s, 80 s, 140 s.
      const gate = yield* QuotaGate.make(QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 1 }))
      const { at, fetch } = fakeAnalysis(["queued", "queued", "completed"])
      const fiber = yield* Effect.fork(
        awaitCompleted(QuotaGate.request(fetch), {
          interval: Duration.seconds(20),
          timeout: Duration.minutes(10),
          delayFirst: true
        }).pipe(Effect.provideService(QuotaGate.QuotaGate, gate))
      )
      yield* runToEnd(fiber)
      assert.deepStrictEqual(at, [20_000, 80_000, 140_000])
      assert.strictEqual((yield* gate.status).requests, 3)
    }))

  it("defaults: every 60 s on a public key, 20 s on premium, for at most 10 minutes", () => {
    assert.strictEqual(defaultPollSeconds("public"), 60)
    assert.strictEqual(defaultPollSeconds("premium"), 20)
    assert.strictEqual(defaultWaitTimeoutSeconds, 600)
  })
})
