// Uploads (streamed, through /files or a one-time upload URL), rescans and analyses, against the emulator.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { VtEmulator } from "@vt-harvest/vt-emulator"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Analysis from "../src/Analysis.js"
import * as Files from "../src/Files.js"
import * as Multipart from "../src/internal/multipart.js"
import * as Urls from "../src/Urls.js"
import * as VtClient from "../src/VtClient.js"
import * as VtError from "../src/VtError.js"
import {
  clientLayer,
  knownFile,
  knownUrl,
  realSleep,
  settle,
  sha256,
  unknownFile,
  unknownUrl,
  withEmulator
} from "./emulator.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vt-client-upload-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const writeFile = (dir: string, name: string, content: string | Uint8Array) => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, content)
  return file
}

/** Writes `size` pseudo-random bytes in 1 MiB chunks (never the whole file in memory); answers its hashes. */
const writeLargeFile = (file: string, size: number) =>
  Effect.promise(() =>
    new Promise<{ sha256: string; md5: string }>((resolve, reject) => {
      const out = fs.createWriteStream(file)
      const h256 = createHash("sha256")
      const md5 = createHash("md5")
      let written = 0
      let seed = 1
      const next = () => {
        while (written < size) {
          const chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, size - written))
          for (let i = 0; i < chunk.length; i += 4) {
            seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
            chunk.writeUInt32LE(seed, i)
          }
          h256.update(chunk)
          md5.update(chunk)
          written += chunk.length
          if (!out.write(chunk)) return void out.once("drain", next)
        }
        out.end(() => resolve({ sha256: h256.digest("hex"), md5: md5.digest("hex") }))
      }
      out.once("error", reject)
      next()
    })
  )

const T0 = Date.UTC(2024, 4, 7, 12)

describe("uploads", () => {
  it.scoped("a small file goes to POST /files as multipart field \"file\", hashed as sent", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const content = "Hello, VirusTotal!\r\n--boundary-lookalike--\r\n"
      const file = writeFile(dir, "hello \"quoted\".txt", content)
      yield* withEmulator({ now: () => T0 }, (server) =>
        Effect.gen(function*() {
          const descriptor = yield* Files.upload(file, { password: "infected" })
          assert.strictEqual(
            Buffer.from(descriptor.id, "base64url").toString(),
            `${createHash("md5").update(content).digest("hex")}:${T0 / 1000}`
          )
          assert.deepStrictEqual(server.requests.map((r) => [r.method, r.path, r.status]), [
            ["POST", "/api/v3/files", 200]
          ])
          const analysis = yield* Analysis.get(descriptor.id)
          assert.strictEqual(analysis.status, "queued")
          assert.strictEqual(Option.getOrThrow(analysis.fileInfo).sha256, sha256(content))
          assert.strictEqual(Option.getOrThrow(analysis.fileInfo).size, Buffer.byteLength(content))
        }))
    }))

  it.scoped("viaUploadUrl: GET /files/upload_url, then POST to that URL; a used URL is refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = writeFile(dir, "sample.bin", new Uint8Array(100_000).fill(42))
      yield* withEmulator({}, (server) =>
        Effect.gen(function*() {
          const descriptor = yield* Files.upload(file, { viaUploadUrl: true })
          assert.isString(descriptor.id)
          assert.deepStrictEqual(server.requests.map((r) => [r.method, r.path.replace(/upload\/.+$/, "upload/…")]), [
            ["GET", "/api/v3/files/upload_url"],
            ["POST", "/_ah/upload/…"]
          ])
          const url = yield* Files.uploadUrl()
          assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/_ah\/upload\//)
          const stream = Stream.make(new Uint8Array([1, 2, 3]))
          const first = yield* Files.uploadStream({ stream, size: 3, filename: "x" }, { viaUploadUrl: true })
          assert.isString(first.id)
          // The same one-time URL twice, through the core: the second use is refused.
          const once = yield* Files.uploadUrl()
          const vt = yield* VtClient.VtClient
          const post = () =>
            vt.execute(
              HttpClientRequest.post(once).pipe(HttpClientRequest.setBody(Multipart.body([], {
                name: "file",
                filename: "abc.txt",
                size: 3,
                stream: Stream.make(new TextEncoder().encode("abc"))
              })))
            )
          assert.strictEqual((yield* post()).status, 200)
          const reused = yield* Effect.flip(post())
          assert.instanceOf(reused, VtError.BadRequestError)
          assert.include(reused.message, "already used")
        }))
    }))

  it.scoped("uploadUrl: a URL the caller fetched is used as is, whatever the size", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = writeFile(dir, "small.txt", "a small file, sent to an upload URL fetched beforehand")
      yield* withEmulator({}, (server) =>
        Effect.gen(function*() {
          const url = yield* Files.uploadUrl()
          const descriptor = yield* Files.upload(file, { uploadUrl: url })
          assert.isString(descriptor.id)
          assert.deepStrictEqual(server.requests.map((r) => [r.method, r.path.replace(/upload\/.+$/, "upload/…")]), [
            ["GET", "/api/v3/files/upload_url"],
            ["POST", "/_ah/upload/…"]
          ])
          // One-time: a second upload to the same URL is refused, not silently sent elsewhere.
          const reused = yield* Effect.flip(Files.upload(file, { uploadUrl: url }))
          assert.instanceOf(reused, VtError.BadRequestError)
          assert.strictEqual(server.requests.length, 3)
        }))
    }))

  it.scoped("a file over the direct limit goes through an upload URL; one over the URL limit is refused (413)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = writeFile(dir, "big.bin", new Uint8Array(Files.maxDirectUploadBytes + 1))
      yield* withEmulator({ maxLargeUploadBytes: Files.maxDirectUploadBytes + 10 }, (server) =>
        Effect.gen(function*() {
          yield* Files.upload(file)
          assert.deepStrictEqual(server.requests.map((r) => r.status), [200, 200])
          assert.strictEqual(server.requests[1].method, "POST")
          fs.appendFileSync(file, new Uint8Array(100))
          const error = yield* Effect.flip(Files.upload(file))
          assert.instanceOf(error, VtError.BadRequestError)
          assert.strictEqual((error as VtError.BadRequestError).status, 413)
        }))
    }))

  it.scopedLive("128 MiB through an upload URL, streamed from disk: memory stays flat", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "large.bin")
      // Large beside what the process and the emulator in it hold meanwhile whatever the size (socket and pool
      // buffers, pages the allocator keeps: from 0.1 to 38 MiB measured for 40, 96 and 160 MiB on a busy 2-core
      // machine), so that holding the file, or a copy of it, cannot pass for streaming it.
      const size = 128 * 1024 * 1024
      const expected = yield* writeLargeFile(file, size)
      // Warm-up large enough for the collector to size its young generation for a sustained upload.
      const warm = path.join(dir, "warm.bin")
      yield* writeLargeFile(warm, 8 * 1024 * 1024)
      const server = yield* VtEmulator.make({ apiKeys: ["k"] })
      const measured = yield* Effect.gen(function*() {
        // Warm the whole path (JIT, sockets, pools, heap sizing) so that only the upload is measured.
        yield* Files.upload(warm, { viaUploadUrl: true })
        yield* Files.upload(warm, { viaUploadUrl: true })
        yield* realSleep(50)
        // Collected before each reading (vitest.config.ts gives --expose-gc): what is measured is the memory the
        // upload keeps, not how far the collector happens to lag behind on a busy machine.
        const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
        gc()
        const before = process.memoryUsage().rss
        let peak = before
        const timer = setInterval(() => {
          gc()
          peak = Math.max(peak, process.memoryUsage().rss)
        }, 20)
        const descriptor = yield* Files.upload(file).pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
        peak = Math.max(peak, process.memoryUsage().rss)
        return { descriptor, growth: peak - before }
      }).pipe(Effect.provide(clientLayer(server, "k")))
      console.log(`128 MiB upload: rss growth ${(measured.growth / 1024 / 1024).toFixed(1)} MiB`)
      assert.isBelow(measured.growth, size / 2)
      assert.strictEqual(server.requests.at(-2)?.path, "/api/v3/files/upload_url")
      const analysis = yield* Analysis.get(measured.descriptor.id).pipe(Effect.provide(clientLayer(server, "k")))
      assert.deepStrictEqual(Option.getOrThrow(analysis.fileInfo), {
        sha256: expected.sha256,
        sha1: Option.getOrThrow(analysis.fileInfo).sha1,
        md5: expected.md5,
        size
      })
    }), 120_000)

  it.scoped("also with the node:http client", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = writeFile(dir, "n.bin", new Uint8Array(300_000).fill(3))
      const server = yield* VtEmulator.make()
      const descriptor = yield* Files.upload(file, { viaUploadUrl: true }).pipe(
        Effect.provide(clientLayer(server)),
        Effect.provide(NodeHttpClient.layer)
      )
      assert.isString(descriptor.id)
    }))

  it.scoped("a missing file fails with the platform's error, before any request", () =>
    withEmulator({}, (server) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Files.upload("/nonexistent/file.bin"))
        assert.strictEqual(error._tag, "SystemError")
        assert.strictEqual(server.requests.length, 0)
      })))
})

describe("rescans", () => {
  it.scoped("files and URLs: POST …/analyse answers an analysis; unknown objects are NotFoundError", () =>
    withEmulator({ now: () => T0 }, (server) =>
      Effect.gen(function*() {
        const file = yield* Files.rescan(knownFile.toUpperCase())
        assert.isString(file.id)
        const url = yield* Urls.rescan(knownUrl)
        assert.match(url.id, /^u-[0-9a-f]{64}-\d+$/)
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Files.rescan(unknownFile))))
        assert.instanceOf(yield* Effect.flip(Files.rescan("nope")), VtError.InvalidIdError)
        assert.deepStrictEqual(server.requests.map((r) => [r.method, r.path, r.status]), [
          ["POST", `/api/v3/files/${knownFile}/analyse`, 200],
          ["POST", `/api/v3/urls/${Urls.id(knownUrl)}/analyse`, 200],
          ["POST", `/api/v3/files/${unknownFile}/analyse`, 404]
        ])
      })))

  it.scoped("URL submission: POST /urls with the form field url", () =>
    withEmulator({ now: () => T0 }, () =>
      Effect.gen(function*() {
        const descriptor = yield* Urls.scan(unknownUrl)
        assert.strictEqual(descriptor.id, `u-${VtEmulator.urlObjectId(unknownUrl)}-${T0 / 1000}`)
        const analysis = yield* Analysis.get(descriptor.id)
        assert.deepStrictEqual(Option.getOrThrow(analysis.urlInfo), {
          id: VtEmulator.urlObjectId(unknownUrl)!,
          url: unknownUrl
        })
        assert.instanceOf(yield* Effect.flip(Urls.scan("ftp://nope")), VtError.InvalidIdError)
      })))
})

describe("analyses", () => {
  it.scoped("wait: polls on the schedule (TestClock), reports each state, answers the completed analysis", () =>
    Effect.gen(function*() {
      const clock = yield* Effect.clock
      yield* withEmulator(
        { now: () => clock.unsafeCurrentTimeMillis(), analysisQueuedMs: 30_000, analysisCompletedMs: 70_000 },
        (server) =>
          Effect.gen(function*() {
            const descriptor = yield* Urls.scan(unknownUrl)
            const seen: Array<string> = []
            const fiber = yield* Effect.fork(
              Analysis.wait(descriptor.id, { onProgress: (a) => Effect.sync(() => seen.push(a.status)) })
            )
            // Polls at 0, 20, 40, 60 and 80 s; the analysis completes at 70 s.
            for (let polls = 1; polls <= 4; polls++) {
              yield* settle(server, 1 + polls, 20_000)
              yield* TestClock.adjust("20 seconds")
            }
            const analysis = yield* Fiber.join(fiber)
            assert.deepStrictEqual(seen, ["queued", "queued", "in-progress", "in-progress", "completed"])
            assert.strictEqual(analysis.status, "completed")
            assert.isTrue(Analysis.isCompleted(analysis))
            const results = Object.values(analysis.results)
            assert.isAbove(results.length, 50)
            assert.strictEqual(results.filter((r) => r.category === "malicious").length, analysis.stats.malicious)
            assert.strictEqual(Option.getOrThrow(analysis.date).getTime(), 0)
            // The analysed URL, now known.
            const item = yield* Analysis.item(descriptor.id)
            assert.strictEqual(item.data.id, VtEmulator.urlObjectId(unknownUrl))
            assert.deepStrictEqual(server.requests.map((r) => r.path.split("/")[3]), [
              "urls",
              "analyses",
              "analyses",
              "analyses",
              "analyses",
              "analyses",
              "analyses"
            ])
          })
      )
    }))

  it.scoped("poll with a bounded schedule ends in AnalysisTimeoutError carrying the last state", () =>
    Effect.gen(function*() {
      const clock = yield* Effect.clock
      yield* withEmulator({ now: () => clock.unsafeCurrentTimeMillis() }, (server) =>
        Effect.gen(function*() {
          const descriptor = yield* Files.rescan(knownFile)
          const fiber = yield* Effect.fork(
            Analysis.poll(descriptor.id, {
              schedule: Schedule.spaced("5 seconds").pipe(Schedule.compose(Schedule.recurs(2)))
            })
              .pipe(Stream.runCollect, Effect.flip)
          )
          for (let polls = 1; polls <= 2; polls++) {
            yield* settle(server, 1 + polls, 5_000)
            yield* TestClock.adjust("5 seconds")
          }
          const error = yield* Fiber.join(fiber)
          assert.instanceOf(error, Analysis.AnalysisTimeoutError)
          const timeout = error as Analysis.AnalysisTimeoutError
          assert.strictEqual(timeout.status, "queued")
          assert.strictEqual(timeout.polls, 3)
          assert.strictEqual(timeout.id, descriptor.id)
        }))
    }))

  it.scoped("item before completion is NotAvailableYet; an unknown analysis is NotFoundError", () =>
    withEmulator({ now: () => T0 }, () =>
      Effect.gen(function*() {
        const descriptor = yield* Files.rescan(knownFile)
        const early = yield* Effect.flip(Analysis.item(descriptor.id))
        assert.instanceOf(early, VtError.NotAvailableYet)
        assert.isTrue(VtError.isNotFound(yield* Effect.flip(Analysis.get("no-such-analysis"))))
        assert.instanceOf(yield* Effect.flip(Analysis.get(" ")), VtError.InvalidIdError)
      })))

  it.scoped("the default schedule: every 20 s, bounded to 10 minutes", () =>
    Effect.gen(function*() {
      const delays = yield* Schedule.run(
        Schedule.delays(Analysis.defaultSchedule),
        0,
        Array.from({ length: 100 }, () => undefined)
      )
      assert.isTrue(delays.length >= 29 && delays.length <= 31, `${delays.length} polls`)
    }))
})
