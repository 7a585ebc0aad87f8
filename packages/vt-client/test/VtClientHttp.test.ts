// The client against small purpose-built HTTP servers: the answers the emulator does not give (gzip,
// proxy pages, malformed bodies, hanging connections) and the key's secrecy on every path.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type * as Http from "node:http"
import { inspect } from "node:util"
import { gzipSync } from "node:zlib"
import * as VtClient from "../src/VtClient.js"
import * as VtError from "../src/VtError.js"
import type { TestServer } from "./utils.js"
import { answer, capturingLogger, capturingTracer, serve } from "./utils.js"

const KEY = "sEcReT0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
const sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
const fileDocument = JSON.stringify({
  data: {
    type: "file",
    id: sha256,
    links: { self: `https://www.virustotal.com/api/v3/files/${sha256}` },
    attributes: { md5: "d41d8cd98f00b204e9800998ecf8427e", names: ["empty"], size: 0, future_attribute: [1, 2] }
  }
})
const bytes = (text: string) => new TextEncoder().encode(text)

type Transport = "HttpClient" | "undici"

/** The client on either transport: every behaviour below holds for both. */
const clientFor = (transport: Transport) =>
(
  server: TestServer,
  options?: Partial<VtClient.Options>
): Effect.Effect<VtClient.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  transport === "undici"
    ? VtClient.makeUndici({ apiKey: Redacted.make(KEY), baseUrl: server.url, ...options })
    : VtClient.make({ apiKey: Redacted.make(KEY), baseUrl: server.url, ...options })

const layerFor = (transport: Transport) => (options: VtClient.Options) =>
  transport === "undici"
    ? VtClient.layerUndici(options)
    : VtClient.layer(options).pipe(Layer.provide(NodeHttpClient.layerUndici))

/** Every string form an error can take on its way to a log, a terminal or a file. */
const renderings = (error: unknown): ReadonlyArray<string> => {
  const cause = Cause.fail(error)
  return [
    String(error),
    JSON.stringify(error),
    inspect(error, { depth: 10 }),
    error instanceof Error ? error.stack ?? "" : "",
    String(cause),
    Cause.pretty(cause),
    JSON.stringify(cause)
  ]
}

const assertNoKey = (texts: ReadonlyArray<string>) => {
  for (const text of texts) {
    assert.notInclude(text.toLowerCase(), KEY.toLowerCase())
    assert.notInclude(text.toLowerCase(), KEY.slice(0, 24).toLowerCase())
  }
}

const gzipAnswer = (body: string) => (request: Http.IncomingMessage, response: Http.ServerResponse) => {
  const gzip = String(request.headers["accept-encoding"] ?? "").includes("gzip")
  const payload = gzip ? gzipSync(body) : Buffer.from(body)
  response.writeHead(200, {
    "content-type": "application/json",
    "content-length": payload.length,
    ...(gzip ? { "content-encoding": "gzip" } : {})
  })
  response.end(payload)
}

for (const transport of ["HttpClient", "undici"] as const) {
  describe(`VtClient over HTTP through ${transport}`, () => {
    const client = clientFor(transport)
    const clientLayer = layerFor(transport)
    /** Tests of what only HttpClient has (other clients, tracing spans, layerConfig). */
    const httpClientOnly = (name: string, body: () => void) => {
      if (transport === "HttpClient") describe(name, body)
    }
    it.scoped("sends the key and the accept headers, returns the exact bytes and the object", () =>
      Effect.gen(function*() {
        const server = yield* serve(answer(200, fileDocument))
        const vt = yield* client(server)
        const document = yield* vt.getFile(` ${sha256.toUpperCase()}\n`)
        assert.deepStrictEqual(document.raw, bytes(fileDocument))
        assert.strictEqual(document.data.type, "file")
        assert.strictEqual(document.data.id, sha256)
        assert.deepStrictEqual(document.data.attributes.future_attribute, [1, 2])
        assert.deepStrictEqual(document.data.links, { self: `https://www.virustotal.com/api/v3/files/${sha256}` })
        assert.strictEqual(server.requests.length, 1)
        const [seen] = server.requests
        assert.strictEqual(seen.method, "GET")
        assert.strictEqual(seen.url, `/api/v3/files/${sha256}`)
        assert.strictEqual(seen.headers["x-apikey"], KEY)
        assert.strictEqual(seen.headers["accept"], "application/json")
        assert.strictEqual(seen.headers["accept-encoding"], "gzip")
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.scoped("a base URL with a trailing slash is the same base URL", () =>
      Effect.gen(function*() {
        const server = yield* serve(answer(200, fileDocument))
        const vt = yield* client(server, { baseUrl: `${server.url}/` })
        yield* vt.getFile(sha256)
        assert.strictEqual(server.requests[0].url, `/api/v3/files/${sha256}`)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.scoped("decompresses gzip itself with the undici client", () =>
      Effect.gen(function*() {
        const server = yield* serve(gzipAnswer(fileDocument))
        const vt = yield* client(server)
        const document = yield* vt.getFile(sha256)
        assert.deepStrictEqual(document.raw, bytes(fileDocument))
        assert.strictEqual(document.data.id, sha256)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    httpClientOnly("with other HttpClients", () => {
      it.scoped("decompresses gzip with the node:http client", () =>
        Effect.gen(function*() {
          const server = yield* serve(gzipAnswer(fileDocument))
          const vt = yield* client(server)
          const document = yield* vt.getFile(sha256)
          assert.deepStrictEqual(document.raw, bytes(fileDocument))
        }).pipe(Effect.provide(NodeHttpClient.layer)))

      it.scoped("does not decompress twice with fetch, which already did", () =>
        Effect.gen(function*() {
          const server = yield* serve(gzipAnswer(fileDocument))
          const vt = yield* client(server)
          const document = yield* vt.getFile(sha256)
          assert.deepStrictEqual(document.raw, bytes(fileDocument))
        }).pipe(Effect.provide(FetchHttpClient.layer)))
    })

    it.scoped("a plain body labelled gzip is read as it is", () =>
      Effect.gen(function*() {
        const body = "{\"error\":{\"code\":\"QuotaExceededError\",\"message\":\"Quota exceeded\"}}"
        const server = yield* serve(
          answer(429, body, { "content-type": "application/json", "content-encoding": "gzip" })
        )
        const vt = yield* client(server)
        const error = yield* Effect.flip(vt.getFile(sha256))
        assert.instanceOf(error, VtError.QuotaExceededError)
        assert.strictEqual((error as VtError.QuotaExceededError).body, body)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.scoped("a gzip error document is decompressed before decoding", () =>
      Effect.gen(function*() {
        const body = "{\"error\":{\"code\":\"NotFoundError\",\"message\":\"File \\\"x\\\" not found\"}}"
        const server = yield* serve(answer(404, gzipSync(body), { "content-encoding": "gzip" }))
        const vt = yield* client(server)
        const error = yield* Effect.flip(vt.getFile(sha256))
        assert.instanceOf(error, VtError.NotFoundError)
        assert.strictEqual((error as VtError.NotFoundError).body, body)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    it.scoped("a malformed hash fails with InvalidIdError and sends nothing", () =>
      Effect.gen(function*() {
        const server = yield* serve(answer(200, fileDocument))
        const vt = yield* client(server)
        for (const input of ["", "xyz", `${sha256}0`, "../users/me", `${sha256.slice(0, 63)}/`]) {
          const error = yield* Effect.flip(vt.getFile(input))
          assert.instanceOf(error, VtError.InvalidIdError)
          const invalid = error as VtError.InvalidIdError
          assert.strictEqual(invalid.kind, "file")
          assert.strictEqual(invalid.input, input)
          assert.include(invalid.message, "not an MD5, SHA-1 or SHA-256 hash")
        }
        // A key pasted where a hash belongs is not repeated in the error.
        const pasted = yield* Effect.flip(vt.getFile(`${KEY}!`))
        assertNoKey(renderings(pasted))
        assert.strictEqual(server.requests.length, 0)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

    describe("unusable answers", () => {
      const cases: ReadonlyArray<readonly [string, number, string | Uint8Array]> = [
        ["an HTML page", 200, "<html>hello</html>"],
        ["an empty body", 200, ""],
        ["a JSON array", 200, "[]"],
        ["no data", 200, "{\"meta\":{}}"],
        ["data that is a string", 200, "{\"data\":\"x\"}"],
        ["data without an id", 200, "{\"data\":{\"type\":\"file\",\"attributes\":{}}}"],
        ["an id that is a number", 200, "{\"data\":{\"type\":\"file\",\"id\":1,\"attributes\":{}}}"],
        ["attributes that are an array", 200, "{\"data\":{\"type\":\"file\",\"id\":\"x\",\"attributes\":[]}}"],
        ["JSON cut short", 200, fileDocument.slice(0, 100)],
        ["bytes that are not UTF-8", 200, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
        ["a gzip stream cut short", 200, gzipSync(fileDocument).subarray(0, 40)]
      ]
      for (const [name, status, body] of cases) {
        it.scoped(`${name} → ResponseDecodeError`, () =>
          Effect.gen(function*() {
            const server = yield* serve(answer(status, body))
            const vt = yield* client(server)
            const error = yield* Effect.flip(vt.getFile(sha256))
            assert.instanceOf(error, VtError.ResponseDecodeError)
            assert.strictEqual((error as VtError.ResponseDecodeError).status, status)
            assert.include(error.message, `/files/${sha256}`)
            assert.isTrue(VtError.isTransient(error))
          }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
      }

      it.scoped("a body cut off by the server → ResponseDecodeError", () =>
        Effect.gen(function*() {
          const server = yield* serve((_request, response) => {
            response.writeHead(200, { "content-type": "application/json", "content-length": fileDocument.length })
            response.write(fileDocument.slice(0, 200), () => response.destroy())
          })
          const vt = yield* client(server)
          const error = yield* Effect.flip(vt.getFile(sha256))
          assert.instanceOf(error, VtError.ResponseDecodeError)
          assert.isTrue(VtError.isTransient(error))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("a proxy's HTML 502 → TransientError without a code", () =>
        Effect.gen(function*() {
          const server = yield* serve(answer(502, "<html>Bad Gateway</html>", { "content-type": "text/html" }))
          const vt = yield* client(server)
          const error = yield* Effect.flip(vt.getFile(sha256))
          assert.instanceOf(error, VtError.TransientError)
          assert.strictEqual((error as VtError.TransientError).code, "")
          assert.strictEqual((error as VtError.TransientError).body, "<html>Bad Gateway</html>")
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("an HTML 404 (a wrong base URL) is not taken for NotFoundError", () =>
        Effect.gen(function*() {
          const server = yield* serve(answer(404, "<html>Not Found</html>", { "content-type": "text/html" }))
          const vt = yield* client(server)
          const error = yield* Effect.flip(vt.getFile(sha256))
          assert.instanceOf(error, VtError.UnknownApiError)
          assert.isFalse(VtError.isNotFound(error))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
    })

    describe("transport failures", () => {
      it.scoped("a connection reset → TransportError Connection", () =>
        Effect.gen(function*() {
          const server = yield* serve((request) => request.socket.destroy())
          const vt = yield* client(server)
          const error = yield* Effect.flip(vt.getFile(sha256))
          assert.instanceOf(error, VtError.TransportError)
          assert.strictEqual((error as VtError.TransportError).reason, "Connection")
          assert.include(error.message, `GET ${server.url}/files/${sha256}: connection failed`)
          assertNoKey(renderings(error))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("a refused connection → TransportError Connection", () =>
        Effect.gen(function*() {
          const closed = yield* Effect.scoped(serve(answer(200, fileDocument)))
          const vt = yield* client(closed)
          const error = yield* Effect.flip(vt.getFile(sha256))
          assert.instanceOf(error, VtError.TransportError)
          assert.strictEqual((error as VtError.TransportError).reason, "Connection")
          assert.include(error.message, "ECONNREFUSED")
          assertNoKey(renderings(error))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("no answer within the timeout → TransportError Timeout (TestClock)", () =>
        Effect.gen(function*() {
          const server = yield* serve(() => {})
          const vt = yield* client(server, { timeout: "30 seconds" })
          const fiber = yield* Effect.fork(Effect.flip(vt.getFile(sha256)))
          yield* server.seen(1)
          yield* TestClock.adjust("29 seconds")
          assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
          yield* TestClock.adjust("1 second")
          const error = yield* Fiber.join(fiber)
          assert.instanceOf(error, VtError.TransportError)
          assert.strictEqual((error as VtError.TransportError).reason, "Timeout")
          assert.include(error.message, "30s")
          assert.isTrue(VtError.isTransient(error))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("a per-request timeout overrides the client's", () =>
        Effect.gen(function*() {
          const server = yield* serve(() => {})
          const vt = yield* client(server)
          const fiber = yield* Effect.fork(Effect.flip(vt.getJson("/slow", { timeout: "2 seconds" })))
          yield* server.seen(1)
          yield* TestClock.adjust("2 seconds")
          const error = yield* Fiber.join(fiber)
          assert.strictEqual((error as VtError.TransportError).reason, "Timeout")
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
    })

    describe("the generic core", () => {
      it.scoped("getJson passes query parameters and accepts any JSON document", () =>
        Effect.gen(function*() {
          const body = "{\"data\":[],\"meta\":{\"cursor\":\"next\"}}"
          const server = yield* serve(answer(200, body))
          const vt = yield* client(server)
          const response = yield* vt.getJson(`/files/${sha256}/comments`, { urlParams: { limit: 10, cursor: "a b" } })
          assert.strictEqual(response.status, 200)
          assert.deepStrictEqual(response.raw, bytes(body))
          assert.deepStrictEqual(response.json, { data: [], meta: { cursor: "next" } })
          assert.strictEqual(server.requests[0].url, `/api/v3/files/${sha256}/comments?limit=10&cursor=a+b`)
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("getObject insists on an object envelope", () =>
        Effect.gen(function*() {
          const server = yield* serve(answer(200, "{\"data\":\"https://upload.example/once\"}"))
          const vt = yield* client(server)
          const json = yield* vt.getJson("/files/upload_url")
          assert.deepStrictEqual(json.json, { data: "https://upload.example/once" })
          const error = yield* Effect.flip(vt.getObject("/files/upload_url"))
          assert.instanceOf(error, VtError.ResponseDecodeError)
          assert.include(error.message, "\"data\" object")
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("executeBytes answers any body and keeps the caller's accept header", () =>
        Effect.gen(function*() {
          const html = "<html><body>behaviour</body></html>"
          const server = yield* serve(
            answer(200, gzipSync(html), { "content-type": "text/html", "content-encoding": "gzip" })
          )
          const vt = yield* client(server)
          const response = yield* vt.executeBytes(
            HttpClientRequest.get("/file_behaviours/abc_sandbox/html").pipe(HttpClientRequest.accept("text/html"))
          )
          assert.deepStrictEqual(response.raw, bytes(html))
          assert.strictEqual(response.headers["content-type"], "text/html")
          assert.strictEqual(server.requests[0].headers["accept"], "text/html")
          const error = yield* Effect.flip(vt.execute(HttpClientRequest.get("/file_behaviours/abc_sandbox/html")))
          assert.instanceOf(error, VtError.ResponseDecodeError)
          assert.include(error.message, `GET ${server.url}/file_behaviours/abc_sandbox/html: the body is not JSON`)
          assert.strictEqual(server.requests[1].headers["accept"], "application/json")
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("execute sends any method; absolute URLs are left alone", () =>
        Effect.gen(function*() {
          const server = yield* serve(answer(200, "{\"data\":{\"type\":\"analysis\",\"id\":\"a1\"}}"))
          const vt = yield* client(server)
          yield* vt.execute(
            HttpClientRequest.post("/urls").pipe(HttpClientRequest.bodyUrlParams({ url: "http://x.y" }))
          )
          yield* vt.execute(HttpClientRequest.post(`${server.origin}/upload/once`))
          assert.deepStrictEqual(server.requests.map((r) => `${r.method} ${r.url}`), [
            "POST /api/v3/urls",
            "POST /upload/once"
          ])
          assert.isTrue(server.requests.every((r) => r.headers["x-apikey"] === KEY))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
    })

    describe("the key stays secret", () => {
      it.scoped("a server echoing the key: message and body are scrubbed", () =>
        Effect.gen(function*() {
          const server = yield* serve((request, response) =>
            answer(
              401,
              JSON.stringify({
                error: { code: "WrongCredentialsError", message: `Wrong API key ${request.headers["x-apikey"]}` }
              })
            )(request, response)
          )
          const vt = yield* client(server)
          const error = yield* Effect.flip(vt.getFile(sha256))
          assert.instanceOf(error, VtError.WrongCredentialsError)
          assert.strictEqual(error.message, "Wrong API key <redacted>")
          assert.include((error as VtError.WrongCredentialsError).body, "<redacted>")
          assertNoKey(renderings(error))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("a key in the URL path is scrubbed from errors and gets no span", () => {
        const { spans, tracer } = capturingTracer()
        return Effect.gen(function*() {
          const server = yield* serve((request, response) =>
            answer(404, JSON.stringify({ error: { code: "NotFoundError", message: `User ${request.url} not found` } }))(
              request,
              response
            )
          )
          const vt = yield* client(server)
          const notFound = yield* Effect.flip(vt.getJson(`/users/${KEY}/overall_quotas`))
          assert.instanceOf(notFound, VtError.NotFoundError)
          assert.include(notFound.message, "/users/<redacted>/overall_quotas")
          assertNoKey(renderings(notFound))
          const reset = yield* Effect.scoped(serve((request) => request.socket.destroy()))
          const vtClosed = yield* client(reset)
          const transport = yield* Effect.flip(vtClosed.getJson(`/users/${KEY}/overall_quotas`))
          assert.include(transport.message, "/users/<redacted>/overall_quotas")
          assertNoKey(renderings(transport))
          assert.isFalse(spans.some((span) => span.attributes.has("http.request.method")))
          assertNoKey(spans.flatMap((span) => [span.name, ...[...span.attributes.values()].map(String)]))
        }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.withTracer(tracer))
      })

      if (transport === "HttpClient") {
        it.scoped("spans show the x-apikey header as <redacted>", () => {
          const { spans, tracer } = capturingTracer()
          return Effect.gen(function*() {
            const server = yield* serve(answer(200, fileDocument))
            const vt = yield* client(server)
            yield* vt.getFile(sha256)
            const http = spans.find((span) => span.attributes.has("http.request.method"))
            assert.isDefined(http)
            assert.strictEqual(String(http!.attributes.get("http.request.header.x-apikey")), "<redacted>")
            assertNoKey(spans.flatMap((span) => [span.name, ...[...span.attributes.values()].map(String)]))
          }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.withTracer(tracer))
        })
      }

      it.scoped("logged errors, causes and requests never show the key", () => {
        const logs = capturingLogger()
        return Effect.gen(function*() {
          const failing = yield* serve((request, response) => {
            if (request.url?.includes("reset")) return request.socket.destroy()
            answer(401, "{\"error\":{\"code\":\"WrongCredentialsError\",\"message\":\"Wrong API key\"}}")(
              request,
              response
            )
          })
          yield* Effect.gen(function*() {
            const vt = yield* VtClient.VtClient
            const errors = [
              yield* Effect.flip(vt.getFile(sha256)),
              yield* Effect.flip(vt.getJson("/reset")),
              yield* Effect.flip(vt.getFile(KEY))
            ]
            for (const error of errors) {
              yield* Effect.logError("request failed", error)
              yield* Effect.logError(Cause.fail(error))
              yield* Effect.fail(error).pipe(Effect.tapErrorCause(Effect.logError), Effect.ignore)
              assertNoKey(renderings(error))
            }
            // The layer also makes the application's own logging of a request redact the header.
            const request = HttpClientRequest.get(`${failing.url}/files/${sha256}`).pipe(
              HttpClientRequest.setHeader("x-apikey", KEY)
            )
            yield* Effect.log("about to send", request)
          }).pipe(
            Effect.provide(clientLayer({ apiKey: Redacted.make(KEY), baseUrl: failing.url }))
          )
          assert.isAbove(logs.lines.length, 10)
          assert.isTrue(logs.lines.some((line) => line.includes("WrongCredentialsError")))
          assert.isTrue(logs.lines.some((line) => line.includes("x-apikey")))
          assertNoKey(logs.lines)
        }).pipe(Effect.provide(logs.layer))
      })

      it.scoped("the layer adds x-apikey to the redacted header names once", () =>
        Effect.gen(function*() {
          const names = yield* FiberRef.get(Headers.currentRedactedNames)
          assert.strictEqual(names.filter((name) => name === "x-apikey").length, 1)
          assert.include(names, "authorization")
        }).pipe(
          Effect.provide(
            clientLayer({ apiKey: Redacted.make(KEY) }).pipe(
              Layer.provideMerge(clientLayer({ apiKey: Redacted.make(KEY) }))
            )
          )
        ))
    })

    httpClientOnly("layerConfig", () => {
      it.scoped("reads VT_API_KEY and VT_BASE_URL", () =>
        Effect.gen(function*() {
          const server = yield* serve(answer(200, fileDocument))
          const provider = ConfigProvider.fromMap(new Map([["VT_API_KEY", KEY], ["VT_BASE_URL", server.url]]))
          const document = yield* VtClient.VtClient.pipe(
            Effect.flatMap((vt) => vt.getFile(sha256)),
            Effect.provide(VtClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))),
            Effect.withConfigProvider(provider)
          )
          assert.strictEqual(document.data.id, sha256)
          assert.strictEqual(server.requests[0].headers["x-apikey"], KEY)
        }))

      it.scoped("defaults to VirusTotal's base URL", () =>
        Effect.gen(function*() {
          const urls: Array<string> = []
          const offline = HttpClient.make((request, url) => {
            urls.push(url.toString())
            return Effect.fail(
              new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("offline") })
            )
          })
          const error = yield* VtClient.VtClient.pipe(
            Effect.flatMap((vt) => Effect.flip(vt.getFile(sha256))),
            Effect.provide(VtClient.layerConfig().pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, offline)))),
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["VT_API_KEY", KEY]])))
          )
          assert.deepStrictEqual(urls, [`https://www.virustotal.com/api/v3/files/${sha256}`])
          assert.instanceOf(error, VtError.TransportError)
          assert.include(error.message, "offline")
        }))

      it.effect("a missing key is a ConfigError", () =>
        Effect.gen(function*() {
          const error = yield* VtClient.VtClient.pipe(
            Effect.provide(VtClient.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))),
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
            Effect.flip
          )
          assert.include(String(error), "VT_API_KEY")
        }))
    })
  })
}

/** Waits (real time, up to 10 s) until `condition` holds, for what the server sees after the client acted. */
const eventually = (condition: () => boolean) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 10_000
    while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  }).pipe(Effect.andThen(() => assert.isTrue(condition())))

describe("VtClient on undici directly", () => {
  const options = (server: TestServer, extra?: Partial<VtClient.UndiciOptions>): VtClient.UndiciOptions => ({
    apiKey: Redacted.make(KEY),
    baseUrl: server.url,
    ...extra
  })

  it.live("times the whole exchange with the real clock: a silent server → TransportError Timeout", () =>
    Effect.gen(function*() {
      let closed = false
      const server = yield* serve((request) => request.socket.on("close", () => (closed = true)))
      const vt = yield* VtClient.makeUndici(options(server, { timeout: "300 millis" }))
      const error = yield* Effect.flip(vt.getFile(sha256))
      assert.instanceOf(error, VtError.TransportError)
      assert.strictEqual((error as VtError.TransportError).reason, "Timeout")
      assert.include(error.message, "300ms")
      // The abandoned request's connection is closed, not left hanging.
      yield* eventually(() => closed)
    }).pipe(Effect.scoped))

  it.live("an interrupted request is abandoned: its connection closes", () =>
    Effect.gen(function*() {
      let closed = false
      const server = yield* serve((request) => request.socket.on("close", () => (closed = true)))
      const vt = yield* VtClient.makeUndici(options(server))
      const fiber = yield* Effect.fork(vt.getFile(sha256))
      yield* server.seen(1)
      yield* Fiber.interrupt(fiber)
      yield* eventually(() => closed)
    }).pipe(Effect.scoped))

  it.live("a given dispatcher carries the requests and is left open", () =>
    Effect.gen(function*() {
      const server = yield* serve(answer(200, fileDocument))
      const { Agent } = yield* Effect.promise(() => import("undici"))
      const agent = new Agent()
      let dispatched = 0
      const dispatcher = agent.compose((dispatch) => (request, handler) => {
        dispatched++
        return dispatch(request, handler)
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const vt = yield* VtClient.makeUndici(options(server, { dispatcher }))
        yield* vt.getFile(sha256)
        yield* vt.getFile(sha256)
      }))
      assert.strictEqual(dispatched, 2)
      assert.isFalse(agent.closed)
      yield* Effect.promise(() => agent.close())
    }).pipe(Effect.scoped))

  it.live("sends in-memory and streamed bodies with their length and type", () =>
    Effect.gen(function*() {
      const bodies: Array<{ type: string | undefined; length: string | undefined; body: string }> = []
      const server = yield* serve((request, response) => {
        let body = ""
        request.setEncoding("utf8").on("data", (chunk) => (body += chunk)).on("end", () => {
          bodies.push({ type: request.headers["content-type"], length: request.headers["content-length"], body })
          answer(200, "{\"data\":{\"type\":\"analysis\",\"id\":\"a\"}}")(request, response)
        })
      })
      const vt = yield* VtClient.makeUndici(options(server))
      yield* vt.execute(HttpClientRequest.post("/comments").pipe(HttpClientRequest.bodyUnsafeJson({ a: 1 })))
      yield* vt.execute(
        HttpClientRequest.post("/urls").pipe(HttpClientRequest.bodyUrlParams({ url: "http://x.test/" }))
      )
      const chunks = [bytes("ab"), bytes("cd")]
      yield* vt.execute(
        HttpClientRequest.post("/files").pipe(
          HttpClientRequest.bodyStream(Stream.fromIterable(chunks), { contentType: "text/plain", contentLength: 4 })
        )
      )
      assert.deepStrictEqual(bodies, [
        { type: "application/json", length: "7", body: "{\"a\":1}" },
        { type: "application/x-www-form-urlencoded", length: "26", body: "url=http%3A%2F%2Fx.test%2F" },
        { type: "text/plain", length: "4", body: "abcd" }
      ])
    }).pipe(Effect.scoped))
})
