/**
 * A ReportSink on PostgreSQL (one table of records, the documents as JSONB), and the connection pool and migrations
 * that other components in the same database share.
 *
 * @since 0.1.0
 */

/**
 * Versioned, idempotent migrations per component in one schema (`<schema>.schema_migrations`).
 *
 * @since 0.1.0
 * @category modules
 */
export * as PgMigrations from "./PgMigrations.js"

/**
 * A connection pool from a `postgres://` URL and the `PG*` environment (`PgPool`, `layer`).
 *
 * @since 0.1.0
 * @category modules
 */
export * as PgPool from "./PgPool.js"

/**
 * The PostgreSQL sink (`make`, `layer`, `layerWithoutPool`, `migrate`).
 *
 * @since 0.1.0
 * @category modules
 */
export * as ReportSinkPg from "./ReportSinkPg.js"

/**
 * The quota ledger of a key shared by every process through PostgreSQL (`make`, `layer`, `layerWithoutPool`).
 *
 * @since 0.3.0
 * @category modules
 */
export * as PgQuotaLedger from "./PgQuotaLedger.js"

/**
 * Claims on ids in flight shared by every process through PostgreSQL, renewed while in use, taken over after a lease.
 *
 * @since 0.3.0
 * @category modules
 */
export * as PgClaims from "./PgClaims.js"
