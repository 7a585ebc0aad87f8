import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import type pg from "pg"

/** A query, a connection or a transaction that failed; `cause` is what the driver threw. */
export class QueryError extends Data.TaggedError("QueryError")<{ readonly cause: unknown }> {
  get detail(): string {
    return describe(this.cause)
  }
}

const field = (error: unknown, name: string): string | undefined => {
  const value = typeof error === "object" && error !== null ? (error as Record<string, unknown>)[name] : undefined
  return typeof value === "string" ? value : undefined
}

/** The driver's message, with the SQLSTATE or the system error code when there is one. */
export const describe = (error: unknown): string => {
  const message = field(error, "message") ?? String(error)
  const code = field(error, "code")
  return code === undefined || message.includes(code)
    ? message
    : /^[0-9A-Z]{5}$/.test(code)
    ? `${message} (SQLSTATE ${code})`
    : `${message} (${code})`
}

// Connection exceptions, a server shutting down or starting, too many connections, serialization failures and
// deadlocks: another attempt can succeed. Anything else (a missing privilege, a bad password) fails at once.
const transientStates = new Set(["57P01", "57P02", "57P03", "53300", "40001", "40P01"])

const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "EADDRNOTAVAIL"
])

/** Worth another attempt (see above); also a connection the server or the network closed under the driver. */
export const isTransient = (error: unknown): boolean => {
  const code = field(error, "code")
  if (code !== undefined && (code.startsWith("08") || transientStates.has(code) || networkCodes.has(code))) {
    return true
  }
  const message = field(error, "message") ?? ""
  // "Query read timeout": the pool's query_timeout, a server that stopped answering (hung, not gone). Every statement
  // of the store is idempotent (a report is inserted unless there, a not-found record replaced): asking again is safe.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i
    .test(message)
}

/**
 * A statement (or a few, retries included) that has not answered within `timeout` fails (not as transient). Give the pool a
 * `query_timeout` as well, so that the connection it was using is dropped rather than held by the unanswered
 * statement.
 */
export const within = (timeout: Duration.Duration) => <A>(self: Effect.Effect<A, QueryError>) =>
  // Interruptible even in a finalizer (the claims given back on exit), or the bound could not cut it short.
  Effect.timeoutFail(Effect.interruptible(self), {
    duration: timeout,
    onTimeout: () =>
      new QueryError({
        cause: new Error(`no answer within ${Duration.format(timeout)}`)
      })
  })

// A server restarting, a connection reset: asked again a few times over about 3 s.
const briefRetry = Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(5)))

/**
 * A question of the shared ledger or the claims: asked again after a transient failure for about 3 s, and failed if
 * no answer comes within `timeout` (see {@link within}).
 */
export const asked = (timeout: Duration.Duration) => <A>(self: Effect.Effect<A, QueryError>) =>
  self.pipe(Effect.retry({ schedule: briefRetry, while: (error) => isTransient(error.cause) }), within(timeout))

/** One statement, on the pool (any connection) or on one connection. */
export const query = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  runner: pg.Pool | pg.PoolClient,
  config: pg.QueryConfig
): Effect.Effect<pg.QueryResult<R>, QueryError> =>
  Effect.tryPromise({
    try: () => runner.query<R>(config),
    catch: (cause) => new QueryError({ cause })
  })

/**
 * `use` inside `BEGIN` … `COMMIT` on one connection of the pool; rolled back when `use` fails or is interrupted, or
 * always with `rollback` (to prove that statements would succeed without keeping what they did).
 */
export const transaction = <A, E>(
  pool: pg.Pool,
  use: (client: pg.PoolClient) => Effect.Effect<A, E>,
  options: { readonly rollback?: boolean } = {}
): Effect.Effect<A, E | QueryError> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => pool.connect(), catch: (cause) => new QueryError({ cause }) }),
    (client) =>
      query(client, { text: "BEGIN" }).pipe(
        Effect.zipRight(use(client)),
        Effect.tap(() => query(client, { text: options.rollback === true ? "ROLLBACK" : "COMMIT" })),
        Effect.onError(() => Effect.ignore(query(client, { text: "ROLLBACK" })))
      ),
    // After a failure the connection is closed rather than handed to the next user of the pool: its transaction may
    // still be open (the ROLLBACK failed, or was queued behind a statement that never finished).
    (client, exit) => Effect.sync(() => client.release(Exit.isSuccess(exit) ? undefined : true))
  )
