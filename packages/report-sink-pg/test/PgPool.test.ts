import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { PgPool } from "../src/index.js"

const connectionString = (url: string) =>
  Effect.map(
    PgPool.make({ url }),
    (service) => (service.pool as unknown as { options: { connectionString?: string } }).options.connectionString
  )

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

// What pg makes of a connection string, in a process of its own (pg warns once per process): the TLS settings of the
// client it builds, and what it wrote on stderr.
const asPgReads = (url: string) => {
  const script = "const pg = require('pg'); const c = new pg.Client({ connectionString: process.argv[1] });" +
    "process.stdout.write(JSON.stringify(c.connectionParameters.ssl ?? null))"
  const result = spawnSync(process.execPath, ["-e", script, url], { cwd: packageDir, encoding: "utf8" })
  return { ssl: result.stdout, stderr: result.stderr }
}

describe("PgPool: sslmode", () => {
  it.scoped(
    "prefer, require and verify-ca reach pg as the verify-full it takes them for: same TLS, no warning",
    () =>
      Effect.gen(function*() {
        for (
          const given of [
            "postgres://analyst@db.internal:5432/intel?application_name=x&sslmode=require#f",
            "postgres://h/db?sslmode=prefer",
            "postgres://h/db?sslmode=verify-ca&sslrootcert=",
            // As pg reads a query: encoded, the last value taken, its own encoding of a URL with a space.
            "postgres://h/db?%73slmode=%72equire",
            "postgres://h/db?sslmode=disable&sslmode=require",
            "postgres://h/db?uselibpqcompat=false&sslmode=prefer",
            "postgres://h/db?application_name=a b&sslmode=require"
          ]
        ) {
          const handed = (yield* connectionString(given))!
          const before = asPgReads(given)
          const after = asPgReads(handed)
          assert.include(before.stderr, "SECURITY WARNING", given)
          assert.strictEqual(after.stderr, "", handed)
          assert.strictEqual(after.ssl, before.ssl, given)
        }
      }),
    60_000
  )

  it.scoped("other modes, libpq's meanings asked for, and look-alikes are handed on as they are", () =>
    Effect.gen(function*() {
      for (
        const url of [
          "postgres://h/db?sslmode=verify-full",
          "postgres://h/db?sslmode=disable",
          "postgres://h/db?sslmode=no-verify",
          "postgres://h/db?uselibpqcompat=true&sslmode=require",
          "postgres://h/db?uselibpqcompat=false&uselibpqcompat=true&sslmode=require",
          "postgres://h/db?sslmode=require&sslmode=disable",
          "postgres://h/db?sslmode=required",
          "postgres://h/db?xsslmode=require",
          "postgres://h/db?application_name=a%26sslmode%3Drequire",
          "postgres://h/db#x?sslmode=require",
          "postgres://h/db"
        ]
      ) {
        assert.strictEqual(yield* connectionString(url), url)
      }
    }))
})

describe("PgPool: location and identity", () => {
  it("where a URL connects, as the driver reads it: ?host=, ?port= and ?user= win over the URL's own", () => {
    assert.strictEqual(
      PgPool.location("postgres://alice:pw@127.0.0.1:1/vt?host=db.example&port=6543&user=bob"),
      "postgres://bob@db.example:6543/vt"
    )
    assert.strictEqual(PgPool.location("postgresql://alice@DB.Example/vt"), "postgres://alice@db.example:5432/vt")
  })

  it("one database under other words is one identity; another database, host or port is another", () => {
    const one = [
      "postgres://alice:secret@db.example:5432/vt",
      "postgresql://alice@db.example/vt",
      "postgres://bob@DB.EXAMPLE:5432/vt?sslmode=disable",
      "postgres://x@127.0.0.1:1/vt?host=db.example&port=5432",
      "postgres://db.example/vt?password=secret"
    ].map(PgPool.identity)
    assert.deepStrictEqual(new Set(one), new Set(["postgres://db.example:5432/vt"]))
    for (const other of ["postgres://db.example/vt2", "postgres://db2.example/vt", "postgres://db.example:5433/vt"]) {
      assert.notStrictEqual(PgPool.identity(other), one[0])
    }
  })
})
