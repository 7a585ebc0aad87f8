import { assert, describe, it } from "@effect/vitest"
import { Gzip, ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Store } from "../../report-sink/test/contract.js"
import { contract } from "../../report-sink/test/contract.js"
import { PgPool, ReportSinkPg } from "../src/index.js"
import { bytes, client, freshSchema, key, listed, sql, text, url } from "./helpers.js"

type OpenOptions = Parameters<typeof ReportSinkPg.layer>[0]

/** A sink with a pool of its own, both released with the scope. */
const open = (
  options: Partial<OpenOptions> = {}
): Effect.Effect<ReportSink.Service, ReportSink.SinkError, Scope.Scope> =>
  Effect.map(
    Layer.build(ReportSinkPg.layer({ url: url(), ...options })),
    (context) => Context.get(context, ReportSink.ReportSink)
  )

const rows = (schema: string, table = "reports") =>
  Effect.flatMap(
    client(),
    (c) =>
      sql<{ key: string; kind: string; body: Buffer; document: unknown; received_at: Date }>(
        c,
        `SELECT key, kind, body, document, received_at FROM ${schema}.${table} ORDER BY key, kind`
      )
  )

for (const gzip of [false, true]) {
  contract(
    "postgres",
    Effect.sync(() => {
      const schema = freshSchema("contract")
      return {
        open: (options: Parameters<Store["open"]>[0]) => open({ schema, ...options }),
        read: (kind: "saved" | "not-found", k) =>
          Effect.flatMap(client(), (c) =>
            Effect.map(
              sql<{ body: Buffer }>(c, `SELECT body FROM ${schema}.reports WHERE key = $1 AND kind = $2`, [k, kind]),
              (found) => found[0] === undefined ? undefined : new Uint8Array(found[0].body)
            ))
      } satisfies Store
    }),
    { gzip }
  )
}

describe("ReportSinkPg", () => {
  it.scopedLive("one row per record: the bytes as received, the document as JSONB, kind and time", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const sink = yield* open({ schema })
      const report = bytes("{\"data\": {\"id\": \"abc\", \"type\": \"file\",\n \"attributes\": {\"size\": 42}}}\n")
      const record = bytes("{\"error\": {\"code\": \"NotFoundError\", \"message\": \"File \\\"def\\\" not found\"}}")
      const before = new Date(Date.now() - 60_000)
      yield* sink.put(key("abc"), report)
      yield* sink.putNotFound(key("def"), record)
      const stored = yield* rows(schema)
      assert.deepStrictEqual(stored.map((row) => `${row.kind}:${row.key}`), ["saved:abc", "not-found:def"])
      assert.deepStrictEqual(new Uint8Array(stored[0]!.body), report)
      assert.deepStrictEqual(stored[0]!.document, { data: { id: "abc", type: "file", attributes: { size: 42 } } })
      assert.deepStrictEqual(new Uint8Array(stored[1]!.body), record)
      assert.deepStrictEqual(stored[1]!.document, {
        error: { code: "NotFoundError", message: "File \"def\" not found" }
      })
      assert.isTrue(stored.every((row) => row.received_at > before))
      assert.strictEqual(sink.location, `${PgPool.location(url())} (${schema}.reports)`)
      assert.notInclude(sink.location, "pw-")
    }))

  it.scopedLive("bytes that are not JSON (or that JSONB cannot hold) are kept exactly, with no document", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const sink = yield* open({ schema })
      const binary = new Uint8Array([0x7b, 0x00, 0xff, 0xfe, 0x7d])
      const nul = bytes("{\"data\":{\"name\":\"a\\u0000b\"}}")
      yield* sink.put(key("binary"), binary)
      yield* sink.put(key("nul"), nul)
      const stored = yield* rows(schema)
      assert.deepStrictEqual(stored.map((row) => [row.key, row.document]), [["binary", null], ["nul", null]])
      assert.deepStrictEqual(Option.getOrUndefined(yield* sink.get(key("binary"))), binary)
      assert.deepStrictEqual(Option.getOrUndefined(yield* sink.get(key("nul"))), nul)
    }))

  it.scopedLive("gzip has no effect: records are stored uncompressed and queryable, and read back alike", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const sink = yield* open({ schema, gzip: true })
      const report = bytes(JSON.stringify({ data: { id: "abc", attributes: { names: Array(200).fill("a.exe") } } }))
      yield* sink.put(key("abc"), report)
      const [row] = yield* rows(schema)
      assert.isFalse(Gzip.isGzip(row!.body))
      assert.deepStrictEqual(new Uint8Array(row!.body), report)
      assert.strictEqual((row!.document as { data: { id: string } }).data.id, "abc")
      const plain = yield* open({ schema })
      assert.deepStrictEqual(Option.getOrUndefined(yield* plain.get(key("abc"))), report)
    }))

  it.scopedLive("a large report round-trips byte for byte", () =>
    Effect.gen(function*() {
      const sink = yield* open({ schema: freshSchema() })
      const body = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31 + (i >> 8)) & 0xff)
      yield* sink.put(key("big"), body)
      assert.deepStrictEqual(Option.getOrUndefined(yield* sink.get(key("big"))), body)
    }))

  it.scopedLive(
    "a row larger than a record can be is refused by its size, its body never fetched",
    () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const sink = yield* open({ schema })
        const c = yield* client()
        yield* sql(
          c,
          `INSERT INTO ${schema}.reports (key, kind, body) VALUES ('huge', 'saved', convert_to(repeat('x', $1), 'UTF8'))`,
          [StoreLayout.maxRecordBytes + 1]
        )
        const error = yield* Effect.flip(sink.get(key("huge")))
        assert.include(error.message, `${StoreLayout.maxRecordBytes + 1} bytes, more than a record holds`)
        // The others are read as ever.
        yield* sink.put(key("small"), bytes("{}"))
        assert.isTrue(Option.isSome(yield* sink.get(key("small"))))
      }),
    120_000
  )

  it.scopedLive(
    "list pages through more than one page, and skips rows whose key is not a record key",
    () =>
      Effect.gen(function*() {
        const schema = freshSchema()
        const sink = yield* open({ schema })
        const c = yield* client()
        // Written directly: what is tested is the listing, over several pages of each kind.
        yield* sql(
          c,
          `INSERT INTO ${schema}.reports (key, kind, body)
         SELECT 's' || lpad(i::text, 5, '0'), 'saved', '{}'::bytea FROM generate_series(1, 2500) AS i
         UNION ALL
         SELECT 'n' || lpad(i::text, 5, '0'), 'not-found', '{}'::bytea FROM generate_series(1, 1200) AS i
         UNION ALL
         SELECT k, 'saved', '{}'::bytea FROM unnest(ARRAY['../evil', '.hidden', 'a b', '']) AS k`
        )
        const entries = yield* listed(sink)
        assert.strictEqual(entries.length, 3_700)
        assert.strictEqual(entries.filter((e) => e.startsWith("saved:")).length, 2_500)
        assert.isFalse(entries.some((e) => e.includes("evil") || e.includes("hidden") || e.includes(" ")))
      }),
    120_000
  )
})

describe("migrations", () => {
  it.scopedLive("run once however many times, and however many processes, open the store", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const first = yield* open({ schema })
      yield* first.put(key("kept"), bytes("{\"data\":1}"))
      // Opened again, and by four pools at the same moment: nothing is created twice, nothing is lost.
      yield* open({ schema })
      yield* Effect.all(Array.from({ length: 4 }, () => open({ schema })), { concurrency: "unbounded" })
      const c = yield* client()
      const applied = yield* sql(c, `SELECT component, version FROM ${schema}.schema_migrations`)
      assert.deepStrictEqual(applied, [{ component: "report-sink:reports", version: 1 }])
      assert.strictEqual(yield* first.has(key("kept")), "saved")
      // Four stores at once in schemas that do not exist yet: each is created, once.
      const schemas = Array.from({ length: 4 }, () => freshSchema())
      yield* Effect.all(schemas.map((s) => open({ schema: s })), { concurrency: "unbounded" })
      for (const s of schemas) {
        assert.strictEqual((yield* sql(c, `SELECT count(*)::int AS n FROM ${s}.schema_migrations`))[0]!.n, 1)
      }
    }))

  it.scopedLive("another table in the same schema is another component of the same migrations table", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const reports = yield* open({ schema })
      const analyses = yield* open({ schema, table: ReportSinkPg.analysesTable, overwrite: true })
      yield* reports.put(key("a"), bytes("{\"data\":\"report\"}"))
      yield* analyses.put(key("a"), bytes("{\"data\":\"analysis\"}"))
      assert.strictEqual(text(Option.getOrUndefined(yield* reports.get(key("a")))), "{\"data\":\"report\"}")
      assert.strictEqual(text(Option.getOrUndefined(yield* analyses.get(key("a")))), "{\"data\":\"analysis\"}")
      const c = yield* client()
      assert.deepStrictEqual(
        yield* sql(c, `SELECT component, version FROM ${schema}.schema_migrations ORDER BY component`),
        [{ component: "report-sink:analyses", version: 1 }, { component: "report-sink:reports", version: 1 }]
      )
    }))

  it.scopedLive("a store written by a newer version is refused, changing nothing", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      yield* open({ schema })
      const c = yield* client()
      yield* sql(
        c,
        `INSERT INTO ${schema}.schema_migrations (component, version, description) VALUES ('report-sink:reports', 2, 'x')`
      )
      for (const readOnly of [false, true]) {
        const error = yield* Effect.flip(open({ schema, readOnly }))
        assert.strictEqual(error._tag, "SinkError")
        assert.include(error.message, "schema version 2, newer than the 1")
      }
    }))

  it.scopedLive("the schema and table names are checked", () =>
    Effect.gen(function*() {
      for (const [schema, table] of [["Bad", "reports"], ["ok", "x; DROP TABLE y"], ["ok", "schema_migrations"]]) {
        const error = yield* Effect.flip(open({ schema: schema!, table: table! }))
        assert.include(error.message, "refusing the")
      }
    }))
})

describe("concurrent writers", () => {
  // Two pools are two sets of connections, as two processes would have.
  const bodies = (n: number, size: number) =>
    Array.from(
      { length: n },
      (_, i) => bytes(JSON.stringify({ data: { id: "same", writer: i, pad: "x".repeat(size) } }))
    )

  it.scopedLive("without overwrite, the first whole report wins and the others keep it, untouched", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const writers = yield* Effect.all([open({ schema }), open({ schema })])
      const candidates = bodies(8, 512 * 1024)
      yield* Effect.all(
        candidates.map((body, i) => writers[i % 2]!.put(key("same"), body)),
        { concurrency: "unbounded", discard: true }
      )
      const stored = yield* rows(schema)
      assert.strictEqual(stored.length, 1)
      const winner = candidates.findIndex((body) => Buffer.from(body).equals(stored[0]!.body))
      assert.isAtLeast(winner, 0)
      assert.strictEqual((stored[0]!.document as { data: { writer: number } }).data.writer, winner)
      // A later put, from either writer, keeps it.
      yield* writers[1]!.put(key("same"), bytes("{}"))
      assert.isTrue(Buffer.from(candidates[winner]!).equals((yield* rows(schema))[0]!.body))
    }))

  it.scopedLive("with overwrite, what is left is one whole report of one writer, its document with it", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const writers = yield* Effect.all([open({ schema, overwrite: true }), open({ schema, overwrite: true })])
      const candidates = bodies(8, 512 * 1024)
      // Readers all along: each sees no report or a whole one, never a part.
      const seen: Array<Uint8Array> = []
      const reader = Effect.repeatN(
        Effect.flatMap(
          writers[0]!.get(key("same")),
          (found) => Effect.sync(() => Option.map(found, (b) => seen.push(b)))
        ),
        40
      )
      yield* Effect.all([
        Effect.all(candidates.map((body, i) => writers[i % 2]!.put(key("same"), body)), {
          concurrency: "unbounded",
          discard: true
        }),
        reader
      ], { concurrency: "unbounded" })
      const stored = yield* rows(schema)
      assert.strictEqual(stored.length, 1)
      const winner = candidates.findIndex((body) => Buffer.from(body).equals(stored[0]!.body))
      assert.isAtLeast(winner, 0)
      assert.strictEqual((stored[0]!.document as { data: { writer: number } }).data.writer, winner)
      for (const body of seen) assert.isTrue(candidates.some((c) => Buffer.from(c).equals(body)))
    }))

  it.scopedLive("a not-found record and a report written at once: the report wins, whole", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const [a, b] = yield* Effect.all([open({ schema }), open({ schema })])
      const report = bytes("{\"data\":{\"id\":\"k\"}}")
      yield* Effect.all([a.put(key("k"), report), b.putNotFound(key("k"), bytes("{\"error\":{}}"))], {
        concurrency: "unbounded"
      })
      assert.strictEqual(yield* a.has(key("k")), "saved")
      assert.deepStrictEqual(Option.getOrUndefined(yield* b.get(key("k"))), report)
      assert.deepStrictEqual(yield* listed(b), ["saved:k"])
    }))
})

describe("read-only", () => {
  it.scopedLive("refuses every write, and its connections cannot write either", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const writer = yield* open({ schema })
      yield* writer.put(key("a"), bytes("{\"data\":\"a\"}"))
      yield* writer.putNotFound(key("b"), bytes("{\"error\":{}}"))
      const reader = yield* open({ schema, readOnly: true, overwrite: true })
      assert.strictEqual(yield* reader.has(key("a")), "saved")
      assert.deepStrictEqual(yield* listed(reader), ["not-found:b", "saved:a"])
      for (
        const attempt of [
          reader.put(key("a"), bytes("x")),
          reader.putNotFound(key("c"), bytes("x")),
          reader.checkWritable
        ]
      ) {
        const error = yield* Effect.flip(attempt)
        assert.include(error.message, "read-only")
      }
      // The server refuses too: a pool opened read-only has read-only transactions.
      const pool = yield* PgPool.make({ url: url(), readOnly: true })
      const refused = yield* Effect.flip(
        Effect.tryPromise(() => pool.pool.query(`DELETE FROM ${schema}.reports`))
      )
      assert.include(String(refused.error), "read-only transaction")
      assert.strictEqual((yield* rows(schema)).length, 2)
    }))

  it.scopedLive("creates nothing: a store that is not there is an error, not an empty store", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const error = yield* Effect.flip(open({ schema, readOnly: true }))
      assert.include(error.message, "no report-sink:reports here")
      const c = yield* client()
      assert.deepStrictEqual(yield* sql(c, "SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]), [])
    }))
})

describe("checkWritable and connections", () => {
  it.scopedLive("passes and leaves nothing behind; fails for a role that may only read", () =>
    Effect.gen(function*() {
      const schema = freshSchema()
      const sink = yield* open({ schema })
      yield* sink.checkWritable
      assert.deepStrictEqual(yield* rows(schema), [])
      const c = yield* client()
      const role = freshSchema("reader")
      yield* sql(c, `CREATE ROLE ${role} LOGIN PASSWORD 'reader-secret'`)
      yield* sql(c, `GRANT USAGE ON SCHEMA ${schema} TO ${role}`)
      yield* sql(c, `GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`)
      const readerUrl = new URL(url())
      readerUrl.username = role
      readerUrl.password = "reader-secret"
      // The store is migrated already: a role that may not create anything opens it.
      const limited = yield* open({ url: readerUrl.href, schema })
      assert.strictEqual(yield* limited.has(key("x")), "absent")
      const error = yield* Effect.flip(limited.checkWritable)
      assert.strictEqual(error.operation, "checkWritable")
      assert.include(error.message, "permission denied")
      assert.notInclude(error.message, "reader-secret")
      const put = yield* Effect.flip(limited.put(key("x"), bytes("{}")))
      assert.include(put.message, "permission denied")
    }))

  it.scopedLive("a wrong password, a closed port or a bad URL fail the open with a SinkError", () =>
    Effect.gen(function*() {
      const wrong = new URL(url())
      wrong.password = "wrong-password"
      const denied = yield* Effect.flip(open({ url: wrong.href, schema: freshSchema() }))
      assert.strictEqual(denied.operation, "open")
      assert.include(denied.message, "password authentication failed")
      assert.notInclude(denied.message, "wrong-password")
      const closed = new URL(url())
      closed.port = "1"
      const refused = yield* Effect.flip(open({ url: closed.href, schema: freshSchema() }))
      assert.include(refused.message, "ECONNREFUSED")
      const bad = yield* Effect.flip(open({ url: "mysql://host/db" }))
      assert.include(bad.message, "postgres:// URL")
    }))

  it.scopedLive("connections the server ends (a restart, an administrator) are replaced: nothing fails", () =>
    Effect.gen(function*() {
      const applicationName = freshSchema("app")
      const sink = yield* open({ schema: freshSchema(), applicationName })
      yield* Effect.all([sink.put(key("a"), bytes("{}")), sink.put(key("b"), bytes("{}"))], { concurrency: 2 })
      const c = yield* client()
      const ended = yield* sql<{ ended: boolean }>(
        c,
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1",
        [applicationName]
      )
      assert.isAtLeast(ended.length, 1)
      yield* sink.put(key("c"), bytes("{}"))
      assert.deepStrictEqual(yield* listed(sink), ["saved:a", "saved:b", "saved:c"])
    }))

  it.scopedLive("the standard PG* environment fills in what the URL leaves out", () =>
    Effect.gen(function*() {
      const full = new URL(url())
      const saved = { ...process.env }
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const name of ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"]) {
            if (saved[name] === undefined) delete process.env[name]
            else process.env[name] = saved[name]
          }
        })
      )
      process.env.PGHOST = full.hostname
      process.env.PGPORT = full.port
      process.env.PGUSER = full.username
      process.env.PGPASSWORD = full.password
      process.env.PGDATABASE = "postgres"
      const sink = yield* open({ url: "postgres://", schema: freshSchema() })
      yield* sink.put(key("env"), bytes("{}"))
      assert.strictEqual(yield* sink.has(key("env")), "saved")
      assert.strictEqual(sink.location.split(" ")[0], `postgres://postgres@127.0.0.1:${full.port}/postgres`)
    }))
})
