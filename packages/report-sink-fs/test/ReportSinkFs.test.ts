import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { assert, describe, it } from "@effect/vitest"
import { Gzip, ReportKey, ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import * as nodeFs from "node:fs"
import type { Store } from "../../report-sink/test/contract.js"
import { contract } from "../../report-sink/test/contract.js"
import { ReportSinkFs } from "../src/index.js"

const key = (s: string): ReportKey.ReportKey => Either.getOrThrow(ReportKey.make(s))
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "sink-fs-" }))

const readIfExists = (file: string) =>
  Effect.flatMap(
    FileSystem.FileSystem,
    (fs) => Effect.flatMap(fs.exists(file), (ok) => ok ? fs.readFile(file) : Effect.succeed(undefined))
  )

const sorted = (names: ReadonlyArray<string>) => [...names].sort()

// The document stored under either name; a record present in both forms at once would be a sink bug.
const readRecord = (dir: string, k: ReportKey.ReportKey) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const plain = yield* readIfExists(path.join(dir, StoreLayout.fileName(k)))
    const compressed = yield* readIfExists(path.join(dir, StoreLayout.fileName(k, { gzip: true })))
    if (plain !== undefined && compressed !== undefined) return yield* Effect.dieMessage(`${k} is stored twice`)
    return compressed === undefined ? plain : yield* Gzip.decompress(compressed)
  })

for (const gzip of [false, true]) {
  contract(
    "fs",
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = yield* Path.Path
      return {
        open: (options: Parameters<Store["open"]>[0]) =>
          ReportSinkFs.make({ directory: dir, ...options }).pipe(Effect.provide(NodeContext.layer)),
        read: (kind: "saved" | "not-found", k: ReportKey.ReportKey) =>
          readRecord(kind === "saved" ? dir : path.join(dir, "_not_found"), k).pipe(Effect.provide(NodeContext.layer))
      }
    }).pipe(Effect.provide(NodeContext.layer)),
    { gzip }
  )
}

describe("ReportSinkFs", () => {
  it.scoped("writes <dir>/<key>.json and <dir>/_not_found/<key>.json and nothing else", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      const report = bytes("{\"data\": {\"id\": \"x\"}}\n")
      yield* sink.put(key("abc"), report)
      yield* sink.putNotFound(key("def"), bytes("{\"error\":{}}"))
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(dir)), ["_not_found", "abc.json"])
      assert.deepStrictEqual(yield* fs.readDirectory(path.join(dir, "_not_found")), ["def.json"])
      assert.deepStrictEqual(yield* fs.readFile(path.join(dir, "abc.json")), report)
      assert.strictEqual(sink.location, dir)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("round-trips a large binary body byte for byte", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      const body = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31 + (i >> 8)) & 0xff)
      yield* sink.put(key("big"), body)
      assert.deepStrictEqual(yield* fs.readFile(path.join(dir, "big.json")), body)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("creates missing parent directories", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = path.join(yield* tempDir, "a", "b", "out")
      const sink = yield* ReportSinkFs.make({ directory: dir })
      assert.isTrue(yield* fs.exists(path.join(dir, "_not_found")))
      assert.strictEqual(yield* sink.has(key("x")), "absent")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("resolves a relative directory once, against the working directory", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const base = yield* tempDir
      const relative = path.relative(process.cwd(), path.join(base, "rel"))
      assert.isFalse(path.isAbsolute(relative))
      const sink = yield* ReportSinkFs.make({ directory: relative })
      yield* sink.put(key("k1"), bytes("1"))
      assert.isTrue(yield* fs.exists(path.join(base, "rel", "k1.json")))
      assert.strictEqual(sink.location, relative)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("removes stale temporaries of a killed run, and only those", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const nf = path.join(dir, "_not_found")
      yield* fs.makeDirectory(nf, { recursive: true })
      // Left by a process that has exited, and by an earlier version two hours ago.
      const gone = spawnSync(process.execPath, ["-e", ""]).pid
      const stale = [path.join(dir, `.vt-harvest-tmp-${gone}-0123456789abcdef`), path.join(nf, ".def.ba9876543210.tmp")]
      const kept = [".gitkeep", "notes.txt", ".mine.tmp", "abc.json", ".vt-harvest-tmp-x"]
      for (const file of stale) yield* fs.writeFileString(file, "{\"partial")
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
      nodeFs.utimesSync(stale[1]!, twoHoursAgo, twoHoursAgo)
      for (const name of kept) yield* fs.writeFileString(path.join(dir, name), "x")
      // A reader that may share the directory with a running harvest leaves them alone.
      yield* ReportSinkFs.make({ directory: dir, removeStaleTemps: false })
      for (const file of stale) assert.isTrue(yield* fs.exists(file), file)
      yield* ReportSinkFs.make({ directory: dir })
      for (const file of stale) assert.isFalse(yield* fs.exists(file), file)
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(dir)), sorted([...kept, "_not_found"]))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("list ignores temporaries, other files, bad names and directories", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      yield* sink.put(key("good"), bytes("g"))
      yield* sink.putNotFound(key("gone"), bytes("n"))
      yield* fs.writeFileString(path.join(dir, ".good.0123456789ab.tmp"), "partial")
      yield* fs.writeFileString(path.join(dir, "readme.txt"), "x")
      yield* fs.writeFileString(path.join(dir, "bad name.json"), "x")
      yield* fs.writeFileString(path.join(dir, "_not_found", "notes.md"), "x")
      const entries = Chunk.toReadonlyArray(yield* Stream.runCollect(sink.list))
      assert.deepStrictEqual(
        entries.map((e) => `${e.presence}:${e.key}`).sort(),
        ["not-found:gone", "saved:good"]
      )
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a not-found record next to a saved report (interrupted clear) counts as saved", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      yield* fs.writeFileString(path.join(dir, "both.json"), "{}")
      yield* fs.writeFileString(path.join(dir, "_not_found", "both.json"), "{}")
      assert.strictEqual(yield* sink.has(key("both")), "saved")
      const entries = Chunk.toReadonlyArray(yield* Stream.runCollect(sink.list))
      assert.deepStrictEqual(entries, [{ key: key("both"), presence: "saved" }])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("with gzip writes <key>.json.gz files that decompress to the exact document", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir, gzip: true })
      const report = bytes(JSON.stringify({ data: { id: "abc", attributes: { names: Array(100).fill("a.exe") } } }))
      const record = bytes("{\"error\":{\"code\":\"NotFoundError\"}}")
      yield* sink.put(key("abc"), report)
      yield* sink.putNotFound(key("def"), record)
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(dir)), ["_not_found", "abc.json.gz"])
      assert.deepStrictEqual(yield* fs.readDirectory(path.join(dir, "_not_found")), ["def.json.gz"])
      const stored = yield* fs.readFile(path.join(dir, "abc.json.gz"))
      assert.isTrue(Gzip.isGzip(stored))
      assert.isBelow(stored.length, report.length)
      assert.deepStrictEqual(yield* Gzip.decompress(stored), report)
      assert.deepStrictEqual(
        yield* Gzip.decompress(yield* fs.readFile(path.join(dir, "_not_found", "def.json.gz"))),
        record
      )
      assert.strictEqual(ReportSinkFs.fileName(key("abc"), { gzip: true }), "abc.json.gz")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a report in both forms (an interrupted overwrite) is listed once and replaced by the next overwrite", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      yield* fs.makeDirectory(dir, { recursive: true })
      yield* fs.writeFileString(path.join(dir, "both.json"), "{}")
      yield* fs.writeFile(path.join(dir, "both.json.gz"), yield* Gzip.compress(bytes("{}")))
      const sink = yield* ReportSinkFs.make({ directory: dir, overwrite: true })
      assert.strictEqual(yield* sink.has(key("both")), "saved")
      const entries = Chunk.toReadonlyArray(yield* Stream.runCollect(sink.list))
      assert.deepStrictEqual(entries, [{ key: key("both"), presence: "saved" }])
      yield* sink.put(key("both"), bytes("{\"new\":1}"))
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(dir)), ["_not_found", "both.json"])
      assert.strictEqual(yield* fs.readFileString(path.join(dir, "both.json")), "{\"new\":1}")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("without overwrite an existing file is not touched at all", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const file = path.join(dir, "k.json")
      yield* fs.makeDirectory(dir, { recursive: true })
      yield* fs.writeFileString(file, "original")
      const before = yield* fs.stat(file)
      const sink = yield* ReportSinkFs.make({ directory: dir })
      yield* sink.put(key("k"), bytes("replacement"))
      assert.strictEqual(yield* fs.readFileString(file), "original")
      assert.deepStrictEqual((yield* fs.stat(file)).ino, before.ino)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("refuses keys that bypassed the type, writing nothing outside the store", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const base = yield* tempDir
      const dir = path.join(base, "store")
      const sink = yield* ReportSinkFs.make({ directory: dir })
      for (const hostile of ["../evil", "a/b", ".hidden", "x\u0000y", "..", ""]) {
        const k = hostile as ReportKey.ReportKey
        for (const attempt of [sink.put(k, bytes("x")), sink.putNotFound(k, bytes("x")), sink.has(k)]) {
          const error = yield* Effect.flip(attempt)
          assert.strictEqual(error._tag, "SinkError", JSON.stringify(hostile))
          assert.include(error.message, "invalid report key")
        }
      }
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(base)), ["store"])
      assert.deepStrictEqual(yield* fs.readDirectory(dir), ["_not_found"])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("fails with a SinkError naming the path when the directory is a file", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const file = path.join(yield* tempDir, "plain-file")
      yield* fs.writeFileString(file, "x")
      const error = yield* Effect.flip(ReportSinkFs.make({ directory: file }))
      assert.strictEqual(error._tag, "SinkError")
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, file)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("fails with a SinkError naming the path when the store disappears", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = path.join(yield* tempDir, "store")
      const sink = yield* ReportSinkFs.make({ directory: dir })
      yield* fs.remove(dir, { recursive: true })
      const error = yield* Effect.flip(sink.put(key("k"), bytes("x")))
      assert.strictEqual(error.operation, "put")
      assert.strictEqual(error.key, "k")
      assert.include(error.message, dir)
      const listError = yield* Effect.flip(Stream.runDrain(sink.list))
      assert.strictEqual(listError.operation, "list")
      assert.include(listError.message, dir)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("the layer provides ReportSink for isPending", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const pending = yield* Effect.gen(function*() {
        const sink = yield* ReportSink.ReportSink
        yield* sink.put(key("saved"), bytes("s"))
        return yield* Effect.all([
          ReportSink.isPending(key("saved"), { retryNotFound: false, overwrite: false }),
          ReportSink.isPending(key("other"), { retryNotFound: false, overwrite: false })
        ])
      }).pipe(Effect.provide(ReportSinkFs.layer({ directory: dir }).pipe(Layer.provide(NodeContext.layer))))
      assert.deepStrictEqual(pending, [false, true])
    }).pipe(Effect.provide(NodeContext.layer)))
})
