// The endpoints beyond file reports, over real HTTP with fetch (the client's own tests cover them through VtClient).
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import type * as Http from "node:http"
import { Readable } from "node:stream"
import { readMultipart } from "../src/internal/multipart.js"
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

const KEY = "test-key"
const headers = { "x-apikey": KEY }
const get = (server: VtEmulator.Server, path: string) => request(`${server.url}${path}`, { headers })
const post = (
  server: VtEmulator.Server,
  path: string,
  body: NonNullable<RequestInit["body"]>,
  extra: Record<string, string> = {}
) => request(`${server.url}${path}`, { method: "POST", headers: { ...headers, ...extra }, body })
const postJson = (server: VtEmulator.Server, path: string, value: unknown) =>
  post(server, path, JSON.stringify(value), { "content-type": "application/json" })

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const parse = (answer: Answer): any => JSON.parse(answer.text)
const errorCode = (answer: Answer): string => parse(answer).error.code

const sha256 = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex")

const find = <A>(make: (i: number) => A, ok: (a: A) => boolean): A => {
  for (let i = 0;; i++) {
    const a = make(i)
    if (ok(a)) return a
  }
}

const knownFile = find((i) => sha256(`file-${i}`), VtEmulator.isKnown)
const unknownFile = find((i) => sha256(`file-${i}`), (id) => !VtEmulator.isKnown(id))
const knownDomain = find((i) => `site-${i}.example.com`, VtEmulator.isKnown)
const unknownDomain = find((i) => `site-${i}.example.com`, (d) => !VtEmulator.isKnown(d))
const knownIp = find((i) => `192.0.2.${i}`, VtEmulator.isKnown)
const unknownIp = find((i) => `192.0.2.${i}`, (ip) => !VtEmulator.isKnown(ip))
const knownUrl = find((i) => `http://www.example.com/page-${i}`, VtEmulator.isKnownUrl)
const unknownUrl = find((i) => `http://www.example.com/page-${i}`, (u) => !VtEmulator.isKnownUrl(u))
const urlId = (url: string) => Buffer.from(url).toString("base64url")

const multipart = (fields: Record<string, string>, file?: { name: string; content: Uint8Array }) => {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.set(name, value)
  if (file !== undefined) form.set("file", new Blob([file.content]), file.name)
  return form
}

const T0 = Date.UTC(2024, 4, 7, 12)

describe("objects", () => {
  it.scoped("URLs by unpadded base64url id or by SHA-256 id; unknown → 404; malformed → 400", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make()
      const byUrl = yield* get(server, `/urls/${urlId(knownUrl)}`)
      assert.strictEqual(byUrl.status, 200)
      assert.deepStrictEqual(byUrl.bytes, VtEmulator.urlDocument(knownUrl))
      const data = parse(byUrl).data
      assert.strictEqual(data.type, "url")
      assert.strictEqual(data.id, VtEmulator.urlObjectId(knownUrl))
      assert.strictEqual(data.attributes.url, knownUrl)
      assert.isObject(data.attributes.last_analysis_results)
      // The SHA-256 form answers the same object, naming the URL seen before.
      const bySha = yield* get(server, `/urls/${VtEmulator.urlObjectId(knownUrl)}`)
      assert.deepStrictEqual(bySha.bytes, byUrl.bytes)
      assert.strictEqual(VtEmulator.urlObjectId("http://www.virustotal.com"), sha256("http://www.virustotal.com/"))
      const missing = yield* get(server, `/urls/${urlId(unknownUrl)}`)
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(errorCode(missing), "NotFoundError")
      assert.strictEqual((yield* get(server, "/urls/%%%")).status, 400)
      assert.strictEqual(errorCode(yield* get(server, `/urls/${urlId("ftp://x.y/")}`)), "InvalidArgumentError")
      assert.deepStrictEqual(server.requests.map((r) => r.id), [
        urlId(knownUrl).toLowerCase(),
        VtEmulator.urlObjectId(knownUrl),
        urlId(unknownUrl).toLowerCase(),
        "%%%",
        urlId("ftp://x.y/").toLowerCase()
      ])
    }))

  it.scoped("domains and IP addresses follow the same known/unknown rule", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make()
      const domain = yield* get(server, `/domains/${knownDomain.toUpperCase()}`)
      assert.strictEqual(domain.status, 200)
      assert.deepStrictEqual(domain.bytes, VtEmulator.domainDocument(knownDomain))
      assert.strictEqual(parse(domain).data.type, "domain")
      assert.strictEqual(parse(domain).data.attributes.tld, "com")
      assert.strictEqual(errorCode(yield* get(server, `/domains/${unknownDomain}`)), "NotFoundError")
      assert.strictEqual(errorCode(yield* get(server, "/domains/not_a_domain")), "InvalidArgumentError")
      const ip = yield* get(server, `/ip_addresses/${knownIp}`)
      assert.strictEqual(ip.status, 200)
      assert.deepStrictEqual(ip.bytes, VtEmulator.ipAddressDocument(knownIp))
      assert.strictEqual(parse(ip).data.attributes.network, "192.0.2.0/24")
      assert.strictEqual(errorCode(yield* get(server, `/ip_addresses/${unknownIp}`)), "NotFoundError")
      assert.strictEqual(errorCode(yield* get(server, "/ip_addresses/300.1.1.1")), "InvalidArgumentError")
    }))
})

describe("uploads and analyses", () => {
  it.scoped("POST /files: hashed as received, analysis queued → in-progress → completed by now()", () =>
    Effect.gen(function*() {
      let now = T0
      const server = yield* VtEmulator.make({ now: () => now, analysisQueuedMs: 10_000, analysisCompletedMs: 30_000 })
      const content = new TextEncoder().encode("some file content\r\n--not-a-boundary\r\n")
      const upload = yield* post(server, "/files", multipart({}, { name: "sample.txt", content }))
      assert.strictEqual(upload.status, 200)
      const descriptor = parse(upload).data
      assert.strictEqual(descriptor.type, "analysis")
      // As VirusTotal's own: standard base64 with its padding (43 bytes → "==").
      assert.strictEqual(
        descriptor.id,
        Buffer.from(`${createHash("md5").update(content).digest("hex")}:${T0 / 1000}`).toString("base64")
      )
      assert.isTrue(descriptor.id.endsWith("=="))
      const sha = sha256(content)
      const status = function*() {
        const analysis = parse(yield* get(server, `/analyses/${descriptor.id}`))
        return analysis
      }
      let analysis = yield* status()
      assert.strictEqual(analysis.data.attributes.status, "queued")
      assert.deepStrictEqual(analysis.data.attributes.results, {})
      assert.deepStrictEqual(analysis.meta.file_info, {
        sha256: sha,
        sha1: createHash("sha1").update(content).digest("hex"),
        md5: createHash("md5").update(content).digest("hex"),
        size: content.length
      })
      assert.strictEqual(errorCode(yield* get(server, `/analyses/${descriptor.id}/item`)), "NotAvailableYet")
      const before = yield* get(server, `/files/${sha}`)
      assert.strictEqual(before.status, VtEmulator.isKnown(sha) ? 200 : 404)
      now += 10_000
      analysis = yield* status()
      assert.strictEqual(analysis.data.attributes.status, "in-progress")
      now += 20_000
      analysis = yield* status()
      assert.strictEqual(analysis.data.attributes.status, "completed")
      const stats = analysis.data.attributes.stats
      const results = Object.values(analysis.data.attributes.results) as Array<{ category: string }>
      assert.strictEqual(results.filter((r) => r.category === "malicious").length, stats.malicious)
      const item = yield* get(server, `/analyses/${descriptor.id}/item`)
      assert.strictEqual(item.status, 200)
      const report = parse(item).data
      assert.strictEqual(report.id, sha)
      assert.strictEqual(report.attributes.size, content.length)
      assert.strictEqual(report.attributes.md5, createHash("md5").update(content).digest("hex"))
      // The report is now served by any of its hashes.
      for (const hash of [sha, report.attributes.md5, report.attributes.sha1]) {
        assert.deepStrictEqual((yield* get(server, `/files/${hash}`)).bytes, item.bytes)
      }
      assert.strictEqual(errorCode(yield* get(server, "/analyses/nope")), "NotFoundError")
    }))

  it.scoped("an update of analysisCompletedMs applies to submissions already made: the analysis and the report agree", () =>
    Effect.gen(function*() {
      const now = T0
      const server = yield* VtEmulator.make({ now: () => now, analysisQueuedMs: 60_000, analysisCompletedMs: 120_000 })
      const content = new TextEncoder().encode(find((i) => `update sample ${i}`, (c) => !VtEmulator.isKnown(sha256(c))))
      const sha = sha256(content)
      const upload = yield* post(server, "/files", multipart({}, { name: "sample.bin", content }))
      const id = parse(upload).data.id as string
      const url = find((i) => `http://update-${i}.example/path`, (u) => !VtEmulator.isKnownUrl(u))
      const submitted = yield* post(server, "/urls", new URLSearchParams({ url }))
      const urlAnalysis = parse(submitted).data.id as string
      assert.strictEqual(parse(yield* get(server, `/analyses/${id}`)).data.attributes.status, "queued")
      assert.strictEqual((yield* get(server, `/files/${sha}`)).status, 404)
      assert.strictEqual((yield* get(server, `/urls/${urlId(url)}`)).status, 404)
      server.update({ analysisQueuedMs: 0, analysisCompletedMs: 0 })
      for (const analysis of [id, urlAnalysis]) {
        assert.strictEqual(parse(yield* get(server, `/analyses/${analysis}`)).data.attributes.status, "completed")
      }
      const report = yield* get(server, `/files/${sha}`)
      assert.strictEqual(report.status, 200)
      assert.strictEqual(parse(report).data.attributes.size, content.length)
      assert.strictEqual((yield* get(server, `/urls/${urlId(url)}`)).status, 200)
    }))

  it.scoped("POST /files|urls/{id}/analyse: once the analysis completes the report's last_analysis_date is then", () =>
    Effect.gen(function*() {
      let now = T0
      const server = yield* VtEmulator.make({ now: () => now, analysisQueuedMs: 10_000, analysisCompletedMs: 30_000 })
      for (const path of [`/files/${knownFile}`, `/urls/${urlId(knownUrl)}`]) {
        const before = yield* get(server, path)
        const old = parse(before).data.attributes.last_analysis_date as number
        assert.isBelow(old, T0 / 1000)
        const started = now
        const rescan = yield* post(server, `${path}/analyse`, "")
        assert.strictEqual(rescan.status, 200)
        const id = parse(rescan).data.id as string
        // Until the analysis completes, the report is the one served before, byte for byte.
        now += 29_000
        assert.strictEqual(parse(yield* get(server, `/analyses/${id}`)).data.attributes.status, "in-progress")
        assert.deepStrictEqual((yield* get(server, path)).bytes, before.bytes)
        now += 1_000
        assert.strictEqual(parse(yield* get(server, `/analyses/${id}`)).data.attributes.status, "completed")
        const after = parse(yield* get(server, path))
        assert.strictEqual(after.data.attributes.last_analysis_date, (started + 30_000) / 1000)
        assert.strictEqual(after.data.id, parse(before).data.id)
        const item = parse(yield* get(server, `/analyses/${id}/item`))
        assert.strictEqual(item.data.attributes.last_analysis_date, (started + 30_000) / 1000)
      }
      // Another file is not affected.
      const other = find((i) => sha256(`other-${i}`), VtEmulator.isKnown)
      const otherDate = parse(yield* get(server, `/files/${other}`)).data.attributes.last_analysis_date as number
      assert.isBelow(otherDate, T0 / 1000)
    }))

  it.scoped("upload URLs are one-time; a body over the limit is refused with 413", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ maxUploadBytes: 1000, maxLargeUploadBytes: 5000 })
      const small = new Uint8Array(2000).fill(7)
      const direct = yield* post(server, "/files", multipart({}, { name: "a.bin", content: small }))
      assert.strictEqual(direct.status, 413)
      assert.strictEqual(errorCode(direct), "BadRequestError")
      const uploadUrl = parse(yield* get(server, "/files/upload_url")).data as string
      assert.match(uploadUrl, /^http:\/\/127\.0\.0\.1:\d+\/_ah\/upload\/[\w-]+$/)
      const first = yield* request(uploadUrl, {
        method: "POST",
        headers,
        body: multipart({ password: "infected" }, { name: "a.bin", content: small })
      })
      assert.strictEqual(first.status, 200)
      assert.strictEqual(parse(first).data.type, "analysis")
      const second = yield* request(uploadUrl, {
        method: "POST",
        headers,
        body: multipart({}, { name: "a.bin", content: small })
      })
      assert.strictEqual(second.status, 400)
      assert.strictEqual(errorCode(second), "BadRequestError")
      const another = parse(yield* get(server, "/files/upload_url")).data as string
      const tooLarge = yield* request(another, {
        method: "POST",
        headers,
        body: multipart({}, { name: "b.bin", content: new Uint8Array(6000) })
      })
      assert.strictEqual(tooLarge.status, 413)
      const noKey = yield* request(parse(yield* get(server, "/files/upload_url")).data, {
        method: "POST",
        body: multipart({}, { name: "a.bin", content: small })
      })
      assert.strictEqual(noKey.status, 401)
      const notMultipart = yield* post(server, "/files", "plain", { "content-type": "text/plain" })
      assert.strictEqual(errorCode(notMultipart), "BadRequestError")
      const noFile = yield* post(server, "/files", multipart({ other: "x" }))
      assert.strictEqual(errorCode(noFile), "BadRequestError")
      assert.deepStrictEqual(
        server.requests.map((r) => [r.method, r.path.replace(/upload\/.*/, "upload/…"), r.status]),
        [
          ["POST", "/api/v3/files", 413],
          ["GET", "/api/v3/files/upload_url", 200],
          ["POST", "/_ah/upload/…", 200],
          ["POST", "/_ah/upload/…", 400],
          ["GET", "/api/v3/files/upload_url", 200],
          ["POST", "/_ah/upload/…", 413],
          ["GET", "/api/v3/files/upload_url", 200],
          ["POST", "/_ah/upload/…", 401],
          ["POST", "/api/v3/files", 400],
          ["POST", "/api/v3/files", 400]
        ]
      )
    }))

  it.scoped("URL submission and rescans answer analysis descriptors; the URL is known once analysed", () =>
    Effect.gen(function*() {
      let now = T0
      const server = yield* VtEmulator.make({ now: () => now })
      const submitted = yield* post(server, "/urls", new URLSearchParams({ url: unknownUrl }))
      assert.strictEqual(submitted.status, 200)
      const id = parse(submitted).data.id as string
      assert.strictEqual(id, `u-${VtEmulator.urlObjectId(unknownUrl)}-${T0 / 1000}`)
      assert.strictEqual((yield* get(server, `/urls/${urlId(unknownUrl)}`)).status, 404)
      now += 60_000
      const analysis = parse(yield* get(server, `/analyses/${id}`))
      assert.strictEqual(analysis.data.attributes.status, "completed")
      assert.deepStrictEqual(analysis.meta.url_info, { id: VtEmulator.urlObjectId(unknownUrl), url: unknownUrl })
      assert.strictEqual((yield* get(server, `/urls/${urlId(unknownUrl)}`)).status, 200)
      assert.strictEqual(
        errorCode(yield* post(server, "/urls", new URLSearchParams({ url: "nope" }))),
        "InvalidArgumentError"
      )
      assert.strictEqual(errorCode(yield* post(server, "/urls", new URLSearchParams({}))), "BadRequestError")
      const rescan = yield* post(server, `/files/${knownFile}/analyse`, "")
      assert.strictEqual(parse(rescan).data.type, "analysis")
      assert.strictEqual(errorCode(yield* post(server, `/files/${unknownFile}/analyse`, "")), "NotFoundError")
      const urlRescan = yield* post(server, `/urls/${urlId(knownUrl)}/analyse`, "")
      assert.match(parse(urlRescan).data.id, /^u-[0-9a-f]{64}-\d+$/)
    }))
})

describe("collections", () => {
  const pages = (server: VtEmulator.Server, path: string, follow: "cursor" | "links", limit: number) =>
    Effect.gen(function*() {
      const all: Array<{ type: string; id: string }> = []
      let url: string | undefined = `${server.url}${path}?limit=${limit}`
      let count = 0
      while (url !== undefined) {
        const answer: Answer = yield* request(url, { headers })
        assert.strictEqual(answer.status, 200, answer.text)
        const body = parse(answer)
        all.push(...body.data)
        count++
        url = follow === "links"
          ? body.links.next
          : body.meta.cursor === undefined
          ? undefined
          : `${server.url}${path}?limit=${limit}&cursor=${body.meta.cursor}`
      }
      return { all, count }
    })

  it.scoped("relationships: objects and descriptors over several pages, either cursor form", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make()
      const total = VtEmulator.relationshipCount("files", knownFile, "contacted_domains")
      assert.isTrue(total >= 10 && total <= 40)
      const viaCursor = yield* pages(server, `/files/${knownFile}/relationships/contacted_domains`, "cursor", 4)
      const viaLinks = yield* pages(server, `/files/${knownFile}/relationships/contacted_domains`, "links", 4)
      assert.strictEqual(viaCursor.all.length, total)
      assert.strictEqual(viaCursor.count, Math.ceil(total / 4))
      assert.deepStrictEqual(viaLinks.all, viaCursor.all)
      assert.strictEqual(new Set(viaCursor.all.map((d) => d.id)).size, total)
      assert.deepStrictEqual(viaCursor.all[0], { type: "domain", id: viaCursor.all[0].id })
      // Related objects are full objects, each known and served on its own.
      const objects = yield* pages(server, `/files/${knownFile}/contacted_domains`, "cursor", 10)
      assert.deepStrictEqual(objects.all.map((o) => o.id), viaCursor.all.map((d) => d.id))
      const first = objects.all[0] as unknown as { id: string; attributes: Record<string, unknown> }
      assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(VtEmulator.domainDocument(first.id))).data, first)
      const urls = yield* pages(server, `/files/${knownFile}/contacted_urls`, "links", 40)
      assert.strictEqual(urls.count, 1)
      assert.isString((urls.all[0] as unknown as { attributes: { url: string } }).attributes.url)
      const single = parse(yield* get(server, `/urls/${urlId(knownUrl)}/last_serving_ip_address`))
      assert.strictEqual(single.data.type, "ip_address")
      assert.isUndefined(single.meta)
      const resolutions = parse(yield* get(server, `/domains/${knownDomain}/resolutions?limit=2`))
      assert.strictEqual(resolutions.data[0].type, "resolution")
      assert.strictEqual(errorCode(yield* get(server, `/files/${knownFile}/nonsense`)), "InvalidArgumentError")
      assert.strictEqual(errorCode(yield* get(server, `/files/${unknownFile}/contacted_domains`)), "NotFoundError")
      assert.strictEqual(
        errorCode(yield* get(server, `/files/${knownFile}/similar_files?limit=0`)),
        "InvalidArgumentError"
      )
      assert.strictEqual(
        errorCode(yield* get(server, `/files/${knownFile}/similar_files?cursor=zzz`)),
        "InvalidArgumentError"
      )
    }))

  it.scoped("?relationships=a,b: the report carries the first page of each; its cursor continues at the descriptors", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make()
      const plain = yield* get(server, `/files/${knownFile}`)
      const answer = yield* get(
        server,
        `/files/${knownFile}?relationships=contacted_domains,comments,contacted_domains`
      )
      assert.strictEqual(answer.status, 200, answer.text)
      const body = parse(answer)
      const { relationships, ...rest } = body.data
      // The report itself is the one asked without the parameter, byte for byte but for the new member.
      assert.deepStrictEqual({ data: rest }, parse(plain))
      assert.deepStrictEqual(Object.keys(relationships), ["contacted_domains", "comments"])
      const domains = relationships.contacted_domains
      const total = VtEmulator.relationshipCount("files", knownFile, "contacted_domains")
      assert.strictEqual(domains.data.length, 10)
      assert.deepStrictEqual(domains.data[0], { type: "domain", id: domains.data[0].id })
      assert.strictEqual(domains.meta.count, total)
      const base = `${server.url}/files/${knownFile}`
      assert.strictEqual(domains.links.self, `${base}/relationships/contacted_domains?limit=10`)
      assert.strictEqual(domains.links.related, `${base}/contacted_domains`)
      assert.strictEqual(relationships.comments.data[0].type, "comment")
      // The cursor continues where the first page ended, at the descriptors' route.
      const next = parse(
        yield* get(server, `/files/${knownFile}/relationships/contacted_domains?limit=40&cursor=${domains.meta.cursor}`)
      )
      const all = parse(yield* get(server, `/files/${knownFile}/relationships/contacted_domains?limit=40`))
      assert.deepStrictEqual([...domains.data, ...next.data], all.data)
      assert.strictEqual(parse(yield* request(domains.links.next, { headers })).data[0].id, next.data[0].id)
      // URLs, domains, IP addresses; a to-one relationship is one descriptor, never paginated.
      const url = parse(yield* get(server, `/urls/${urlId(knownUrl)}?relationships=last_serving_ip_address`))
      assert.strictEqual(url.data.relationships.last_serving_ip_address.data.type, "ip_address")
      assert.isUndefined(url.data.relationships.last_serving_ip_address.meta)
      const domain = parse(yield* get(server, `/domains/${knownDomain}?relationships=resolutions`))
      assert.strictEqual(domain.data.relationships.resolutions.data[0].type, "resolution")
      const ip = parse(yield* get(server, `/ip_addresses/${knownIp}?relationships=urls`))
      assert.strictEqual(ip.data.relationships.urls.data[0].type, "url")
      // An unknown name is a 400; an unknown object its 404; no name at all is the plain report.
      assert.strictEqual(
        errorCode(yield* get(server, `/files/${knownFile}?relationships=contacted_domains,nonsense`)),
        "InvalidArgumentError"
      )
      assert.strictEqual(
        errorCode(yield* get(server, `/files/${knownFile}?relationships=__proto__`)),
        "InvalidArgumentError"
      )
      assert.strictEqual(errorCode(yield* get(server, `/files/${unknownFile}?relationships=comments`)), "NotFoundError")
      assert.strictEqual((yield* get(server, `/files/${knownFile}?relationships=`)).text, plain.text)
    }))

  it.scoped("pagination \"cursor\" and \"links\" send only one form; the last page has neither", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ pagination: "cursor" })
      const path = `/domains/${knownDomain}/subdomains?limit=3`
      const onlyCursor = parse(yield* get(server, path))
      assert.isString(onlyCursor.meta.cursor)
      assert.isUndefined(onlyCursor.links.next)
      server.update({ pagination: "links" })
      const onlyLinks = parse(yield* get(server, path))
      assert.isUndefined(onlyLinks.meta.cursor)
      assert.isString(onlyLinks.links.next)
      server.update({ pagination: undefined })
      const last = parse(yield* get(server, `/domains/${knownDomain}/subdomains?limit=40`))
      assert.isUndefined(last.meta.cursor)
      assert.isUndefined(last.links.next)
      assert.strictEqual(last.meta.count, last.data.length)
    }))

  it.scoped("comments: seeded and posted (newest first); votes: a second vote by the same key → 409", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ now: () => T0 })
      const path = `/ip_addresses/${knownIp}/comments`
      const before = parse(yield* get(server, `${path}?limit=40`))
      const posted = yield* postJson(server, path, {
        data: { type: "comment", attributes: { text: "Scanner seen at night #Scanner #bruteforce" } }
      })
      assert.strictEqual(posted.status, 200)
      const comment = parse(posted).data
      assert.strictEqual(comment.type, "comment")
      assert.deepStrictEqual(comment.attributes.tags, ["scanner", "bruteforce"])
      assert.strictEqual(comment.attributes.date, T0 / 1000)
      const after = parse(yield* get(server, `${path}?limit=40`))
      assert.strictEqual(after.meta.count, before.meta.count + 1)
      assert.deepStrictEqual(after.data[0], comment)
      assert.strictEqual(errorCode(yield* postJson(server, path, { data: { type: "vote" } })), "BadRequestError")
      assert.strictEqual(errorCode(yield* post(server, path, "{not json")), "BadRequestError")

      const votes = `/domains/${knownDomain}/votes`
      const vote = (verdict: string, key = KEY) =>
        request(`${server.url}${votes}`, {
          method: "POST",
          headers: { "x-apikey": key },
          body: JSON.stringify({ data: { type: "vote", attributes: { verdict } } })
        })
      const first = yield* vote("malicious")
      assert.strictEqual(first.status, 200)
      assert.deepStrictEqual(parse(first).data.attributes, { date: T0 / 1000, verdict: "malicious", value: -1 })
      const again = yield* vote("harmless")
      assert.strictEqual(again.status, 409)
      assert.strictEqual(errorCode(again), "AlreadyExistsError")
      assert.strictEqual((yield* vote("harmless", "other-key")).status, 200)
      assert.strictEqual(errorCode(yield* vote("maybe", "third-key")), "InvalidArgumentError")
      const listed = parse(yield* get(server, `${votes}?limit=2`))
      assert.strictEqual(listed.data[0].attributes.verdict, "harmless")
      assert.strictEqual(listed.data[1].attributes.verdict, "malicious")
      assert.strictEqual(
        errorCode(yield* vote("malicious", "x").pipe(Effect.zipRight(get(server, `/domains/${unknownDomain}/votes`)))),
        "NotFoundError"
      )
    }))
})

describe("behaviour", () => {
  it.scoped("summary, MITRE trees, per-sandbox behaviours and their artefacts as bytes", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make()
      const summary = yield* get(server, `/files/${knownFile}/behaviour_summary`)
      assert.strictEqual(summary.status, 200)
      assert.isArray(parse(summary).data.processes_tree)
      assert.isArray(parse(summary).data.mitre_attack_techniques)
      const trees = parse(yield* get(server, `/files/${knownFile}/behaviour_mitre_trees`)).data
      assert.isArray(trees.Zenbox.tactics)
      const behaviours = parse(yield* get(server, `/files/${knownFile}/behaviours`))
      assert.isTrue(behaviours.data.length >= 3)
      const seen = new Set<string>()
      for (const behaviour of behaviours.data) {
        assert.strictEqual(behaviour.type, "file_behaviour")
        assert.isTrue(behaviour.id.startsWith(`${knownFile}_`))
        const one = yield* get(server, `/file_behaviours/${encodeURIComponent(behaviour.id)}`)
        assert.strictEqual(parse(one).data.id, behaviour.id)
        for (
          const [artefact, flag] of [["html", "has_html_report"], ["evtx", "has_evtx"], ["memdump", "has_memdump"], [
            "pcap",
            "has_pcap"
          ]] as const
        ) {
          const answer = yield* get(server, `/file_behaviours/${encodeURIComponent(behaviour.id)}/${artefact}`)
          assert.strictEqual(answer.status, behaviour.attributes[flag] ? 200 : 404, `${behaviour.id} ${artefact}`)
          if (answer.status === 200) seen.add(artefact)
          if (artefact === "pcap" && answer.status === 200) {
            assert.strictEqual(Buffer.from(answer.bytes).readUInt32LE(0), 0xa1b2c3d4)
            assert.strictEqual(answer.contentType, "application/vnd.tcpdump.pcap")
          }
          if (artefact === "html" && answer.status === 200) assert.match(answer.contentType ?? "", /^text\/html/)
        }
      }
      assert.isTrue(seen.has("html"))
      assert.strictEqual((yield* get(server, `/file_behaviours/${knownFile}_NoSuchSandbox`)).status, 404)
      assert.strictEqual((yield* get(server, `/files/${unknownFile}/behaviour_summary`)).status, 404)
    }))
})

describe("quota endpoints", () => {
  it.scoped("api_usage: per UTC day and endpoint group, not itself counted", () =>
    Effect.gen(function*() {
      let now = Date.UTC(2024, 4, 6, 23, 59)
      const server = yield* VtEmulator.make({ now: () => now })
      yield* get(server, `/files/${knownFile}`)
      yield* get(server, `/domains/${knownDomain}`)
      now = Date.UTC(2024, 4, 7, 0, 1)
      yield* get(server, `/files/${knownFile}`)
      yield* get(server, `/files/${unknownFile}`)
      yield* request(`${server.legacyUrl}/domain/report?apikey=${KEY}&domain=${knownDomain}`)
      const usage = parse(yield* get(server, `/users/${KEY}/api_usage?start_date=20240505&end_date=20240507`))
      assert.deepStrictEqual(usage, {
        data: {
          daily: {
            "2024-05-05": {},
            "2024-05-06": { file_report: 1, domain_report: 1 },
            "2024-05-07": { file_report: 2, v2: 1 }
          },
          total: { file_report: 3, domain_report: 1, v2: 1 }
        }
      })
      assert.strictEqual(
        errorCode(yield* get(server, `/users/${KEY}/api_usage?start_date=2024-05-05`)),
        "BadRequestError"
      )
      // At most 30 days, within the last 60, as VirusTotal.
      for (const query of ["start_date=20240401&end_date=20240501", "start_date=20240301&end_date=20240310"]) {
        assert.strictEqual(errorCode(yield* get(server, `/users/${KEY}/api_usage?${query}`)), "BadRequestError")
      }
      assert.strictEqual(
        (yield* get(server, `/users/${KEY}/api_usage?start_date=20240408&end_date=20240507`)).status,
        200
      )
      assert.strictEqual(server.requests.at(-1)?.path, "/api/v3/users/<redacted>/api_usage")
      assert.isFalse(JSON.stringify(server.requests).includes(KEY))
    }))
})

describe("error fault", () => {
  it.scoped("faults.error answers any code with its status, and is logged as fault \"error\"", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ faults: { error: { status: 424, code: "FailedDependencyError" } } })
      const answer = yield* get(server, `/domains/${knownDomain}`)
      assert.strictEqual(answer.status, 424)
      assert.strictEqual(errorCode(answer), "FailedDependencyError")
      assert.strictEqual(server.requests[0].fault, "error")
      const legacy = yield* request(`${server.legacyUrl}/domain/report?apikey=${KEY}&domain=${knownDomain}`)
      assert.strictEqual(legacy.status, 424)
      assert.strictEqual(legacy.text, "")
    }))
})

describe("legacy v2", () => {
  const v2 = (server: VtEmulator.Server, path: string, init?: RequestInit) =>
    request(`${server.legacyUrl}${path}`, init)

  it.scoped("file/report: 1 found with scans, 0 unknown; the key from the query or the form; 403 without", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ apiKeys: [KEY] })
      const found = yield* v2(server, `/file/report?apikey=${KEY}&resource=${knownFile.toUpperCase()}`)
      assert.strictEqual(found.status, 200)
      const report = parse(found)
      assert.strictEqual(report.response_code, 1)
      assert.strictEqual(report.sha256, knownFile)
      assert.strictEqual(report.resource, knownFile.toUpperCase())
      const v3 = JSON.parse(new TextDecoder().decode(VtEmulator.fileDocument(knownFile))).data.attributes
      assert.strictEqual(report.positives, v3.last_analysis_stats.malicious)
      assert.strictEqual(report.md5, v3.md5)
      const engine = Object.keys(report.scans)[0]
      assert.deepStrictEqual(Object.keys(report.scans[engine]).sort(), ["detected", "result", "update", "version"])
      const unknown = parse(yield* v2(server, `/file/report?apikey=${KEY}&resource=${unknownFile}`))
      assert.strictEqual(unknown.response_code, 0)
      const viaForm = yield* v2(server, "/file/report", {
        method: "POST",
        body: new URLSearchParams({ apikey: KEY, resource: knownFile })
      })
      assert.strictEqual(parse(viaForm).response_code, 1)
      const forbidden = yield* v2(server, `/file/report?resource=${knownFile}`)
      assert.strictEqual(forbidden.status, 403)
      assert.strictEqual(forbidden.text, "")
      assert.strictEqual((yield* v2(server, `/file/report?apikey=wrong&resource=${knownFile}`)).status, 403)
      assert.strictEqual(parse(yield* v2(server, `/file/report?apikey=${KEY}&resource=xyz`)).response_code, -1)
      assert.isFalse(JSON.stringify(server.requests).includes(KEY))
    }))

  it.scoped("file/scan queues (-2) until the analysis completes, then the report is found", () =>
    Effect.gen(function*() {
      let now = T0
      const server = yield* VtEmulator.make({ now: () => now })
      const content = new TextEncoder().encode(`v2 upload ${unknownFile}`)
      const sha = sha256(content)
      const scan = yield* v2(server, "/file/scan", {
        method: "POST",
        body: multipart({ apikey: KEY }, { name: "x.bin", content })
      })
      const queued = parse(scan)
      assert.strictEqual(queued.response_code, 1)
      assert.strictEqual(queued.sha256, sha)
      assert.strictEqual(queued.scan_id, `${sha}-${T0 / 1000}`)
      if (!VtEmulator.isKnown(sha)) {
        assert.strictEqual(parse(yield* v2(server, `/file/report?apikey=${KEY}&resource=${sha}`)).response_code, -2)
      }
      now += 60_000
      const report = parse(yield* v2(server, `/file/report?apikey=${KEY}&resource=${sha}`))
      assert.strictEqual(report.response_code, 1)
      assert.strictEqual(report.md5, createHash("md5").update(content).digest("hex"))
    }))

  it.scoped("url/report (scan=1 queues an unknown URL), url/scan, domain/report, ip-address/report", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ now: () => T0 })
      const found = parse(yield* v2(server, `/url/report?apikey=${KEY}&resource=${encodeURIComponent(knownUrl)}`))
      assert.strictEqual(found.response_code, 1)
      assert.strictEqual(found.url, knownUrl)
      assert.isObject(found.scans)
      const unknown = `/url/report?apikey=${KEY}&resource=${encodeURIComponent(unknownUrl)}`
      assert.strictEqual(parse(yield* v2(server, unknown)).response_code, 0)
      assert.strictEqual(parse(yield* v2(server, `${unknown}&scan=1`)).response_code, -2)
      assert.strictEqual(parse(yield* v2(server, unknown)).response_code, -2)
      const scanned = parse(
        yield* v2(server, "/url/scan", { method: "POST", body: new URLSearchParams({ apikey: KEY, url: knownUrl }) })
      )
      assert.strictEqual(scanned.response_code, 1)
      assert.strictEqual(scanned.url, knownUrl)
      const domain = parse(yield* v2(server, `/domain/report?apikey=${KEY}&domain=${knownDomain}`))
      assert.strictEqual(domain.response_code, 1)
      assert.isArray(domain.resolutions)
      assert.strictEqual(
        parse(yield* v2(server, `/domain/report?apikey=${KEY}&domain=${unknownDomain}`)).response_code,
        0
      )
      const ip = parse(yield* v2(server, `/ip-address/report?apikey=${KEY}&ip=${knownIp}`))
      assert.strictEqual(ip.response_code, 1)
      assert.strictEqual(parse(yield* v2(server, `/ip-address/report?apikey=${KEY}&ip=${unknownIp}`)).response_code, 0)
      assert.strictEqual((yield* v2(server, `/nothing?apikey=${KEY}`)).status, 404)
    }))

  it.scoped("over the quota: 204 with an empty body, shared with v3", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ perMinute: 2, now: () => T0 })
      assert.strictEqual((yield* get(server, `/files/${knownFile}`)).status, 200)
      assert.strictEqual((yield* v2(server, `/file/report?apikey=${KEY}&resource=${knownFile}`)).status, 200)
      const refused = yield* v2(server, `/file/report?apikey=${KEY}&resource=${knownFile}`)
      assert.strictEqual(refused.status, 204)
      assert.strictEqual(refused.text, "")
      assert.strictEqual((yield* get(server, `/files/${knownFile}`)).status, 429)
    }))
})

describe("reset", () => {
  it.scoped("reset() forgets submissions, analyses, votes and usage", () =>
    Effect.gen(function*() {
      const server = yield* VtEmulator.make({ now: () => T0 })
      const analysis = parse(yield* post(server, `/files/${knownFile}/analyse`, "")).data.id
      const vote = { data: { type: "vote", attributes: { verdict: "harmless" } } }
      assert.strictEqual((yield* postJson(server, `/files/${knownFile}/votes`, vote)).status, 200)
      server.reset()
      assert.deepStrictEqual(server.requests, [])
      assert.strictEqual((yield* get(server, `/analyses/${analysis}`)).status, 404)
      assert.strictEqual((yield* postJson(server, `/files/${knownFile}/votes`, vote)).status, 200)
    }))
})

describe("multipart reader", () => {
  const body = (boundary: string, parts: ReadonlyArray<string | Uint8Array>) =>
    Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p.replace(/BOUNDARY/g, boundary)) : p)))

  const read = (bytes: Buffer, chunkSize: number, boundary: string, max = 1 << 20) =>
    Effect.promise(() => {
      const chunks: Array<Buffer> = []
      for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize))
      const stream = Readable.from(chunks) as unknown as Http.IncomingMessage
      return readMultipart(stream, boundary, max).then((form) => ({ form, error: undefined }), (error: Error) => ({
        form: undefined,
        error
      }))
    })

  it.effect("parses fields and hashes files whatever the chunking", () =>
    Effect.gen(function*() {
      const boundary = "----b0undary"
      // Content that looks like a boundary without being one, and CRLFs near the real boundary.
      const content = Buffer.from("\r\n------b0undar\r\n--\r\n----b0undaryX not yet\r\n")
      const bytes = body(boundary, [
        "preamble\r\n--BOUNDARY\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\ninfected\r\n",
        "--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.txt\"\r\n",
        "Content-Type: application/octet-stream\r\n\r\n",
        content,
        "\r\n--BOUNDARY--\r\nepilogue"
      ])
      for (const chunkSize of [1, 2, 3, 7, 16, 64, bytes.length]) {
        const { error, form } = yield* read(bytes, chunkSize, boundary)
        assert.isUndefined(error, `chunk ${chunkSize}`)
        assert.strictEqual(form?.fields.get("password"), "infected")
        assert.deepStrictEqual(form?.files, [{
          field: "file",
          filename: "a b.txt",
          size: content.length,
          sha256: sha256(content),
          sha1: createHash("sha1").update(content).digest("hex"),
          md5: createHash("md5").update(content).digest("hex")
        }])
      }
    }))

  it.effect("refuses a body without its closing boundary, and one over the limit", () =>
    Effect.gen(function*() {
      const cut = body("b", ["--BOUNDARY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nabc"])
      assert.match((yield* read(cut, 4, "b")).error?.message ?? "", /closing boundary/)
      const big = body("b", [
        "--BOUNDARY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n",
        new Uint8Array(5000),
        "\r\n--BOUNDARY--\r\n"
      ])
      assert.strictEqual((yield* read(big, 512, "b", 1000)).error?.name, "Error")
      assert.match((yield* read(big, 512, "b", 1000)).error?.message ?? "", /bytes/)
    }))
})
