/**
 * Claims on ids in flight kept in PostgreSQL (`ReportClaims` of `@vt-harvest/report-sink`), in `<schema>.claims`
 * beside the quota ledger: one row per id in flight, its owner (host and process) and when the claim expires.
 * Claiming is one round trip. While the layer is in use, its claims are renewed every third of the lease; a process
 * that dies stops renewing them, and after the lease another process takes its ids over.
 *
 * @since 0.3.0
 */
import { ReportClaims, ReportSink } from "@vt-harvest/report-sink"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"
import * as os from "node:os"
import * as internal from "./internal/ledger.js"
import * as query from "./internal/query.js"
import * as PgMigrations from "./PgMigrations.js"
import * as PgPool from "./PgPool.js"

/**
 * How the claims are kept.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The schema of the claims table (default `vt_harvest`, the quota ledger's). */
  readonly schema?: string | undefined
  /** How long a claim lasts without renewal (default 30 seconds): how long a dead process's ids wait. */
  readonly lease?: Duration.DurationInput | undefined
  /** This process as others see it (default `<host>:<pid>:<random>`). */
  readonly owner?: string | undefined
  /**
   * How long one claim, release or renewal may go unanswered before it fails (default 15 seconds, as the quota
   * ledger's). Give the pool a `queryTimeoutMillis` too, so that closing it does not wait for a statement a frozen
   * server never answers.
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The lease unless `lease` says otherwise.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultLease: Duration.Duration = Duration.seconds(30)

/**
 * The claims on the pool's database: migrates their table (with the quota ledger's), renews this process's claims
 * in the background for as long as the scope lasts, and gives them all back when it closes.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ReportClaims.Service, ReportSink.SinkError, PgPool.PgPool | Scope.Scope> =>
  Effect.gen(function*() {
    const schema = options.schema ?? internal.defaultSchema
    const lease = Duration.toMillis(Duration.decode(options.lease ?? defaultLease))
    const timeout = Duration.decode(options.timeout ?? internal.defaultTimeout)
    const owner = options.owner ?? `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`
    const { location, pool } = yield* PgPool.PgPool
    const fail = (operation: string, key?: string) => (error: query.QueryError | PgMigrations.MigrationError) =>
      new ReportSink.SinkError({
        operation,
        ...(key === undefined ? {} : { key }),
        message: `claims at ${location}: ${"detail" in error ? error.detail : error.message}`,
        cause: error.cause
      })
    if (!PgMigrations.isIdentifier(schema)) {
      return yield* new ReportSink.SinkError({
        operation: "open",
        message: `the claims' schema must match ${PgMigrations.identifierPattern}, not ${JSON.stringify(schema)}`
      })
    }
    yield* PgMigrations.run(pool, { schema, component: internal.component, migrations: internal.migrations(schema) })
      .pipe(Effect.mapError(fail("open")))
    const names = internal.names(schema)
    const run = (operation: string, key: string | undefined, text: string, values: ReadonlyArray<unknown>) =>
      query.query<{ claimed: boolean; holder: string | null; expires_in: string }>(pool, {
        name: `${schema}.claims.${operation}`,
        text,
        values: [...values]
      }).pipe(
        query.asked(timeout),
        Effect.mapError(fail(operation, key))
      )

    // Renewed every third of the lease; a renewal that fails is tried again at the next (the claims may lapse,
    // and another process then takes the ids over: a request twice, nothing lost).
    yield* run("renew", undefined, names.renew, [owner, lease, null]).pipe(
      Effect.ignore,
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(100, Math.floor(lease / 3))))),
      Effect.delay(Duration.millis(Math.max(100, Math.floor(lease / 3)))),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() =>
      Effect.ignore(
        run("release", undefined, `DELETE FROM ${PgMigrations.qualified(schema, "claims")} WHERE owner = $1`, [owner])
      )
    )

    return ReportClaims.ReportClaims.of({
      location,
      owner,
      acquire: (scope, key) =>
        Effect.map(run("claim", key, names.claim, [scope, key, owner, lease, null]), (result): ReportClaims.Attempt => {
          const row = result.rows[0]
          if (row === undefined) return { _tag: "Held", holder: "", retryIn: 0 }
          return row.claimed
            ? { _tag: "Claimed", takenFrom: row.holder ?? undefined }
            : { _tag: "Held", holder: row.holder ?? "", retryIn: Math.max(0, Number(row.expires_in)) }
        }),
      release: (scope, key) => Effect.asVoid(run("release", key, names.release, [scope, key, owner]))
    })
  })

/**
 * {@link make} as a layer providing `ReportClaims.ReportClaims`, on a pool provided from outside (the ledger's or
 * the store's).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerWithoutPool = (
  options: Options = {}
): Layer.Layer<ReportClaims.ReportClaims, ReportSink.SinkError, PgPool.PgPool> =>
  Layer.scoped(ReportClaims.ReportClaims, make(options))
