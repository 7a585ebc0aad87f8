import * as S3 from "@aws-sdk/client-s3"
import { assert, describe, it } from "@effect/vitest"
import type { ReportSink } from "@vt-harvest/report-sink"
import { Gzip, ReportKey } from "@vt-harvest/report-sink"
import * as Chunk from "effect/Chunk"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as http from "node:http"
import * as net from "node:net"
import { afterAll, beforeAll } from "vitest"
import type { Store } from "../../report-sink/test/contract.js"
import { contract } from "../../report-sink/test/contract.js"
import { ReportSinkS3 } from "../src/index.js"
import type { Server } from "./s3rver.js"
import { allKeys, clientConfig, getObject, putRaw, readDocument, start } from "./s3rver.js"

const bucket = "reports"
const otherBucket = "other-reports"
let server: Server
let sequence = 0

beforeAll(async () => {
  server = await start([bucket, otherBucket])
})
afterAll(async () => {
  await server.stop()
  server.client.destroy()
})

const key = (s: string): ReportKey.ReportKey => Either.getOrThrow(ReportKey.make(s))
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined) => b === undefined ? undefined : new TextDecoder().decode(b)
const freshPrefix = (name = "store") => `t${++sequence}/${name}`

const withClient = <A, E>(effect: Effect.Effect<A, E, ReportSinkS3.S3Client>, client?: S3.S3Client) =>
  Effect.provideService(effect, ReportSinkS3.S3Client, client ?? server.client)

const makeSink = (options: Omit<ReportSinkS3.Options, "bucket"> & { readonly bucket?: string }, client?: S3.S3Client) =>
  withClient(ReportSinkS3.make({ bucket, ...options }), client)

const listed = (sink: ReportSink.Service) =>
  Effect.map(
    Stream.runCollect(sink.list),
    (entries) => Chunk.toReadonlyArray(entries).map((e) => `${e.presence}:${e.key}`).sort()
  )

/** Records every command the client sends, with its input. */
const recording = (client: S3.S3Client) => {
  const sent: Array<{ readonly command: string; readonly input: Record<string, unknown> }> = []
  client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push({ command: context.commandName ?? "?", input: args.input as Record<string, unknown> })
      return next(args)
    },
    { step: "initialize", name: "recordCommands" }
  )
  return sent
}

const s3Error = (name: string, status: number) =>
  new S3.S3ServiceException({ name, $fault: "client", $metadata: { httpStatusCode: status }, message: name })

for (const gzip of [false, true]) {
  contract(
    "s3",
    Effect.sync(() => {
      const prefix = freshPrefix()
      const objectKey = (kind: "saved" | "not-found", k: ReportKey.ReportKey) =>
        kind === "saved" ? `${prefix}/${k}.json` : `${prefix}/_not_found/${k}.json`
      return {
        open: (options: Parameters<Store["open"]>[0]) => makeSink({ prefix, ...options }),
        read: (kind: "saved" | "not-found", k: ReportKey.ReportKey) =>
          readDocument(server.client, bucket, objectKey(kind, k))
      }
    }),
    { gzip }
  )
}

describe("ReportSinkS3", () => {
  it.scopedLive("writes <prefix>/<key>.json and <prefix>/_not_found/<key>.json as JSON, byte for byte", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix("vt_reports")
      const sink = yield* makeSink({ prefix })
      const report = bytes("{\"data\": {\"id\": \"abc\", \"type\": \"file\"}}\n")
      const record = bytes("{\"error\": {\"code\": \"NotFoundError\", \"message\": \"File \\\"def\\\" not found\"}}")
      yield* sink.put(key("abc"), report)
      yield* sink.putNotFound(key("def"), record)
      assert.deepStrictEqual(yield* allKeys(server.client, bucket, `${prefix.split("/")[0]}/`), [
        `${prefix}/_not_found/def.json`,
        `${prefix}/abc.json`
      ])
      const saved = yield* getObject(server.client, bucket, `${prefix}/abc.json`)
      assert.deepStrictEqual(saved?.body, report)
      assert.strictEqual(saved?.contentType, "application/json")
      assert.strictEqual(saved?.contentEncoding, undefined)
      const notFound = yield* getObject(server.client, bucket, `${prefix}/_not_found/def.json`)
      assert.deepStrictEqual(notFound?.body, record)
      assert.strictEqual(notFound?.contentType, "application/json")
      assert.strictEqual(sink.location, `s3://${bucket}/${prefix}`)
    }))

  it.scopedLive("with gzip stores Content-Encoding: gzip under the same .json keys", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const sink = yield* makeSink({ prefix, gzip: true })
      const report = bytes(JSON.stringify({ data: { id: "abc", attributes: { names: Array(200).fill("a.exe") } } }))
      yield* sink.put(key("abc"), report)
      yield* sink.putNotFound(key("def"), bytes("{\"error\":{}}"))
      assert.deepStrictEqual(yield* allKeys(server.client, bucket, `${prefix}/`), [
        `${prefix}/_not_found/def.json`,
        `${prefix}/abc.json`
      ])
      const saved = yield* getObject(server.client, bucket, `${prefix}/abc.json`)
      assert.strictEqual(saved?.contentEncoding, "gzip")
      assert.strictEqual(saved?.contentType, "application/json")
      assert.isTrue(Gzip.isGzip(saved!.body))
      assert.isBelow(saved!.body.length, report.length / 4)
      assert.deepStrictEqual(yield* Gzip.decompress(saved!.body), report)
      // A sink without gzip sees it as saved and keeps it.
      const plain = yield* makeSink({ prefix })
      assert.strictEqual(yield* plain.has(key("abc")), "saved")
      yield* plain.put(key("abc"), bytes("other"))
      assert.deepStrictEqual((yield* getObject(server.client, bucket, `${prefix}/abc.json`))?.body, saved!.body)
    }))

  it.scopedLive("round-trips a large binary body byte for byte", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const sink = yield* makeSink({ prefix })
      const body = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31 + (i >> 8)) & 0xff)
      yield* sink.put(key("big"), body)
      assert.deepStrictEqual((yield* getObject(server.client, bucket, `${prefix}/big.json`))?.body, body)
    }))

  it.scopedLive("an object larger than any record can be is listed, and get fails for it without reading it", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const sink = yield* makeSink({ prefix })
      yield* putRaw(server.client, bucket, `${prefix}/huge.json`, new Uint8Array(64 * 1024 * 1024 + 1))
      yield* sink.put(key("small"), bytes("{}"))
      const error = yield* Effect.flip(sink.get(key("huge")))
      assert.strictEqual(error.key, "huge")
      assert.include(error.message, `${64 * 1024 * 1024 + 1} bytes, more than a record holds`)
      assert.strictEqual(text(Option.getOrUndefined(yield* sink.get(key("small")))), "{}")
    }))

  it.scopedLive("stores at the bucket root with an empty prefix", () =>
    Effect.gen(function*() {
      const sink = yield* makeSink({ bucket: otherBucket, prefix: "" })
      yield* sink.put(key("root"), bytes("r"))
      yield* sink.putNotFound(key("gone"), bytes("g"))
      assert.deepStrictEqual(yield* allKeys(server.client, otherBucket), ["_not_found/gone.json", "root.json"])
      assert.deepStrictEqual(yield* listed(sink), ["not-found:gone", "saved:root"])
      assert.strictEqual(sink.location, `s3://${otherBucket}`)
    }))

  it.scopedLive("hostile keys cannot leave the prefix: nothing at all is written", () =>
    Effect.gen(function*() {
      const top = `t${++sequence}`
      const sink = yield* makeSink({ prefix: `${top}/inner/store` })
      for (const raw of ["../evil", "../../x", "a/../../b", "/abs", "_not_found/../x", ".."]) {
        const k = raw as ReportKey.ReportKey
        for (const attempt of [sink.put(k, bytes("x")), sink.putNotFound(k, bytes("x")), sink.has(k)]) {
          assert.strictEqual((yield* Effect.flip(attempt))._tag, "SinkError", raw)
        }
      }
      yield* sink.put(key("fine"), bytes("x"))
      assert.deepStrictEqual(yield* allKeys(server.client, bucket, `${top}/`), [`${top}/inner/store/fine.json`])
      assert.deepStrictEqual(yield* allKeys(server.client, bucket, "../"), [])
    }))

  it.scopedLive("list pages through more than 1,000 records", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const sink = yield* makeSink({ prefix })
      const saved = Array.from({ length: 1_010 }, (_, i) => key(`s${String(i).padStart(5, "0")}`))
      const notFound = Array.from({ length: 1_005 }, (_, i) => key(`n${String(i).padStart(5, "0")}`))
      // Written directly: what is tested is the listing, over more than one page of each kind.
      const objects = [
        ...saved.map((k) => `${prefix}/${k}.json`),
        ...notFound.map((k) => `${prefix}/_not_found/${k}.json`)
      ]
      yield* Effect.forEach(objects, (name) => putRaw(server.client, bucket, name, "{}"), {
        concurrency: 8,
        discard: true
      })
      const entries = yield* listed(sink)
      assert.strictEqual(entries.length, saved.length + notFound.length)
      assert.deepStrictEqual(
        entries,
        [...saved.map((k) => `saved:${k}`), ...notFound.map((k) => `not-found:${k}`)].sort()
      )
    }), 120_000)

  it.scopedLive("list skips other objects, sub-prefixes and stale not-found records", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const sink = yield* makeSink({ prefix })
      yield* sink.put(key("good"), bytes("g"))
      yield* sink.putNotFound(key("gone"), bytes("n"))
      for (const name of ["readme.txt", "bad name.json", "x.json.gz", "sub/deeper.json", "_not_found/notes.md"]) {
        yield* putRaw(server.client, bucket, `${prefix}/${name}`, "x")
      }
      yield* putRaw(server.client, bucket, `${prefix}-sibling/other.json`, "x")
      // Left by a put whose clean-up was interrupted: the report wins.
      yield* putRaw(server.client, bucket, `${prefix}/both.json`, "{}")
      yield* putRaw(server.client, bucket, `${prefix}/_not_found/both.json`, "{}")
      assert.strictEqual(yield* sink.has(key("both")), "saved")
      assert.deepStrictEqual(yield* listed(sink), ["not-found:gone", "saved:both", "saved:good"])
    }))

  it.scopedLive("without overwrite an object written by someone else is kept untouched", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      yield* putRaw(server.client, bucket, `${prefix}/k.json`, "original")
      const client = new S3.S3Client(clientConfig(server.url))
      const sent = recording(client)
      const sink = yield* makeSink({ prefix }, client)
      yield* sink.put(key("k"), bytes("replacement"))
      assert.strictEqual(text((yield* getObject(server.client, bucket, `${prefix}/k.json`))?.body), "original")
      assert.deepStrictEqual(sent.map((s) => s.command), [
        "HeadBucketCommand",
        "HeadObjectCommand",
        "DeleteObjectCommand"
      ])
    }))

  it.scopedLive("an incomplete object (what s3rver keeps of a PUT whose client died) is no record, and is replaced", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const sink = yield* makeSink({ prefix })
      yield* sink.put(key("whole"), bytes("{\"data\":1}"))
      // Written with the length of the whole report; what arrived was nothing, or the first bytes of it.
      const incomplete = (name: string, body: string, length: number) =>
        Effect.promise(() =>
          server.client.send(
            new S3.PutObjectCommand({
              Bucket: bucket,
              Key: `${prefix}/${name}`,
              Body: body,
              Metadata: { "vt-harvest-length": String(length) }
            })
          )
        )
      yield* incomplete("empty.json", "", 11)
      yield* incomplete("cut.json", "{\"da", 11)
      yield* incomplete("_not_found/gone.json", "", 40)
      assert.strictEqual(yield* sink.has(key("whole")), "saved")
      assert.strictEqual(yield* sink.has(key("empty")), "absent")
      assert.strictEqual(yield* sink.has(key("cut")), "absent")
      assert.strictEqual(yield* sink.has(key("gone")), "absent")
      // Nor are they read as reports.
      assert.isTrue(Option.isNone(yield* sink.get(key("empty"))))
      assert.isTrue(Option.isNone(yield* sink.get(key("cut"))))
      // Replaced whichever way the put is asked, with or without the hint, and also past a conditional PUT's 412.
      yield* sink.put(key("empty"), bytes("{\"data\":2}"), { seen: "absent" })
      yield* sink.put(key("cut"), bytes("{\"data\":3}"))
      assert.strictEqual(text(yield* readDocument(server.client, bucket, `${prefix}/empty.json`)), "{\"data\":2}")
      assert.strictEqual(text(yield* readDocument(server.client, bucket, `${prefix}/cut.json`)), "{\"data\":3}")
      assert.strictEqual(yield* sink.has(key("empty")), "saved")
      assert.strictEqual(yield* sink.has(key("cut")), "saved")
      // Objects written without the length (by an earlier version, by other tools) count unless they are empty, as
      // s3rver leaves an object whose PUT brought its head and no body.
      yield* putRaw(server.client, bucket, `${prefix}/foreign.json`, "{}")
      yield* putRaw(server.client, bucket, `${prefix}/headonly.json`, "")
      assert.strictEqual(yield* sink.has(key("foreign")), "saved")
      assert.strictEqual(yield* sink.has(key("headonly")), "absent")
      // An empty report written by the sink itself is a record like any other.
      yield* sink.put(key("nothing"), new Uint8Array())
      assert.strictEqual(yield* sink.has(key("nothing")), "saved")
    }))

  it.scopedLive("puts with If-None-Match: * without overwrite, and plainly with it or for not-found records", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const client = new S3.S3Client(clientConfig(server.url))
      const sent = recording(client)
      const keep = yield* makeSink({ prefix }, client)
      yield* keep.put(key("a"), bytes("a"))
      yield* keep.putNotFound(key("b"), bytes("b"))
      const replace = yield* makeSink({ prefix, overwrite: true }, client)
      yield* replace.put(key("a"), bytes("a2"))
      const puts = sent.filter((s) => s.command === "PutObjectCommand")
      assert.deepStrictEqual(puts.map((s) => [s.input.Key, s.input.IfNoneMatch]), [
        [`${prefix}/a.json`, "*"],
        [`${prefix}/_not_found/b.json`, undefined],
        [`${prefix}/a.json`, undefined]
      ])
      for (const put of puts) assert.match(String(put.input.ContentMD5), /^[A-Za-z0-9+/]{22}==$/)
    }))

  it.scopedLive("a writer that wins the race between HEAD and PUT is not overwritten (412 means kept)", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const client = new S3.S3Client(clientConfig(server.url))
      // s3rver ignores If-None-Match: this middleware answers as S3 does, after another writer slipped in.
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as S3.PutObjectCommandInput
          if (context.commandName === "PutObjectCommand" && input.IfNoneMatch === "*") {
            await server.client.send(new S3.PutObjectCommand({ Bucket: bucket, Key: input.Key, Body: "the winner" }))
            throw s3Error("PreconditionFailed", 412)
          }
          return next(args)
        },
        { step: "initialize", name: "concurrentWriter" }
      )
      const sink = yield* makeSink({ prefix }, client)
      yield* sink.putNotFound(key("k"), bytes("nf"))
      yield* sink.put(key("k"), bytes("the loser"))
      assert.strictEqual(text((yield* getObject(server.client, bucket, `${prefix}/k.json`))?.body), "the winner")
      assert.strictEqual(yield* sink.has(key("k")), "saved")
      assert.strictEqual(yield* getObject(server.client, bucket, `${prefix}/_not_found/k.json`), undefined)
    }))

  it.scopedLive("a server that refuses If-None-Match (501) is written to without it from then on", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const client = new S3.S3Client(clientConfig(server.url))
      let refused = 0
      client.middlewareStack.add(
        (next, context) => (args) => {
          if (context.commandName === "PutObjectCommand" && (args.input as S3.PutObjectCommandInput).IfNoneMatch) {
            refused++
            return Promise.reject(s3Error("NotImplemented", 501))
          }
          return next(args)
        },
        { step: "initialize", name: "noConditionalPuts" }
      )
      const sink = yield* makeSink({ prefix }, client)
      yield* sink.put(key("a"), bytes("a"))
      yield* sink.put(key("b"), bytes("b"))
      assert.strictEqual(refused, 1)
      assert.strictEqual(text((yield* getObject(server.client, bucket, `${prefix}/b.json`))?.body), "b")
    }))

  it.scopedLive("checkWritable puts and deletes a probe under the prefix and _not_found/, leaving nothing", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const client = new S3.S3Client(clientConfig(server.url))
      const sent = recording(client)
      const sink = yield* makeSink({ prefix }, client)
      yield* sink.checkWritable
      const puts = sent.filter((s) => s.command === "PutObjectCommand").map((s) => String(s.input.Key))
      const deletes = sent.filter((s) => s.command === "DeleteObjectCommand").map((s) => String(s.input.Key))
      assert.strictEqual(puts.length, 2)
      assert.match(puts[0]!, new RegExp(`^${prefix}/\\.vt-harvest-probe-[0-9a-f]{16}$`))
      assert.match(puts[1]!, new RegExp(`^${prefix}/_not_found/\\.vt-harvest-probe-[0-9a-f]{16}$`))
      assert.deepStrictEqual(deletes, puts)
      assert.deepStrictEqual(yield* allKeys(server.client, bucket, `${prefix}/`), [])
    }))

  it.scopedLive("checkWritable fails, naming the bucket and the cause, when a put or a delete is refused", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      for (const refused of ["PutObjectCommand", "DeleteObjectCommand"]) {
        const client = new S3.S3Client(clientConfig(server.url))
        client.middlewareStack.add(
          (next, context) => (args) =>
            context.commandName === refused ? Promise.reject(s3Error("AccessDenied", 403)) : next(args),
          { step: "initialize", name: "refuseWrites" }
        )
        const sink = yield* makeSink({ prefix }, client)
        const error = yield* Effect.flip(sink.checkWritable)
        assert.strictEqual(error._tag, "SinkError")
        assert.strictEqual(error.operation, "checkWritable")
        assert.include(
          error.message,
          refused === "PutObjectCommand"
            ? `cannot write to s3://${bucket}/${prefix}/`
            : `cannot delete s3://${bucket}/${prefix}/`
        )
        assert.include(error.message, "AccessDenied (HTTP 403)")
      }
    }))

  it.scopedLive("opened read-only, sends no write at all", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      yield* (yield* makeSink({ prefix })).put(key("k"), bytes("k"))
      const client = new S3.S3Client(clientConfig(server.url))
      const sent = recording(client)
      const sink = yield* makeSink({ prefix, readOnly: true }, client)
      assert.deepStrictEqual(yield* listed(sink), ["saved:k"])
      yield* Effect.flip(sink.put(key("other"), bytes("x")))
      yield* Effect.flip(sink.putNotFound(key("k"), bytes("x")))
      yield* Effect.flip(sink.checkWritable)
      assert.deepStrictEqual(
        sent.filter((s) => s.command === "PutObjectCommand" || s.command === "DeleteObjectCommand"),
        []
      )
    }))

  it.scopedLive("loses nothing when the server stops for a while mid-run and starts again on the same port", () =>
    Effect.gen(function*() {
      const own = yield* Effect.acquireRelease(
        Effect.promise(() => start(["flaky"])),
        (s) => Effect.promise(() => s.stop().then(() => s.client.destroy()))
      )
      // Without keep-alive every request opens a connection, so a stopped server refuses them at once instead of
      // serving more on sockets opened before the stop (and no request is cut halfway, which s3rver, unlike S3,
      // would store as a truncated object).
      const client = new S3.S3Client({
        ...clientConfig(own.url),
        requestHandler: { httpAgent: new http.Agent({ keepAlive: false }) }
      })
      const sink = yield* makeSink({ bucket: "flaky", prefix: "run" }, client)
      const keys = Array.from({ length: 60 }, (_, i) => key(`k${i}`))
      const document = (k: string) => bytes(JSON.stringify({ data: { id: k, payload: k.repeat(500) } }))
      let done = 0
      const run = yield* Effect.fork(
        Effect.forEach(keys, (k) => Effect.tap(sink.put(k, document(k)), () => done++), {
          concurrency: 4,
          discard: true
        })
      )
      while (done < 10) yield* Effect.sleep("5 millis")
      yield* Effect.promise(() => own.stop())
      const atStop = done
      yield* Effect.sleep("1500 millis")
      // Nothing but the writes in flight at the stop can have completed while the server was down.
      assert.isAtMost(done, atStop + 4)
      assert.isBelow(done, keys.length)
      yield* Effect.promise(() => own.restart())
      yield* Fiber.join(run)
      assert.strictEqual(done, keys.length)
      assert.strictEqual((yield* allKeys(own.client, "flaky")).length, keys.length)
      for (const k of keys) {
        assert.deepStrictEqual((yield* getObject(own.client, "flaky", `run/${k}.json`))?.body, document(k), k)
      }
    }))

  it.scopedLive("fails with a SinkError naming the object once the retries are spent", () =>
    Effect.gen(function*() {
      const own = yield* Effect.acquireRelease(
        Effect.promise(() => start(["gone"])),
        (s) => Effect.promise(() => s.stop().then(() => s.client.destroy()))
      )
      const client = new S3.S3Client(clientConfig(own.url))
      const sent = recording(client)
      const sink = yield* makeSink({ bucket: "gone", prefix: "p", retry: Schedule.recurs(2) }, client)
      yield* Effect.promise(() => own.stop())
      const error = yield* Effect.flip(sink.put(key("k"), bytes("x")))
      assert.strictEqual(error._tag, "SinkError")
      assert.strictEqual(error.operation, "put")
      assert.strictEqual(error.key, "k")
      assert.include(error.message, "s3://gone/p/k.json")
      assert.match(error.message, /ECONNREFUSED|ECONNRESET/)
      assert.strictEqual(sent.filter((s) => s.command === "HeadObjectCommand").length, 3)
    }))

  it.scopedLive("does not retry what cannot succeed (a refused access key)", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix()
      const client = new S3.S3Client(clientConfig(server.url))
      const sink = yield* makeSink({ prefix }, client)
      const stranger = new S3.S3Client({
        ...clientConfig(server.url),
        credentials: { accessKeyId: "NOBODY", secretAccessKey: "x" }
      })
      const sent = recording(stranger)
      const error = yield* Effect.flip(withClient(ReportSinkS3.make({ bucket, prefix }), stranger))
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, `cannot open s3://${bucket}/${prefix}: access denied`)
      assert.include(error.message, "access denied")
      assert.strictEqual(sent.length, 1)
      assert.strictEqual(yield* sink.has(key("k")), "absent")
    }))

  it.scopedLive("fails to open with a SinkError for a missing bucket or an invalid location", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(makeSink({ bucket: "no-such-bucket", prefix: "p" }))
      assert.strictEqual(missing.operation, "open")
      assert.include(missing.message, "s3://no-such-bucket/p")
      assert.include(missing.message, "no such bucket")
      for (const [b, prefix] of [["Bad_Bucket", "p"], [bucket, "/p"], [bucket, "p/"], [bucket, "a/../b"]]) {
        const invalid = yield* Effect.flip(makeSink({ bucket: b, prefix }))
        assert.strictEqual(invalid.operation, "open")
        assert.include(invalid.message, "invalid S3 location")
      }
    }))

  it.scopedLive(
    "an answer body beyond what any answer needs (a listing, an error page) is refused, not held",
    () =>
      Effect.gen(function*() {
        // 20 MB of a listing, or of an error document: no S3 answer but a record is more than a few hundred KB.
        const huge = (head: string, tail: string) => `${head}${" ".repeat(20 * 1024 * 1024)}${tail}`
        const hostile = yield* Effect.acquireRelease(
          Effect.async<http.Server>((resume) => {
            const s = http.createServer((request, response) => {
              request.resume()
              if (request.method === "HEAD") return void response.writeHead(200).end()
              if (request.method === "GET") {
                response.writeHead(200, { "content-type": "application/xml" })
                return void response.end(
                  huge(
                    "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>false</IsTruncated>",
                    "</ListBucketResult>"
                  )
                )
              }
              response.writeHead(500, { "content-type": "application/xml" })
              response.end(huge("<Error><Code>InternalError</Code><Message>", "</Message></Error>"))
            }).listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
          }),
          (s) => Effect.sync(() => s.close())
        )
        const { port } = hostile.address() as net.AddressInfo
        const client = new S3.S3Client(clientConfig(`http://127.0.0.1:${port}`))
        const sink = yield* makeSink({ prefix: "p", retry: Schedule.recurs(1) }, client)
        const listed = yield* Effect.flip(Stream.runDrain(sink.list))
        assert.include(listed.message, "an answer of more than")
        const put = yield* Effect.flip(sink.put(key("k"), bytes("{}")))
        assert.include(put.message, "an answer of more than")
        client.destroy()
      }),
    60_000
  )

  it.scopedLive(
    "a listing whose next page is one it gave already ends in an error, not in an endless list",
    () =>
      Effect.gen(function*() {
        let lists = 0
        const looping = yield* Effect.acquireRelease(
          Effect.async<http.Server>((resume) => {
            const s = http.createServer((request, response) => {
              request.resume()
              if (request.method === "HEAD") return void response.writeHead(200).end()
              lists++
              response.writeHead(200, { "content-type": "application/xml" })
              response.end(
                "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>" +
                  "<Contents><Key>p/aaaa.json</Key></Contents><NextContinuationToken>SAME</NextContinuationToken>" +
                  "</ListBucketResult>"
              )
            }).listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
          }),
          (s) => Effect.sync(() => s.close())
        )
        const { port } = looping.address() as net.AddressInfo
        const client = new S3.S3Client(clientConfig(`http://127.0.0.1:${port}`))
        const sink = yield* makeSink({ prefix: "p", retry: Schedule.recurs(1) }, client)
        const listed = yield* Effect.flip(Stream.runDrain(sink.list))
        assert.include(listed.message, "names a page it gave already")
        assert.isAtMost(lists, 3)
        client.destroy()
      }),
    60_000
  )

  it.scoped("opening gives each attempt at most 10 s, whatever the timeout of other operations", () =>
    Effect.gen(function*() {
      const silent = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const s = net.createServer(() => {}).listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.close())
      )
      const { port } = silent.address() as net.AddressInfo
      const client = new S3.S3Client(clientConfig(`http://127.0.0.1:${port}`))
      const opening = yield* Effect.fork(
        Effect.flip(makeSink({ prefix: "p", timeout: "60 seconds", retry: Schedule.spaced("1 second") }, client))
      )
      // 4 attempts (3 retries) of 10 s, 1 s apart: over in 43 s, where 60 s attempts would take 4 minutes.
      for (let i = 0; i < 50; i++) yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(opening)
      assert.include(error.message, "no answer within 10s")
      client.destroy()
    }))

  it.scopedLive("gives up an attempt after the timeout (a server that never answers)", () =>
    Effect.gen(function*() {
      const silent = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const s = net.createServer(() => {}).listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.close())
      )
      const { port } = silent.address() as net.AddressInfo
      const client = new S3.S3Client(clientConfig(`http://127.0.0.1:${port}`))
      const exit = yield* Effect.exit(
        makeSink({ prefix: "p", timeout: "200 millis", retry: Schedule.spaced("10 millis") }, client)
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.include(error.message, "no answer within 200ms")
      client.destroy()
    }))
})

describe("layerS3Client", () => {
  const env = (values: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values))))

  it.scopedLive("uses AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL with path-style, and the keys it is given", () =>
    Effect.gen(function*() {
      const client = yield* ReportSinkS3.S3Client
      assert.strictEqual(client.config.forcePathStyle, true)
      assert.strictEqual(yield* Effect.promise(() => client.config.region()), "us-east-1")
      const endpoint = yield* Effect.promise(() => client.config.endpoint!())
      assert.strictEqual(endpoint.port, server.port)
      const credentials = yield* Effect.promise(() => client.config.credentials())
      assert.deepStrictEqual([credentials.accessKeyId, credentials.secretAccessKey], ["S3RVER", "S3RVER"])
      // And it works end to end.
      const prefix = freshPrefix()
      const sink = yield* ReportSinkS3.make({ bucket, prefix })
      yield* sink.put(key("via-env"), bytes("x"))
      assert.strictEqual(yield* sink.has(key("via-env")), "saved")
    }).pipe(
      Effect.provide(
        ReportSinkS3.layerS3Client().pipe(
          Layer.provide(env({
            AWS_ENDPOINT_URL_S3: server.url,
            AWS_ENDPOINT_URL: "http://127.0.0.1:1",
            AWS_ACCESS_KEY_ID: "S3RVER",
            AWS_SECRET_ACCESS_KEY: "S3RVER"
          }))
        )
      )
    ))

  it.effect("reads AWS_REGION and leaves addressing to the SDK without an endpoint", () =>
    Effect.gen(function*() {
      const config = yield* ReportSinkS3.clientConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AWS_REGION", "eu-central-1"]])))
      )
      assert.strictEqual(config.region, "eu-central-1")
      assert.strictEqual(config.endpoint, undefined)
      assert.strictEqual(config.forcePathStyle, undefined)
      assert.strictEqual(config.credentials, undefined)
      assert.strictEqual(config.requestChecksumCalculation, "WHEN_REQUIRED")
      assert.strictEqual(config.responseChecksumValidation, "WHEN_REQUIRED")
      const fallback = yield* ReportSinkS3.clientConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AWS_ENDPOINT_URL", "http://minio:9000"]])))
      )
      assert.strictEqual(fallback.region, "us-east-1")
      assert.strictEqual(fallback.endpoint, "http://minio:9000")
      assert.strictEqual(fallback.forcePathStyle, true)
    }))

  it.effect("refuses an endpoint that is not an http(s) URL", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ReportSinkS3.clientConfig.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AWS_ENDPOINT_URL_S3", "localhost:9000"]])))
        )
      )
      assert.include(String(error), "AWS_ENDPOINT_URL_S3")
    }))
})
