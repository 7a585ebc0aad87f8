// Premium privileges over real HTTP: Intelligence search paged by cursor, downloads through a redirect to a signed
// URL that takes no key, and 403 ForbiddenError for keys without the privilege.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as VtEmulator from "../src/VtEmulator.js"

const premium = "premium-key-0c41d7e2"
const plain = "plain-key-7f3e90ab"

const withServer = <A>(f: (server: VtEmulator.Server) => Promise<A>) =>
  Effect.scoped(Effect.flatMap(
    VtEmulator.make({ apiKeys: [premium, plain], premiumKeys: [premium] }),
    (server) => Effect.promise(() => f(server))
  ))

const get = (url: string, key?: string) =>
  fetch(url, { headers: key === undefined ? {} : { "x-apikey": key }, redirect: "manual" })

describe("premium", () => {
  it.effect("a search finds only files the emulator has a report for, as VirusTotal's does", () =>
    withServer(async (server) => {
      for (const query of ["type:peexe p:5+", "tag:signed", "fs:2024-01-01+", "engines:emotet"]) {
        const ids = VtEmulator.searchResults(query)
        assert.isAtLeast(ids.length, 5)
        assert.strictEqual(new Set(ids).size, ids.length)
        for (const id of ids) assert.strictEqual((await get(`${server.url}/files/${id}`, premium)).status, 200, id)
      }
    }))

  it.effect("search pages follow meta.cursor to the last page, which has neither cursor nor next", () =>
    withServer(async (server) => {
      const query = "type:peexe p:5+"
      const expected = VtEmulator.searchResults(query)
      const seen: Array<string> = []
      let cursor: string | undefined
      let pages = 0
      do {
        const answer = await get(
          `${server.url}/intelligence/search?query=${encodeURIComponent(query)}&limit=4${
            cursor === undefined ? "" : `&cursor=${cursor}`
          }`,
          premium
        )
        assert.strictEqual(answer.status, 200)
        const body = (await answer.json()) as {
          data: Array<{ id: string; type: string }>
          meta: { cursor?: string; total_hits: number }
          links: { next?: string }
        }
        assert.strictEqual(body.meta.total_hits, expected.length)
        assert.strictEqual(body.meta.cursor === undefined, body.links.next === undefined)
        seen.push(...body.data.map((item) => item.id))
        cursor = body.meta.cursor
        pages++
      } while (cursor !== undefined)
      assert.deepStrictEqual(seen, [...expected])
      assert.strictEqual(pages, Math.ceil(expected.length / 4))
    }))

  it.effect("a download redirects to a signed URL serving the sample's exact bytes, without a key", () =>
    withServer(async (server) => {
      const sample = VtEmulator.sample(5)
      const first = await get(`${server.url}/files/${sample.sha256}/download`, premium)
      assert.strictEqual(first.status, 302)
      const location = first.headers.get("location")!
      const bytes = new Uint8Array(await (await get(location)).arrayBuffer())
      assert.strictEqual(createHash("sha256").update(bytes).digest("hex"), sample.sha256)
      // The storage refuses a key, and a tampered signature.
      assert.strictEqual((await get(location, premium)).status, 400)
      assert.strictEqual((await get(location.replace(/signature=./, "signature=A"))).status, 403)
      const url = (await (await get(`${server.url}/files/${sample.sha256}/download_url`, premium)).json()) as {
        data: string
      }
      assert.strictEqual((await get(url.data)).status, 200)
      // Only the API requests count against the quota; the storage ones are not even keyed.
      assert.deepStrictEqual(server.requests.map((r) => r.status), [302, 200, 400, 403, 200, 200])
    }))

  it.effect("a key without the privilege gets 403 ForbiddenError; an id without content 404", () =>
    withServer(async (server) => {
      const sample = VtEmulator.sample(1)
      for (
        const path of [
          `/files/${sample.sha256}/download`,
          `/files/${sample.sha256}/download_url`,
          "/intelligence/search?query=a"
        ]
      ) {
        const answer = await get(`${server.url}${path}`, plain)
        assert.strictEqual(answer.status, 403)
        assert.strictEqual(((await answer.json()) as { error: { code: string } }).error.code, "ForbiddenError")
      }
      assert.strictEqual((await get(`${server.url}/files/${"ab".repeat(32)}/download`, premium)).status, 404)
      assert.strictEqual((await get(`${server.url}/intelligence/search?query=`, premium)).status, 400)
    }))
})

describe("gzip", () => {
  it.effect("answers gzip (two members: head and cached tail) when asked, plain otherwise; 429s never", () =>
    Effect.scoped(Effect.flatMap(VtEmulator.make({ perMinute: 2 }), (server) =>
      Effect.promise(async () => {
        const { gunzipSync } = await import("node:zlib")
        const http = await import("node:http")
        const id = VtEmulator.sample(0).sha256
        const raw = (encoding: string) =>
          new Promise<{ status: number; encoding: string | undefined; body: Buffer }>((resolve, reject) => {
            http.get(
              `${server.url}/files/${id}`,
              { headers: { "x-apikey": premium, "accept-encoding": encoding } },
              (res) => {
                const chunks: Array<Buffer> = []
                res.on("data", (chunk: Buffer) => chunks.push(chunk))
                res.on("end", () =>
                  resolve({
                    status: res.statusCode ?? 0,
                    encoding: res.headers["content-encoding"],
                    body: Buffer.concat(chunks)
                  }))
              }
            ).on("error", reject)
          })
        const zipped = await raw("gzip, deflate")
        assert.strictEqual(zipped.encoding, "gzip")
        assert.deepStrictEqual(gunzipSync(zipped.body), Buffer.from(VtEmulator.fileDocument(id)))
        const plain = await raw("identity")
        assert.strictEqual(plain.encoding, undefined)
        assert.deepStrictEqual(plain.body, Buffer.from(VtEmulator.fileDocument(id)))
        const refused = await raw("gzip")
        assert.strictEqual(refused.status, 429)
        assert.strictEqual(refused.encoding, undefined)
        assert.strictEqual(JSON.parse(refused.body.toString()).error.code, "QuotaExceededError")
      }))))
})
