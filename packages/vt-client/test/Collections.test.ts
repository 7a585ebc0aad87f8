// Collections as lazy Streams (relationships, comments, votes, behaviours), against the emulator.
import { assert, describe, it } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Behaviour from "../src/Behaviour.js"
import * as Collection from "../src/Collection.js"
import * as Comments from "../src/Comments.js"
import * as Relationships from "../src/Relationships.js"
import * as Votes from "../src/Votes.js"
import * as VtError from "../src/VtError.js"
import * as VtObject from "../src/VtObject.js"
import {
  decodeJson,
  knownDomain,
  knownFile,
  knownIp,
  knownUrl,
  unknownDomain,
  unknownFile,
  withEmulator
} from "./emulator.js"

const T0 = Date.UTC(2024, 4, 7, 12)

describe("relationships", () => {
  for (const style of ["both", "cursor", "links"] as const) {
    it.scoped(`related objects and descriptors across pages (pagination: ${style})`, () =>
      withEmulator({ pagination: style }, (server) =>
        Effect.gen(function*() {
          const total = VtEmulator.relationshipCount("files", knownFile, "contacted_domains")
          const limit = 4
          const descriptors = Chunk.toReadonlyArray(
            yield* Stream.runCollect(
              Relationships.descriptors(VtObject.file(knownFile), "contacted_domains", { pageSize: limit })
            )
          )
          assert.strictEqual(descriptors.length, total)
          assert.isAtLeast(Math.ceil(total / limit), 3)
          assert.strictEqual(server.requests.length, Math.ceil(total / limit))
          assert.isTrue(descriptors.every((d) => d.type === "domain"))
          assert.strictEqual(new Set(descriptors.map((d) => d.id)).size, total)
          const paths = server.requests.map((r) => r.path)
          assert.isTrue(paths.every((p) => p === `/api/v3/files/${knownFile}/relationships/contacted_domains`))
          server.clearLog()
          const objects = Chunk.toReadonlyArray(
            yield* Stream.runCollect(
              Relationships.objects(VtObject.file(knownFile), "contacted_domains", { pageSize: 10 })
            )
          )
          assert.deepStrictEqual(objects.map((o) => o.id), descriptors.map((d) => d.id))
          assert.strictEqual(server.requests.length, Math.ceil(total / 10))
          // Each related object is the document the emulator serves for it, attribute for attribute.
          const first = objects[0]
          assert.deepStrictEqual(first, (decodeJson(VtEmulator.domainDocument(first.id)) as { data: unknown }).data)
          assert.isTrue(Option.isSome(VtObject.lastAnalysisStats(first)))
        })))
  }

  it.scoped("the stream is lazy: taking 5 items at pages of 2 requests 3 pages", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const taken = yield* Stream.runCollect(
          Relationships.objects(VtObject.domain(knownDomain), "subdomains", { pageSize: 2 }).pipe(Stream.take(5))
        )
        assert.strictEqual(Chunk.size(taken), 5)
        assert.strictEqual(server.requests.length, 3)
      })))

  it.scoped("limit caps the total of items, as vt-py and vt-cli do: limit 2 is one request for 2 items", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const limited = yield* Stream.runCollect(
          Relationships.descriptors(VtObject.file(knownFile), "contacted_domains", { limit: 2 })
        )
        assert.strictEqual(Chunk.size(limited), 2)
        assert.strictEqual(server.requests.length, 1)
        server.clearLog()
        // More than a page holds: pages of at most 40 until the limit is reached, never past it.
        const total = VtEmulator.relationshipCount("files", knownFile, "contacted_domains")
        const some = yield* Stream.runCollect(
          Relationships.descriptors(VtObject.file(knownFile), "contacted_domains", { limit: total - 1, pageSize: 4 })
        )
        assert.strictEqual(Chunk.size(some), total - 1)
        assert.strictEqual(server.requests.length, Math.ceil((total - 1) / 4))
      })))

  it.scoped("every kind of object; to-one relationships; resolutions; pages as received", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        for (
          const [ref, name, type] of [
            [VtObject.url(knownUrl), "downloaded_files", "file"],
            [VtObject.domain(knownDomain), "resolutions", "resolution"],
            [VtObject.ipAddress(knownIp), "urls", "url"],
            [VtObject.file(knownFile), "contacted_ips", "ip_address"]
          ] as const
        ) {
          const items = yield* Stream.runCollect(Relationships.objects(ref, name, { pageSize: 40 }))
          assert.isAtLeast(Chunk.size(items), 10)
          assert.isTrue(Chunk.every(items, (o) => o.type === type), `${name}`)
        }
        const single = yield* Stream.runCollect(
          Relationships.objects(VtObject.url(knownUrl), "last_serving_ip_address")
        )
        assert.strictEqual(Chunk.size(single), 1)
        assert.strictEqual(Chunk.unsafeHead(single).type, "ip_address")
        server.clearLog()
        const pages = Chunk.toReadonlyArray(
          yield* Stream.runCollect(Relationships.pages(VtObject.file(knownFile), "similar_files", {
            pageSize: 10,
            descriptorsOnly: true
          }))
        )
        const total = VtEmulator.relationshipCount("files", knownFile, "similar_files")
        assert.strictEqual(pages.length, Math.ceil(total / 10))
        assert.strictEqual(Option.getOrThrow(pages[0].count), total)
        assert.isTrue(Option.isSome(pages[0].cursor))
        assert.isTrue(Option.isNone(pages.at(-1)!.cursor) && Option.isNone(pages.at(-1)!.next))
        assert.strictEqual(pages[0].data.length, 10)
        assert.deepStrictEqual((decodeJson(pages[0].raw) as { data: unknown }).data, pages[0].data)
      })))

  it.scoped("errors: unknown object, invalid relationship name, malformed id", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const notFound = yield* Effect.flip(
          Stream.runCollect(Relationships.objects(VtObject.file(unknownFile), "dropped_files"))
        )
        assert.isTrue(VtError.isNotFound(notFound))
        const invalid = yield* Effect.flip(Stream.runCollect(Relationships.objects(VtObject.file(knownFile), "nope")))
        assert.instanceOf(invalid, VtError.InvalidArgumentError)
        const refused = yield* Effect.flip(
          Stream.runCollect(Relationships.objects(VtObject.file(knownFile), "../../users"))
        )
        assert.instanceOf(refused, VtError.InvalidIdError)
        const badId = yield* Effect.flip(Stream.runCollect(Relationships.objects(VtObject.domain("x"), "subdomains")))
        assert.instanceOf(badId, VtError.InvalidIdError)
        assert.strictEqual(server.requests.length, 2)
      })))

  it.scoped("Collection.pages resumes from a cursor and stops at maxPages", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const path = `/domains/${knownDomain}/subdomains`
        const [first] = Chunk.toReadonlyArray(
          yield* Stream.runCollect(Collection.pages(path, { pageSize: 3, maxPages: 1 }))
        )
        assert.strictEqual(server.requests.length, 1)
        const rest = Chunk.toReadonlyArray(
          yield* Stream.runCollect(
            Collection.objects(path, { pageSize: 3, cursor: Option.getOrThrow(first.cursor), maxPages: 2 })
          )
        )
        assert.strictEqual(rest.length, 6)
        const all = Chunk.toReadonlyArray(yield* Stream.runCollect(Collection.objects(path, { pageSize: 3 })))
        assert.deepStrictEqual(rest.map((o) => o.id), all.slice(3, 9).map((o) => o.id))
      })))
})

describe("comments", () => {
  it.scoped("list follows cursors across pages; add posts and the comment comes first", () =>
    withEmulator({ now: () => T0 }, (server) =>
      Effect.gen(function*() {
        for (
          const ref of [
            VtObject.file(knownFile),
            VtObject.url(knownUrl),
            VtObject.domain(knownDomain),
            VtObject.ipAddress(knownIp)
          ]
        ) {
          const before = Chunk.toReadonlyArray(yield* Stream.runCollect(Comments.list(ref, { pageSize: 2 })))
          assert.isAtLeast(before.length, 5)
          assert.isTrue(before.every((c) => typeof c.text === "string" && Option.isSome(c.date)))
          const added = yield* Comments.add(ref, "Seen in #phishing mails, dropper #AgentTesla")
          assert.deepStrictEqual(added.tags, ["phishing", "agenttesla"])
          assert.strictEqual(Option.getOrThrow(added.date).getTime(), T0)
          const after = Chunk.toReadonlyArray(yield* Stream.runCollect(Comments.list(ref, { pageSize: 40 })))
          assert.strictEqual(after.length, before.length + 1)
          assert.deepStrictEqual(after[0].data, added.data)
        }
        assert.isAtLeast(server.requests.filter((r) => r.method === "GET").length, 4 * 4)
        server.clearLog()
        // limit is how many comments, not the page size: 2 comments are one request, not a walk of them all.
        const two = yield* Stream.runCollect(Comments.list(VtObject.file(knownFile), { limit: 2 }))
        assert.strictEqual(Chunk.size(two), 2)
        assert.strictEqual(server.requests.length, 1)
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Comments.add(VtObject.domain(unknownDomain), "x"))))
        const empty = yield* Effect.flip(Comments.add(VtObject.domain(knownDomain), ""))
        assert.instanceOf(empty, VtError.BadRequestError)
      })))
})

describe("votes", () => {
  it.scoped("a vote, then a second one by the same key: AlreadyExistsError (409)", () =>
    withEmulator({ now: () => T0 }, () =>
      Effect.gen(function*() {
        for (
          const ref of [
            VtObject.file(knownFile),
            VtObject.url(knownUrl),
            VtObject.domain(knownDomain),
            VtObject.ipAddress(knownIp)
          ]
        ) {
          const vote = yield* Votes.add(ref, "malicious")
          assert.strictEqual(vote.verdict, "malicious")
          assert.strictEqual(Option.getOrThrow(vote.date).getTime(), T0)
          const again = yield* Effect.flip(Votes.add(ref, "harmless"))
          assert.instanceOf(again, VtError.AlreadyExistsError)
          assert.strictEqual((again as VtError.AlreadyExistsError).status, 409)
          const listed = Chunk.toReadonlyArray(yield* Stream.runCollect(Votes.list(ref, { pageSize: 3 })))
          assert.deepStrictEqual(listed[0].data, vote.data)
          assert.isTrue(listed.every((v) => v.verdict === "harmless" || v.verdict === "malicious"))
        }
      })))
})

describe("behaviour", () => {
  it.scoped("summary, MITRE trees, sandbox reports and their artefacts as bytes", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const summary = yield* Behaviour.summary(knownFile)
        assert.isArray(summary.data.mitre_attack_techniques)
        assert.isArray(summary.data.processes_tree)
        assert.isDefined((decodeJson(summary.raw) as { data: Record<string, unknown> }).data.signature_matches)
        assert.isDefined((summary.data as Record<string, unknown>).signature_matches)
        const trees = yield* Behaviour.mitreTrees(knownFile)
        assert.isAbove(trees.data.Zenbox.tactics.length, 0)
        assert.isString(trees.data.Zenbox.tactics[0].techniques[0].id)
        const sandboxes = Chunk.toReadonlyArray(yield* Stream.runCollect(Behaviour.list(knownFile)))
        assert.isAtLeast(sandboxes.length, 3)
        let artefacts = 0
        for (const sandbox of sandboxes) {
          assert.strictEqual(sandbox.type, "file_behaviour")
          const report = yield* Behaviour.get(sandbox.id)
          assert.strictEqual(report.data.id, sandbox.id)
          if (sandbox.attributes.has_pcap === true) {
            const pcap = yield* Behaviour.pcap(sandbox.id)
            assert.strictEqual(Buffer.from(pcap.raw).readUInt32LE(0), 0xa1b2c3d4)
            assert.strictEqual(pcap.headers["content-type"], "application/vnd.tcpdump.pcap")
            artefacts++
          } else {
            assert.isTrue(VtError.isNotFound(yield* Effect.flip(Behaviour.pcap(sandbox.id))))
          }
          if (sandbox.attributes.has_html_report === true) {
            assert.include(new TextDecoder().decode((yield* Behaviour.html(sandbox.id)).raw), "<html>")
            artefacts++
          }
          if (sandbox.attributes.has_evtx === true) {
            assert.strictEqual(
              new TextDecoder().decode((yield* Behaviour.evtx(sandbox.id)).raw.subarray(0, 7)),
              "ElfFile"
            )
            artefacts++
          }
          if (sandbox.attributes.has_memdump === true) {
            assert.isAbove((yield* Behaviour.memdump(sandbox.id)).raw.length, 1000)
            artefacts++
          }
        }
        assert.isAbove(artefacts, 0)
        assert.isTrue(
          server.requests.filter((r) => r.path.includes("/file_behaviours/")).every((r) => r.id === knownFile)
        )
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Behaviour.summary(unknownFile))))
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Behaviour.get(`${knownFile}_NoSuchSandbox`))))
      })))
})
