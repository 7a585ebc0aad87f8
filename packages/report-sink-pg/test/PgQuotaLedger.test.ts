import { assert, describe, it } from "@effect/vitest"
import type { GateState, QuotaSchedule } from "@vt-harvest/rate-schedule"
import { SharedLedger } from "@vt-harvest/rate-schedule"
import { ReportClaims } from "@vt-harvest/report-sink"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { PgClaims, PgPool, PgQuotaLedger } from "../src/index.js"
import { client, freshSchema, key, sql, url } from "./helpers.js"

const apiKey = Redacted.make("a".repeat(64))

/** A ledger on a pool of its own (both closed with the scope); `clock` is read by every call. */
const open = (schema: string, clock?: { now: number }, key = apiKey) =>
  Effect.map(
    Layer.build(
      Layer.effect(
        SharedLedger.QuotaLedger,
        PgQuotaLedger.make({ apiKey: key, schema, now: clock && (() => clock.now) })
      )
        .pipe(Layer.provide(PgPool.layer({ url: url() })))
    ),
    (context) => Context.get(context, SharedLedger.QuotaLedger)
  )

const openClaims = (schema: string, options: PgClaims.Options = {}) =>
  Effect.map(
    Layer.build(PgClaims.layerWithoutPool({ schema, ...options }).pipe(Layer.provide(PgPool.layer({ url: url() })))),
    (context) => Context.get(context, ReportClaims.ReportClaims)
  )

type Op =
  | { readonly op: "take"; readonly limits: GateState.Limits; readonly dt: number }
  | { readonly op: "refused"; readonly back: number; readonly pause: QuotaSchedule.Pause; readonly dt: number }
  | { readonly op: "extend"; readonly pause: QuotaSchedule.Pause; readonly dt: number }
  | { readonly op: "answered"; readonly back: number; readonly dt: number }
  | { readonly op: "learn"; readonly used: SharedLedger.Used; readonly dt: number }

const dt = fc.oneof(
  fc.integer({ min: 0, max: 3_000 }),
  fc.integer({ min: 0, max: 4 * 3_600_000 }),
  fc.integer({ min: 0, max: 40 * 86_400_000 })
)
const small = fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined })
const pause = fc.oneof(
  fc.record({ _tag: fc.constant("For" as const), millis: fc.integer({ min: 0, max: 120_000 }) }),
  fc.record({ _tag: fc.constant("Until" as const), instant: fc.integer({ min: 1.7e12, max: 1.7e12 + 5e9 }) })
)
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("take" as const),
      limits: fc.record({ spacing: fc.constantFrom(0, 1000, 15_000), perHour: small, perDay: small, perMonth: small }),
      dt
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("refused" as const), back: fc.integer({ min: 0, max: 3 }), pause, dt })
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("extend" as const), pause, dt }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("answered" as const), back: fc.integer({ min: 0, max: 3 }), dt })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("learn" as const),
      used: fc.record({ thisHour: small, today: small, thisMonth: small }),
      dt
    })
  }
)

describe("PgQuotaLedger", () => {
  it.scopedLive("answers as the gate's own rules do, step by step, on random sequences", () =>
    Effect.gen(function*() {
      const runs = fc.sample(fc.array(op, { minLength: 5, maxLength: 40 }), { numRuns: 25, seed: 20261207 })
      for (const ops of runs) {
        const clock = { now: 1.7e12 + 1234 }
        const ledger = yield* open(freshSchema("ledger"), clock)
        let row = SharedLedger.empty(clock.now)
        // The database has a row once a start, a pause or a count was asked for.
        let exists = false
        for (const step of ops) {
          if (!exists && (step.op === "take" || step.op === "extend" || step.op === "learn")) {
            // The row is made by the first of these, in the hour, day and month it is made in.
            exists = true
            row = SharedLedger.empty(clock.now + step.dt)
          }
          clock.now += step.dt
          const sequence = (back: number) => Math.max(0, row.requests - back)
          switch (step.op) {
            case "take": {
              const [expected, next] = SharedLedger.take(row, step.limits, clock.now)
              assert.deepStrictEqual(yield* ledger.take(step.limits), expected, JSON.stringify(step))
              row = next
              break
            }
            case "refused": {
              const [expected, next] = SharedLedger.refused(row, sequence(step.back), step.pause, clock.now)
              assert.deepStrictEqual(yield* ledger.refused(sequence(step.back), step.pause), expected)
              row = next
              break
            }
            case "extend":
              yield* ledger.extend(step.pause)
              row = SharedLedger.extend(row, step.pause, clock.now)
              break
            case "answered":
              yield* ledger.answered(sequence(step.back))
              row = SharedLedger.answered(row, sequence(step.back))
              break
            case "learn":
              yield* ledger.learn(step.used)
              row = SharedLedger.learn(row, step.used, clock.now)
              break
          }
          const stored = yield* ledger.read
          if (exists) {
            assert.strictEqual(stored.requests, row.requests)
            assert.strictEqual(stored.pausedUntil, row.pausedUntil)
            assert.strictEqual(stored.refusals, row.refusals)
            // Counts as of now (a row the ledger has not rolled yet rolls the same way).
            const mine = row.ledger
            assert.deepStrictEqual(stored.ledger, mine, JSON.stringify(ops))
          }
        }
      }
    }), 120_000)

  it.scopedLive("grants each start once to processes asking at once: 4 pools, 200 takes, a limit of 50 a day", () =>
    Effect.gen(function*() {
      const schema = freshSchema("ledger")
      const ledgers = yield* Effect.all(Array.from({ length: 4 }, () => open(schema)))
      const limits: GateState.Limits = { spacing: 0, perHour: undefined, perDay: 50, perMonth: undefined }
      const answers = yield* Effect.all(
        Array.from({ length: 200 }, (_, i) => ledgers[i % 4]!.take(limits)),
        { concurrency: 40 }
      )
      const started = answers.flatMap((a) => a._tag === "Start" ? [a.sequence] : [])
      // Unless the test ran across 00:00 UTC, exactly 50 starts, numbered 1 to 50.
      assert.deepStrictEqual([...started].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1))
      for (const a of answers) if (a._tag === "Wait") assert.strictEqual(a.reason, "day")
    }))

  it.scopedLive("a database clock set back an hour waits at most the spacing, as the TypeScript rules do", () =>
    Effect.gen(function*() {
      const t0 = Date.parse("2024-05-07T10:00:00Z")
      const clock = { now: t0 }
      const ledger = yield* open(freshSchema("ledger"), clock)
      const limits: GateState.Limits = { spacing: 1000, perHour: undefined, perDay: undefined, perMonth: undefined }
      assert.strictEqual((yield* ledger.take(limits))._tag, "Start")
      clock.now = t0 - 3_600_000
      assert.deepStrictEqual(yield* ledger.take(limits), {
        _tag: "Wait",
        millis: 1000,
        until: clock.now + 1000,
        reason: "spacing"
      })
      clock.now += 1000
      assert.strictEqual((yield* ledger.take(limits))._tag, "Start")
    }))

  it.scopedLive("names a key's row by an HMAC under the database's secret: the key is stored nowhere", () =>
    Effect.gen(function*() {
      const schema = freshSchema("ledger")
      const limits: GateState.Limits = { spacing: 0, perHour: undefined, perDay: undefined, perMonth: undefined }
      yield* (yield* open(schema)).take(limits)
      yield* (yield* open(schema)).take(limits)
      yield* (yield* open(schema, undefined, Redacted.make("b".repeat(64)))).take(limits)
      const c = yield* client()
      const rows = yield* sql<{ ledger: string; requests: string }>(
        c,
        `SELECT ledger, requests FROM ${schema}.quota_ledger ORDER BY requests`
      )
      assert.deepStrictEqual(rows.map((r) => Number(r.requests)), [1, 2])
      for (const r of rows) assert.match(r.ledger, /^[0-9a-f]{64}$/)
      const dump = yield* sql<{ t: string }>(c, `SELECT string_agg(t::text, ' ') AS t FROM ${schema}.quota_ledger t`)
      assert.notInclude(dump[0]!.t, "aaaa")
      assert.notInclude(dump[0]!.t, "bbbb")
    }))
})

describe("PgClaims", () => {
  it.scopedLive("one holder per id; released, it is the next asker's; expired, it is taken over", () =>
    Effect.gen(function*() {
      const schema = freshSchema("claims")
      const a = yield* openClaims(schema, { owner: "a", lease: "200 millis" })
      const b = yield* openClaims(schema, { owner: "b", lease: "200 millis" })
      const id = key("44d88612fea8a8f36de82e1278abb02f")
      assert.deepStrictEqual(yield* a.acquire("files", id), { _tag: "Claimed", takenFrom: undefined })
      const held = yield* b.acquire("files", id)
      assert.strictEqual(held._tag, "Held")
      // Another scope is another claim.
      assert.strictEqual((yield* b.acquire("urls", id))._tag, "Claimed")
      yield* a.release("files", id)
      assert.deepStrictEqual(yield* b.acquire("files", id), { _tag: "Claimed", takenFrom: undefined })
      // b's claims are renewed while b is open; a gives up waiting.
      yield* Effect.sleep("500 millis")
      assert.strictEqual((yield* a.acquire("files", id))._tag, "Held")
    }))

  it.scopedLive("a claim nobody renews expires and is taken over, naming its holder", () =>
    Effect.gen(function*() {
      const schema = freshSchema("claims")
      const a = yield* openClaims(schema, { owner: "b" })
      const id = key("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f")
      const c = yield* client()
      // A claim left by a process that died: expired a second ago.
      yield* sql(c, `INSERT INTO ${schema}.claims (scope, key, owner, expires_at) VALUES ($1, $2, $3, $4)`, [
        "files",
        id,
        "host:123:dead",
        Date.now() - 1000
      ])
      assert.deepStrictEqual(yield* a.acquire("files", id), { _tag: "Claimed", takenFrom: "host:123:dead" })
    }))
})
