// Every VirusTotal error code, answered by the emulator over HTTP on the new endpoints, decodes to its own tagged
// error; and no error, log line or span of any endpoint shows the key.
import { assert, describe, it } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Analysis from "../src/Analysis.js"
import * as Behaviour from "../src/Behaviour.js"
import * as Comments from "../src/Comments.js"
import * as Domains from "../src/Domains.js"
import * as Files from "../src/Files.js"
import * as IpAddresses from "../src/IpAddresses.js"
import * as Quota from "../src/Quota.js"
import * as Relationships from "../src/Relationships.js"
import * as Urls from "../src/Urls.js"
import * as Votes from "../src/Votes.js"
import * as VtError from "../src/VtError.js"
import * as VtObject from "../src/VtObject.js"
import {
  assertNoKey,
  clientLayer,
  type Env,
  KEY,
  knownDomain,
  knownFile,
  knownIp,
  knownUrl,
  renderings,
  unknownDomain,
  unknownFile,
  unknownUrl,
  withEmulator
} from "./emulator.js"
import { capturingLogger, capturingTracer } from "./utils.js"

type ApiErrorClass = new(props: { status: number; code: string; message: string; body: string }) => VtError.ApiError

const table: ReadonlyArray<readonly [code: string, status: number, Class: ApiErrorClass]> = [
  ["BadRequestError", 400, VtError.BadRequestError],
  ["InvalidArgumentError", 400, VtError.InvalidArgumentError],
  ["NotAvailableYet", 400, VtError.NotAvailableYet],
  ["UnselectiveContentQueryError", 400, VtError.UnselectiveContentQueryError],
  ["UnsupportedContentQueryError", 400, VtError.UnsupportedContentQueryError],
  ["AuthenticationRequiredError", 401, VtError.AuthenticationRequiredError],
  ["UserNotActiveError", 401, VtError.UserNotActiveError],
  ["WrongCredentialsError", 401, VtError.WrongCredentialsError],
  ["ForbiddenError", 403, VtError.ForbiddenError],
  ["NotFoundError", 404, VtError.NotFoundError],
  ["AlreadyExistsError", 409, VtError.AlreadyExistsError],
  ["FailedDependencyError", 424, VtError.FailedDependencyError],
  ["QuotaExceededError", 429, VtError.QuotaExceededError],
  ["TooManyRequestsError", 429, VtError.TooManyRequestsError],
  ["TransientError", 503, VtError.TransientError],
  ["DeadlineExceededError", 504, VtError.DeadlineExceededError],
  ["SomethingNewError", 418, VtError.UnknownApiError]
]

/** One call per endpoint family, each reduced to its failure. */
const calls: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, Env>]> = [
  ["Urls.get", Urls.get(knownUrl)],
  ["Domains.get", Domains.get(knownDomain)],
  ["IpAddresses.get", IpAddresses.get(knownIp)],
  ["Urls.scan", Urls.scan(knownUrl)],
  ["Files.rescan", Files.rescan(knownFile)],
  ["Files.uploadUrl", Files.uploadUrl()],
  ["Analysis.get", Analysis.get("some-analysis")],
  ["Analysis.item", Analysis.item("some-analysis")],
  ["Comments.list", Stream.runDrain(Comments.list(VtObject.domain(knownDomain)))],
  ["Comments.add", Comments.add(VtObject.url(knownUrl), "text")],
  ["Votes.list", Stream.runDrain(Votes.list(VtObject.ipAddress(knownIp)))],
  ["Votes.add", Votes.add(VtObject.file(knownFile), "harmless")],
  ["Relationships.objects", Stream.runDrain(Relationships.objects(VtObject.file(knownFile), "dropped_files"))],
  ["Relationships.descriptors", Stream.runDrain(Relationships.descriptors(VtObject.url(knownUrl), "redirects_to"))],
  ["Behaviour.summary", Behaviour.summary(knownFile)],
  ["Behaviour.mitreTrees", Behaviour.mitreTrees(knownFile)],
  ["Behaviour.list", Stream.runDrain(Behaviour.list(knownFile))]
]

describe("every error code over HTTP", () => {
  it.scoped("each code decodes to its own tagged error, on every endpoint family", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        let n = 0
        for (const [code, status, Class] of table) {
          server.update({ faults: { error: { status, code, message: `a ${code} happened` } } })
          // Every code on two endpoint families, every family with several codes.
          for (const [name, call] of [calls[n % calls.length], calls[(n + 7) % calls.length]]) {
            const error = yield* Effect.flip(call)
            assert.instanceOf(error, Class, `${code} on ${name}`)
            const api = error as VtError.ApiError
            assert.strictEqual(api.status, status)
            assert.strictEqual(api.code, code)
            assert.strictEqual(api.message, `a ${code} happened`)
            assert.strictEqual(api.body, JSON.stringify({ error: { code, message: `a ${code} happened` } }))
            assert.strictEqual(table.filter(([, , Other]) => error instanceof Other).length, 1)
          }
          n++
        }
        assert.strictEqual(server.requests.length, table.length * 2)
        assert.isTrue(server.requests.every((r) => r.fault === "error"))
      })))

  it.scoped("the predicates over the decoded errors", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const classify = (code: string, status: number) =>
          Effect.gen(function*() {
            server.update({ faults: { error: { status, code } } })
            const error = yield* Effect.flip(Domains.get(knownDomain))
            return [
              VtError.isQuotaExceeded(error),
              VtError.isTransient(error),
              VtError.isAuthFailure(error),
              VtError.isNotFound(error)
            ]
          })
        assert.deepStrictEqual(yield* classify("QuotaExceededError", 429), [true, false, false, false])
        assert.deepStrictEqual(yield* classify("TooManyRequestsError", 429), [false, true, false, false])
        assert.deepStrictEqual(yield* classify("ForbiddenError", 403), [false, false, true, false])
        assert.deepStrictEqual(yield* classify("NotFoundError", 404), [false, false, false, true])
        assert.deepStrictEqual(yield* classify("AlreadyExistsError", 409), [false, false, false, false])
      })))

  it.scoped("the errors the emulator answers by itself", () =>
    withEmulator({ now: () => Date.UTC(2024, 4, 7) }, () =>
      Effect.gen(function*() {
        assert.instanceOf(yield* Effect.flip(Domains.get(unknownDomain)), VtError.NotFoundError)
        assert.instanceOf(
          yield* Effect.flip(Stream.runDrain(Relationships.objects(VtObject.file(knownFile), "nonsense"))),
          VtError.InvalidArgumentError
        )
        const analysis = yield* Urls.scan(unknownUrl)
        assert.instanceOf(yield* Effect.flip(Analysis.item(analysis.id)), VtError.NotAvailableYet)
        yield* Votes.add(VtObject.domain(knownDomain), "malicious")
        assert.instanceOf(
          yield* Effect.flip(Votes.add(VtObject.domain(knownDomain), "malicious")),
          VtError.AlreadyExistsError
        )
        assert.instanceOf(yield* Effect.flip(Comments.add(VtObject.domain(knownDomain), "")), VtError.BadRequestError)
        assert.instanceOf(yield* Effect.flip(Files.rescan(unknownFile)), VtError.NotFoundError)
      })))
})

describe("the key stays secret on every endpoint", () => {
  it.scoped("errors, causes, log lines and spans of the whole API", () => {
    const logs = capturingLogger()
    const { spans, tracer } = capturingTracer()
    return Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vt-secret-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, `${KEY}.bin`)
      fs.writeFileSync(file, "content")
      const server = yield* VtEmulator.make({ apiKeys: [KEY], perDay: 40, now: () => Date.UTC(2024, 4, 7) })
      const errors: Array<unknown> = []
      const attempt = <A, E>(effect: Effect.Effect<A, E, Env>) =>
        effect.pipe(
          Effect.tap((a) => Effect.log("answer", typeof a)),
          Effect.tapErrorCause(Effect.logError),
          Effect.tapError((e) => Effect.logWarning("failed", e)),
          Effect.flip,
          Effect.map((e) => errors.push(e)),
          Effect.ignore
        )
      yield* Effect.gen(function*() {
        // Successes and failures across the API, the key pasted where ids belong.
        yield* attempt(Quota.overall())
        yield* attempt(Quota.usage())
        yield* attempt(Quota.usage({ start: KEY }))
        yield* attempt(Files.upload(file))
        yield* attempt(Files.upload(file, { viaUploadUrl: true }))
        yield* attempt(Urls.get(`https://example.com/?apikey=${KEY}`))
        yield* attempt(Urls.scan(`https://example.com/?apikey=${KEY}`))
        yield* attempt(Domains.get(`${KEY}.example.com`))
        yield* attempt(Domains.get(KEY))
        yield* attempt(IpAddresses.get(KEY))
        yield* attempt(Analysis.get(KEY))
        yield* attempt(Analysis.item(KEY))
        yield* attempt(Comments.add(VtObject.domain(knownDomain), `the key is ${KEY}`))
        yield* attempt(Stream.runDrain(Comments.list(VtObject.domain(`${KEY}.com`))))
        yield* attempt(Votes.add(VtObject.file(KEY), "malicious"))
        yield* attempt(Stream.runDrain(Relationships.objects(VtObject.file(knownFile), KEY)))
        yield* attempt(Behaviour.get(`${knownFile}_${KEY}`))
        yield* attempt(Behaviour.pcap(KEY))
        // A server that resets connections, then one refusing the key.
        server.update({ faults: { reset: 1 } })
        yield* attempt(Quota.overall())
        yield* attempt(Comments.add(VtObject.domain(knownDomain), "x"))
        server.update({ faults: undefined, apiKeys: ["another-key"] })
        yield* attempt(Quota.overall())
        yield* attempt(Domains.get(knownDomain))
      }).pipe(Effect.provide(Layer.merge(clientLayer(server), logs.layer)), Effect.withTracer(tracer))
      assert.isAbove(errors.length, 12)
      for (const error of errors) assertNoKey(renderings(error))
      assert.isAbove(logs.lines.length, 40)
      assertNoKey(logs.lines)
      // Spans of requests without the key in their URL show the header redacted; the others have no span. (The
      // client on undici directly makes no HTTP spans at all.)
      const http = spans.filter((span) => span.attributes.has("http.request.method"))
      if (process.env.VT_TEST_TRANSPORT === "undici") assert.strictEqual(http.length, 0)
      else assert.isAbove(http.length, 5)
      for (const span of http) {
        assert.strictEqual(String(span.attributes.get("http.request.header.x-apikey")), "<redacted>")
      }
      assert.isFalse(http.some((span) => String(span.attributes.get("url.full")).includes("/users/")))
      assertNoKey(spans.flatMap((span) => [span.name, ...[...span.attributes.values()].map(String)]))
      assertNoKey([JSON.stringify(server.requests)])
    })
  })
})
