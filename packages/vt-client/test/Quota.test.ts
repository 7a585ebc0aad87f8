// overall_quotas and api_usage for the key's own user, against the emulator.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Files from "../src/Files.js"
import * as Quota from "../src/Quota.js"
import * as VtError from "../src/VtError.js"
import { KEY, knownFile, unknownFile, withEmulator } from "./emulator.js"

describe("Quota", () => {
  it.scoped("overall: the key's own windows, typed; the key never in the log", () =>
    withEmulator(
      { perMinute: 4, perDay: 500, perMonth: 15_500, now: () => Date.UTC(2024, 4, 7, 12) },
      (server) =>
        Effect.gen(function*() {
          yield* Files.get(knownFile)
          yield* Effect.either(Files.get(unknownFile))
          const quotas = yield* Quota.overall()
          assert.deepStrictEqual(Option.getOrThrow(quotas.daily), { user: { allowed: 500, used: 2 } })
          assert.deepStrictEqual(Option.getOrThrow(quotas.hourly), { user: { allowed: 240, used: 2 } })
          assert.deepStrictEqual(Option.getOrThrow(quotas.monthly), { user: { allowed: 15_500, used: 2 } })
          assert.deepStrictEqual(quotas.data, JSON.parse(new TextDecoder().decode(quotas.raw)).data)
          const other = yield* Quota.overall({ user: "someone-else" })
          assert.strictEqual(Option.getOrThrow(other.daily).user?.used, 0)
          assert.deepStrictEqual(server.requests.slice(2).map((r) => r.path), [
            "/api/v3/users/<redacted>/overall_quotas",
            "/api/v3/users/<redacted>/overall_quotas"
          ])
          assert.isFalse(JSON.stringify(server.requests).includes(KEY))
        })
    ))

  it.scoped("usage: requests per UTC day and endpoint between two dates", () => {
    let now = Date.UTC(2024, 4, 6, 23, 59)
    return withEmulator({ now: () => now }, () =>
      Effect.gen(function*() {
        yield* Files.get(knownFile)
        now = Date.UTC(2024, 4, 7, 0, 1)
        yield* Files.get(knownFile)
        yield* Effect.either(Files.get(unknownFile))
        const usage = yield* Quota.usage({ start: new Date(Date.UTC(2024, 4, 6)), end: "2024-05-07" })
        assert.deepStrictEqual(usage.daily, { "2024-05-06": { file_report: 1 }, "2024-05-07": { file_report: 2 } })
        assert.deepStrictEqual(usage.total, { file_report: 3 })
        const bad = yield* Effect.flip(Quota.usage({ start: "yesterday" }))
        assert.instanceOf(bad, VtError.BadRequestError)
      }))
  })
})
