// Premium endpoints against the emulator over real HTTP (both transports): Intelligence search through cursors, and
// downloads streamed through the redirect to a signed URL, which is followed without the key.
import { assert, describe, it } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Files from "../src/Files.js"
import * as Intelligence from "../src/Intelligence.js"
import * as VtClient from "../src/VtClient.js"
import { clientLayer, KEY, sha256, withEmulator } from "./emulator.js"
import { answer, serve } from "./utils.js"

const redactedKey = Redacted.make(KEY)

const bytesOf = (chunks: Chunk.Chunk<Uint8Array>) => Buffer.concat([...chunks])

/** The client in context, with a middleware that counts what passes through it. */
const counted = (seen: Array<string>) =>
  VtClient.layerTransform(() =>
    Effect.succeed<VtClient.Middleware>({
      request: (send, info) => Effect.zipRight(Effect.sync(() => seen.push(`${info.method} ${info.url}`)), send)
    })
  )

describe("Files.download", () => {
  it.scoped("streams the sample through the signed URL, sent without the key; the middleware sees both requests", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const sample = VtEmulator.sample(2)
        const seen: Array<string> = []
        const bytes = yield* Stream.runCollect(Files.download(sample.sha256)).pipe(
          Effect.provide(counted(seen).pipe(Layer.provide(clientLayer(server))))
        )
        assert.strictEqual(sha256(bytesOf(bytes)), sample.sha256)
        assert.deepStrictEqual(server.requests.map((r) => r.status), [302, 200])
        assert.strictEqual(seen.length, 2)
        assert.match(seen[0], /\/files\/[0-9a-f]{64}\/download$/)
        assert.match(seen[1], /\/_storage\/[0-9a-f]{64}$/)
      })))

  it.scoped("a key without the privilege: 403 ForbiddenError, nothing followed", () =>
    withEmulator({ premiumKeys: ["someone-else-premium-key"] }, (server) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Stream.runDrain(Files.download(VtEmulator.sample(1).sha256)))
        assert.strictEqual(error._tag, "ForbiddenError")
        assert.strictEqual(server.requests.length, 1)
      })))

  it.scoped("a sample over maxBytes fails the stream (TooLarge)", () =>
    withEmulator({}, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Stream.runDrain(Files.download(VtEmulator.sample(0).sha256, { maxBytes: 1000 }))
        )
        assert.strictEqual(error._tag, "RejectedResponseError")
      })))

  it.scoped("a redirect to another host is followed without the key; a redirect from there is not followed", () =>
    Effect.gen(function*() {
      const storage = yield* serve(answer(200, "sample bytes", { "content-type": "application/octet-stream" }))
      const api = yield* serve(answer(302, "", { location: `${storage.origin}/bucket/object?sig=abc` }))
      const bytes = yield* Stream.runCollect(Files.download("ab".repeat(32))).pipe(
        Effect.provide(VtClient.layerUndici({ apiKey: redactedKey, baseUrl: api.url }))
      )
      assert.strictEqual(bytesOf(bytes).toString(), "sample bytes")
      assert.strictEqual(api.requests[0].headers["x-apikey"], KEY)
      assert.strictEqual(storage.requests[0].headers["x-apikey"], undefined)
      assert.strictEqual(storage.requests[0].url, "/bucket/object?sig=abc")

      const bouncing = yield* serve(answer(302, "", { location: `${api.origin}/api/v3/files/x` }))
      const api2 = yield* serve(answer(302, "", { location: `${bouncing.origin}/object` }))
      const error = yield* Effect.flip(
        Stream.runDrain(Files.download("ab".repeat(32))).pipe(
          Effect.provide(VtClient.layerUndici({ apiKey: redactedKey, baseUrl: api2.url }))
        )
      )
      assert.notStrictEqual(error._tag, "NotFoundError")
      assert.strictEqual(api.requests.length, 1)
    }))

  it.scoped("a redirect to a URL that is not http(s) (file:, data:, ftp:) is refused, saying so", () =>
    Effect.gen(function*() {
      for (const location of ["file:///etc/passwd", "data:text/plain,x", "ftp://example.com/x"]) {
        const api = yield* serve(answer(302, "", { location }))
        const error = yield* Effect.flip(
          Stream.runDrain(Files.download("ab".repeat(32))).pipe(
            Effect.provide(VtClient.layerUndici({ apiKey: redactedKey, baseUrl: api.url }))
          )
        )
        assert.strictEqual(error._tag, "TransportError", location)
        assert.include(error.message, "redirected to a URL that is not http(s)", location)
      }
    }))
})

describe("Intelligence.search", () => {
  it.scoped("follows cursors, pages no larger than asked, and stops at the limit", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const query = "type:peexe positives:10+"
        const expected = VtEmulator.searchResults(query)
        const found = yield* Stream.runCollect(Intelligence.search(query, { limit: 4, pageSize: 3 }))
        assert.deepStrictEqual([...found].map((o) => o.id), expected.slice(0, 4))
        assert.strictEqual(server.requests.length, 2)
        server.clearLog()
        const all = yield* Stream.runCollect(Intelligence.search(query, { pageSize: 2 }))
        assert.deepStrictEqual([...all].map((o) => o.id), [...expected])
        assert.strictEqual(server.requests.length, Math.ceil(expected.length / 2))
      })))

  it.scoped("a key without the privilege: ForbiddenError on the first page", () =>
    withEmulator({ premiumKeys: ["someone-else-premium-key"] }, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Stream.runDrain(Intelligence.search("a")))
        assert.strictEqual(error._tag, "ForbiddenError")
      })))
})
