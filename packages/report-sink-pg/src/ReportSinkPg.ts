/**
 * A {@link ReportSink.ReportSink} on PostgreSQL: one table of records, queryable with SQL.
 *
 * Layout: `<schema>.<table>` (default `vt_harvest.reports`), one row per record and key:
 *
 * ```sql
 * key          text        -- the store key (ReportKey)
 * kind         text        -- 'saved' (a report) or 'not-found' (VirusTotal's error document)
 * body         bytea       -- the document exactly as received, byte for byte
 * document     jsonb       -- body as JSONB, computed by the server (NULL when body is not JSON)
 * received_at  timestamptz -- when the row was written
 * PRIMARY KEY (key, kind)
 * ```
 *
 * Every write is one statement, so a reader sees the earlier row or the new one, never a part. Without `overwrite`
 * a report is inserted with `ON CONFLICT DO NOTHING`: a concurrent writer of the same key, in this process or
 * another, is never replaced. With `overwrite`, and for not-found records, `ON CONFLICT DO UPDATE`.
 *
 * The bytes are kept as well as the JSONB because the contract is byte-identity (`get` answers exactly what `put`
 * stored), which JSONB alone does not keep (key order, white space, duplicate keys, `\u0000`).
 *
 * `gzip` is accepted and has no effect: records are stored uncompressed so that the `document` column is always
 * there to query, and PostgreSQL compresses large values itself (TOAST). A store resumes whatever the setting.
 *
 * The table, its schema and the migrations table are created at start-up, idempotently (see `PgMigrations`); a
 * store opened `readOnly` creates nothing and its connections are read-only in the server too.
 *
 * @since 0.1.0
 */
import { ReportSink } from "@vt-harvest/report-sink"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as internal from "./internal/pgPrimitives.js"
import { isTransient as isTransientCause } from "./internal/query.js"
import * as PgMigrations from "./PgMigrations.js"
import * as PgPool from "./PgPool.js"

/**
 * The schema the table is in unless `schema` says otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultSchema = "vt_harvest"

/**
 * The table of reports and not-found records unless `table` says otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultTable = "reports"

/**
 * The table of the analyses sub-store (`_analyses` in a directory or S3 store) beside the default table.
 *
 * @since 0.1.0
 * @category models
 */
export const analysesTable = "analyses"

/**
 * Which table holds the records, the options every sink takes (`overwrite`, `gzip`, `readOnly`), and how failed
 * statements are retried.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ReportSink.Options {
  /** The schema (default {@link defaultSchema}); lower case, `[a-z_][a-z0-9_]*`. Created if missing. */
  readonly schema?: string | undefined
  /** The table (default {@link defaultTable}); lower case, `[a-z_][a-z0-9_]*`. Created if missing. */
  readonly table?: string | undefined
  /**
   * When to try a failed statement again (default {@link defaultRetry}). Only transient failures are retried: lost
   * or refused connections, a server shutting down or starting, too many connections, serialization failures.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * Whether a failure a `retry` schedule is fed (a failed statement) is one the sink tries again: a connection lost or
 * refused, the server shutting down or out of connections, a serialization failure or deadlock. The schedule is
 * stepped for every failure; this says which ones it will be asked to wait on.
 *
 * @since 0.3.0
 * @category models
 */
export const isTransient = (failure: unknown): boolean => {
  const cause = typeof failure === "object" && failure !== null && "cause" in failure ? failure.cause : undefined
  return cause !== undefined && isTransientCause(cause)
}

/**
 * Exponential backoff from 200 ms, each wait at most 20 s, with jitter, for up to 5 minutes: a database restarting
 * or failing over loses nothing, while one that stays down fails the operation with a {@link ReportSink.SinkError}.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis", 2).pipe(
  Schedule.union(Schedule.spaced("20 seconds")),
  Schedule.jittered,
  Schedule.upTo("5 minutes")
)

// Opening the store is what tells the user that the URL, the password or the privileges are wrong: a few quick
// attempts, not five minutes.
const openRetry = Schedule.exponential("200 millis", 2).pipe(Schedule.intersect(Schedule.recurs(3)))

const names = (options: Options) => ({
  schema: options.schema ?? defaultSchema,
  table: options.table ?? defaultTable
})

const openError = (message: string, cause?: unknown) =>
  new ReportSink.SinkError({ operation: "open", message, ...(cause === undefined ? {} : { cause }) })

const checkNames = (schema: string, table: string): Effect.Effect<void, ReportSink.SinkError> =>
  Effect.forEach(
    [["schema", schema], ["table", table]] as const,
    ([what, name]) =>
      PgMigrations.isIdentifier(name) && name !== PgMigrations.migrationsTable
        ? Effect.void
        : Effect.fail(
          openError(
            `refusing the ${what} name ${
              JSON.stringify(name.slice(0, 80))
            }: it must match ${PgMigrations.identifierPattern}` +
              (name === PgMigrations.migrationsTable ? ` and not be ${PgMigrations.migrationsTable}` : "")
          )
        ),
    { discard: true }
  )

/**
 * The migrations of the records table `table` in `schema`, as {@link make} runs them, for tools that prepare a
 * database ahead of a run (a role that may create tables runs this; the harvesters then need only
 * `SELECT, INSERT, UPDATE, DELETE` on the table).
 *
 * @since 0.1.0
 * @category constructors
 */
export const migrate = (
  options: Pick<Options, "schema" | "table"> = {}
): Effect.Effect<number, ReportSink.SinkError, PgPool.PgPool> =>
  Effect.gen(function*() {
    const { schema, table } = names(options)
    yield* checkNames(schema, table)
    const { location, pool } = yield* PgPool.PgPool
    return yield* PgMigrations.run(pool, {
      schema,
      component: internal.component(table),
      migrations: internal.migrations(schema, table)
    }).pipe(
      Effect.mapError((error) => openError(`cannot open ${location} (${schema}.${table}): ${error.message}`, error))
    )
  })

/**
 * Opens the store on the pool's database: migrates the table to the current schema version (unless `readOnly`,
 * which instead checks that the table is there, at a version this package reads), then returns the sink. Fails
 * with a `SinkError` when the database cannot be reached, the credentials or privileges are wrong, or the store
 * was written by a newer version.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<ReportSink.Service, ReportSink.SinkError, PgPool.PgPool> =>
  Effect.gen(function*() {
    const { schema, table } = names(options)
    yield* checkNames(schema, table)
    const { location, pool } = yield* PgPool.PgPool
    const migrations = {
      schema,
      component: internal.component(table),
      migrations: internal.migrations(schema, table)
    }
    yield* (options.readOnly === true ? PgMigrations.check(pool, migrations) : PgMigrations.run(pool, migrations))
      .pipe(
        Effect.retry({
          schedule: openRetry,
          while: (error) => error.cause !== undefined && isTransientCause(error.cause)
        }),
        Effect.mapError((error) => openError(`cannot open ${location} (${schema}.${table}): ${error.message}`, error))
      )
    const primitives = internal.make({
      pool,
      server: location,
      schema,
      table,
      retry: options.retry ?? defaultRetry,
      pageSize: 1_000
    })
    // The rules never compress for this store: see the module's description.
    return ReportSink.make(primitives, { ...options, gzip: false })
  })

/**
 * How long one statement of the store may take on the pool {@link layer} makes unless `queryTimeoutMillis` says
 * otherwise: a database that stops answering without closing its connections (a frozen server, a network
 * partition) fails the operation with a `SinkError` after this long instead of holding the run forever.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultQueryTimeoutMillis = 60_000

/**
 * {@link make} with a pool of its own ({@link PgPool.layer}), as a layer providing {@link ReportSink.ReportSink}:
 * `url` is a `postgres://` URL, completed from the `PG*` environment (none: the environment alone). Opened
 * `readOnly`, the pool's connections are read-only in the server too. The pool is closed when the layer is
 * released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options:
    & Options
    & Pick<
      PgPool.Options,
      "url" | "maxConnections" | "connectTimeoutMillis" | "queryTimeoutMillis" | "applicationName"
    >
): Layer.Layer<ReportSink.ReportSink, ReportSink.SinkError> =>
  Layer.effect(ReportSink.ReportSink, make(options)).pipe(
    Layer.provide(
      PgPool.layer({
        url: options.url,
        maxConnections: options.maxConnections,
        connectTimeoutMillis: options.connectTimeoutMillis,
        queryTimeoutMillis: options.queryTimeoutMillis ?? defaultQueryTimeoutMillis,
        applicationName: options.applicationName,
        readOnly: options.readOnly
      }).pipe(Layer.mapError((error) => openError(error.message, error)))
    )
  )

/**
 * {@link make} as a layer on a {@link PgPool.PgPool} provided from outside, to share one pool between the store,
 * its analyses table and other components in the same database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutPool = (
  options: Options = {}
): Layer.Layer<ReportSink.ReportSink, ReportSink.SinkError, PgPool.PgPool> =>
  Layer.effect(ReportSink.ReportSink, make(options))
