/**
 * The quota ledger of one VirusTotal key shared through PostgreSQL (`SharedLedger` of `@vt-harvest/rate-schedule`):
 * every process that uses the key, on any machine, asks one row of `<schema>.quota_ledger` before each request
 * starts, so that together they keep the key's spacing, its hour/day/month counts and the pause after a refusal.
 *
 * Each question is one round trip: a function in the database (`<schema>.quota_take` …) locks the key's row, runs
 * the gate's rules on it with the database's clock (one clock for every machine) and answers. The functions are
 * `GateState`'s rules written in PL/pgSQL; the tests hold them to the TypeScript ones on random sequences.
 *
 * The key itself is never stored: its row is named by an HMAC-SHA-256 of the key under a random secret that the
 * database keeps (`<schema>.quota_secret`, made once), so the same key finds the same row from every machine and
 * the name says nothing about the key to whoever reads the table.
 *
 * @since 0.3.0
 */
import type { GateState, QuotaSchedule } from "@vt-harvest/rate-schedule"
import { SharedLedger } from "@vt-harvest/rate-schedule"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createHmac, randomBytes } from "node:crypto"
import type pg from "pg"
import * as internal from "./internal/ledger.js"
import * as query from "./internal/query.js"
import * as PgMigrations from "./PgMigrations.js"
import * as PgPool from "./PgPool.js"

/**
 * Where the ledger is kept and for which key.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The key whose quota the ledger keeps. Only its HMAC leaves the process. */
  readonly apiKey: Redacted.Redacted<string>
  /** The schema of the ledger's tables and functions (default `vt_harvest`). */
  readonly schema?: string | undefined
  /**
   * How long one question may go unanswered before it fails (default {@link defaultTimeout}): a database that stops
   * answering fails the request that asked (sending nothing) instead of holding every worker forever.
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * How long a question to the ledger (or a claim) may go unanswered unless `timeout` says otherwise.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultTimeout: Duration.Duration = internal.defaultTimeout

/**
 * The schema the ledger is kept in unless `schema` says otherwise.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultSchema: string = internal.defaultSchema

/**
 * The ledger's migrations in `schema` (its component is `quota-ledger`), for tools that prepare a database ahead.
 *
 * @since 0.3.0
 * @category utils
 */
export const migrations = (schema: string): ReadonlyArray<PgMigrations.Migration> => internal.migrations(schema)

// A server restarting, a connection reset: asked again a few times over about 3 s before the request fails.

const failure = (location: string, what: string) => (error: query.QueryError) =>
  new SharedLedger.LedgerError({
    message: `${what} (${location}): ${error.detail}`,
    cause: error.cause,
    transient: query.isTransient(error.cause)
  })

/**
 * The name of the key's row: HMAC-SHA-256 of the key under the database's secret, in hex.
 *
 * @since 0.3.0
 * @category utils
 */
export const ledgerId = (secret: Uint8Array, apiKey: Redacted.Redacted<string>): string =>
  createHmac("sha256", secret).update(Redacted.value(apiKey), "utf8").digest("hex")

const int = (value: unknown): number => Number(value)

const rowOf = (r: internal.LedgerRow): SharedLedger.Row => ({
  requests: int(r.requests),
  lastStart: r.last_start === null ? undefined : int(r.last_start),
  pausedUntil: int(r.paused_until),
  pausedAfter: int(r.paused_after),
  refusals: int(r.refusals),
  ledger: {
    hour: int(r.hour),
    thisHour: int(r.this_hour),
    day: int(r.day),
    today: int(r.today),
    month: int(r.month),
    thisMonth: int(r.this_month)
  }
})

const pauseArgs = (pause: QuotaSchedule.Pause): readonly [number | null, number | null] =>
  pause._tag === "For" ? [Math.round(pause.millis), null] : [null, Math.round(pause.instant)]

const limitArgs = (limits: GateState.Limits) =>
  [Math.round(limits.spacing), limits.perHour ?? null, limits.perDay ?? null, limits.perMonth ?? null] as const

/**
 * The ledger of `options.apiKey` on the pool's database: migrates the ledger's tables and functions (idempotently,
 * under the migrations' advisory lock), reads or makes the database's secret, and answers the `SharedLedger`.
 * `now`, for tests only, replaces the database's clock (epoch milliseconds).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  options: Options & { readonly now?: (() => number) | undefined }
): Effect.Effect<SharedLedger.Service, SharedLedger.LedgerError, PgPool.PgPool> =>
  Effect.gen(function*() {
    const schema = options.schema ?? defaultSchema
    const timeout = Duration.decode(options.timeout ?? defaultTimeout)
    const { location, pool } = yield* PgPool.PgPool
    if (!PgMigrations.isIdentifier(schema)) {
      return yield* new SharedLedger.LedgerError({
        message: `the ledger's schema must match ${PgMigrations.identifierPattern}, not ${JSON.stringify(schema)}`
      })
    }
    yield* PgMigrations.run(pool, { schema, component: internal.component, migrations: internal.migrations(schema) })
      .pipe(
        Effect.mapError((error) =>
          new SharedLedger.LedgerError({ message: `cannot open the quota ledger at ${location}: ${error.message}` })
        )
      )
    const names = internal.names(schema)
    const secret = yield* query.query<{ secret: Buffer }>(pool, {
      text: `INSERT INTO ${names.secret} (secret) VALUES ($1) ON CONFLICT (id) DO NOTHING`,
      values: [randomBytes(32)]
    }).pipe(
      Effect.zipRight(query.query<{ secret: Buffer }>(pool, { text: `SELECT secret FROM ${names.secret}` })),
      Effect.mapError(failure(location, "cannot read the quota ledger's secret"))
    )
    const found = secret.rows[0]?.secret
    if (found === undefined) {
      return yield* new SharedLedger.LedgerError({ message: `the quota ledger at ${location} has no secret` })
    }
    const id = ledgerId(found, options.apiKey)
    const now = () => options.now === undefined ? null : Math.round(options.now())

    const call = <R extends pg.QueryResultRow>(what: string, text: string, values: ReadonlyArray<unknown>) =>
      query.query<R>(pool, { name: `${schema}.${what}`, text, values: [id, ...values, now()] }).pipe(
        query.asked(timeout),
        Effect.mapError(failure(location, `the quota ledger could not ${what}`))
      )

    return SharedLedger.QuotaLedger.of({
      location,
      take: (limits) =>
        Effect.map(
          call<internal.TakeRow>("take", names.take, limitArgs(limits)),
          (result): SharedLedger.Answer => {
            const r = result.rows[0]!
            return r.granted
              ? { _tag: "Start", sequence: int(r.sequence), refusals: int(r.refusals) }
              : {
                _tag: "Wait",
                millis: int(r.wait_ms),
                until: int(r.until_ms),
                reason: r.reason as GateState.WaitReason
              }
          }
        ),
      refused: (sequence, pause) =>
        Effect.map(
          call<{ fresh: boolean; refusals: number }>("refuse", names.refused, [sequence, ...pauseArgs(pause)]),
          (result) => ({ fresh: result.rows[0]!.fresh, refusals: int(result.rows[0]!.refusals) })
        ),
      extend: (pause) => Effect.asVoid(call("extend", names.extend, pauseArgs(pause))),
      answered: (sequence) => Effect.asVoid(call("answer", names.answered, [sequence])),
      learn: (used) =>
        Effect.asVoid(
          call("learn", names.learn, [used.thisHour ?? 0, used.today ?? 0, used.thisMonth ?? 0])
        ),
      read: Effect.map(
        call<internal.LedgerRow>("read", names.read, []),
        (result) => result.rows[0] === undefined ? SharedLedger.empty(Date.now()) : rowOf(result.rows[0])
      )
    })
  })

/**
 * {@link make} as a layer providing the `SharedLedger.QuotaLedger` that every gate built under it uses, on a pool of
 * its own (`url` as for {@link PgPool.layer}; closed with the layer).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: Options & Pick<PgPool.Options, "url" | "connectTimeoutMillis" | "applicationName">
): Layer.Layer<SharedLedger.QuotaLedger, SharedLedger.LedgerError | PgPool.InvalidUrlError> =>
  Layer.effect(SharedLedger.QuotaLedger, make(options)).pipe(
    Layer.provide(PgPool.layer({
      ...options,
      maxConnections: 4,
      queryTimeoutMillis: Duration.toMillis(Duration.decode(options.timeout ?? defaultTimeout))
    }))
  )

/**
 * {@link make} as a layer on a pool provided from outside (the store's, say).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerWithoutPool = (
  options: Options
): Layer.Layer<SharedLedger.QuotaLedger, SharedLedger.LedgerError, PgPool.PgPool> =>
  Layer.effect(SharedLedger.QuotaLedger, make(options))
