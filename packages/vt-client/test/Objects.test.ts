// URL, domain and IP address reports, object references and the typed accessors, against the emulator.
import { assert, describe, it } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Domains from "../src/Domains.js"
import * as Files from "../src/Files.js"
import * as IpAddresses from "../src/IpAddresses.js"
import * as Relationships from "../src/Relationships.js"
import * as Urls from "../src/Urls.js"
import * as VtClient from "../src/VtClient.js"
import * as VtError from "../src/VtError.js"
import * as VtId from "../src/VtId.js"
import * as VtObject from "../src/VtObject.js"
import {
  decodeJson,
  knownDomain,
  knownFile,
  knownIp,
  knownUrl,
  unknownDomain,
  unknownIp,
  unknownUrl,
  withEmulator
} from "./emulator.js"

describe("object reports", () => {
  it.scoped("URLs: by URL (unpadded base64url id) or by SHA-256 id, the exact bytes served", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const byUrl = yield* Urls.get(` ${knownUrl} `)
        assert.deepStrictEqual(byUrl.raw, VtEmulator.urlDocument(knownUrl))
        assert.strictEqual(byUrl.data.type, "url")
        assert.strictEqual(byUrl.data.id, VtEmulator.urlObjectId(knownUrl))
        assert.strictEqual(byUrl.data.attributes.url, knownUrl)
        const bySha = yield* Urls.get(VtEmulator.urlObjectId(knownUrl)!.toUpperCase())
        assert.strictEqual(bySha.data.id, byUrl.data.id)
        assert.deepStrictEqual(server.requests.map((r) => r.path), [
          `/api/v3/urls/${Urls.id(knownUrl)}`,
          `/api/v3/urls/${VtEmulator.urlObjectId(knownUrl)}`
        ])
        assert.strictEqual(Urls.id("http://www.virustotal.com"), "aHR0cDovL3d3dy52aXJ1c3RvdGFsLmNvbQ")
        const missing = yield* Effect.flip(Urls.get(unknownUrl))
        assert.instanceOf(missing, VtError.NotFoundError)
        const invalid = yield* Effect.flip(Urls.get("not a url"))
        assert.instanceOf(invalid, VtError.InvalidIdError)
        assert.strictEqual((invalid as VtError.InvalidIdError).kind, "url")
        assert.strictEqual(server.requests.length, 3)
      })))

  it.scoped("relationships: one request carries the first page of each; the object still checked; cursors go on", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const md5: string = JSON.parse(new TextDecoder().decode(VtEmulator.fileDocument(knownFile))).data.attributes.md5
        const file = yield* Files.get(md5, { relationships: ["contacted_domains", "comments", "contacted_domains"] })
        assert.strictEqual(server.requests.length, 1)
        const relationships = file.data.relationships as Record<
          string,
          { data: Array<{ type: string; id: string }>; meta: { cursor?: string; count: number } }
        >
        assert.deepStrictEqual(Object.keys(relationships), ["contacted_domains", "comments"])
        const first = relationships.contacted_domains
        assert.strictEqual(first.data.length, 10)
        // The rest of the relationship, from the first page's cursor: every page through the same client.
        // (the emulator's MD5 aliases are files of their own: the report names its SHA-256)
        const rest = yield* Relationships.pages(VtObject.file(file.data.id), "contacted_domains", {
          cursor: first.meta.cursor,
          descriptorsOnly: true,
          pageSize: 40
        }).pipe(Stream.runCollect)
        const ids = [...first.data, ...Chunk.toReadonlyArray(rest).flatMap((page) => page.data as typeof first.data)]
          .map((d) => d.id)
        assert.strictEqual(ids.length, first.meta.count)
        assert.strictEqual(new Set(ids).size, ids.length)
        assert.strictEqual(server.requests.length, 2)
        for (
          const [get, id] of [[Urls.get, knownUrl], [Domains.get, knownDomain], [IpAddresses.get, knownIp]] as const
        ) {
          const document = yield* get(id, { relationships: ["comments"] })
          assert.isArray((document.data.relationships as { comments: { data: unknown } }).comments.data)
        }
        // A name that could not be one is refused before anything is sent; the server's 400 for an unknown one.
        const invalid = yield* Effect.flip(Files.get(knownFile, { relationships: ["../x"] }))
        assert.instanceOf(invalid, VtError.InvalidIdError)
        assert.strictEqual((invalid as VtError.InvalidIdError).kind, "relationship")
        assert.strictEqual(server.requests.length, 5)
        const unknown = yield* Effect.flip(Files.get(knownFile, { relationships: ["nonsense"] }))
        assert.strictEqual(unknown._tag, "InvalidArgumentError")
        // Without relationships the request and the bytes are as before.
        assert.deepStrictEqual(
          (yield* Files.get(knownFile, { relationships: [] })).raw,
          VtEmulator.fileDocument(knownFile)
        )
      })))

  it.scoped("domains and IP addresses: normalised, then fetched; unknown ones are NotFoundError", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const domain = yield* Domains.get(`${knownDomain.toUpperCase()}.`)
        assert.deepStrictEqual(domain.raw, VtEmulator.domainDocument(knownDomain))
        assert.strictEqual(domain.data.type, "domain")
        const ip = yield* IpAddresses.get(` ${knownIp}`)
        assert.deepStrictEqual(ip.raw, VtEmulator.ipAddressDocument(knownIp))
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Domains.get(unknownDomain))))
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(IpAddresses.get(unknownIp))))
        assert.instanceOf(yield* Effect.flip(Domains.get("no_dots")), VtError.InvalidIdError)
        assert.instanceOf(yield* Effect.flip(IpAddresses.get("1.2.3")), VtError.InvalidIdError)
        // The service offers the same calls directly.
        const vt = yield* VtClient.VtClient
        assert.deepStrictEqual((yield* vt.getDomain(knownDomain)).raw, domain.raw)
        assert.deepStrictEqual((yield* vt.getIpAddress(knownIp)).raw, ip.raw)
        assert.deepStrictEqual((yield* vt.getUrl(knownUrl)).raw, VtEmulator.urlDocument(knownUrl))
        assert.deepStrictEqual(server.requests.map((r) => r.status), [200, 200, 404, 404, 200, 200, 200])
      })))

  it.scoped("an IPv6 address is sent in canonical form, its colons unencoded", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        yield* Effect.either(IpAddresses.get("2001:DB8:0:0::1"))
        assert.strictEqual(server.requests[0].path, "/api/v3/ip_addresses/2001:db8::1")
      })))
})

describe("decoding keeps everything", () => {
  it.scoped("typed accessors read a file report; unknown attributes survive a decode", () =>
    withEmulator({}, () =>
      Effect.gen(function*() {
        const document = yield* Files.get(knownFile)
        const object = document.data
        const received = decodeJson(document.raw) as { data: { attributes: Record<string, unknown> } }
        const stats = Option.getOrThrow(VtObject.lastAnalysisStats(object))
        const results = Option.getOrThrow(VtObject.lastAnalysisResults(object))
        const malicious = Object.values(results).filter((r) => r.category === "malicious").length
        assert.strictEqual(stats.malicious, malicious)
        assert.strictEqual(
          Object.values(stats).reduce((a, b) => a + b, 0),
          Object.keys(results).length
        )
        const engine = Object.values(results)[0]
        assert.isString(engine.engine_name)
        assert.isTrue(engine.result === null || typeof engine.result === "string")
        assert.include(VtObject.names(object), Option.getOrThrow(VtObject.meaningfulName(object)))
        const hashes = VtObject.hashes(object)
        assert.deepStrictEqual(Option.getOrThrow(hashes.sha256), knownFile)
        assert.match(Option.getOrThrow(hashes.md5), /^[0-9a-f]{32}$/)
        assert.match(Option.getOrThrow(hashes.sha1), /^[0-9a-f]{40}$/)
        const analysed = Option.getOrThrow(VtObject.lastAnalysisDate(object))
        assert.strictEqual(analysed.getTime(), (received.data.attributes.last_analysis_date as number) * 1000)
        assert.isTrue(Option.getOrThrow(VtObject.firstSubmissionDate(object)) <= analysed)
        assert.isNumber(Option.getOrThrow(VtObject.reputation(object)))
        assert.isNumber(Option.getOrThrow(VtObject.size(object)))
        assert.isNumber(Option.getOrThrow(VtObject.totalVotes(object)).malicious)
        assert.isTrue(VtObject.tags(object).length > 0)
        assert.isTrue(Option.isNone(VtObject.date(object, "no_such_date")))

        // The whole attribute set, typed where named, everything else as received.
        const attributes = Either.getOrThrow(VtObject.decodeAttributes(VtObject.FileAttributes)(object))
        assert.strictEqual(attributes.sha256, knownFile)
        assert.deepStrictEqual(Object.keys(attributes).sort(), Object.keys(received.data.attributes).sort())
        assert.deepStrictEqual((attributes as Record<string, unknown>).trid, received.data.attributes.trid)
        // Written back: the envelope schema keeps members it does not name.
        const envelope = Schema.decodeUnknownSync(VtObject.Envelope, VtObject.parseOptions)(
          { ...received.data, future_member: { x: 1 } }
        )
        assert.deepStrictEqual(
          Schema.encodeSync(VtObject.Envelope, VtObject.parseOptions)(envelope),
          {
            ...received.data,
            future_member: { x: 1 }
          } as unknown as typeof envelope
        )
      })))

  it.scoped("URL stats lack some counts: they read as 0, and extra counts are kept", () =>
    withEmulator({}, () =>
      Effect.gen(function*() {
        const document = yield* Urls.get(knownUrl)
        const stats = Option.getOrThrow(VtObject.lastAnalysisStats(document.data))
        assert.strictEqual(stats["type-unsupported"], 0)
        const odd = { ...document.data, attributes: { last_analysis_stats: { malicious: 2, brand_new: 7 } } }
        assert.deepStrictEqual(Option.getOrThrow(VtObject.lastAnalysisStats(odd)), {
          harmless: 0,
          malicious: 2,
          suspicious: 0,
          undetected: 0,
          timeout: 0,
          "confirmed-timeout": 0,
          failure: 0,
          "type-unsupported": 0,
          brand_new: 7
        } as VtObject.AnalysisStats)
        const attributes = Either.getOrThrow(VtObject.decodeAttributes(VtObject.UrlAttributes)(document.data))
        assert.strictEqual(attributes.url, knownUrl)
        assert.isTrue(
          Either.isLeft(VtObject.decodeAttributes(VtObject.UrlAttributes)({ ...document.data, attributes: { url: 3 } }))
        )
      })))

  it.scoped("domain and IP attribute schemas", () =>
    withEmulator({}, () =>
      Effect.gen(function*() {
        const domain = Either.getOrThrow(
          VtObject.decodeAttributes(VtObject.DomainAttributes)((yield* Domains.get(knownDomain)).data)
        )
        assert.isTrue((domain.last_dns_records ?? []).some((r) => r.type === "A"))
        const ip = Either.getOrThrow(
          VtObject.decodeAttributes(VtObject.IpAddressAttributes)((yield* IpAddresses.get(knownIp)).data)
        )
        assert.isNumber(ip.asn)
      })))
})

describe("VtId.urlIdentifier", () => {
  it("keeps a URL object id, encodes a URL, refuses anything else", () => {
    const sha = "A".repeat(64)
    assert.deepStrictEqual(VtId.urlIdentifier(sha), Either.right("a".repeat(64)))
    assert.deepStrictEqual(
      VtId.urlIdentifier(" http://www.virustotal.com "),
      Either.right("aHR0cDovL3d3dy52aXJ1c3RvdGFsLmNvbQ")
    )
    assert.isTrue(Either.isLeft(VtId.urlIdentifier("www.example.com")))
  })
})
