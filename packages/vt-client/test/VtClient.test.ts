// The client against the emulator over real HTTP on 127.0.0.1.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { createHash } from "node:crypto"
import { inspect } from "node:util"
import * as VtClient from "../src/VtClient.js"
import * as VtError from "../src/VtError.js"
import { capturingLogger } from "./utils.js"

const KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
const OTHER_KEY = "ffffeeeeddddccccbbbbaaaa9999888877776666555544443333222211110000"
const INACTIVE_KEY = "0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff"

const digest = (algorithm: string, text: string) => createHash(algorithm).update(text).digest("hex")

/** The first hashes (of the given algorithm) of "sample-0", "sample-1"… the emulator knows, or does not. */
const hashes = (algorithm: "md5" | "sha1" | "sha256", known: boolean, count: number): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; out.length < count; i++) {
    const hash = digest(algorithm, `sample-${i}`)
    if (VtEmulator.isKnown(hash) === known) out.push(hash)
  }
  return out
}

const [known] = hashes("sha256", true, 1)
const [unknown] = hashes("sha256", false, 1)

const withClient = (server: VtEmulator.Server, apiKey: string = KEY, timeout?: VtClient.Options["timeout"]) =>
  VtClient.make({ apiKey: Redacted.make(apiKey), baseUrl: server.url, timeout })

const renderings = (error: unknown): ReadonlyArray<string> => [
  String(error),
  JSON.stringify(error),
  inspect(error, { depth: 10 }),
  error instanceof Error ? error.stack ?? "" : "",
  String(Cause.fail(error)),
  Cause.pretty(Cause.fail(error))
]

const assertNoKey = (texts: ReadonlyArray<string>) => {
  for (const text of texts) {
    for (const key of [KEY, OTHER_KEY, INACTIVE_KEY]) assert.notInclude(text.toLowerCase(), key.toLowerCase())
  }
}

describe("VtClient against the emulator", () => {
  it.scoped("a known hash: the exact bytes served and the object", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ apiKeys: [KEY] })
      const vt = yield* withClient(server)
      const document = yield* vt.getFile(known)
      assert.deepStrictEqual(document.raw, VtEmulator.fileDocument(known))
      assert.strictEqual(document.data.id, known)
      assert.strictEqual(document.data.type, "file")
      assert.strictEqual(document.data.attributes.sha256, known)
      assert.isObject(document.data.attributes.last_analysis_results)
      assert.isAbove(document.raw.length, 10_000)
      assert.deepStrictEqual(server.requests.map((r) => [r.method, r.path, r.status]), [
        ["GET", `/api/v3/files/${known}`, 200]
      ])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("MD5 and SHA-1 lookups, in any case, answer the SHA-256 object", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make()
      const vt = yield* withClient(server)
      for (const hash of [...hashes("md5", true, 2), ...hashes("sha1", true, 2)]) {
        const document = yield* vt.getFile(hash.toUpperCase())
        const expected = VtEmulator.fileDocument(hash)
        assert.deepStrictEqual(document.raw, expected)
        const served = JSON.parse(new TextDecoder().decode(expected)) as { data: { id: string } }
        assert.strictEqual(document.data.id, served.data.id)
        assert.match(document.data.id, /^[0-9a-f]{64}$/)
      }
      assert.isTrue(server.requests.every((r) => r.path === r.path.toLowerCase()))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("an unknown hash: NotFoundError with the error document", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ apiKeys: [KEY] })
      const vt = yield* withClient(server)
      const error = yield* Effect.flip(vt.getFile(unknown))
      assert.instanceOf(error, VtError.NotFoundError)
      assert.isTrue(VtError.isNotFound(error))
      const notFound = error as VtError.NotFoundError
      assert.strictEqual(notFound.status, 404)
      assert.strictEqual(notFound.code, "NotFoundError")
      assert.strictEqual(notFound.message, `File "${unknown}" not found`)
      assert.strictEqual(notFound.body, new TextDecoder().decode(VtEmulator.fileDocument(unknown)))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("many ids at once: every answer is the right one", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make()
      const vt = yield* withClient(server)
      const ids = [...hashes("sha256", true, 30), ...hashes("sha256", false, 10)]
      const results = yield* Effect.forEach(ids, (id) => Effect.either(vt.getFile(id)), { concurrency: 16 })
      results.forEach((result, i) => {
        const id = ids[i]
        if (VtEmulator.isKnown(id)) {
          assert.strictEqual(result._tag, "Right", id)
          if (result._tag === "Right") assert.deepStrictEqual(result.right.raw, VtEmulator.fileDocument(id))
        } else {
          assert.strictEqual(result._tag, "Left", id)
          if (result._tag === "Left") assert.isTrue(VtError.isNotFound(result.left))
        }
      })
      assert.strictEqual(server.requests.length, ids.length)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  describe("keys", () => {
    it.scoped("a wrong key: WrongCredentialsError, an auth failure", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ apiKeys: [KEY] })
        const vt = yield* withClient(server, OTHER_KEY)
        const error = yield* Effect.flip(vt.getFile(known))
        assert.instanceOf(error, VtError.WrongCredentialsError)
        assert.strictEqual((error as VtError.WrongCredentialsError).status, 401)
        assert.isTrue(VtError.isAuthFailure(error))
        assertNoKey(renderings(error))
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.scoped("an inactive key: UserNotActiveError, an auth failure", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ apiKeys: [KEY, INACTIVE_KEY], inactiveKeys: [INACTIVE_KEY] })
        const vt = yield* withClient(server, INACTIVE_KEY)
        const error = yield* Effect.flip(vt.getFile(known))
        assert.instanceOf(error, VtError.UserNotActiveError)
        assert.isTrue(VtError.isAuthFailure(error))
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.scoped("an empty key: AuthenticationRequiredError, an auth failure", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make()
        const vt = yield* withClient(server, "")
        const error = yield* Effect.flip(vt.getFile(known))
        assert.instanceOf(error, VtError.AuthenticationRequiredError)
        assert.include(error.message, "X-Apikey header is missing")
        assert.isTrue(VtError.isAuthFailure(error))
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
  })

  it.scoped("over the quota: QuotaExceededError, not transient", () =>
    Effect.gen(function*() {
      const at = Date.UTC(2024, 4, 7, 12, 0, 30)
      const server = yield* VtEmulator.make({ apiKeys: [KEY], perMinute: 2, now: () => at })
      const vt = yield* withClient(server)
      yield* vt.getFile(known)
      yield* Effect.flip(vt.getFile(unknown))
      const error = yield* Effect.flip(vt.getFile(known))
      assert.instanceOf(error, VtError.QuotaExceededError)
      assert.strictEqual((error as VtError.QuotaExceededError).status, 429)
      assert.isTrue(VtError.isQuotaExceeded(error))
      assert.isFalse(VtError.isTransient(error))
      assert.deepStrictEqual(server.requests.map((r) => r.status), [200, 404, 429])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  describe("faults", () => {
    const cases: ReadonlyArray<readonly [keyof VtEmulator.FaultOptions, string, number | undefined]> = [
      ["transient", "TransientError", 503],
      ["tooManyRequests", "TooManyRequestsError", 429],
      ["deadlineExceeded", "DeadlineExceededError", 504],
      ["reset", "TransportError", undefined],
      ["truncated", "ResponseDecodeError", 200]
    ]
    for (const [fault, tag, status] of cases) {
      it.scoped(`${fault} → ${tag}, transient`, () =>
        Effect.gen(function*() {
          const server = yield* VtEmulator.make({ apiKeys: [KEY], faults: { [fault]: 1 } })
          const vt = yield* withClient(server)
          const error = yield* Effect.flip(vt.getFile(known))
          assert.strictEqual(error._tag, tag)
          assert.isTrue(VtError.isTransient(error))
          assert.isFalse(VtError.isQuotaExceeded(error))
          if (status !== undefined) assert.strictEqual((error as { status: number }).status, status)
          if (error._tag === "TransportError") assert.strictEqual(error.reason, "Connection")
          assert.strictEqual(server.requests[0].fault, fault)
          assertNoKey(renderings(error))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
    }

    it.scoped("slow → TransportError Timeout once the timeout passes (TestClock)", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({ apiKeys: [KEY], faults: { slow: 1, slowMs: 600_000 } })
        const vt = yield* withClient(server, KEY, "60 seconds")
        const fiber = yield* Effect.fork(Effect.flip(vt.getFile(known)))
        while (server.requests.length === 0) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
        yield* TestClock.adjust("60 seconds")
        const error = yield* Fiber.join(fiber)
        assert.instanceOf(error, VtError.TransportError)
        assert.strictEqual((error as VtError.TransportError).reason, "Timeout")
        assert.isTrue(VtError.isTransient(error))
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.scoped("a mix of faults: every outcome is a success or a transient error, never a wrong body", () =>
      Effect.gen(function*() {
        const server = yield* VtEmulator.make({
          faults: { transient: 0.1, tooManyRequests: 0.1, deadlineExceeded: 0.1, reset: 0.1, truncated: 0.1 },
          seed: 7
        })
        const vt = yield* withClient(server)
        const ids = hashes("sha256", true, 60)
        const results = yield* Effect.forEach(ids, (id) => Effect.either(vt.getFile(id)), { concurrency: 8 })
        let failures = 0
        results.forEach((result, i) => {
          if (result._tag === "Right") {
            assert.deepStrictEqual(result.right.raw, VtEmulator.fileDocument(ids[i]))
          } else {
            failures++
            assert.isTrue(VtError.isTransient(result.left), result.left._tag)
          }
        })
        assert.isAbove(failures, 0)
        assert.isBelow(failures, ids.length)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
  })

  it.scoped("no error, cause or log line shows the key", () => {
    const logs = capturingLogger()
    return Effect.gen(function*() {
      const errors: Array<VtError.VtError> = []
      const collect = (server: VtEmulator.Server, apiKey: string, id: string) =>
        withClient(server, apiKey).pipe(
          Effect.flatMap((vt) => vt.getFile(id)),
          Effect.tapErrorCause(Effect.logError),
          Effect.flip,
          Effect.tap((error) => Effect.logWarning("failed", error)),
          Effect.map((error) => errors.push(error))
        )
      const plain = yield* VtEmulator.make({ apiKeys: [KEY], inactiveKeys: [INACTIVE_KEY], perMinute: 1 })
      yield* collect(plain, KEY, unknown)
      yield* collect(plain, KEY, known)
      yield* collect(plain, OTHER_KEY, known)
      yield* collect(plain, INACTIVE_KEY, known)
      // A key pasted as a hash: the 64 hex digits go out as an id, and come back scrubbed.
      yield* collect(plain, KEY, KEY.toUpperCase())
      yield* collect(plain, KEY, `${KEY.toUpperCase()}0`)
      for (const fault of ["transient", "reset", "truncated"] as const) {
        const faulty = yield* VtEmulator.make({ faults: { [fault]: 1 } })
        yield* collect(faulty, KEY, known)
      }
      assert.deepStrictEqual(errors.map((e) => e._tag), [
        "NotFoundError",
        "QuotaExceededError",
        "WrongCredentialsError",
        "UserNotActiveError",
        "QuotaExceededError",
        "InvalidIdError",
        "TransientError",
        "TransportError",
        "ResponseDecodeError"
      ])
      for (const error of errors) assertNoKey(renderings(error))
      assert.isAbove(logs.lines.length, 2 * errors.length)
      assertNoKey(logs.lines)
    }).pipe(
      Effect.provide(Layer.merge(NodeHttpClient.layerUndici, logs.layer))
    )
  })
})
