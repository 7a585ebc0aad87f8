import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import { createHash } from "node:crypto"
import * as VtEmulator from "../src/VtEmulator.js"

interface Answer {
  readonly status: number
  readonly contentType: string | null
  readonly bytes: Uint8Array
  readonly text: string
}

const request = (url: string, init: RequestInit = {}): Effect.Effect<Answer, Error> =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(url, init)
      const bytes = new Uint8Array(await response.arrayBuffer())
      return {
        status: response.status,
        contentType: response.headers.get("content-type"),
        bytes,
        text: new TextDecoder().decode(bytes)
      }
    },
    catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
  })

const get = (server: VtEmulator.Server, path: string, key: string | null = "test-key") =>
  request(`${server.url}${path}`, key === null ? {} : { headers: { "x-apikey": key } })

const origin = (server: VtEmulator.Server) => server.url.replace(/\/api\/v3$/, "")

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex")

/** Ids the rule classifies as asked, found by walking a fixed sequence: the tests do not depend on luck. */
const ids = (known: boolean, count: number, make: (i: number) => string = (i) => sha256(`sample-${i}`)) => {
  const found: Array<string> = []
  for (let i = 0; found.length < count; i++) {
    const id = make(i)
    if (VtEmulator.isKnown(id) === known) found.push(id)
  }
  return found
}

const [known, known2] = ids(true, 2)
const [unknown] = ids(false, 1)

const errorOf = (answer: Answer) => (JSON.parse(answer.text) as { error: { code: string; message: string } }).error

interface EngineResult {
  category: string
  engine_name: string
  engine_version: string
  engine_update: string
  method: string
  result: string | null
}

interface FileReport {
  data: {
    id: string
    type: string
    links: { self: string }
    attributes: {
      md5: string
      sha1: string
      sha256: string
      size: number
      names: Array<string>
      meaningful_name: string
      tags: Array<string>
      type_description: string
      type_tag: string
      reputation: number
      times_submitted: number
      total_votes: { harmless: number; malicious: number }
      first_submission_date: number
      last_analysis_date: number
      last_analysis_stats: Record<string, number>
      last_analysis_results: Record<string, EngineResult>
    }
  }
}

const MAY_7_2024_NOON = Date.UTC(2024, 4, 7, 12, 0, 0)

describe("VtEmulator", () => {
  describe("rule", () => {
    it("isKnown is the documented rule, case-insensitive, about 19 % unknown", () => {
      let unknowns = 0
      for (let i = 0; i < 2000; i++) {
        const id = sha256(`rule-${i}`)
        const expected = !"012".includes(sha256(id)[0])
        assert.strictEqual(VtEmulator.isKnown(id), expected)
        assert.strictEqual(VtEmulator.isKnown(id.toUpperCase()), expected)
        if (!expected) unknowns++
      }
      assert.isTrue(unknowns > 300 && unknowns < 460, `unknown: ${unknowns} / 2000`)
    })
  })

  describe("files", () => {
    it.scoped("a known id is answered 200 with exactly fileDocument(id), a ~40 KB report", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make()
        const answer = yield* get(server, `/files/${known}`)
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(answer.contentType, "application/json")
        assert.deepStrictEqual(answer.bytes, VtEmulator.fileDocument(known))
        assert.isTrue(answer.bytes.length > 35_000 && answer.bytes.length < 50_000, `size ${answer.bytes.length}`)

        const report = JSON.parse(answer.text) as FileReport
        const { attributes } = report.data
        assert.strictEqual(report.data.id, known)
        assert.strictEqual(report.data.type, "file")
        assert.strictEqual(report.data.links.self, `https://www.virustotal.com/api/v3/files/${known}`)
        assert.strictEqual(attributes.sha256, known)
        assert.match(attributes.sha1, /^[0-9a-f]{40}$/)
        assert.match(attributes.md5, /^[0-9a-f]{32}$/)
        assert.isTrue(Number.isInteger(attributes.size) && attributes.size > 0)
        assert.isTrue(attributes.names.includes(attributes.meaningful_name))
        assert.isTrue(attributes.tags.includes(attributes.type_tag))
        assert.isString(attributes.type_description)
        assert.isTrue(Number.isInteger(attributes.reputation) && Number.isInteger(attributes.times_submitted))
        assert.isTrue(attributes.first_submission_date <= attributes.last_analysis_date)
        assert.isTrue(attributes.last_analysis_date < Date.UTC(2024, 5, 1) / 1000)
        assert.isNumber(attributes.total_votes.malicious)

        const results = Object.entries(attributes.last_analysis_results)
        assert.isTrue(results.length >= 65 && results.length <= 80, `${results.length} engines`)
        const counted: Record<string, number> = {}
        for (const [name, result] of results) {
          assert.strictEqual(result.engine_name, name)
          assert.strictEqual(result.method, "blacklist")
          assert.match(result.engine_update, /^\d{8}$/)
          assert.isString(result.engine_version)
          assert.strictEqual(
            result.result === null,
            result.category !== "malicious" && result.category !== "suspicious"
          )
          counted[result.category] = (counted[result.category] ?? 0) + 1
        }
        const stats = attributes.last_analysis_stats
        assert.deepStrictEqual(Object.keys(stats).sort(), [
          "confirmed-timeout",
          "failure",
          "harmless",
          "malicious",
          "suspicious",
          "timeout",
          "type-unsupported",
          "undetected"
        ])
        for (const [category, n] of Object.entries(stats)) assert.strictEqual(n, counted[category] ?? 0, category)
      }))

    it.scoped("ids are case-insensitive; documents are deterministic and differ per id", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make()
        const upper = yield* get(server, `/files/${known.toUpperCase()}`)
        assert.strictEqual(upper.status, 200)
        assert.deepStrictEqual(upper.bytes, VtEmulator.fileDocument(known))
        assert.deepStrictEqual(VtEmulator.fileDocument(known.toUpperCase()), VtEmulator.fileDocument(known))
        const other = yield* get(server, `/files/${known2}`)
        assert.strictEqual((JSON.parse(other.text) as FileReport).data.id, known2)
        assert.notDeepEqual(other.bytes, upper.bytes)
      }))

    it.scoped("an MD5 or SHA-1 is answered with the file's SHA-256 as id and the hash in its own field", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make()
        const [md5] = ids(true, 1, (i) => createHash("md5").update(`md5-${i}`).digest("hex"))
        const [sha1] = ids(true, 1, (i) => createHash("sha1").update(`sha1-${i}`).digest("hex"))
        for (const [id, field] of [[md5, "md5"], [sha1, "sha1"]] as const) {
          const answer = yield* get(server, `/files/${id.toUpperCase()}`)
          assert.strictEqual(answer.status, 200)
          assert.deepStrictEqual(answer.bytes, VtEmulator.fileDocument(id))
          const { data } = JSON.parse(answer.text) as FileReport
          assert.strictEqual(data.attributes[field], id)
          assert.match(data.id, /^[0-9a-f]{64}$/)
          assert.strictEqual(data.attributes.sha256, data.id)
        }
      }))

    it.scoped("an unknown id is answered 404 NotFoundError", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make()
        const answer = yield* get(server, `/files/${unknown}`)
        assert.strictEqual(answer.status, 404)
        assert.strictEqual(answer.contentType, "application/json")
        assert.strictEqual(
          answer.text,
          `{"error":{"code":"NotFoundError","message":"File \\"${unknown}\\" not found"}}`
        )
        assert.deepStrictEqual(answer.bytes, VtEmulator.fileDocument(unknown))
      }))

    it.scoped("a malformed id is answered 400 InvalidArgumentError", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make()
        for (const id of ["xyz", "abc123", `${known}0`, "g".repeat(64)]) {
          const answer = yield* get(server, `/files/${id}`)
          assert.strictEqual(answer.status, 400)
          assert.strictEqual(answer.contentType, "application/json")
          assert.strictEqual(errorOf(answer).code, "InvalidArgumentError")
        }
      }))

    it.scoped("unknown routes are answered 404 NotFoundError JSON", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make()
        for (const url of [`${server.url}/nothing/here`, `${server.url}/files`, `${origin(server)}/elsewhere`]) {
          const answer = yield* request(url, { headers: { "x-apikey": "k" } })
          assert.strictEqual(answer.status, 404)
          assert.strictEqual(answer.contentType, "application/json")
          assert.strictEqual(errorOf(answer).code, "NotFoundError")
        }
        const post = yield* request(`${server.url}/files/${known}`, { method: "POST", headers: { "x-apikey": "k" } })
        assert.strictEqual(post.status, 404)
      }))
  })

  describe("authentication", () => {
    it.scoped("missing, wrong and inactive keys are answered with VirusTotal's 401 codes", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ apiKeys: ["good", "sleepy"], inactiveKeys: ["sleepy"] })
        const missing = yield* get(server, `/files/${known}`, null)
        assert.strictEqual(missing.status, 401)
        assert.strictEqual(missing.contentType, "application/json")
        assert.deepStrictEqual(errorOf(missing), {
          code: "AuthenticationRequiredError",
          message: "X-Apikey header is missing"
        })
        const empty = yield* get(server, `/files/${known}`, "")
        assert.strictEqual(errorOf(empty).code, "AuthenticationRequiredError")
        const wrong = yield* get(server, `/files/${known}`, "bad")
        assert.strictEqual(wrong.status, 401)
        assert.strictEqual(errorOf(wrong).code, "WrongCredentialsError")
        const inactive = yield* get(server, `/files/${known}`, "sleepy")
        assert.strictEqual(inactive.status, 401)
        assert.strictEqual(errorOf(inactive).code, "UserNotActiveError")
        const good = yield* get(server, `/files/${known}`, "good")
        assert.strictEqual(good.status, 200)
      }))

    it.scoped("without apiKeys any non-empty key is accepted", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make()
        assert.strictEqual((yield* get(server, `/files/${known}`, "anything")).status, 200)
      }))
  })

  describe("quotas", () => {
    it.scoped("per minute: 429 QuotaExceededError, refused requests not counted, allowed again next minute", () =>
      Effect.gen(function*() {
        let now = MAY_7_2024_NOON + 30_000
        const server = yield* VtEmulator.make({ perMinute: 2, now: () => now })
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        assert.strictEqual((yield* get(server, `/files/${unknown}`)).status, 404)
        const refused = yield* get(server, `/files/${known}`)
        assert.strictEqual(refused.status, 429)
        assert.strictEqual(refused.contentType, "application/json")
        assert.strictEqual(errorOf(refused).code, "QuotaExceededError")
        now += 29_999 // 12:00:59.999, same clock minute
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 429)
        // another key has its own quota
        assert.strictEqual((yield* get(server, `/files/${known}`, "other-key")).status, 200)
        now += 1 // 12:01:00
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 429)
        const quotas = JSON.parse((yield* get(server, "/users/test-key/overall_quotas")).text)
        // 4 answered in the hour, the 3 refusals not counted
        assert.deepStrictEqual(quotas.data.api_requests_hourly, { user: { allowed: 120, used: 4 } })
      }))

    it.scoped("per day: refused until 00:00 UTC", () =>
      Effect.gen(function*() {
        let now = Date.UTC(2024, 4, 7, 23, 58, 0)
        const server = yield* VtEmulator.make({ perDay: 2, now: () => now })
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        now += 60_000
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        now += 30_000
        assert.strictEqual(errorOf(yield* get(server, `/files/${known}`)).code, "QuotaExceededError")
        now = Date.UTC(2024, 4, 7, 23, 59, 59, 999)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 429)
        now = Date.UTC(2024, 4, 8)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
      }))

    it.scoped("per month: refused until the 1st, 00:00 UTC; resetQuota forgets usage", () =>
      Effect.gen(function*() {
        let now = Date.UTC(2024, 1, 27, 10)
        const server = yield* VtEmulator.make({ perMonth: 2, now: () => now })
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        now = Date.UTC(2024, 1, 28, 10)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        now = Date.UTC(2024, 1, 29, 23, 59)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 429)
        now = Date.UTC(2024, 2, 1)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 429)
        server.resetQuota()
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
      }))

    it.scoped("overall_quotas reports allowed and used per window, is itself neither counted nor limited", () =>
      Effect.gen(function*() {
        let now = MAY_7_2024_NOON
        const server = yield* VtEmulator.make({ perMinute: 4, perDay: 500, perMonth: 15_500, now: () => now })
        for (let i = 0; i < 4; i++) yield* get(server, `/files/${known}`)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 429)
        now += 60_000
        yield* get(server, `/files/${unknown}`)
        const answer = yield* get(server, "/users/test-key/overall_quotas")
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(answer.contentType, "application/json")
        const expected = {
          data: {
            api_requests_daily: { user: { allowed: 500, used: 5 } },
            api_requests_hourly: { user: { allowed: 240, used: 5 } },
            api_requests_monthly: { user: { allowed: 15_500, used: 5 } }
          }
        }
        assert.deepStrictEqual(JSON.parse(answer.text), expected)
        assert.deepStrictEqual(JSON.parse((yield* get(server, "/users/test-key/overall_quotas")).text), expected)
        const other = JSON.parse((yield* get(server, "/users/someone-else/overall_quotas")).text)
        assert.strictEqual(other.data.api_requests_daily.user.used, 0)
        assert.strictEqual((yield* get(server, "/users/test-key/overall_quotas", null)).status, 401)
      }))
  })

  describe("faults", () => {
    it.scoped("503 TransientError, 429 TooManyRequestsError and 504 DeadlineExceededError", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ faults: { transient: 1 } })
        const transient = yield* get(server, `/files/${known}`)
        assert.strictEqual(transient.status, 503)
        assert.strictEqual(transient.contentType, "application/json")
        assert.strictEqual(errorOf(transient).code, "TransientError")
        server.update({ faults: { tooManyRequests: 1 } })
        const tooMany = yield* get(server, `/files/${known}`)
        assert.strictEqual(tooMany.status, 429)
        assert.strictEqual(errorOf(tooMany).code, "TooManyRequestsError")
        server.update({ faults: { deadlineExceeded: 1 } })
        const deadline = yield* get(server, `/files/${known}`)
        assert.strictEqual(deadline.status, 504)
        assert.strictEqual(errorOf(deadline).code, "DeadlineExceededError")
        server.update({ faults: undefined })
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        assert.deepStrictEqual(server.requests.map((r) => [r.status, r.fault]), [
          [503, "transient"],
          [429, "tooManyRequests"],
          [504, "deadlineExceeded"],
          [200, undefined]
        ])
      }))

    it.scoped("reset: the connection is destroyed without an answer", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ faults: { reset: 1 } })
        const result = yield* Effect.either(get(server, `/files/${known}`))
        assert.isTrue(Either.isLeft(result))
        assert.isTrue(server.requests.length >= 1)
        for (const entry of server.requests) {
          assert.strictEqual(entry.fault, "reset")
          assert.strictEqual(entry.status, 0)
        }
      }))

    it.scoped("truncated: full Content-Length declared, half the body sent, then the connection dies", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ faults: { truncated: 1 } })
        const headers = yield* Effect.promise(() =>
          fetch(`${server.url}/files/${known}`, { headers: { "x-apikey": "k" } })
        )
        assert.strictEqual(headers.status, 200)
        assert.strictEqual(Number(headers.headers.get("content-length")), VtEmulator.fileDocument(known).length)
        const body = yield* Effect.either(Effect.tryPromise(() => headers.arrayBuffer()))
        assert.isTrue(Either.isLeft(body))
        assert.deepStrictEqual(server.requests.map((r) => [r.status, r.fault]), [[200, "truncated"]])
      }))

    it.scoped("slow answers and fixed latency still answer normally", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ faults: { slow: 1, slowMs: 20 }, latencyMs: 5 })
        const slow = yield* get(server, `/files/${known}`)
        assert.strictEqual(slow.status, 200)
        assert.deepStrictEqual(slow.bytes, VtEmulator.fileDocument(known))
        assert.strictEqual(server.requests[0].fault, "slow")
      }))

    it.scoped("a slow answer pending at close does not keep the server open", () =>
      Effect.gen(function*() {
        const server = yield* Effect.promise(() => VtEmulator.start({ faults: { slow: 1 } }))
        const pending = yield* Effect.fork(Effect.either(get(server, `/files/${known}`)))
        // Wait (without the test clock) until the request has arrived and its 30 s answer is pending.
        while (server.requests.length === 0) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
        yield* Effect.promise(() => server.close())
        assert.isTrue(Either.isLeft(yield* Fiber.join(pending)))
      }))

    it.scoped("faults follow the seed, and are drawn after authentication and quota", () =>
      Effect.gen(function*() {
        const run = (seed: number) =>
          Effect.gen(function*() {
            const server = yield* VtEmulator.make({ seed, faults: { transient: 0.5 } })
            const statuses: Array<number> = []
            for (let i = 0; i < 24; i++) statuses.push((yield* get(server, `/files/${known}`)).status)
            assert.strictEqual((yield* get(server, `/files/${known}`, null)).status, 401)
            return statuses
          })
        const a = yield* run(7)
        assert.deepStrictEqual(yield* run(7), a)
        assert.isTrue(a.includes(503) && a.includes(200))
        assert.notDeepEqual(yield* run(8), a)
      }))
  })

  describe("log and admin", () => {
    it.scoped("the request log records method, path, id, status, time and fault, and never the key", () =>
      Effect.gen(function*() {
        const key = "a-secret-api-key-0123456789"
        const now = MAY_7_2024_NOON
        const server = yield* VtEmulator.make({ now: () => now, perMinute: 3 })
        yield* get(server, `/files/${known.toUpperCase()}?x=1`, key)
        yield* get(server, `/files/${unknown}`, key)
        yield* get(server, `/users/${key}/overall_quotas`, key)
        yield* get(server, `/files/${key}`, key)
        yield* get(server, `/files/${known}`, key)
        yield* get(server, `/files/${known}`, null)
        assert.deepStrictEqual(server.requests, [
          { method: "GET", path: `/api/v3/files/${known.toUpperCase()}`, id: known, status: 200, at: now },
          { method: "GET", path: `/api/v3/files/${unknown}`, id: unknown, status: 404, at: now },
          { method: "GET", path: "/api/v3/users/<redacted>/overall_quotas", status: 200, at: now },
          { method: "GET", path: "/api/v3/files/<redacted>", status: 400, at: now },
          { method: "GET", path: `/api/v3/files/${known}`, id: known, status: 429, at: now },
          { method: "GET", path: `/api/v3/files/${known}`, id: known, status: 401, at: now }
        ])
        assert.isFalse(JSON.stringify(server.requests).includes(key))
        const admin = yield* request(`${origin(server)}/_emulator/requests`)
        assert.isFalse(admin.text.includes(key))
        server.clearLog()
        assert.deepStrictEqual(server.requests, [])
      }))

    it.scoped("GET /_emulator/requests and POST /_emulator/reset", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ perDay: 1, now: () => MAY_7_2024_NOON })
        yield* get(server, `/files/${known}`)
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 429)
        const log = yield* request(`${origin(server)}/_emulator/requests`)
        assert.strictEqual(log.status, 200)
        assert.strictEqual(log.contentType, "application/json")
        assert.deepStrictEqual(JSON.parse(log.text), { requests: server.requests })
        assert.strictEqual(server.requests.length, 2)
        const reset = yield* request(`${origin(server)}/_emulator/reset`, { method: "POST" })
        assert.strictEqual(reset.status, 200)
        assert.deepStrictEqual(server.requests, [])
        assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
        assert.strictEqual((yield* request(`${origin(server)}/_emulator/reset`)).status, 404)
      }))

    it.scoped("logLimit bounds the log to the most recent entries", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ logLimit: 2 })
        for (let i = 0; i < 5; i++) yield* get(server, `/files/${i === 4 ? unknown : known}`)
        assert.isTrue(server.requests.length <= 4)
        assert.strictEqual(server.requests.at(-1)?.status, 404)
        server.update({ logLimit: 0 })
        server.clearLog()
        yield* get(server, `/files/${known}`)
        assert.strictEqual(server.requests.length, 0)
      }))
  })

  describe("lifecycle", () => {
    it.effect("make listens on 127.0.0.1 and closes when its scope ends", () =>
      Effect.gen(function*() {
        const url = yield* Effect.scoped(
          Effect.gen(function*() {
            const server = yield* VtEmulator.make()
            assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/api\/v3$/)
            assert.strictEqual(server.url, `http://127.0.0.1:${server.port}/api/v3`)
            assert.strictEqual((yield* get(server, `/files/${known}`)).status, 200)
            return server.url
          })
        )
        const after = yield* Effect.either(request(`${url}/files/${known}`, { headers: { "x-apikey": "k" } }))
        assert.isTrue(Either.isLeft(after))
      }))
  })
})
