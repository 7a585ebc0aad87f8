import { Gzip, ReportKey, ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import type { StorePrimitives } from "@vt-harvest/report-sink"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { createHash, randomBytes } from "node:crypto"
import type pg from "pg"
import * as PgMigrations from "../PgMigrations.js"
import * as internal from "./query.js"

type Kind = StorePrimitives.Kind

/** @internal */
export interface Config {
  readonly pool: pg.Pool
  /** `postgres://user@host:port/db`, without a password. */
  readonly server: string
  readonly schema: string
  readonly table: string
  readonly retry: Schedule.Schedule<unknown, unknown>
  /** Rows per page of `keys`. */
  readonly pageSize: number
}

/** @internal */
export const component = (table: string): string => `report-sink:${table}`

/** @internal */
export const migrations = (schema: string, table: string): ReadonlyArray<PgMigrations.Migration> => {
  const name = PgMigrations.qualified(schema, table)
  const documentOf = PgMigrations.qualified(schema, "document_of")
  return [{
    version: 1,
    description: `the records table ${schema}.${table}`,
    statements: [
      // The document as JSONB for queries, derived from the bytes by the server so that it can never disagree with
      // them; NULL for bytes that are not a JSON text in UTF-8 (which jsonb cannot hold, e.g. `\u0000`).
      `CREATE OR REPLACE FUNCTION ${documentOf}(body bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
BEGIN
  RETURN convert_from(body, 'UTF8')::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$fn$`,
      `CREATE TABLE IF NOT EXISTS ${name} (
  key text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('saved', 'not-found')),
  body bytea NOT NULL,
  document jsonb GENERATED ALWAYS AS (${documentOf}(body)) STORED,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (key, kind)
)`,
      `COMMENT ON TABLE ${name} IS 'vt-harvest records: one row per report (kind saved) or not-found record (kind not-found) and key'`,
      `COMMENT ON COLUMN ${name}.key IS 'the store key: lower-cased hash, domain, IP with _ for :, SHA-256 of a URL'`,
      `COMMENT ON COLUMN ${name}.body IS 'the document exactly as VirusTotal sent it'`,
      `COMMENT ON COLUMN ${name}.document IS 'body as JSONB (NULL when body is not JSON in UTF-8)'`,
      `COMMENT ON COLUMN ${name}.received_at IS 'when the record was written (last written, with overwrite)'`
    ]
  }]
}

const toBytes = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** The statements of one table, each a named prepared statement (parsed once per connection). */
const statements = (schema: string, table: string) => {
  const name = PgMigrations.qualified(schema, table)
  // Statement names are per connection; a pool may serve several tables (reports, analyses).
  const tag = createHash("sha256").update(`${schema}.${table}`).digest("hex").slice(0, 12)
  const statement = (id: string, text: string) => ({ name: `vt-harvest-${id}-${tag}`, text })
  return {
    exists: statement("exists", `SELECT 1 FROM ${name} WHERE key = $1 AND kind = $2`),
    presence: statement("presence", `SELECT kind FROM ${name} WHERE key = $1`),
    // The body only when a record can be that large: a larger row (written by hand) is named by its size, never
    // fetched (a row of gigabytes would cost that in memory, or more than a string can hold).
    read: statement(
      "read",
      `SELECT CASE WHEN octet_length(body) <= $3 THEN body END AS body, octet_length(body) AS size FROM ${name}
WHERE key = $1 AND kind = $2`
    ),
    insert: statement(
      "insert",
      `INSERT INTO ${name} (key, kind, body) VALUES ($1, $2, $3) ON CONFLICT (key, kind) DO NOTHING`
    ),
    upsert: statement(
      "upsert",
      `INSERT INTO ${name} (key, kind, body) VALUES ($1, $2, $3)
ON CONFLICT (key, kind) DO UPDATE SET body = EXCLUDED.body, received_at = EXCLUDED.received_at`
    ),
    remove: statement("remove", `DELETE FROM ${name} WHERE key = $1 AND kind = $2`),
    page: statement("page", `SELECT key FROM ${name} WHERE kind = $1 AND key > $2 ORDER BY key LIMIT $3`)
  }
}

/** @internal */
export const make = (config: Config): StorePrimitives.StorePrimitives => {
  const { pool, retry, schema, table } = config
  const location = `${config.server} (${schema}.${table})`
  const sql = statements(schema, table)

  const run = <R extends pg.QueryResultRow>(
    statement: { readonly name: string; readonly text: string },
    values: ReadonlyArray<unknown>,
    what: string,
    key?: ReportKey.ReportKey
  ): Effect.Effect<pg.QueryResult<R>, ReportSink.SinkError> =>
    internal.query<R>(pool, { ...statement, values: [...values] }).pipe(
      Effect.retry({ schedule: retry, while: (error) => internal.isTransient(error.cause) }),
      Effect.mapError((error) =>
        new ReportSink.SinkError({
          operation: what,
          key,
          message: `cannot ${what} ${location}: ${error.detail}`,
          cause: error.cause
        })
      )
    )

  const exists = (kind: Kind, key: ReportKey.ReportKey) =>
    Effect.map(run(sql.exists, [key, kind], `look for ${key} in`, key), (result) => (result.rowCount ?? 0) > 0)

  const presence = (key: ReportKey.ReportKey) =>
    Effect.map(run<{ kind: Kind }>(sql.presence, [key], `look for ${key} in`, key), (result) => {
      const kinds = result.rows.map((row) => row.kind)
      return kinds.includes("saved") ? "saved" as const : kinds.includes("not-found") ? "not-found" as const : "absent"
    })

  const read = (kind: Kind, key: ReportKey.ReportKey) =>
    Effect.flatMap(
      run<{ body: Buffer | null; size: number | string }>(
        sql.read,
        [key, kind, StoreLayout.maxRecordBytes],
        `read ${key} from`,
        key
      ),
      (result): Effect.Effect<Option.Option<StorePrimitives.Stored>, ReportSink.SinkError> => {
        const row = result.rows[0]
        if (row === undefined) return Effect.succeedNone
        if (row.body === null) {
          return Effect.fail(
            new ReportSink.SinkError({
              operation: "read",
              key,
              message:
                `cannot read ${key} from ${location}: ${row.size} bytes, more than a record holds (${StoreLayout.maxRecordBytes})`
            })
          )
        }
        return Effect.succeedSome({ bytes: toBytes(row.body), gzip: false })
      }
    )

  // Records are kept decompressed, so that the document column is always there to query: compressed bytes (the
  // rules never send any here, see ReportSinkPg) are decompressed first.
  const plain = (key: ReportKey.ReportKey, bytes: Uint8Array, gzip: boolean) =>
    gzip
      ? Effect.mapError(Gzip.decompress(bytes), (error) =>
        new ReportSink.SinkError({
          operation: "write",
          key,
          message: `cannot store ${key} in ${location}: ${error.message}`,
          cause: error
        }))
      : Effect.succeed(bytes)

  // One statement: a reader sees the earlier row or this one, never a part. Without overwrite the insert is
  // conditional in the server (ON CONFLICT DO NOTHING), so a concurrent writer of the same key is never replaced.
  const write = (kind: Kind, key: ReportKey.ReportKey, bytes: Uint8Array, options: StorePrimitives.WriteOptions) =>
    Effect.flatMap(
      plain(key, bytes, options.gzip),
      (body) => run(options.ifAbsent ? sql.insert : sql.upsert, [key, kind, toBuffer(body)], `store ${key} in`, key)
    ).pipe(Effect.asVoid)

  const remove = (kind: Kind, key: ReportKey.ReportKey) =>
    Effect.asVoid(run(sql.remove, [key, kind], `remove ${key} from`, key))

  // Keyset pagination: no transaction or cursor held open while the consumer works through a page, and each page
  // is one index range scan however deep into the table it is.
  const keys = (kind: Kind): Stream.Stream<ReportKey.ReportKey, ReportSink.SinkError> =>
    Stream.paginateChunkEffect(
      "",
      (after) =>
        Effect.map(run<{ key: string }>(sql.page, [kind, after, config.pageSize], "list"), (result) => {
          const names = result.rows.map((row) => row.key)
          const last = names.at(-1)
          return [
            Chunk.fromIterable(names.filter(ReportKey.isReportKey)),
            last === undefined || names.length < config.pageSize ? Option.none() : Option.some(last)
          ]
        })
    )

  // The statements a harvest runs (insert, upsert, delete), for both kinds, in a transaction that is rolled back:
  // proves the privileges, that the server takes writes (not a standby, not read-only), and leaves nothing behind,
  // since no other session ever sees an uncommitted row. The key starts with a dot, which no record key can.
  const probe = internal.transaction(pool, (client) =>
    Effect.gen(function*() {
      const key = `.vt-harvest-probe-${randomBytes(6).toString("hex")}`
      for (const kind of ["saved", "not-found"] as const) {
        yield* internal.query(client, { ...sql.insert, values: [key, kind, Buffer.from("{}")] })
        yield* internal.query(client, { ...sql.upsert, values: [key, kind, Buffer.from("{}")] })
        yield* internal.query(client, { ...sql.remove, values: [key, kind] })
      }
    }), { rollback: true }).pipe(
      Effect.mapError((error) =>
        new ReportSink.SinkError({
          operation: "checkWritable",
          message: `cannot write to ${location}: ${error.detail}`,
          cause: error.cause
        })
      )
    )

  return { location, exists, read, write, remove, keys, probe, presence }
}
