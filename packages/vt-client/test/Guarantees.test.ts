// What the client guarantees whatever decorates it, against hostile servers on loopback: the key goes only to the
// API's origin, redirects are answers, answers are bounded, an object asked for is the object answered; and every
// request of every module passes through a middleware installed with `VtClient.transform`.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Http from "node:http"
import { gzipSync } from "node:zlib"
import * as Collection from "../src/Collection.js"
import * as Files from "../src/Files.js"
import * as VtClient from "../src/VtClient.js"
import type * as VtError from "../src/VtError.js"
import type { TestServer } from "./utils.js"
import { answer, serve } from "./utils.js"

const KEY = "k3y-0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
const sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
const md5 = "d41d8cd98f00b204e9800998ecf8427e"
const sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
const fileDocument = (id: string, attributes: Record<string, unknown> = {}) =>
  JSON.stringify({ data: { type: "file", id, attributes: { md5, sha1, sha256: id, ...attributes } } })

type Transport = "HttpClient" | "undici"

const clientFor = (transport: Transport) =>
(
  server: TestServer,
  options?: Partial<VtClient.Options>
): Effect.Effect<VtClient.Service, never, HttpClient.HttpClient | Scope.Scope> =>
  transport === "undici"
    ? VtClient.makeUndici({ apiKey: Redacted.make(KEY), baseUrl: server.url, ...options })
    : VtClient.make({ apiKey: Redacted.make(KEY), baseUrl: server.url, ...options })

const failureOf = <A>(effect: Effect.Effect<A, VtError.VtError>) => Effect.flip(effect)

for (const transport of ["HttpClient", "undici"] as const) {
  describe(`the client's own guarantees through ${transport}`, () => {
    const client = clientFor(transport)

    describe("the key goes only to the API's origin", () => {
      it.scoped("an absolute URL on another host, or over plain http, is refused and sent nothing", () =>
        Effect.gen(function*() {
          const api = yield* serve(answer(200, "{}"))
          const foreign = yield* serve(answer(200, "{}"))
          const vt = yield* client({ ...api, url: api.url.replace("http://", "https://") })
          const elsewhere = yield* failureOf(vt.getJson(`${foreign.url}/files/upload_url`))
          assert.deepStrictEqual([elsewhere._tag, elsewhere._tag === "TransportError" && elsewhere.reason], [
            "TransportError",
            "UnsafeTarget"
          ])
          // The API is https here: the same host over http is another origin.
          const plain = yield* failureOf(vt.getJson(`${api.url}/files/upload_url`))
          assert.strictEqual(plain._tag === "TransportError" && plain.reason, "UnsafeTarget")
          assert.strictEqual(foreign.requests.length, 0)
          assert.strictEqual(api.requests.length, 0)
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("an upload URL on another host gets no request, no key, no file", () =>
        Effect.gen(function*() {
          const foreign = yield* serve(answer(200, JSON.stringify({ data: { type: "analysis", id: "x" } })))
          const api = yield* serve(answer(200, JSON.stringify({ data: `${foreign.origin}/_ah/upload/one-time` })))
          const vt = yield* client(api)
          const error = yield* failureOf(
            Files.uploadStream({ stream: Stream.make(new Uint8Array(3)), size: 3, filename: "f" }, {
              viaUploadUrl: true
            }).pipe(Effect.provideService(VtClient.VtClient, vt))
          )
          assert.strictEqual(error._tag === "TransportError" && error.reason, "UnsafeTarget")
          assert.strictEqual(api.requests.length, 1)
          assert.strictEqual(foreign.requests.length, 0)
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("a redirect is an answer: not followed, the key never sent to its target", () =>
        Effect.gen(function*() {
          const target = yield* serve(answer(200, fileDocument(sha256)))
          const api = yield* serve((_request, response) => {
            response.writeHead(302, { location: `${target.url}/files/${sha256}`, "content-length": 0 })
            response.end()
          })
          const vt = yield* client(api)
          const error = yield* failureOf(vt.getFile(sha256))
          assert.strictEqual(error._tag, "UnknownApiError")
          assert.strictEqual(error._tag === "UnknownApiError" && error.status, 302)
          assert.strictEqual(target.requests.length, 0)
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
    })

    describe("answers are bounded", () => {
      it.scoped("an endless body stops at maxBodyBytes: RejectedResponseError TooLarge, not transient", () =>
        Effect.gen(function*() {
          const api = yield* serve((_request, response) => {
            response.writeHead(200, { "content-type": "application/json" })
            const chunk = Buffer.alloc(64 * 1024, 0x20)
            const pump = () => {
              while (response.write(chunk)) { /* until the socket pushes back */ }
            }
            response.on("drain", pump)
            response.on("error", () => {})
            pump()
          })
          const vt = yield* client(api, { maxBodyBytes: 2 * 1024 * 1024 })
          const error = yield* failureOf(vt.getFile(sha256))
          assert.deepStrictEqual([error._tag, error._tag === "RejectedResponseError" && error.reason], [
            "RejectedResponseError",
            "TooLarge"
          ])
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("a gzip bomb fails on the ratio without being inflated whole", () =>
        Effect.gen(function*() {
          const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024, 0x20))
          const api = yield* serve(
            answer(200, bomb, { "content-type": "application/json", "content-encoding": "gzip" })
          )
          const vt = yield* client(api)
          const error = yield* failureOf(vt.getFile(sha256))
          assert.deepStrictEqual([error._tag, error._tag === "RejectedResponseError" && error.reason], [
            "RejectedResponseError",
            "Compression"
          ])
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
    })

    describe("an object asked for is the object answered", () => {
      const wrong = "0000000000000000000000000000000000000000000000000000000000000000"
      const cases: ReadonlyArray<
        readonly [string, (vt: VtClient.Service) => Effect.Effect<unknown, VtError.VtError>, string]
      > = [
        ["another file's id", (vt) => vt.getFile(sha256), fileDocument(wrong)],
        [
          "an MD5 whose attributes do not match",
          (vt) => vt.getFile(md5),
          fileDocument(sha256, { md5: "0".repeat(32) })
        ],
        [
          "a SHA-1 whose attributes do not match",
          (vt) => vt.getFile(sha1),
          fileDocument(sha256, { sha1: "0".repeat(40) })
        ],
        [
          "another type",
          (vt) => vt.getFile(sha256),
          JSON.stringify({ data: { type: "url", id: sha256, attributes: {} } })
        ],
        [
          "another domain",
          (vt) => vt.getDomain("example.com"),
          JSON.stringify({ data: { type: "domain", id: "evil.example", attributes: {} } })
        ],
        [
          "another address",
          (vt) => vt.getIpAddress("8.8.8.8"),
          JSON.stringify({ data: { type: "ip_address", id: "8.8.4.4", attributes: {} } })
        ],
        [
          "a URL object by id with another id",
          (vt) => vt.getUrl(sha256),
          JSON.stringify({ data: { type: "url", id: wrong, attributes: {} } })
        ]
      ]
      for (const [name, call, body] of cases) {
        it.scoped(`${name} → RejectedResponseError UnexpectedObject`, () =>
          Effect.gen(function*() {
            const api = yield* serve(answer(200, body))
            const error = yield* failureOf(call(yield* client(api)))
            assert.deepStrictEqual([error._tag, error._tag === "RejectedResponseError" && error.reason], [
              "RejectedResponseError",
              "UnexpectedObject"
            ])
          }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
      }

      it.scoped("a file asked for by MD5 or SHA-1 is refused naming the attribute that did not match", () =>
        Effect.gen(function*() {
          const api = yield* serve(answer(200, fileDocument(sha256, { sha1: "0".repeat(40) })))
          const error = yield* failureOf((yield* client(api)).getFile(sha1))
          assert.include(
            error.message,
            `asked for the file ${sha1}, got the file "${sha256}" whose sha1 is "${"0".repeat(40)}"`
          )
          const noMd5 = yield* serve(
            answer(200, JSON.stringify({ data: { type: "file", id: sha256, attributes: {} } }))
          )
          const missing = yield* failureOf((yield* client(noMd5)).getFile(md5))
          assert.include(missing.message, `got the file "${sha256}" whose md5 is none`)
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

      it.scoped("the right objects pass: SHA-256 id, MD5 and SHA-1 by attribute, any case, URL by its SHA-256", () =>
        Effect.gen(function*() {
          const api = yield* serve((request: Http.IncomingMessage, response) => {
            const body = request.url?.includes("/urls/")
              ? JSON.stringify({ data: { type: "url", id: wrong, attributes: {} } })
              : request.url?.includes("/domains/")
              ? JSON.stringify({ data: { type: "domain", id: "Example.COM", attributes: {} } })
              : fileDocument(sha256.toUpperCase(), { md5: md5.toUpperCase() })
            answer(200, body)(request, response)
          })
          const vt = yield* client(api)
          yield* vt.getFile(sha256)
          yield* vt.getFile(md5)
          yield* vt.getFile(sha1)
          yield* vt.getUrl("https://example.com/")
          yield* vt.getDomain("example.com")
        }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
    })
  })
}

describe("VtClient.transform", () => {
  const page = (cursor: string | undefined) =>
    JSON.stringify({
      data: [{ type: "file", id: sha256, attributes: {} }],
      meta: cursor === undefined ? {} : { cursor }
    })

  it.scoped("every request of every module passes the middleware, units are marked and wrapped once, never nested", () =>
    Effect.gen(function*() {
      const api = yield* serve((request, response) => {
        const url = request.url ?? ""
        if (url.includes("upload_url")) {
          return answer(200, JSON.stringify({ data: `${"http://"}${request.headers.host}/_ah/upload/x` }))(
            request,
            response
          )
        }
        if (url.startsWith("/_ah/upload/") || url === "/api/v3/files") {
          request.resume()
          return request.on(
            "end",
            () => answer(200, JSON.stringify({ data: { type: "analysis", id: "YQ==" } }))(request, response)
          )
        }
        if (url.includes("/comments")) {
          return answer(200, page(url.includes("cursor=c2") ? undefined : url.includes("cursor=") ? "c2" : "c1"))(
            request,
            response
          )
        }
        return answer(200, fileDocument(sha256))(request, response)
      })
      const seen: Array<string> = []
      let units = 0
      const base = yield* VtClient.makeUndici({ apiKey: Redacted.make(KEY), baseUrl: api.url })
      const vt = VtClient.transform(base, {
        request: (send, info) =>
          Effect.zipRight(
            Effect.sync(() =>
              seen.push(`${info.method} ${info.url.replace(api.origin, "")}${info.inUnit ? " (unit)" : ""}`)
            ),
            send
          ),
        unit: (self) => Effect.zipRight(Effect.sync(() => units++), self)
      })
      yield* vt.getFile(sha256)
      yield* Collection.pages("/files/x/comments").pipe(Stream.runDrain, Effect.provideService(VtClient.VtClient, vt))
      const source = { stream: Stream.make(new Uint8Array(3)), size: 3, filename: "f" }
      yield* Files.uploadStream(source).pipe(Effect.provideService(VtClient.VtClient, vt))
      yield* Files.uploadStream(source, { viaUploadUrl: true }).pipe(Effect.provideService(VtClient.VtClient, vt))
      // Each request with the check of its answer is one unit (retried whole: a body that is not JSON is retried as
      // one cut short); the requests of a larger unit (an upload through an upload URL) are that unit's alone.
      assert.deepStrictEqual(seen, [
        `GET /api/v3/files/${sha256} (unit)`,
        "GET /api/v3/files/x/comments (unit)",
        "GET /api/v3/files/x/comments (unit)",
        "GET /api/v3/files/x/comments (unit)",
        "POST /api/v3/files (unit)",
        "GET /api/v3/files/upload_url (unit)",
        "POST /_ah/upload/x (unit)"
      ])
      assert.strictEqual(units, 6)
      assert.strictEqual(api.requests.length, 7)
      // A middleware without units has every request as its own to retry, as before units checked bodies.
      const alone: Array<boolean> = []
      const requestOnly = VtClient.transform(base, {
        request: (send, info) => Effect.zipRight(Effect.sync(() => alone.push(info.inUnit)), send)
      })
      yield* requestOnly.getFile(sha256)
      yield* Collection.pages("/files/x/comments").pipe(
        Stream.runDrain,
        Effect.provideService(VtClient.VtClient, requestOnly)
      )
      assert.deepStrictEqual(alone, [false, false, false, false])
    }))

  it.scoped("a middleware may answer without sending: nothing reaches the server", () =>
    Effect.gen(function*() {
      const api = yield* serve(answer(200, fileDocument(sha256)))
      const base = yield* VtClient.makeUndici({ apiKey: Redacted.make(KEY), baseUrl: api.url })
      const vt = VtClient.transform(base, {
        request: () => Effect.die("refused by the middleware")
      })
      const exit = yield* Effect.exit(vt.getFile(sha256))
      assert.isTrue(exit._tag === "Failure")
      assert.strictEqual(api.requests.length, 0)
    }))
})
