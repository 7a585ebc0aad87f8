/**
 * A pool of connections to one PostgreSQL database, from a `postgres://` URL and the standard `PG*` environment.
 *
 * One pool serves everything a process keeps in that database: the report store ({@link ReportSinkPg}) and whatever
 * else lives beside it (a shared quota ledger), each with its own tables and migrations (see `PgMigrations`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import pg from "pg"

/**
 * A pool and where it connects, for messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly pool: pg.Pool
  /** `postgres://user@host:port/database`: where the pool connects, never with a password. */
  readonly location: string
}

/**
 * The pool service: provide it with {@link layer}, or `Layer.succeed(PgPool, { pool, location })` for a pool of
 * your own.
 *
 * @since 0.1.0
 * @category models
 */
export class PgPool extends Context.Tag("@vt-harvest/report-sink-pg/PgPool")<PgPool, Service>() {}

/**
 * A URL that is not a `postgres://` or `postgresql://` URL.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidUrlError extends Schema.TaggedError<InvalidUrlError>()("InvalidUrlError", {
  message: Schema.String
}) {}

/**
 * Where and how to connect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * `postgres://user:password@host:port/database?sslmode=…` (or `postgresql://`). Whatever it leaves out comes from
   * the standard environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`) and then `~/.pgpass` for
   * the password, as with `psql`; `postgres://` alone, or no URL, connects with the environment only.
   */
  readonly url?: string | undefined
  /** At most this many connections (default 10); further queries wait for one. */
  readonly maxConnections?: number | undefined
  /** How long to wait for a connection before the query fails (default 10 seconds). */
  readonly connectTimeoutMillis?: number | undefined
  /**
   * How long a statement may go unanswered before it fails and its connection is dropped (default: no bound). A
   * server that stops answering without closing the connection (frozen, behind a network partition) then costs this
   * long instead of holding the caller, and closing the pool, forever.
   */
  readonly queryTimeoutMillis?: number | undefined
  /**
   * Every transaction of the pool's connections is read-only (`default_transaction_read_only`): the server itself
   * refuses writes, whatever the code above asks.
   */
  readonly readOnly?: boolean | undefined
  /** `application_name`, shown in `pg_stat_activity` (default `vt-harvest`). */
  readonly applicationName?: string | undefined
}

/**
 * Whether `url` is one {@link layer} takes: empty, or a `postgres://` / `postgresql://` URL.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isPostgresUrl = (url: string): boolean => /^postgres(?:ql)?:\/\//i.test(url) && URL.canParse(url)

const environment = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value.trim() === "" ? undefined : value
}

// The driver defaults to $USER; without it, the account name, which a uid with no passwd entry (some containers)
// does not have.
const osUser = (): string => {
  try {
    return os.userInfo().username
  } catch {
    return "postgres"
  }
}

const decode = (value: string): string => {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

/** Where a URL connects, completed from the environment as the driver does (`?host=`, `?port=`, `?user=` win). */
const target = (url: string | undefined) => {
  const parsed = url !== undefined && isPostgresUrl(url) && URL.canParse(url) ? new URL(url) : undefined
  const param = (name: string) => {
    const value = parsed?.searchParams.get(name)
    return value === undefined || value === null || value === "" ? undefined : value
  }
  const fromUrl = (value: string | undefined) => value === undefined || value === "" ? undefined : decode(value)
  const user = param("user") ?? fromUrl(parsed?.username) ?? environment("PGUSER") ?? environment("USER") ?? osUser()
  const host = param("host") ?? fromUrl(parsed?.hostname) ?? environment("PGHOST") ?? "localhost"
  const port = param("port") ?? fromUrl(parsed?.port) ?? environment("PGPORT") ?? "5432"
  const database = fromUrl(parsed?.pathname.replace(/^\//, "")) ?? environment("PGDATABASE") ?? user
  return { user, host: host.startsWith("/") ? encodeURIComponent(host) : host.toLowerCase(), port, database }
}

/**
 * Where a URL (completed from the environment as the driver does) connects, as `postgres://user@host:port/database`:
 * the password is left out, so the result can be logged.
 *
 * @since 0.1.0
 * @category utils
 */
export const location = (url?: string): string => {
  const { database, host, port, user } = target(url)
  return `postgres://${encodeURIComponent(user)}@${host}:${port}/${encodeURIComponent(database)}`
}

/**
 * The database a URL names, whoever connects and however the URL is spelt (`postgresql://`, a password in it or in
 * `PGPASSWORD`, `?host=`): `postgres://host:port/database`. Processes that name one database under other words
 * agree on it (the claims of `--quota-store` are scoped by it).
 *
 * @since 0.3.0
 * @category utils
 */
export const identity = (url?: string): string => {
  const { database, host, port } = target(url)
  return `postgres://${host}:${port}/${encodeURIComponent(database)}`
}

// pg (8.x) takes `sslmode=prefer`, `require` and `verify-ca` for `verify-full`: it verifies the server's certificate
// and host name, and says so in a multi-line warning on stderr (`process.emitWarning`) at the first connection. The
// URL handed to pg says `verify-full` itself: the same connection, and a run's output without that warning. The query
// is read as pg reads it (its own encoding of a URL with a space or a stray `%`, names and values decoded, the last
// value of a name the one taken), and `sslmode=verify-full` is added at its end, where it is the value pg takes;
// `uselibpqcompat=true`, which asks for libpq's weaker meanings, leaves the URL as it is.
const aliasesOfVerifyFull = new Set(["prefer", "require", "verify-ca"])
const sslModeAsMeant = (url: string): string => {
  const read = / |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(url) ? encodeURI(url).replace(/%25(\d\d)/g, "%$1") : url
  let params: URLSearchParams
  try {
    params = new URL(read, "postgres://base").searchParams
  } catch {
    return url
  }
  const last = (name: string) => params.getAll(name).at(-1)
  if (last("uselibpqcompat") === "true" || !aliasesOfVerifyFull.has(last("sslmode") ?? "")) return url
  // The query has a name, so a `?` that comes before any `#`.
  const hash = url.indexOf("#", url.indexOf("?"))
  const end = hash < 0 ? url.length : hash
  return `${url.slice(0, end)}&sslmode=verify-full${url.slice(end)}`
}

/**
 * A pool for `options` (no connection is opened until the first query), ended when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, InvalidUrlError, Scope.Scope> =>
  Effect.gen(function*() {
    // `postgres://` alone names no server: the environment says everything.
    const url = options.url === undefined || /^(?:postgres(?:ql)?:\/\/\/?)?$/i.test(options.url.trim())
      ? undefined
      : options.url.trim()
    if (url !== undefined && !isPostgresUrl(url)) {
      return yield* new InvalidUrlError({
        message: "a PostgreSQL store is named by a postgres:// URL, e.g. postgres://user@host:5432/database"
      })
    }
    const config: pg.PoolConfig = {
      ...(url === undefined ? {} : { connectionString: sslModeAsMeant(url) }),
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMillis ?? 10_000,
      ...(options.queryTimeoutMillis === undefined ? {} : { query_timeout: options.queryTimeoutMillis }),
      // A server or a network that vanishes without closing the connection is noticed instead of waited on forever.
      keepAlive: true,
      application_name: options.applicationName ?? "vt-harvest",
      ...(options.readOnly === true ? { options: "-c default_transaction_read_only=on" } : {})
    }
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new pg.Pool(config)
        // An idle connection that the server closes (a restart, a timeout) is dropped from the pool; the next query
        // opens another. Without a listener the error would crash the process.
        pool.on("error", () => undefined)
        return pool
      }),
      (pool) => Effect.promise(() => pool.end().catch(() => undefined))
    )
    return { pool, location: location(url) }
  })

/**
 * {@link make} as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<PgPool, InvalidUrlError> =>
  Layer.scoped(PgPool, make(options))
