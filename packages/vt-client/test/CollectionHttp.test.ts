// Pagination against purpose-built servers: the shapes the emulator does not produce.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as Http from "node:http"
import * as Collection from "../src/Collection.js"
import * as VtClient from "../src/VtClient.js"
import * as VtError from "../src/VtError.js"
import { serve, type TestServer } from "./utils.js"

const KEY = "k3y-0123456789abcdef0123456789abcdef"

const item = (id: string) => ({ type: "domain", id, attributes: { n: id } })

const provide = (server: TestServer) =>
  Effect.provide(
    VtClient.layer({ apiKey: Redacted.make(KEY), baseUrl: server.url }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  )

const json = (response: Http.ServerResponse, body: unknown, status = 200) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}

describe("Collection over purpose-built servers", () => {
  it.scoped("links.next to another host: only its cursor is used, the other host never sees a request", () =>
    Effect.gen(function*() {
      const elsewhere = yield* serve((_request, response) => json(response, { data: [] }))
      const server = yield* serve((request, response) => {
        const cursor = new URL(request.url ?? "/", "http://x").searchParams.get("cursor")
        if (cursor === null) {
          return json(response, {
            data: [item("a"), item("b")],
            links: { next: `${elsewhere.url}/things?cursor=page2&limit=2` }
          })
        }
        json(response, { data: [item("c")], meta: { count: 3 }, links: { self: "x" } })
      })
      const ids = yield* Stream.runCollect(Collection.objects("/things", { pageSize: 2 })).pipe(provide(server))
      assert.deepStrictEqual(Chunk.toReadonlyArray(ids).map((o) => o.id), ["a", "b", "c"])
      assert.deepStrictEqual(server.requests.map((r) => r.url), [
        "/api/v3/things?limit=2",
        "/api/v3/things?limit=2&cursor=page2"
      ])
      assert.strictEqual(elsewhere.requests.length, 0)
    }))

  it.scoped("a page repeating the cursor it was asked with ends the stream (no endless loop)", () =>
    Effect.gen(function*() {
      const server = yield* serve((_request, response) =>
        json(response, { data: [item("x")], meta: { cursor: "same" } })
      )
      const items = yield* Stream.runCollect(Collection.objects("/loop")).pipe(provide(server))
      // The second answer is the first again: not given twice.
      assert.strictEqual(Chunk.size(items), 1)
      assert.strictEqual(server.requests.length, 2)
    }))

  it.scoped("a cursor that leads back to a page already requested ends the stream: A → B → A (no endless loop)", () =>
    Effect.gen(function*() {
      const server = yield* serve((request, response) => {
        const cursor = new URL(request.url ?? "/", "http://x").searchParams.get("cursor")
        json(response, { data: [item(cursor ?? "first")], meta: { cursor: cursor === "A" ? "B" : "A" } })
      })
      const items = yield* Stream.runCollect(Collection.objects("/cycle")).pipe(provide(server))
      assert.deepStrictEqual(Chunk.toReadonlyArray(items).map((o) => o.id), ["first", "A", "B"])
      assert.strictEqual(server.requests.length, 3)
      // The same with links.next into the API.
      const linked = yield* serve((request, response) => {
        const page = new URL(request.url ?? "/", "http://x").searchParams.get("page") ?? "1"
        json(response, {
          data: [item(page)],
          links: { next: `${linked.url}/cycle?page=${page === "1" ? "2" : page === "2" ? "3" : "2"}` }
        })
      })
      const followed = yield* Stream.runCollect(Collection.objects("/cycle")).pipe(provide(linked))
      assert.deepStrictEqual(Chunk.toReadonlyArray(followed).map((o) => o.id), ["1", "2", "3"])
    }))

  it.scoped("a new cursor that leads back to the first page ends the stream before its items come twice", () =>
    Effect.gen(function*() {
      const server = yield* serve((request, response) => {
        const cursor = new URL(request.url ?? "/", "http://x").searchParams.get("cursor")
        // The first page's body again, for a cursor never seen before.
        if (cursor === null || cursor === "c2") return json(response, { data: [item("a")], meta: { cursor: "c1" } })
        json(response, { data: [item("b")], meta: { cursor: "c2" } })
      })
      const stops: Array<Collection.Stop> = []
      const items = yield* Stream.runCollect(
        Collection.objects("/round", { onStop: (stop) => Effect.sync(() => stops.push(stop)) })
      ).pipe(provide(server))
      assert.deepStrictEqual(Chunk.toReadonlyArray(items).map((o) => o.id), ["a", "b"])
      assert.strictEqual(server.requests.length, 3)
      assert.deepStrictEqual(stops, ["cycle"])
    }))

  it.scoped("onStop says why a stream ended with a next page named; never for the collection's end or a limit", () =>
    Effect.gen(function*() {
      let n = 0
      const server = yield* serve((request, response) => {
        const url = new URL(request.url ?? "/", "http://x")
        const cursor = url.searchParams.get("cursor")
        n++
        switch (url.pathname) {
          case "/api/v3/endless":
            return json(response, { data: [item(`i${n}`)], meta: { cursor: `${n}-${"c".repeat(7_000)}` } })
          case "/api/v3/same":
            return json(response, { data: [item(`s${n}`)], meta: { cursor: "same" } })
          case "/api/v3/empty":
            return json(response, { data: cursor === null ? [item("e")] : [], meta: { cursor: `e${n}` } })
          case "/api/v3/foreign":
            return json(response, { data: [item("f")], links: { next: "https://elsewhere.example/x?page=2" } })
          default:
            return json(response, { data: [item(cursor ?? "first")], meta: cursor === null ? { cursor: "2" } : {} })
        }
      })
      const stopsOf = (path: string, options: Collection.Options = {}) =>
        Effect.gen(function*() {
          const stops: Array<Collection.Stop> = []
          yield* Stream.runDrain(
            Collection.objects(path, { ...options, onStop: (stop) => Effect.sync(() => stops.push(stop)) })
          )
          return stops
        }).pipe(provide(server))
      assert.deepStrictEqual(yield* stopsOf("/endless", { maxBytes: 30_000 }), ["maxBytes"])
      assert.deepStrictEqual(yield* stopsOf("/endless", { maxPages: 2 }), ["maxPages"])
      assert.deepStrictEqual(yield* stopsOf("/same"), ["cycle"])
      assert.deepStrictEqual(yield* stopsOf("/empty"), ["noProgress"])
      assert.deepStrictEqual(yield* stopsOf("/foreign"), ["unfollowable"])
      assert.deepStrictEqual(yield* stopsOf("/whole"), [])
      assert.deepStrictEqual(yield* stopsOf("/whole", { maxPages: 2 }), [])
      assert.deepStrictEqual(yield* stopsOf("/endless", { limit: 2 }), [])
    }))

  it.scoped("maxBytes: pages of one item and a long new cursor each end once their bodies hold that many bytes", () =>
    Effect.gen(function*() {
      let n = 0
      const server = yield* serve((_request, response) => {
        n++
        json(response, { data: [item(`i${n}`)], meta: { cursor: `${n}-${"c".repeat(7_000)}` } })
      })
      const pages = yield* Stream.runCollect(Collection.pages("/endless", { maxBytes: 100_000 })).pipe(provide(server))
      // Each body is about 7 KB: the page that reaches 100,000 bytes is the last one requested.
      const sizes = Chunk.toReadonlyArray(pages).map((page) => page.raw.length)
      assert.isAbove(sizes.reduce((a, b) => a + b, 0), 100_000)
      assert.isBelow(sizes.slice(0, -1).reduce((a, b) => a + b, 0), 100_000)
      assert.strictEqual(server.requests.length, sizes.length)
    }))

  it.scoped("a page with no items that names a next page ends the stream: no endless run of empty pages", () =>
    Effect.gen(function*() {
      let n = 0
      const server = yield* serve((_request, response) => {
        n++
        json(response, { data: n === 1 ? [item("only")] : [], meta: { cursor: `c${n}` } })
      })
      const items = yield* Stream.runCollect(Collection.objects("/empty")).pipe(provide(server))
      assert.deepStrictEqual(Chunk.toReadonlyArray(items).map((o) => o.id), ["only"])
      assert.strictEqual(server.requests.length, 2)
    }))

  it.scoped("items that are not objects, or a page that is not a collection: ResponseDecodeError", () =>
    Effect.gen(function*() {
      const server = yield* serve((request, response) =>
        request.url?.startsWith("/api/v3/bad-item")
          ? json(response, { data: [item("a"), { type: "domain" }] })
          : json(response, { data: "nope" })
      )
      const badItem = yield* Effect.flip(Stream.runCollect(Collection.objects("/bad-item"))).pipe(provide(server))
      assert.instanceOf(badItem, VtError.ResponseDecodeError)
      assert.include(badItem.message, "item 1")
      const badPage = yield* Effect.flip(Stream.runCollect(Collection.pages("/bad-page"))).pipe(provide(server))
      assert.instanceOf(badPage, VtError.ResponseDecodeError)
      assert.include(badPage.message, "not a collection page")
    }))
})
