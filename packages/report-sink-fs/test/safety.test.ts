/**
 * What a directory store does with what it did not write: symbolic links, FIFOs, a read-only directory, and the
 * temporaries of another live process.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { assert, describe, it } from "@effect/vitest"
import { ReportKey } from "@vt-harvest/report-sink"
import type { ReportSink } from "@vt-harvest/report-sink"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as nodeFs from "node:fs"
import * as net from "node:net"
import { ReportSinkFs } from "../src/index.js"

const key = (s: string): ReportKey.ReportKey => Either.getOrThrow(ReportKey.make(s))
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const sorted = (names: ReadonlyArray<string>) => [...names].sort()

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "sink-fs-" }))

const listed = (sink: ReportSink.Service) =>
  Effect.map(
    Stream.runCollect(sink.list),
    (entries) => Chunk.toReadonlyArray(entries).map((e) => `${e.presence}:${e.key}`).sort()
  )

/** A store directory and, beside it, a directory the store must never read, write or delete in. */
const storeAndOutside = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const base = yield* tempDir
  const store = path.join(base, "store")
  const outside = path.join(base, "outside")
  yield* fs.makeDirectory(store)
  yield* fs.makeDirectory(outside)
  const secret = path.join(outside, "secret.json")
  yield* fs.writeFileString(secret, "{\"secret\":true}")
  /** What is outside, name and content, to compare before and after. */
  const snapshot = Effect.gen(function*() {
    const names = sorted(yield* fs.readDirectory(outside))
    return yield* Effect.forEach(
      names,
      (name) => Effect.map(fs.readFileString(path.join(outside, name)), (text) => `${name}=${text}`)
    )
  })
  return { base, store, outside, secret, snapshot }
})

describe("ReportSinkFs opened read-only", () => {
  it.scoped("creates nothing, removes nothing, and reads a store that has no _not_found yet", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      yield* fs.writeFileString(path.join(dir, "abc.json"), "{}")
      yield* fs.writeFileString(path.join(dir, ".abc.0123456789ab.tmp"), "{\"partial")
      const before = sorted(yield* fs.readDirectory(dir))
      const sink = yield* ReportSinkFs.make({ directory: dir, readOnly: true })
      assert.strictEqual(yield* sink.has(key("abc")), "saved")
      assert.strictEqual(yield* sink.has(key("def")), "absent")
      assert.deepStrictEqual(yield* listed(sink), ["saved:abc"])
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(dir)), before)
      const error = yield* Effect.flip(sink.checkWritable)
      assert.include(error.message, "open read-only")
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(dir)), before)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("fails with a SinkError naming a directory that does not exist, and creates none", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const missing = path.join(yield* tempDir, "missing")
      const error = yield* Effect.flip(ReportSinkFs.make({ directory: missing, readOnly: true }))
      assert.strictEqual(error.operation, "open")
      assert.include(error.message, `cannot open ${missing}: no such directory`)
      assert.isFalse(yield* fs.exists(missing))
    }).pipe(Effect.provide(NodeContext.layer)))
})

// Root passes every permission check: the store is then used as `nobody`, for whom the modes below hold. Where root
// cannot switch its effective user (no CAP_SETUID), modes prove nothing and the tests that rely on them are skipped.
const nobody = 65534
const isRoot = process.geteuid?.() === 0
const canDropRoot = ((): boolean => {
  if (!isRoot) return true
  try {
    process.seteuid?.(nobody)
    process.seteuid?.(0)
    return process.geteuid?.() === 0
  } catch {
    return false
  }
})()
const permissionsHold = !isRoot || canDropRoot
const whenPermissionsHold = " (skipped: running as root, which no file mode stops, and unable to act as nobody)"
const unprivileged = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  isRoot
    ? Effect.acquireUseRelease(
      Effect.sync(() => process.seteuid?.(nobody)),
      () => effect,
      () => Effect.sync(() => process.seteuid?.(0))
    )
    : effect
const readOnlyDirectory = (dir: string) => nodeFs.chmodSync(dir, 0o555)
const writableDirectory = (dir: string) => {
  if (isRoot) nodeFs.chownSync(dir, nobody, nobody)
  nodeFs.chmodSync(dir, 0o755)
}

describe("ReportSinkFs.checkWritable", () => {
  it.scopedLive("writes and removes a probe in the store and in _not_found, leaving nothing behind", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      yield* sink.put(key("abc"), bytes("{}"))
      const watcher = nodeFs.watch(dir)
      const nestedWatcher = nodeFs.watch(path.join(dir, "_not_found"))
      const seen: Array<string> = []
      watcher.on("change", (_, name) => seen.push(`store/${String(name)}`))
      nestedWatcher.on("change", (_, name) => seen.push(`_not_found/${String(name)}`))
      yield* sink.checkWritable
      yield* Effect.sleep("50 millis")
      watcher.close()
      nestedWatcher.close()
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(dir)), ["_not_found", "abc.json"])
      assert.deepStrictEqual(yield* fs.readDirectory(path.join(dir, "_not_found")), [])
      // Both directories saw a file come and go.
      assert.isTrue(seen.some((name) => name.startsWith("store/.")), seen.join(", "))
      assert.isTrue(seen.some((name) => name.startsWith("_not_found/.")), seen.join(", "))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped.skipIf(!permissionsHold)(
    `fails on a read-only store directory, or a read-only _not_found, with a message naming it${
      permissionsHold ? "" : whenPermissionsHold
    }`,
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const base = yield* tempDir
        nodeFs.chmodSync(base, 0o755)
        const store = path.join(base, "store")
        yield* fs.makeDirectory(path.join(store, "_not_found"), { recursive: true })
        readOnlyDirectory(store)
        const error = yield* unprivileged(
          Effect.flatMap(ReportSinkFs.make({ directory: store }), (sink) => Effect.flip(sink.checkWritable))
        )
        assert.strictEqual(error._tag, "SinkError")
        assert.strictEqual(error.operation, "checkWritable")
        assert.include(error.message, `cannot write in ${store}`)
        assert.include(error.message, "EACCES")
        writableDirectory(store)
        readOnlyDirectory(path.join(store, "_not_found"))
        const nested = yield* unprivileged(
          Effect.flatMap(ReportSinkFs.make({ directory: store }), (sink) => Effect.flip(sink.checkWritable))
        )
        assert.include(nested.message, `cannot write in ${path.join(store, "_not_found")}`)
        assert.deepStrictEqual(yield* fs.readDirectory(store), ["_not_found"])
        assert.deepStrictEqual(yield* fs.readDirectory(path.join(store, "_not_found")), [])
      }).pipe(Effect.provide(NodeContext.layer))
  )

  // Holds for root as well: no permission lets a file be created inside a regular file.
  it.scoped("fails when _not_found was replaced by a regular file after opening, naming it", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      const nested = path.join(dir, "_not_found")
      yield* fs.remove(nested, { recursive: true })
      yield* fs.writeFileString(nested, "not a directory")
      const error = yield* Effect.flip(sink.checkWritable)
      assert.strictEqual(error.operation, "checkWritable")
      assert.include(error.message, `cannot write in ${nested}`)
      assert.include(error.message, "ENOTDIR")
      assert.deepStrictEqual(sorted(yield* fs.readDirectory(dir)), ["_not_found"])
    }).pipe(Effect.provide(NodeContext.layer)))
})

/** The pid of a process that has exited: its temporaries are abandoned. */
const deadPid = (): number => {
  const child = spawnSync(process.execPath, ["-e", ""])
  assert.isNumber(child.pid)
  return child.pid
}
const randomPart = () => randomBytes(8).toString("hex")
const hoursAgo = (file: string, hours: number) => {
  const then = new Date(Date.now() - hours * 3600_000)
  nodeFs.utimesSync(file, then, then)
}

describe("ReportSinkFs start-up clean-up", () => {
  it.scoped("removes the temporaries of a dead process, and keeps those of a live one", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const nested = path.join(dir, "_not_found")
      yield* fs.makeDirectory(nested)
      const dead = deadPid()
      const live = [
        path.join(dir, `.vt-harvest-tmp-${process.pid}-${randomPart()}`),
        path.join(nested, `.vt-harvest-tmp-${process.pid}-${randomPart()}`),
        // Another process, alive (pid 1 always is); even an old temporary of a live process is left to it.
        path.join(dir, `.vt-harvest-tmp-1-${randomPart()}`)
      ]
      const abandoned = [
        path.join(dir, `.vt-harvest-tmp-${dead}-${randomPart()}`),
        path.join(nested, `.vt-harvest-tmp-${dead}-${randomPart()}`)
      ]
      for (const file of [...live, ...abandoned]) yield* fs.writeFileString(file, "{\"partial")
      hoursAgo(live[2]!, 3)
      yield* ReportSinkFs.make({ directory: dir })
      for (const file of live) assert.isTrue(yield* fs.exists(file), `${file} was removed`)
      for (const file of abandoned) assert.isFalse(yield* fs.exists(file), `${file} was kept`)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("removes temporaries without an owner (an earlier version's) only once they are an hour old", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const fresh = path.join(dir, ".abc.0123456789ab.tmp")
      const old = path.join(dir, ".def.ba9876543210.tmp")
      yield* fs.writeFileString(fresh, "{\"partial")
      yield* fs.writeFileString(old, "{\"partial")
      hoursAgo(old, 2)
      yield* ReportSinkFs.make({ directory: dir })
      assert.isTrue(yield* fs.exists(fresh))
      assert.isFalse(yield* fs.exists(old))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("names its temporaries .vt-harvest-tmp-<pid>-<16 random hex digits>", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      const seen = new Set<string>()
      const watcher = nodeFs.watch(dir)
      const nestedWatcher = nodeFs.watch(path.join(dir, "_not_found"))
      watcher.on("change", (_, name) => seen.add(String(name)))
      nestedWatcher.on("change", (_, name) => seen.add(String(name)))
      yield* sink.put(key("abc"), bytes("{}"))
      yield* sink.putNotFound(key("def"), bytes("{}"))
      yield* sink.checkWritable
      yield* Effect.sleep("50 millis")
      watcher.close()
      nestedWatcher.close()
      const temps = [...seen].filter((name) => name.startsWith("."))
      assert.isAtLeast(temps.length, 4, temps.join(", "))
      for (const name of temps) assert.match(name, new RegExp(`^\\.vt-harvest-tmp-${process.pid}-[0-9a-f]{16}$`))
      assert.strictEqual(new Set(temps.map((name) => name.slice(-16))).size, temps.length)
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("ReportSinkFs and symbolic links", () => {
  const secret = key("secret")

  it.scoped("refuses to open a store whose _not_found is a link, read-only or not, and touches nothing", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { outside, snapshot, store } = yield* storeAndOutside
      const link = path.join(store, "_not_found")
      yield* fs.symlink(outside, link)
      const before = yield* snapshot
      for (const readOnly of [false, true]) {
        const error = yield* Effect.flip(ReportSinkFs.make({ directory: store, readOnly }))
        assert.strictEqual(error.operation, "open")
        assert.include(error.message, `refusing ${link}: a symbolic link`)
      }
      assert.deepStrictEqual(yield* snapshot, before)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a _not_found replaced by a link after opening is never written, read or deleted through", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { outside, snapshot, store } = yield* storeAndOutside
      const sink = yield* ReportSinkFs.make({ directory: store })
      const link = path.join(store, "_not_found")
      yield* fs.remove(link, { recursive: true })
      yield* fs.symlink(outside, link)
      const before = yield* snapshot
      const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, ReportSink.SinkError>]> = [
        ["putNotFound", sink.putNotFound(key("other"), bytes("{}"))],
        // A save removes the not-found record of the key: here outside/secret.json. The report itself is written
        // (in the store), the removal refused.
        ["put", sink.put(secret, bytes("{}"))],
        // Not saved: whether it is recorded not found would be read through the link.
        ["has", sink.has(key("unknown"))],
        ["list", Stream.runDrain(sink.list)],
        ["checkWritable", sink.checkWritable]
      ]
      for (const [operation, attempt] of attempts) {
        const error = yield* Effect.flip(attempt)
        assert.strictEqual(error._tag, "SinkError")
        assert.strictEqual(error.operation, operation)
        assert.include(error.message, `refusing ${link}: a symbolic link`)
      }
      assert.deepStrictEqual(yield* snapshot, before)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a record that is a link is no record: not listed, not read, and replaced (the link, not its target)", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { outside, secret: secretFile, snapshot, store } = yield* storeAndOutside
      const sink = yield* ReportSinkFs.make({ directory: store })
      yield* fs.symlink(secretFile, path.join(store, "abc.json"))
      yield* fs.symlink(secretFile, path.join(store, "_not_found", "def.json"))
      yield* fs.symlink(outside, path.join(store, "dir.json"))
      const before = yield* snapshot
      assert.strictEqual(yield* sink.has(key("abc")), "absent")
      assert.strictEqual(yield* sink.has(key("def")), "absent")
      assert.isTrue(Option.isNone(yield* sink.get(key("abc"))))
      assert.deepStrictEqual(yield* listed(sink), [])
      yield* sink.put(key("abc"), bytes("{\"mine\":1}"))
      yield* sink.put(key("def"), bytes("{}"))
      assert.strictEqual(yield* fs.readFileString(path.join(store, "abc.json")), "{\"mine\":1}")
      assert.strictEqual(yield* fs.readLink(path.join(store, "_not_found", "def.json")), secretFile)
      assert.deepStrictEqual(yield* listed(sink), ["saved:abc", "saved:def"])
      assert.deepStrictEqual(yield* snapshot, before)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("with refuseSymlink, a store directory that is a link is refused at open and after", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { outside, snapshot, store } = yield* storeAndOutside
      const analyses = path.join(store, "_analyses")
      yield* fs.symlink(outside, analyses)
      const before = yield* snapshot
      for (const readOnly of [false, true]) {
        const error = yield* Effect.flip(ReportSinkFs.make({ directory: analyses, refuseSymlink: true, readOnly }))
        assert.include(error.message, `refusing ${analyses}: a symbolic link`)
      }
      yield* fs.remove(analyses)
      const sink = yield* ReportSinkFs.make({ directory: analyses, refuseSymlink: true })
      yield* fs.remove(analyses, { recursive: true })
      yield* fs.symlink(outside, analyses)
      const error = yield* Effect.flip(sink.put(key("abc"), bytes("{}")))
      assert.strictEqual(error.operation, "put")
      assert.include(error.message, `refusing ${analyses}: a symbolic link`)
      assert.include((yield* Effect.flip(sink.checkWritable)).message, `refusing ${analyses}`)
      assert.deepStrictEqual(yield* snapshot, before)
      // Without it, the directory given may be a link the user made (an --out on another disk).
      const linked = yield* ReportSinkFs.make({ directory: analyses })
      assert.strictEqual(yield* linked.has(secret), "saved")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("with within, a directory between it and the store that is a link is refused at open and after", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { base, store } = yield* storeAndOutside
      // Outside the store: a directory laid out as the store's would be, for writes that follow a link to find.
      const outside = path.join(base, "elsewhere")
      const relationships = path.join(store, "_relationships")
      const comments = path.join(relationships, "comments")
      const options = { directory: comments, refuseSymlink: true, within: store } as const
      // A link in place of `_relationships` at open: refused before anything is created through it.
      yield* fs.makeDirectory(path.join(outside, "comments", "_not_found"), { recursive: true })
      yield* fs.symlink(outside, relationships)
      for (const readOnly of [false, true]) {
        const error = yield* Effect.flip(ReportSinkFs.make({ ...options, readOnly }))
        assert.include(error.message, `refusing ${relationships}: a symbolic link`)
      }
      yield* fs.remove(relationships)
      // Put there while the store is in use: every step refuses it (an lstat of the store's own path would not see
      // it, as it resolves the link above).
      const sink = yield* ReportSinkFs.make(options)
      yield* sink.put(key("abc"), bytes("{}"))
      yield* fs.remove(relationships, { recursive: true })
      yield* fs.symlink(outside, relationships)
      for (
        const step of [
          sink.put(key("def"), bytes("{}")),
          sink.putNotFound(key("ghi"), bytes("{}")),
          sink.has(key("def"))
        ]
      ) {
        assert.include((yield* Effect.flip(step)).message, `refusing ${relationships}: a symbolic link`)
      }
      assert.deepStrictEqual(yield* fs.readDirectory(path.join(outside, "comments")), ["_not_found"])
      assert.deepStrictEqual(yield* fs.readDirectory(path.join(outside, "comments", "_not_found")), [])
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("ReportSinkFs and files it did not write", () => {
  it.scopedLive("list skips FIFOs, sockets and directories without opening them; has and get see no record", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      yield* sink.put(key("good"), bytes("{}"))
      yield* sink.putNotFound(key("gone"), bytes("{}"))
      const made = spawnSync("mkfifo", [path.join(dir, "fifo.json"), path.join(dir, "_not_found", "nf.json.gz")])
      assert.strictEqual(made.status, 0, String(made.stderr))
      const server = net.createServer()
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(path.join(dir, "sock.json"), () => resume(Effect.void))),
        () => Effect.sync(() => server.close())
      )
      yield* fs.makeDirectory(path.join(dir, "dir.json"))
      assert.deepStrictEqual(yield* listed(sink), ["not-found:gone", "saved:good"])
      for (const name of ["fifo", "sock", "nf"]) {
        assert.strictEqual(yield* sink.has(key(name)), "absent", name)
        assert.isTrue(Option.isNone(yield* sink.get(key(name))), name)
      }
      assert.isTrue(Option.isNone(yield* sink.get(key("dir"))))
      // A reader sees no record in a directory; it writes nothing, so nothing stands in its way.
      const reader = yield* ReportSinkFs.make({ directory: dir, readOnly: true })
      assert.strictEqual(yield* reader.has(key("dir")), "absent")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a record larger than any record can be is listed, and get fails for it alone without reading it", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      yield* sink.put(key("small"), bytes("{}"))
      // Sparse: 100 MiB on paper, nothing on disk; read whole it would cost 100 MiB of memory.
      const huge = path.join(dir, "huge.json")
      nodeFs.closeSync(nodeFs.openSync(huge, "w"))
      nodeFs.truncateSync(huge, 100 * 1024 * 1024)
      assert.deepStrictEqual(yield* listed(sink), ["saved:huge", "saved:small"])
      assert.strictEqual(yield* sink.has(key("huge")), "saved")
      const error = yield* Effect.flip(sink.get(key("huge")))
      assert.strictEqual(error.key, "huge")
      assert.include(error.message, `cannot read ${huge}: ${100 * 1024 * 1024} bytes, more than a record holds`)
      assert.strictEqual(new TextDecoder().decode(Option.getOrThrow(yield* sink.get(key("small")))), "{}")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("a directory where a record is written makes has fail, before anything is fetched for it", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      const sink = yield* ReportSinkFs.make({ directory: dir })
      yield* fs.makeDirectory(path.join(dir, "blocked.json"))
      yield* fs.makeDirectory(path.join(dir, "_not_found", "gone.json"))
      // Without that check, has said "absent", the report was fetched, and the rename onto the directory failed.
      for (const [name, file] of [["blocked", "blocked.json"], ["gone", "_not_found/gone.json"]] as const) {
        const error = yield* Effect.flip(sink.has(key(name)))
        assert.strictEqual(error.operation, "has")
        assert.strictEqual(error.key, name)
        assert.include(error.message, `${path.join(dir, file)} is a directory where a record is written`)
      }
      assert.isTrue(Either.isLeft(yield* Effect.either(sink.put(key("blocked"), bytes("{}")))))
      assert.isTrue(Either.isLeft(yield* Effect.either(sink.putNotFound(key("gone"), bytes("{}")))))
      // A record in the other form is the answer: nothing to write, nothing in the way.
      yield* fs.makeDirectory(path.join(dir, "both.json"))
      const other = yield* ReportSinkFs.make({ directory: dir, gzip: true })
      yield* other.put(key("both"), bytes("{}"))
      assert.strictEqual(yield* sink.has(key("both")), "saved")
      // A directory in the form this store does not write stands in no write's way.
      const gzipped = yield* ReportSinkFs.make({ directory: dir, gzip: true })
      assert.strictEqual(yield* gzipped.has(key("blocked")), "absent")
      yield* gzipped.put(key("blocked"), bytes("{}"))
      assert.strictEqual(yield* gzipped.has(key("blocked")), "saved")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped.skipIf(!permissionsHold)(
    `an unreadable record is listed, and get fails for it alone, naming the file${
      permissionsHold ? "" : whenPermissionsHold
    }`,
    () =>
      Effect.gen(function*() {
        const path = yield* Path.Path
        const base = yield* tempDir
        nodeFs.chmodSync(base, 0o755)
        const dir = path.join(base, "store")
        const writer = yield* ReportSinkFs.make({ directory: dir })
        yield* writer.put(key("locked"), bytes("{\"locked\":1}"))
        yield* writer.put(key("open"), bytes("{\"open\":1}"))
        writableDirectory(dir)
        nodeFs.chmodSync(path.join(dir, "locked.json"), 0o000)
        const { entries, locked, open } = yield* unprivileged(
          Effect.gen(function*() {
            const sink = yield* ReportSinkFs.make({ directory: dir, readOnly: true })
            return {
              entries: yield* listed(sink),
              locked: yield* Effect.either(sink.get(key("locked"))),
              open: yield* sink.get(key("open"))
            }
          })
        )
        assert.deepStrictEqual(entries, ["saved:locked", "saved:open"])
        assert.isTrue(Either.isLeft(locked))
        if (Either.isLeft(locked)) {
          assert.strictEqual(locked.left.operation, "get")
          assert.strictEqual(locked.left.key, "locked")
          assert.include(locked.left.message, `cannot read ${path.join(dir, "locked.json")}`)
          assert.include(locked.left.message, "EACCES")
        }
        assert.strictEqual(new TextDecoder().decode(Option.getOrThrow(open)), "{\"open\":1}")
      }).pipe(Effect.provide(NodeContext.layer))
  )
})
