/**
 * Versioned, idempotent schema migrations in one PostgreSQL schema, shared by everything vt-harvest keeps there.
 *
 * Each component (the report table `reports`, its analyses table, a quota ledger…) has its own numbered migrations,
 * recorded in `<schema>.schema_migrations` as `(component, version)`. {@link run} applies those not recorded yet,
 * each in the same transaction as its record, under an advisory lock, so processes that start together migrate once
 * and a store is always at a version some migration left it in. A store already up to date is only read: no DDL,
 * no lock, so a role with no right to create anything can open a store a DBA migrated.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import pg from "pg"
import * as internal from "./internal/query.js"

/**
 * One step of a component's schema. Versions start at 1 and follow each other; a released migration never changes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Migration {
  readonly version: number
  readonly description: string
  /** Run in order, in one transaction. Write them so that running them on a schema that has them is harmless. */
  readonly statements: ReadonlyArray<string>
}

/**
 * Migrations that could not be applied or checked; `message` names the schema and the component.
 *
 * @since 0.1.0
 * @category errors
 */
export class MigrationError extends Schema.TaggedError<MigrationError>()("MigrationError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * The names vt-harvest gives schemas and tables: lower case, so that they need no quoting in hand-written SQL.
 *
 * @since 0.1.0
 * @category models
 */
export const identifierPattern: RegExp = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * Whether `name` matches {@link identifierPattern}.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isIdentifier = (name: string): boolean => identifierPattern.test(name)

/**
 * The table of applied migrations, in every schema vt-harvest uses.
 *
 * @since 0.1.0
 * @category models
 */
export const migrationsTable = "schema_migrations"

/**
 * `"schema"."name"`, quoted.
 *
 * @since 0.1.0
 * @category utils
 */
export const qualified = (schema: string, name: string): string =>
  `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`

// One lock for every schema: creating two schemas at once is rare, and one key keeps the lock easy to find in
// pg_locks (objid = hashtext('vt-harvest:migrations')).
const lockKey = "vt-harvest:migrations"

const latestOf = (migrations: ReadonlyArray<Migration>): number =>
  migrations.reduce((latest, migration) => Math.max(latest, migration.version), 0)

const failure = (message: string) => (error: internal.QueryError) =>
  new MigrationError({ message: `${message}: ${error.detail}`, cause: error.cause })

/**
 * The version of `component` recorded in `schema`: 0 when nothing is (no schema, no migrations table, no row).
 *
 * @since 0.1.0
 * @category getters
 */
export const appliedVersion = (
  runner: pg.Pool | pg.PoolClient,
  options: { readonly schema: string; readonly component: string }
): Effect.Effect<number, MigrationError> =>
  Effect.gen(function*() {
    const table = qualified(options.schema, migrationsTable)
    const found = yield* internal.query<{ exists: boolean }>(runner, {
      text: "SELECT to_regclass($1) IS NOT NULL AS exists",
      values: [table]
    })
    if (found.rows[0]?.exists !== true) return 0
    const version = yield* internal.query<{ version: number }>(runner, {
      text: `SELECT coalesce(max(version), 0)::int AS version FROM ${table} WHERE component = $1`,
      values: [options.component]
    })
    return version.rows[0]?.version ?? 0
  }).pipe(Effect.mapError(failure(`cannot read the schema version of ${options.component} in ${options.schema}`)))

const newer = (options: { readonly schema: string; readonly component: string }, found: number, latest: number) =>
  new MigrationError({
    message: `${options.schema}: ${options.component} is at schema version ${found}, newer than the ${latest} this ` +
      "version of vt-harvest knows; upgrade vt-harvest to use it"
  })

/**
 * Brings `component` in `schema` to its latest version (creating the schema and the migrations table if needed) and
 * answers that version. Fails, changing nothing, when the store is at a version newer than `migrations` know.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  pool: pg.Pool,
  options: {
    readonly schema: string
    readonly component: string
    readonly migrations: ReadonlyArray<Migration>
  }
): Effect.Effect<number, MigrationError> =>
  Effect.gen(function*() {
    const { component, migrations, schema } = options
    const latest = latestOf(migrations)
    const current = yield* appliedVersion(pool, options)
    if (current > latest) return yield* newer(options, current, latest)
    if (current === latest) return current
    const table = qualified(schema, migrationsTable)
    return yield* internal.transaction(pool, (client) =>
      Effect.gen(function*() {
        yield* internal.query(client, { text: "SELECT pg_advisory_xact_lock(hashtext($1))", values: [lockKey] })
        // CREATE SCHEMA IF NOT EXISTS wants the right to create schemas even when the schema is there: look first.
        const exists = yield* internal.query(client, {
          text: "SELECT 1 FROM pg_namespace WHERE nspname = $1",
          values: [schema]
        })
        if (exists.rowCount === 0) {
          yield* internal.query(client, { text: `CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}` })
        }
        yield* internal.query(client, {
          text: `CREATE TABLE IF NOT EXISTS ${table} (
  component text NOT NULL,
  version integer NOT NULL,
  description text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (component, version)
)`
        })
        // Read again under the lock: another process may have migrated meanwhile.
        const now = yield* appliedVersion(client, options)
        if (now > latest) return yield* newer(options, now, latest)
        const pending = migrations.filter((migration) => migration.version > now)
          .sort((a, b) => a.version - b.version)
        for (const migration of pending) {
          for (const text of migration.statements) yield* internal.query(client, { text })
          yield* internal.query(client, {
            text: `INSERT INTO ${table} (component, version, description) VALUES ($1, $2, $3)`,
            values: [component, migration.version, migration.description]
          })
        }
        return latest
      })).pipe(
        Effect.catchTag("QueryError", (error) =>
          Effect.fail(failure(`cannot migrate ${component} in ${schema} to schema version ${latest}`)(error)))
      )
  })

/**
 * Checks, changing nothing, that `component` is in `schema` at a version these `migrations` know: for stores opened
 * read-only. Answers the version.
 *
 * @since 0.1.0
 * @category utils
 */
export const check = (
  runner: pg.Pool | pg.PoolClient,
  options: {
    readonly schema: string
    readonly component: string
    readonly migrations: ReadonlyArray<Migration>
  }
): Effect.Effect<number, MigrationError> =>
  Effect.flatMap(appliedVersion(runner, options), (current) => {
    const latest = latestOf(options.migrations)
    if (current === 0) {
      return Effect.fail(
        new MigrationError({ message: `${options.schema}: there is no ${options.component} here (no migration ran)` })
      )
    }
    return current > latest ? Effect.fail(newer(options, current, latest)) : Effect.succeed(current)
  })
