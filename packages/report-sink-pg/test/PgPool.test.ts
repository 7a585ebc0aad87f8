import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import pg from "pg"
import { afterEach, vi } from "vitest"
import { PgPool } from "../src/index.js"

const connectionString = (url: string) =>
  Effect.map(
    PgPool.make({ url }),
    (service) => (service.pool as unknown as { options: pg.PoolConfig }).options.connectionString
  )

afterEach(() => {
  vi.restoreAllMocks()
})

describe("PgPool: sslmode", () => {
  it.scoped("prefer, require and verify-ca reach pg as the verify-full it takes them for, without its warning", () =>
    Effect.gen(function*() {
      const warnings = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined)
      for (const mode of ["prefer", "require", "verify-ca"]) {
        const given = `postgres://analyst@db.internal:5432/intel?application_name=x&sslmode=${mode}#f`
        const handed = yield* connectionString(given)
        assert.strictEqual(handed, `postgres://analyst@db.internal:5432/intel?application_name=x&sslmode=verify-full#f`)
        // The connection pg makes of it verifies as the one given would: the same TLS settings.
        const ssl = (url: string) => (new pg.Client({ connectionString: url }) as unknown as { ssl: unknown }).ssl
        const before = warnings.mock.calls.length
        assert.deepStrictEqual(ssl(handed!), ssl(given))
        assert.isTrue(warnings.mock.calls.length <= before + 1)
      }
      // However pg would read the query: an encoded name or value, libpq's meanings not asked for.
      for (
        const [given, handed] of [
          ["postgres://h/db?%73slmode=%72equire", "postgres://h/db?sslmode=verify-full"],
          [
            "postgres://h/db?uselibpqcompat=false&sslmode=prefer",
            "postgres://h/db?uselibpqcompat=false&sslmode=verify-full"
          ]
        ]
      ) {
        assert.strictEqual(yield* connectionString(given), handed)
      }
      // Only the given URL could have warned: the rewritten one alone never does.
      warnings.mockClear()
      new pg.Client({ connectionString: yield* connectionString("postgres://h/db?sslmode=require") })
      assert.strictEqual(warnings.mock.calls.length, 0)
    }))

  it.scoped("other modes, libpq's meanings asked for, and look-alikes are handed on as they are", () =>
    Effect.gen(function*() {
      for (
        const url of [
          "postgres://h/db?sslmode=verify-full",
          "postgres://h/db?sslmode=disable",
          "postgres://h/db?sslmode=no-verify",
          "postgres://h/db?uselibpqcompat=true&sslmode=require",
          "postgres://h/db?application_name=a?sslmode=require",
          "postgres://h/db?application_name=a%26sslmode%3Drequire",
          "postgres://h/db?sslmode=required",
          "postgres://h/db?xsslmode=require",
          "postgres://h/db"
        ]
      ) {
        assert.strictEqual(yield* connectionString(url), url)
      }
    }))
})
