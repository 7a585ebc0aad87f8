// The legacy v2 API against the emulator: outcomes of response_code, 204 and 403, and the key's secrecy.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Files from "../src/Files.js"
import * as Legacy from "../src/Legacy.js"
import * as VtClient from "../src/VtClient.js"
import * as VtError from "../src/VtError.js"
import {
  assertNoKey,
  clientLayer,
  KEY,
  knownDomain,
  knownFile,
  knownIp,
  knownUrl,
  renderings,
  sha256,
  unknownDomain,
  unknownFile,
  unknownIp,
  unknownUrl,
  withEmulator
} from "./emulator.js"
import { capturingLogger, capturingTracer } from "./utils.js"

const T0 = Date.UTC(2024, 4, 7, 12)

describe("Legacy v2", () => {
  it.scoped("the v2 base URL is found next to the v3 one; the key goes as apikey, not as a header", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const vt = yield* VtClient.VtClient
        assert.strictEqual(vt.legacyBaseUrl, server.legacyUrl)
        const report = yield* Legacy.fileReport(knownFile)
        assert.strictEqual(report.responseCode, 1)
        assert.deepStrictEqual(server.requests.map((r) => [r.method, r.path, r.id, r.status]), [
          ["GET", "/vtapi/v2/file/report", knownFile, 200]
        ])
        const proxied = yield* VtClient.make({ apiKey: Redacted.make(KEY), baseUrl: "https://proxy.example/vt" })
        assert.strictEqual(proxied.legacyBaseUrl, VtClient.defaultLegacyBaseUrl)
        const explicit = yield* VtClient.make({
          apiKey: Redacted.make(KEY),
          baseUrl: "https://proxy.example/vt",
          legacyBaseUrl: "https://proxy.example/v2/"
        })
        assert.strictEqual(explicit.legacyBaseUrl, "https://proxy.example/v2")
      }).pipe(Effect.provide(NodeHttpClient.layerUndici))))

  it.scoped("file/report: found (typed, everything kept), unknown → NotFoundError, invalid → InvalidArgumentError", () =>
    withEmulator({}, () =>
      Effect.gen(function*() {
        const report = yield* Legacy.fileReport(knownFile.toUpperCase())
        const v3 = (yield* Files.get(knownFile)).data.attributes as {
          md5: string
          last_analysis_stats: { malicious: number }
        }
        assert.strictEqual(Option.getOrThrow(report.positives), v3.last_analysis_stats.malicious)
        assert.strictEqual(report.json.md5, v3.md5)
        assert.strictEqual(report.verboseMsg, "Scan finished, information embedded")
        assert.isTrue(Option.getOrThrow(report.scanId).startsWith(`${knownFile}-`))
        const detected = Object.values(report.scans).filter((s) => s.detected)
        assert.strictEqual(detected.length, Option.getOrThrow(report.positives))
        assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(report.raw)), report.json)
        const unknown = yield* Effect.flip(Legacy.fileReport(unknownFile))
        assert.instanceOf(unknown, VtError.NotFoundError)
        assert.isTrue(VtError.isNotFound(unknown))
        const notFound = unknown as VtError.NotFoundError
        assert.strictEqual(notFound.status, 200)
        assert.strictEqual(notFound.code, "")
        assert.include(notFound.message, "not among the finished")
        assert.include(notFound.body, "\"response_code\":0")
        const invalid = yield* Effect.flip(Legacy.fileReport("xyz"))
        assert.instanceOf(invalid, VtError.InvalidArgumentError)
        assert.instanceOf(yield* Effect.flip(Legacy.fileReport(" ")), VtError.InvalidIdError)
      })))

  it.scoped("file/scan: streamed upload, queued (-2 → NotAvailableYet) until analysed, then found", () =>
    Effect.gen(function*() {
      let now = T0
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vt-legacy-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      // Content whose SHA-256 the rule does not know, so that the report really depends on the upload.
      let content = ""
      for (let i = 0; content === "" || VtEmulator.isKnown(sha256(content)); i++) content = `v2 sample ${i}\n`
      const file = path.join(dir, "sample.txt")
      fs.writeFileSync(file, content)
      yield* withEmulator({ now: () => now }, () =>
        Effect.gen(function*() {
          const receipt = yield* Legacy.scanFile(file)
          assert.strictEqual(receipt.json.sha256, sha256(content))
          assert.strictEqual(Option.getOrThrow(receipt.scanId), `${sha256(content)}-${T0 / 1000}`)
          const queued = yield* Effect.flip(Legacy.fileReport(sha256(content)))
          assert.instanceOf(queued, VtError.NotAvailableYet)
          assert.include(queued.message, "queued")
          now += 60_000
          const report = yield* Legacy.fileReport(Option.getOrThrow(receipt.scanId))
          assert.strictEqual(report.json.sha256, sha256(content))
        }))
    }))

  it.scoped("url/report (scan: true submits), url/scan, domain/report, ip-address/report", () =>
    withEmulator({ now: () => T0 }, (server) =>
      Effect.gen(function*() {
        const url = yield* Legacy.urlReport(knownUrl)
        assert.strictEqual(url.json.url, knownUrl)
        assert.isAbove(Object.keys(url.scans).length, 50)
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Legacy.urlReport(unknownUrl))))
        assert.instanceOf(yield* Effect.flip(Legacy.urlReport(unknownUrl, { scan: true })), VtError.NotAvailableYet)
        const scanned = yield* Legacy.scanUrl(knownUrl)
        assert.strictEqual(scanned.responseCode, 1)
        assert.instanceOf(yield* Effect.flip(Legacy.scanUrl("not a url")), VtError.InvalidIdError)
        const domain = yield* Legacy.domainReport(knownDomain.toUpperCase())
        assert.isArray(domain.json.resolutions)
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Legacy.domainReport(unknownDomain))))
        const ip = yield* Legacy.ipAddressReport(knownIp)
        assert.strictEqual(ip.verboseMsg, "IP address in dataset")
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Legacy.ipAddressReport(unknownIp))))
        assert.deepStrictEqual(
          [...new Set(server.requests.map((r) => `${r.method} ${r.path}`))],
          [
            "GET /vtapi/v2/url/report",
            "POST /vtapi/v2/url/scan",
            "GET /vtapi/v2/domain/report",
            "GET /vtapi/v2/ip-address/report"
          ]
        )
      })))

  it.scoped("HTTP 204 (over quota) → QuotaExceededError; 403 → ForbiddenError, an auth failure", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ apiKeys: [KEY], perMinute: 1, now: () => T0 })
      yield* Effect.gen(function*() {
        yield* Legacy.domainReport(knownDomain)
        const quota = yield* Effect.flip(Legacy.domainReport(knownDomain))
        assert.instanceOf(quota, VtError.QuotaExceededError)
        assert.isTrue(VtError.isQuotaExceeded(quota))
        assert.strictEqual((quota as VtError.QuotaExceededError).status, 204)
      }).pipe(Effect.provide(clientLayer(server)))
      const wrong = "0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff"
      const forbidden = yield* Effect.flip(Legacy.fileReport(knownFile)).pipe(
        Effect.provide(clientLayer(server, wrong))
      )
      assert.instanceOf(forbidden, VtError.ForbiddenError)
      assert.isTrue(VtError.isAuthFailure(forbidden))
      assert.strictEqual((forbidden as VtError.ForbiddenError).status, 403)
      assertNoKey(renderings(forbidden), wrong)
    }))

  it.scoped("faults on v2: 503 → TransientError, a reset → TransportError; both transient", () =>
    withEmulator({ faults: { transient: 1 } }, (server) =>
      Effect.gen(function*() {
        const transient = yield* Effect.flip(Legacy.fileReport(knownFile))
        assert.instanceOf(transient, VtError.TransientError)
        server.update({ faults: { reset: 1 } })
        const reset = yield* Effect.flip(Legacy.fileReport(knownFile))
        assert.instanceOf(reset, VtError.TransportError)
        assert.isTrue(VtError.isTransient(transient) && VtError.isTransient(reset))
        for (const error of [transient, reset]) assertNoKey(renderings(error))
        assert.include(reset.message, "/vtapi/v2/file/report")
      })))

  it.scoped("the key is in no error, log line or span of a v2 request", () => {
    const logs = capturingLogger()
    const { spans, tracer } = capturingTracer()
    return Effect.gen(function*() {
      const server = yield* VtEmulator.make({ apiKeys: [KEY], perDay: 6, now: () => T0 })
      const errors: Array<unknown> = []
      yield* Effect.gen(function*() {
        yield* Legacy.fileReport(knownFile).pipe(Effect.tap((r) => Effect.log("report", r.scanId)))
        for (
          const attempt of [
            Legacy.fileReport(unknownFile),
            Legacy.urlReport(unknownUrl),
            Legacy.domainReport(unknownDomain),
            Legacy.ipAddressReport(unknownIp),
            Legacy.fileReport(`${KEY}0`), // the key pasted as a resource: answered -1, the key echoed
            Legacy.fileReport(knownFile), // over the daily quota: 204
            Legacy.scanUrl(`http://example.com/?k=${KEY}`)
          ]
        ) {
          const error = yield* Effect.flip(Effect.asVoid(attempt))
          errors.push(error)
          yield* Effect.logError("v2 failed", error)
          yield* Effect.fail(error).pipe(Effect.tapErrorCause(Effect.logError), Effect.ignore)
        }
      }).pipe(Effect.provide(Layer.merge(clientLayer(server), logs.layer)), Effect.withTracer(tracer))
      assert.deepStrictEqual(errors.map((e) => (e as { _tag: string })._tag), [
        "NotFoundError",
        "NotFoundError",
        "NotFoundError",
        "NotFoundError",
        "InvalidArgumentError",
        "QuotaExceededError",
        "QuotaExceededError"
      ])
      const leaks = [...errors.flatMap(renderings), ...logs.lines].filter((t) =>
        t.toLowerCase().includes(KEY.slice(0, 24))
      )
      assert.deepStrictEqual(leaks.map((t) => t.slice(0, 300)), [])
      assert.isAbove(logs.lines.length, 10)
      // v2 URLs carry the key: their requests get no span at all.
      assert.isFalse(spans.some((span) => span.attributes.has("http.request.method")))
      assertNoKey(spans.flatMap((span) => [span.name, ...[...span.attributes.values()].map(String)]))
      assert.isFalse(JSON.stringify(server.requests).includes(KEY))
    })
  })
})
