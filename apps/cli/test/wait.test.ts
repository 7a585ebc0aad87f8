import { HttpClient, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { QuotaGate, QuotaPolicy } from "@vt-harvest/rate-schedule"
import { Analysis, VtClient, VtError } from "@vt-harvest/vt-client"
import { Clock, Duration, Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as Analyses from "../src/internal/analyses.js"

const id = "YW5hbHlzaXMtaWQ="

/**
 * VirusTotal as a function of the test clock: `GET /analyses/{id}` answers the given statuses in turn and records
 * when it was asked. The client is the CLI's: gated by `policy`, so every poll passes the gate.
 */
const fakeVirusTotal = (statuses: ReadonlyArray<string>, policy = QuotaPolicy.premiumTier) => {
  const at: Array<number> = []
  const http = HttpClient.make((request) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      at.push(now)
      const status = statuses[Math.min(at.length - 1, statuses.length - 1)]
      const body = JSON.stringify({ data: { type: "analysis", id, attributes: { status } } })
      return HttpClientResponse.fromWeb(
        request,
        new Response(body, { headers: { "content-type": "application/json" } })
      )
    })
  )
  const layer = QuotaGate.layerGated(policy).pipe(
    Layer.provide(VtClient.layer({ apiKey: Redacted.make("wait-test-key"), baseUrl: "https://vt.test/api/v3" })),
    Layer.provide(Layer.succeed(HttpClient.HttpClient, http))
  )
  return { at, layer }
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

const settings = (interval: number, timeout: number) => ({
  interval: Duration.seconds(interval),
  timeout: Duration.seconds(timeout)
})

describe("waiting for an analysis", () => {
  it.effect("a just-submitted analysis: polls every interval after a first wait, until it is completed", () =>
    Effect.gen(function*() {
      const { at, layer } = fakeVirusTotal(["queued", "in-progress", "completed"])
      const fiber = yield* Effect.fork(
        Effect.provide(Analyses.wait(id, settings(60, 600), { justSubmitted: true }), layer)
      )
      const completed = yield* runToEnd(fiber)
      assert.strictEqual(completed.status, "completed")
      assert.deepStrictEqual(at, [60_000, 120_000, 180_000])
    }))

  it.effect("an analysis asked for by id: the first poll is at once", () =>
    Effect.gen(function*() {
      const { at, layer } = fakeVirusTotal(["completed"])
      const fiber = yield* Effect.fork(
        Effect.provide(Analyses.wait(id, settings(20, 600), { justSubmitted: false }), layer)
      )
      yield* runToEnd(fiber)
      assert.deepStrictEqual(at, [0])
    }))

  it.effect("gives up when the next poll would start after the timeout (from the first poll), with the last state", () =>
    Effect.gen(function*() {
      const { at, layer } = fakeVirusTotal(["queued", "in-progress", "queued"])
      const fiber = yield* Effect.fork(
        Effect.flip(Effect.provide(Analyses.wait(id, settings(60, 150), { justSubmitted: true }), layer))
      )
      const error = yield* runToEnd(fiber)
      assert.instanceOf(error, Analysis.AnalysisTimeoutError)
      if (error._tag !== "AnalysisTimeoutError") return
      assert.strictEqual(error.polls, 3)
      assert.strictEqual(error.last?.status, "queued")
      assert.deepStrictEqual(at, [60_000, 120_000, 180_000])
    }))

  it.effect("every poll goes through the gated client: its spacing wins over a shorter interval", () =>
    Effect.gen(function*() {
      // One request a minute, polls asked for every 20 s: the gate holds each poll back until its turn, and the
      // interval is counted from the end of a poll, so polls start at 20 s, 80 s, 140 s.
      const { at, layer } = fakeVirusTotal(
        ["queued", "queued", "completed"],
        QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 1 })
      )
      const fiber = yield* Effect.fork(
        Effect.gen(function*() {
          yield* Analyses.wait(id, settings(20, 600), { justSubmitted: true })
          return yield* Effect.flatMap(QuotaGate.QuotaGate, (gate) => gate.status)
        }).pipe(Effect.provide(layer))
      )
      const status = yield* runToEnd(fiber)
      assert.deepStrictEqual(at, [20_000, 80_000, 140_000])
      assert.strictEqual(status.requests, 3)
    }))

  it("defaults: every 60 s on a public key, 20 s on premium, for at most 10 minutes", () => {
    assert.strictEqual(Analyses.defaultPollSeconds("public"), 60)
    assert.strictEqual(Analyses.defaultPollSeconds("premium"), 20)
    assert.strictEqual(Analyses.defaultWaitTimeoutSeconds, 600)
  })
})

describe("an analysis id refused", () => {
  it("404 and the other answers about the request refuse the id; the key's refusal, its quota, a retry do not", () => {
    const answer = (status: number, code: string) =>
      VtError.fromResponse(status, JSON.stringify({ error: { code, message: "m" } }))
    for (
      const refused of [
        answer(404, "NotFoundError"),
        answer(400, "InvalidArgumentError"),
        answer(400, "BadRequestError"),
        answer(409, "AlreadyExistsError"),
        answer(422, "SomethingNew")
      ]
    ) {
      assert.isTrue(Analyses.refusesId(refused), `${refused.status} ${refused._tag}`)
    }
    for (
      const kept of [
        answer(401, "WrongCredentialsError"),
        answer(403, "ForbiddenError"),
        answer(403, "SomethingNew"),
        answer(429, "QuotaExceededError"),
        answer(429, "TooManyRequestsError"),
        answer(503, "TransientError"),
        answer(500, "InternalError"),
        new VtError.TransportError({ reason: "Connection", message: "reset" })
      ]
    ) {
      assert.isFalse(Analyses.refusesId(kept), `${kept._tag}`)
    }
  })
})
