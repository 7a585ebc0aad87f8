import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as QuotaGate from "../src/QuotaGate.js"
import * as QuotaPolicy from "../src/QuotaPolicy.js"
import {
  at,
  captureLogs,
  connection,
  fakeProbe,
  harvest,
  invalidArgument,
  iso,
  join,
  notFound,
  ok,
  quota,
  startsOf,
  transient,
  wrongCredentials
} from "./util.js"

// One capture per test: the layer is rebuilt for every `Effect.provide`.
let captured = captureLogs()
const captureLogsLayer = Effect.sync(() => {
  captured = captureLogs()
  return captured.layer
}).pipe((make) => Layer.unwrapEffect(make))
const lines = (level = "WARN"): ReadonlyArray<string> =>
  captured.lines.filter((l) => l.level === level).map((l) => l.message)

const seconds = (n: number) => n * 1000
const items = (n: number) => Array.from({ length: n }, (_, i) => `item${i}`)
const publicTier = QuotaPolicy.publicTier
const after = (t0: number, ...offsets: ReadonlyArray<number>) => offsets.map((s) => t0 + seconds(s))

/** The counts of a status (the fields these tests were written against). */
const counts = (status: QuotaGate.Status) => ({
  pausedUntil: status.pausedUntil,
  today: status.today,
  thisMonth: status.thisMonth,
  requests: status.requests
})

describe("QuotaGate spacing", () => {
  it.effect("starts requests exactly 60 s / perMinute apart at concurrency 1", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(publicTier, items(5), ok)
      yield* TestClock.adjust("2 minutes")
      const results = yield* join(fiber)
      assert.deepStrictEqual(results, items(5))
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 15, 30, 45, 60))
    }))

  it.effect("measures start to start: a latency below the spacing does not add to it", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(
        publicTier,
        items(4),
        (item) => Effect.as(Effect.sleep("10 seconds"), item)
      )
      yield* TestClock.adjust("2 minutes")
      yield* join(fiber)
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 15, 30, 45))
    }))

  it.effect("keeps 16 concurrent workers 15 s apart at 4/min, whatever their latency", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { concurrency: 16 })
      const { calls, fiber } = yield* harvest(
        policy,
        items(16),
        (item) => Effect.as(Effect.sleep("40 seconds"), item)
      )
      yield* TestClock.adjust("5 minutes")
      const results = yield* join(fiber)
      assert.strictEqual(results.length, 16)
      assert.deepStrictEqual(startsOf(calls), Array.from({ length: 16 }, (_, i) => t0 + i * seconds(15)))
    }))

  it.effect("lets a premium gate start all requests at once", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(QuotaPolicy.premiumTier, items(16), ok)
      yield* join(fiber)
      assert.deepStrictEqual(startsOf(calls), Array.from({ length: 16 }, () => t0))
    }))

  it.effect("keeps the spacing for retries and 404s", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a", "b", "c"],
        (item, attempt) =>
          item === "a" ? Effect.fail(notFound()) : item === "b" && attempt === 1 ? Effect.fail(transient()) : ok(item)
      )
      yield* TestClock.adjust("2 minutes")
      const results = yield* join(fiber)
      assert.deepStrictEqual(results, [undefined, "b", "c"])
      assert.deepStrictEqual(calls.map((c) => c.item), ["a", "b", "b", "c"])
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 15, 30, 45))
    }))

  it.effect("a worker sleeping for its turn honours a pause set meanwhile", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { concurrency: 2 })
      // a is refused at 10 s, while b's worker sleeps until its 15 s slot.
      const { calls, fiber } = yield* harvest(policy, ["a", "b"], (item, attempt) =>
        item === "a" && attempt === 1
          ? Effect.zipRight(Effect.sleep("10 seconds"), Effect.fail(quota()))
          : ok(item))
      yield* TestClock.adjust("3 minutes")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b"])
      assert.deepStrictEqual(startsOf(calls, "b"), after(t0, 70))
      assert.deepStrictEqual(startsOf(calls, "a"), after(t0, 0, 85))
    }))
})

describe("QuotaGate on QuotaExceededError", () => {
  it.effect("pauses every worker for the quota window and retries the same item", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { concurrency: 3 })
      const { calls, fiber, gate } = yield* harvest(
        policy,
        ["a", "b", "c", "d"],
        (item, attempt) => item === "b" && attempt === 1 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("16 seconds")
      assert.strictEqual((yield* gate.status).pausedUntil, t0 + seconds(75))
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b", "c", "d"])
      const starts = startsOf(calls)
      assert.deepStrictEqual(starts.filter((t) => t > t0 + seconds(15) && t < t0 + seconds(75)), [])
      assert.deepStrictEqual(starts, after(t0, 0, 15, 75, 90, 105))
      assert.deepStrictEqual(startsOf(calls, "b").length, 2)
      assert.isAtLeast(startsOf(calls, "b")[1], t0 + seconds(75))
      assert.deepStrictEqual(lines(), [
        `QuotaExceededError... waiting until ${iso(t0 + seconds(75))} to request again`
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("after a second refusal waits until 00:00 UTC plus the margin, then fetches the same item", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber, gate } = yield* harvest(
        publicTier,
        ["a", "b"],
        (item, attempt) => item === "a" && attempt <= 2 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 60))
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-05-08T00:00:05Z"))
      // Nothing is sent before midnight plus the margin.
      yield* TestClock.setTime(at("2024-05-08T00:00:04.999Z"))
      assert.strictEqual(calls.length, 2)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(calls[2], { item: "a", at: at("2024-05-08T00:00:05Z") })
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b"])
      assert.deepStrictEqual(calls[3], { item: "b", at: at("2024-05-08T00:00:20Z") })
      assert.deepStrictEqual(lines(), [
        `QuotaExceededError... waiting until 2024-05-07T17:01:00.000Z to request again`,
        `QuotaExceededError... waiting until 2024-05-08T00:00:05.000Z to request again`
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("refused again after 00:00 UTC: the month is spent, waits until the 1st, never drops the item", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a"],
        (item, attempt) => attempt <= 4 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("70 days")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      assert.deepStrictEqual(startsOf(calls), [
        t0,
        t0 + seconds(60),
        at("2024-05-08T00:00:05Z"),
        at("2024-06-01T00:00:05Z"),
        at("2024-07-01T00:00:05Z")
      ])
    }))

  it.effect("does not escalate on refusals of requests that were in flight when the pause was set", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { concurrency: 4 })
      // All four start together and are refused one after the other, 1 to 4 s later.
      const { calls, fiber, gate } = yield* harvest(policy, items(4), (item, attempt) =>
        attempt === 1
          ? Effect.zipRight(Effect.sleep(Duration.seconds(1 + Number(item.slice(4)))), Effect.fail(quota()))
          : ok(item))
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* gate.status).pausedUntil, t0 + seconds(61))
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(yield* join(fiber), items(4))
      assert.deepStrictEqual(startsOf(calls), [t0, t0, t0, t0, ...after(t0, 61, 61, 61, 61)])
      assert.deepStrictEqual(lines(), [
        `QuotaExceededError... waiting until ${iso(t0 + seconds(61))} to request again`
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("does not escalate on refusals of tickets taken before the pause, even in the same millisecond", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const gate = yield* QuotaGate.make(QuotaPolicy.premiumTier)
      const [t1, t2, t3] = [yield* gate.take, yield* gate.take, yield* gate.take]
      assert.deepStrictEqual([t1, t2, t3].map((t) => t.startedAt), [t0, t0, t0])
      yield* gate.refused(t1)
      yield* gate.refused(t2)
      yield* gate.refused(t3)
      assert.strictEqual((yield* gate.status).pausedUntil, t0 + seconds(60))
      // The pause holds every caller back; the first request after it, refused again, escalates.
      const t4 = yield* Effect.fork(gate.take)
      yield* TestClock.adjust("59 seconds")
      assert.isTrue((yield* Fiber.poll(t4))._tag === "None")
      yield* TestClock.adjust("1 second")
      const ticket = yield* Fiber.join(t4)
      assert.strictEqual(ticket.startedAt, t0 + seconds(60))
      yield* gate.refused(t3)
      assert.strictEqual((yield* gate.status).pausedUntil, undefined)
      yield* gate.refused(ticket)
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-05-08T00:00:05Z"))
    }))

  it.effect("an answer after a pause resets the escalation", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      // a is refused, then answered; c is refused later: a window pause again, not a wait until midnight.
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a", "b", "c"],
        (item, attempt) =>
          item !== "b" && attempt === 1 ? Effect.fail(quota()) : item === "b" ? Effect.fail(notFound()) : ok(item)
      )
      yield* TestClock.adjust("10 minutes")
      assert.deepStrictEqual(yield* join(fiber), ["a", undefined, "c"])
      assert.deepStrictEqual(calls.map((c) => c.item), ["a", "a", "b", "c", "c"])
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 60, 75, 90, 150))
    }))

  it.effect("an answer to a request sent before the pause does not reset the escalation", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { concurrency: 2 })
      // slow is answered (late) after fast was refused; fast is refused again after the pause.
      const { calls, fiber } = yield* harvest(policy, ["slow", "fast"], (item, attempt) =>
        item === "slow"
          ? Effect.as(Effect.sleep("30 seconds"), item)
          : attempt === 1
          ? Effect.zipRight(Effect.sleep("1 second"), Effect.fail(quota()))
          : attempt === 2
          ? Effect.fail(quota())
          : ok(item))
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* join(fiber), ["slow", "fast"])
      assert.deepStrictEqual(startsOf(calls, "fast"), [t0, t0 + seconds(61), at("2024-05-08T00:00:05Z")])
    }))

  it.effect("waits until the 1st of next month when refused again with the monthly ledger full", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-15T12:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { perMonth: 2 })
      const { calls, fiber, gate } = yield* harvest(
        policy,
        ["a"],
        (item, attempt) => attempt <= 2 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-02-01T00:00:05Z"))
      yield* TestClock.setTime(at("2024-02-01T00:00:00Z"))
      assert.strictEqual(calls.length, 2)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      assert.deepStrictEqual(startsOf(calls), [t0, t0 + seconds(60), at("2024-02-01T00:00:05Z")])
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 1,
        thisMonth: 1,
        requests: 3
      })
    }))
})

describe("QuotaGate own ledger", () => {
  it.effect("a ledger reaching its daily limit at 17:00 waits until midnight without sending", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T16:59:30Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { perDay: 3 })
      const { calls, fiber, gate } = yield* harvest(policy, items(5), ok)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(startsOf(calls), [t0, t0 + seconds(15), at("2024-05-07T17:00:00Z")])
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 3,
        thisMonth: 3,
        requests: 3
      })
      yield* TestClock.setTime(at("2024-05-07T23:59:59.999Z"))
      assert.strictEqual(calls.length, 3)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(calls[3].at, at("2024-05-08T00:00:00Z"))
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* join(fiber), items(5))
      assert.deepStrictEqual(startsOf(calls).slice(3), [at("2024-05-08T00:00:00Z"), at("2024-05-08T00:00:15Z")])
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 2,
        thisMonth: 5,
        requests: 5
      })
      assert.deepStrictEqual(lines(), [
        "daily limit of 3 requests reached, waiting until 2024-05-08T00:00:00.000Z to request again"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("rolls the day and month counters over from 31 Jan 23:59 to 1 Feb", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-31T23:59:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber, gate } = yield* harvest(publicTier, items(6), ok)
      yield* TestClock.adjust("59 seconds")
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 4,
        thisMonth: 4,
        requests: 4
      })
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* join(fiber)).length, 6)
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 15, 30, 45, 60, 75))
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 2,
        thisMonth: 2,
        requests: 6
      })
    }))

  it.effect("a full monthly ledger waits until the 1st of the next month, not the next day", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-15T12:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(publicTier, { perMonth: 3 })
      const { calls, fiber } = yield* harvest(policy, items(4), ok)
      yield* TestClock.adjust("1 day")
      assert.strictEqual(calls.length, 3)
      yield* TestClock.setTime(at("2024-01-31T23:59:59.999Z"))
      assert.strictEqual(calls.length, 3)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* join(fiber), items(4))
      assert.deepStrictEqual(startsOf(calls), [...after(t0, 0, 15, 30), at("2024-02-01T00:00:00Z")])
      assert.deepStrictEqual(lines(), [
        "monthly limit of 3 requests reached, waiting until 2024-02-01T00:00:00.000Z to request again"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("counts every request it lets start, refused or not", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { fiber, gate } = yield* harvest(
        publicTier,
        ["a", "b"],
        (item, attempt) => item === "a" && attempt === 1 ? Effect.fail(quota()) : ok(item)
      )
      yield* TestClock.adjust("2 minutes")
      yield* join(fiber)
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 3,
        thisMonth: 3,
        requests: 3
      })
    }))
})

describe("QuotaGate.request errors", () => {
  const fast = QuotaPolicy.make(QuotaPolicy.premiumTier, {
    maxTransientRetries: 4,
    backoffBase: Duration.seconds(1),
    backoffCap: Duration.seconds(3)
  })

  it.effect("retries transient errors with capped, jittered backoff, then fails with the last error", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber } = yield* harvest(
        fast,
        ["a"],
        (_, attempt) => Effect.fail(attempt === 5 ? connection() : transient())
      )
      yield* TestClock.adjust("1 minute")
      const results = yield* Fiber.join(fiber)
      assert.strictEqual(results.length, 1)
      const result = results[0]
      assert.isTrue(result._tag === "Left" && result.left._tag === "TransportError")
      const starts = startsOf(calls)
      assert.strictEqual(starts.length, 5)
      const delays = starts.slice(1).map((t, i) => t - starts[i])
      const bounds = [[500, 1000], [1000, 2000], [1500, 3000], [1500, 3000]]
      delays.forEach((d, i) => {
        assert.isAtLeast(d, bounds[i][0])
        assert.isAtMost(d, bounds[i][1])
      })
      const retries = lines("INFO")
      assert.strictEqual(retries.length, 4)
      retries.forEach((line, i) =>
        assert.match(line, new RegExp(`^retrying after TransientError \\(attempt ${i + 1}/4\\) in \\d+(s|ms)`))
      )
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("succeeds when a transient error clears up, and quota refusals do not use up retries", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(fast, { maxTransientRetries: 2 })
      const outcomes = [transient(), quota(), transient(), quota()]
      const { calls, fiber } = yield* harvest(
        policy,
        ["a"],
        (item, attempt) => attempt <= outcomes.length ? Effect.fail(outcomes[attempt - 1]) : ok(item)
      )
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      assert.strictEqual(calls.length, 5)
    }))

  it.effect("retry(attempt; attempt): a unit of dependent requests starts over whole, each request gated", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const gate = yield* QuotaGate.make(QuotaPolicy.make(fast, { perMinute: 60, maxTransientRetries: 3 }))
      // A one-time upload URL, then the upload to it: the first upload fails transiently, the second URL's works,
      // and a refused URL request is retried too.
      const seen: Array<string> = []
      let urls = 0
      let uploads = 0
      const uploadUrl = Effect.suspend(() => {
        urls++
        seen.push(`url ${urls}`)
        return urls === 2 ? Effect.fail(quota()) : Effect.succeed(`u${urls}`)
      })
      const upload = (url: string) =>
        Effect.suspend(() => {
          uploads++
          seen.push(`upload to ${url}`)
          return uploads === 1 ? Effect.fail(transient()) : Effect.succeed(`uploaded through ${url}`)
        })
      const unit = QuotaGate.retry(
        Effect.flatMap(QuotaGate.attempt(uploadUrl), (url) => QuotaGate.attempt(upload(url)))
      )
      const fiber = yield* Effect.fork(Effect.provideService(unit, QuotaGate.QuotaGate, gate))
      yield* TestClock.adjust("1 day")
      assert.strictEqual(yield* Fiber.join(fiber), "uploaded through u3")
      assert.deepStrictEqual(seen, [
        "url 1",
        "upload to u1",
        "url 2",
        "url 3",
        "upload to u3"
      ])
      // Every request took its own ticket.
      assert.strictEqual((yield* gate.status).requests, 5)
    }))

  it.effect("fails at once on not-found and other client errors", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const errors = { a: notFound(), b: invalidArgument() }
      const { calls, fiber } = yield* harvest(
        QuotaPolicy.make(fast, { concurrency: 1 }),
        ["a", "b"],
        (item) => Effect.fail(errors[item as keyof typeof errors])
      )
      const results = yield* Fiber.join(fiber)
      assert.deepStrictEqual(results.map((r) => r._tag === "Left" ? r.left._tag : r._tag), [
        "NotFoundError",
        "InvalidArgumentError"
      ])
      assert.deepStrictEqual(startsOf(calls), [t0, t0])
    }))

  it.effect("a refused key halts the gate: nothing more is sent, every later request fails with the refusal", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber, gate } = yield* harvest(
        QuotaPolicy.make(fast, { concurrency: 4 }),
        ["a", "b", "c", "d", "e", "f"],
        (item) => item === "a" ? Effect.fail(wrongCredentials()) : Effect.fail(notFound()),
        1
      )
      const results = yield* Fiber.join(fiber)
      assert.deepStrictEqual(results.map((r) => r._tag === "Left" ? r.left._tag : r._tag), [
        "WrongCredentialsError",
        "WrongCredentialsError",
        "WrongCredentialsError",
        "WrongCredentialsError",
        "WrongCredentialsError",
        "WrongCredentialsError"
      ])
      assert.deepStrictEqual(calls.map((c) => c.item), ["a"])
      assert.isTrue((yield* gate.status).halted)
    }))

  it.effect("uses the gate from the context, shared by separate callers", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const starts: Array<number> = []
      const call = Effect.map(Clock.currentTimeMillis, (now) => {
        starts.push(now)
      })
      const fiber = yield* Effect.all([QuotaGate.request(call), QuotaGate.request(call), QuotaGate.request(call)], {
        concurrency: "unbounded"
      }).pipe(Effect.provide(QuotaGate.layer(publicTier)), Effect.fork)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(starts, after(t0, 0, 15, 30))
    }))
})

describe("QuotaGate seeded ledger", () => {
  it.effect("seeded at 499 of 500 today: one request, then waits until midnight without sending", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber, gate } = yield* harvest(publicTier, items(3), ok, undefined, {
        initial: { today: 499, thisMonth: 2_000 }
      })
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(startsOf(calls), [t0])
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 500,
        thisMonth: 2_001,
        requests: 1
      })
      yield* TestClock.setTime(at("2024-05-07T23:59:59.999Z"))
      assert.strictEqual(calls.length, 1)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(calls[1], { item: "item1", at: at("2024-05-08T00:00:00Z") })
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* join(fiber), items(3))
      assert.deepStrictEqual(startsOf(calls), [t0, at("2024-05-08T00:00:00Z"), at("2024-05-08T00:00:15Z")])
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 2,
        thisMonth: 2_003,
        requests: 3
      })
      assert.deepStrictEqual(lines(), [
        "daily limit of 500 requests reached, waiting until 2024-05-08T00:00:00.000Z to request again"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("seeded with a full month: sends nothing until the 1st of the next month", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-15T12:00:00Z")
      yield* TestClock.setTime(t0)
      const { calls, fiber, gate } = yield* harvest(publicTier, items(2), ok, undefined, {
        initial: { today: 0, thisMonth: 15_500 }
      })
      yield* TestClock.adjust("1 day")
      assert.strictEqual(calls.length, 0)
      yield* TestClock.setTime(at("2024-01-31T23:59:59.999Z"))
      assert.strictEqual(calls.length, 0)
      assert.deepStrictEqual(counts(yield* gate.status), {
        pausedUntil: undefined,
        today: 0,
        thisMonth: 15_500,
        requests: 0
      })
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(calls[0], { item: "item0", at: at("2024-02-01T00:00:00Z") })
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* join(fiber), items(2))
      assert.deepStrictEqual(startsOf(calls), [at("2024-02-01T00:00:00Z"), at("2024-02-01T00:00:15Z")])
      assert.deepStrictEqual(lines(), [
        "monthly limit of 15500 requests reached, waiting until 2024-02-01T00:00:00.000Z to request again"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("the layer takes the seed too; the counts belong to the day the gate is made", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T23:00:00Z")
      yield* TestClock.setTime(t0)
      const starts: Array<number> = []
      const call = Effect.map(Clock.currentTimeMillis, (now) => {
        starts.push(now)
      })
      const fiber = yield* Effect.gen(function*() {
        const gate = yield* QuotaGate.QuotaGate
        assert.deepStrictEqual(counts(yield* gate.status), {
          pausedUntil: undefined,
          today: 500,
          thisMonth: 900,
          requests: 0
        })
        yield* QuotaGate.request(call)
        return yield* gate.status
      }).pipe(
        Effect.provide(QuotaGate.layer(publicTier, { initial: { today: 500, thisMonth: 900 } })),
        Effect.fork
      )
      yield* TestClock.setTime(at("2024-05-07T23:59:59.999Z"))
      assert.deepStrictEqual(starts, [])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(counts(yield* Fiber.join(fiber)), {
        pausedUntil: undefined,
        today: 1,
        thisMonth: 901,
        requests: 1
      })
      assert.deepStrictEqual(starts, [at("2024-05-08T00:00:00Z")])
    }))
})

describe("QuotaGate learned limits", () => {
  it.effect("a key allowed 3 a day, 1 used: two requests, the third at 00:00 UTC, no refusal spent", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T22:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { concurrency: 2 })
      const { calls, fiber, gate } = yield* harvest(policy, items(3), ok, undefined, {
        quotas: { daily: { user: { used: 1, allowed: 3 } } }
      })
      yield* TestClock.adjust("1 hour")
      assert.deepStrictEqual(startsOf(calls), [t0, t0])
      const status = yield* gate.status
      assert.deepStrictEqual([status.limits.perDay, status.waitingFor, status.waitingUntil], [
        3,
        "day",
        at("2024-05-08T00:00:00Z")
      ])
      yield* TestClock.setTime(at("2024-05-08T00:00:00Z"))
      assert.deepStrictEqual(yield* join(fiber), items(3))
      assert.deepStrictEqual(startsOf(calls), [t0, t0, at("2024-05-08T00:00:00Z")])
    }).pipe(Effect.provide(captureLogsLayer)))
})

describe("QuotaGate probe", () => {
  it.effect("daily at 17:00: the same item is retried at 00:00:05 the next day, never at 17:01", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { asked, probe } = fakeProbe("daily")
      const { calls, fiber, gate } = yield* harvest(
        publicTier,
        ["a", "b"],
        (item, attempt) => item === "a" && attempt === 1 ? Effect.fail(quota()) : ok(item),
        undefined,
        { probe }
      )
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(startsOf(calls), [t0])
      assert.deepStrictEqual(asked, [t0])
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-05-08T00:00:05Z"))
      yield* TestClock.setTime(at("2024-05-08T00:00:04.999Z"))
      assert.strictEqual(calls.length, 1)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(calls[1], { item: "a", at: at("2024-05-08T00:00:05Z") })
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b"])
      assert.deepStrictEqual(calls[2], { item: "b", at: at("2024-05-08T00:00:20Z") })
      assert.deepStrictEqual(asked, [t0])
      assert.deepStrictEqual(lines(), [
        "QuotaExceededError... waiting until 2024-05-08T00:00:05.000Z to request again (daily quota spent)"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("monthly on 15 Jan: waits until 1 Feb 00:00:05", () =>
    Effect.gen(function*() {
      const t0 = at("2024-01-15T12:00:00Z")
      yield* TestClock.setTime(t0)
      const { asked, probe } = fakeProbe("monthly")
      const { calls, fiber, gate } = yield* harvest(
        publicTier,
        ["a"],
        (item, attempt) => attempt === 1 ? Effect.fail(quota()) : ok(item),
        undefined,
        { probe }
      )
      yield* TestClock.adjust("1 day")
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-02-01T00:00:05Z"))
      yield* TestClock.setTime(at("2024-02-01T00:00:04.999Z"))
      assert.strictEqual(calls.length, 1)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      assert.deepStrictEqual(startsOf(calls), [t0, at("2024-02-01T00:00:05Z")])
      assert.deepStrictEqual(asked, [t0])
      assert.deepStrictEqual(lines(), [
        "QuotaExceededError... waiting until 2024-02-01T00:00:05.000Z to request again (monthly quota spent)"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("hourly at 17:20: waits until 18:00:05", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:20:00Z")
      yield* TestClock.setTime(t0)
      const { asked, probe } = fakeProbe("hourly")
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a", "b"],
        (item, attempt) => item === "a" && attempt === 1 ? Effect.fail(quota()) : ok(item),
        undefined,
        { probe }
      )
      yield* TestClock.setTime(at("2024-05-07T18:00:04.999Z"))
      assert.strictEqual(calls.length, 1)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b"])
      assert.deepStrictEqual(startsOf(calls), [t0, at("2024-05-07T18:00:05Z"), at("2024-05-07T18:00:20Z")])
      assert.deepStrictEqual(asked, [t0])
      assert.deepStrictEqual(lines(), [
        "QuotaExceededError... waiting until 2024-05-07T18:00:05.000Z to request again (hourly quota spent)"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("minute, twice: one window each time, not midnight, whatever the probe's latency", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { asked, probe } = fakeProbe(Effect.as(Effect.sleep("5 seconds"), "minute" as const))
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a"],
        (item, attempt) => attempt <= 2 ? Effect.fail(quota()) : ok(item),
        undefined,
        { probe }
      )
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      // The second refusal would escalate to midnight without a probe: the workers wait for its answer instead.
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 60, 120))
      assert.deepStrictEqual(asked, after(t0, 0, 60))
      assert.deepStrictEqual(lines(), [
        "QuotaExceededError... waiting until 2024-05-07T17:01:00.000Z to request again (minute quota spent)",
        "QuotaExceededError... waiting until 2024-05-07T17:02:00.000Z to request again (minute quota spent)"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("unknown: the escalation without a probe, one minute and then midnight", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { asked, probe } = fakeProbe("unknown")
      const { calls, fiber, gate } = yield* harvest(
        publicTier,
        ["a", "b"],
        (item, attempt) => item === "a" && attempt <= 2 ? Effect.fail(quota()) : ok(item),
        undefined,
        { probe }
      )
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(startsOf(calls), after(t0, 0, 60))
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-05-08T00:00:05Z"))
      yield* TestClock.setTime(at("2024-05-08T00:01:00Z"))
      assert.deepStrictEqual(yield* join(fiber), ["a", "b"])
      assert.deepStrictEqual(startsOf(calls), [
        ...after(t0, 0, 60),
        at("2024-05-08T00:00:05Z"),
        at("2024-05-08T00:00:20Z")
      ])
      assert.deepStrictEqual(asked, after(t0, 0, 60))
      assert.deepStrictEqual(lines(), [
        `QuotaExceededError... waiting until 2024-05-07T17:01:00.000Z to request again`,
        `QuotaExceededError... waiting until 2024-05-08T00:00:05.000Z to request again`
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("a probe that hangs (for one quota window) or dies counts as unknown", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { asked, probe } = fakeProbe(Effect.never, Effect.dieMessage("boom"))
      const { calls, fiber } = yield* harvest(
        publicTier,
        ["a"],
        (item, attempt) => attempt <= 2 ? Effect.fail(quota()) : ok(item),
        undefined,
        { probe }
      )
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* join(fiber), ["a"])
      assert.deepStrictEqual(startsOf(calls), [...after(t0, 0, 60), at("2024-05-08T00:00:05Z")])
      assert.deepStrictEqual(asked, after(t0, 0, 60))
      assert.deepStrictEqual(lines(), [
        `QuotaExceededError... waiting until 2024-05-07T17:01:00.000Z to request again`,
        `QuotaExceededError... waiting until 2024-05-08T00:00:05.000Z to request again`
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("concurrent refusals run one probe, and no request starts while it runs", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { concurrency: 4 })
      const { asked, probe } = fakeProbe(Effect.as(Effect.sleep("10 seconds"), "hourly" as const))
      // All four start together and are refused one after the other, 1 to 4 s later.
      const { calls, fiber, gate } = yield* harvest(
        policy,
        items(4),
        (item, attempt) =>
          attempt === 1
            ? Effect.zipRight(Effect.sleep(Duration.seconds(1 + Number(item.slice(4)))), Effect.fail(quota()))
            : ok(item),
        undefined,
        { probe }
      )
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual(asked, after(t0, 1))
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-05-07T11:00:05Z"))
      yield* TestClock.adjust("1 hour")
      assert.deepStrictEqual(yield* join(fiber), items(4))
      assert.deepStrictEqual(startsOf(calls), [t0, t0, t0, t0, ...Array(4).fill(at("2024-05-07T11:00:05Z"))])
      assert.deepStrictEqual(asked, after(t0, 1))
      assert.deepStrictEqual(lines(), [
        "QuotaExceededError... waiting until 2024-05-07T11:00:05.000Z to request again (hourly quota spent)"
      ])
    }).pipe(Effect.provide(captureLogsLayer)))

  it.effect("holds back a worker whose turn comes while the probe runs", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T10:00:00Z")
      yield* TestClock.setTime(t0)
      // 1 s spacing: b's turn is at 1 s, while the probe of a's refusal (at 0 s) runs until 5 s.
      const policy = QuotaPolicy.make(QuotaPolicy.premiumTier, { perMinute: 60, concurrency: 2 })
      const { asked, probe } = fakeProbe(Effect.as(Effect.sleep("5 seconds"), "daily" as const))
      const { calls, fiber } = yield* harvest(
        policy,
        ["a", "b"],
        (item, attempt) => item === "a" && attempt === 1 ? Effect.fail(quota()) : ok(item),
        undefined,
        { probe }
      )
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* join(fiber), ["a", "b"])
      assert.deepStrictEqual(asked, [t0])
      assert.deepStrictEqual(calls.map((c) => c.item), ["a", "b", "a"])
      assert.deepStrictEqual(startsOf(calls), [t0, at("2024-05-08T00:00:05Z"), at("2024-05-08T00:00:06Z")])
    }))

  it.effect("a worker waiting while the probe runs goes by its answer, not by the escalation it replaces", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { asked, probe } = fakeProbe(Effect.as(Effect.sleep("5 seconds"), "minute" as const))
      const gate = yield* QuotaGate.make(QuotaPolicy.premiumTier, { probe })
      yield* Effect.fork(gate.refused(yield* gate.take))
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* gate.status).pausedUntil, t0 + seconds(60))
      yield* TestClock.adjust("55 seconds")
      // Refused again with no answer in between: without the probe this would wait until midnight.
      yield* Effect.fork(gate.refused(yield* gate.take))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* gate.status).pausedUntil, at("2024-05-08T00:00:05Z"))
      const next = yield* Effect.fork(gate.take)
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual((yield* gate.status).pausedUntil, t0 + seconds(120))
      yield* TestClock.adjust("55 seconds")
      assert.deepStrictEqual(yield* Fiber.join(next), { startedAt: t0 + seconds(120), sequence: 3 })
      assert.deepStrictEqual(asked, after(t0, 0, 60))
    }))

  it.effect("a refusal interrupted while its probe runs still settles the pause", () =>
    Effect.gen(function*() {
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const { probe } = fakeProbe(Effect.never)
      const gate = yield* QuotaGate.make(QuotaPolicy.premiumTier, { probe })
      const refusing = yield* Effect.fork(gate.refused(yield* gate.take))
      const next = yield* Effect.fork(gate.take)
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(refusing)
      yield* TestClock.adjust("59 seconds")
      assert.deepStrictEqual(yield* Fiber.join(next), { startedAt: t0 + seconds(60), sequence: 2 })
    }))

  it.effect("a probe may need a service: the layer then needs it too", () =>
    Effect.gen(function*() {
      class Quotas
        extends Context.Tag("test/Quotas")<Quotas, { readonly spent: Effect.Effect<QuotaGate.SpentWindow> }>()
      {}
      const t0 = at("2024-05-07T17:00:00Z")
      yield* TestClock.setTime(t0)
      const starts: Array<number> = []
      const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        starts.push(now)
        return starts.length === 1 ? Effect.fail(quota()) : Effect.void
      })
      const gateLayer: Layer.Layer<QuotaGate.QuotaGate, never, Quotas> = QuotaGate.layer(publicTier, {
        probe: Effect.flatMap(Quotas, (quotas) => quotas.spent)
      })
      const fiber = yield* QuotaGate.request(call).pipe(
        Effect.provide(
          gateLayer.pipe(Layer.provide(Layer.succeed(Quotas, { spent: Effect.succeed("daily" as const) })))
        ),
        Effect.fork
      )
      yield* TestClock.adjust("1 day")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(starts, [t0, at("2024-05-08T00:00:05Z")])
    }))
})

describe("QuotaGate.spentWindow", () => {
  const vt = (daily: number, hourly = 0, monthly = 137) => ({
    hourly: { user: { allowed: 240, used: hourly } },
    daily: { user: { allowed: 500, used: daily } },
    monthly: { user: { allowed: 15_500, used: monthly } }
  })

  it("reads overall_quotas: nothing spent is unknown", () => {
    assert.strictEqual(QuotaGate.spentWindow(vt(17)), "unknown")
    assert.strictEqual(QuotaGate.spentWindow({}), "unknown")
  })

  it("names the longest spent window: monthly, then daily, then hourly", () => {
    assert.strictEqual(QuotaGate.spentWindow(vt(500)), "daily")
    assert.strictEqual(QuotaGate.spentWindow(vt(501)), "daily")
    assert.strictEqual(QuotaGate.spentWindow(vt(499, 240)), "hourly")
    assert.strictEqual(QuotaGate.spentWindow(vt(500, 240)), "daily")
    assert.strictEqual(QuotaGate.spentWindow(vt(500, 240, 15_500)), "monthly")
    assert.strictEqual(QuotaGate.spentWindow(vt(0, 0, 15_500)), "monthly")
  })

  it("a window is spent when the user's or the group's part is", () => {
    const group = (used: number) => ({ daily: { user: { allowed: 500, used: 3 }, group: { allowed: 1_000, used } } })
    assert.strictEqual(QuotaGate.spentWindow(group(999)), "unknown")
    assert.strictEqual(QuotaGate.spentWindow(group(1_000)), "daily")
    assert.strictEqual(QuotaGate.spentWindow({ monthly: { group: { allowed: 10, used: 10 } } }), "monthly")
  })

  it("takes windows already reduced to { used, allowed }", () => {
    assert.strictEqual(QuotaGate.spentWindow({ daily: { used: 500, allowed: 500 } }), "daily")
    assert.strictEqual(
      QuotaGate.spentWindow({ hourly: { used: 240, allowed: 240 }, daily: { used: 1, allowed: 500 } }),
      "hourly"
    )
    assert.strictEqual(QuotaGate.spentWindow({ daily: { used: 499, allowed: 500 } }), "unknown")
  })
})
