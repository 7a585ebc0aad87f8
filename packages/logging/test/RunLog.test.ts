import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { RunLog } from "../src/index.js"

// Built from local fields, so the expectations hold in any time zone.
const at = new Date(2024, 4, 7, 18, 53, 28, 59)

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "runlog-" }))

const readLines = (file: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(file)).pipe(
    Effect.map((text) => {
      assert.isTrue(text === "" || text.endsWith("\n"), "the file ends with a complete line")
      return text === "" ? [] : text.slice(0, -1).split("\n")
    })
  )

/** Runs `body` with a run log layer; the layer's scope (and so the flush) ends with it. Returns the log path. */
const withRunLog = <E, R>(options: RunLog.Options, body: Effect.Effect<void, E, R>) =>
  Effect.gen(function*() {
    const { path } = yield* RunLog.RunLogFile
    yield* body
    return path
  }).pipe(Effect.provide(RunLog.layer(options)))

describe("RunLog.formatLine", () => {
  it("matches the seed format exactly", () => {
    assert.strictEqual(
      RunLog.formatLine(at, LogLevel.Info, "start"),
      "2024-05-07 18:53:28,059 -     INFO - start"
    )
  })

  it("names and right-aligns every level", () => {
    const expected: Array<[LogLevel.LogLevel, string]> = [
      [LogLevel.Trace, "   DEBUG"],
      [LogLevel.Debug, "   DEBUG"],
      [LogLevel.Info, "    INFO"],
      [LogLevel.Warning, " WARNING"],
      [LogLevel.Error, "   ERROR"],
      [LogLevel.Fatal, "CRITICAL"]
    ]
    for (const [level, name] of expected) {
      assert.strictEqual(RunLog.formatLine(at, level, "m"), `2024-05-07 18:53:28,059 - ${name} - m`)
      assert.strictEqual(RunLog.levelName(level), name.trim())
    }
  })

  it("pads every date field", () => {
    assert.strictEqual(
      RunLog.formatLine(new Date(2025, 0, 2, 3, 4, 5, 6), LogLevel.Error, "x"),
      "2025-01-02 03:04:05,006 -    ERROR - x"
    )
  })

  it("keeps the message on one line, without control characters", () => {
    const line = RunLog.formatLine(at, LogLevel.Warning, "a\nb\r\nc\u001b[31md\u0000\u2028e\tf")
    assert.strictEqual(line, "2024-05-07 18:53:28,059 -  WARNING - a\\nb\\r\\nc\\u001b[31md\\u0000\\u2028e\\tf")
    // A bidirectional override would show the line's end reversed: made visible too.
    assert.strictEqual(
      RunLog.formatLine(at, LogLevel.Warning, "file \u202egpj.exe \u2066x\u2069"),
      "2024-05-07 18:53:28,059 -  WARNING - file \\u202egpj.exe \\u2066x\\u2069"
    )
    assert.notMatch(line, /[\u0000-\u001f\u007f-\u009f]/)
  })
})

describe("RunLog.fileName", () => {
  it("is YYYYMMDD_HHMMSS.log in local time", () => {
    assert.strictEqual(RunLog.fileName(at), "20240507_185328.log")
    assert.strictEqual(RunLog.fileName(new Date(2025, 0, 2, 3, 4, 5)), "20250102_030405.log")
  })

  it("numbers later runs of the same second", () => {
    assert.strictEqual(RunLog.fileName(at, 1), "20240507_185328_1.log")
    assert.strictEqual(RunLog.fileName(at, 12), "20240507_185328_12.log")
  })
})

describe("RunLog.formatJsonLine", () => {
  it("escapes DEL, C1 controls and U+2028/U+2029, which JSON.stringify leaves raw", () => {
    const message = "a\u007fb\u009b31mc\u009d0;t\u009cd\u2028e\u2029f"
    const line = RunLog.formatJsonLine(at, LogLevel.Info, message)
    assert.notMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/)
    assert.strictEqual(JSON.parse(line).message, message)
  })

  it("writes time, level, message and annotations; annotations cannot replace the core fields", () => {
    const line = RunLog.formatJsonLine(at, LogLevel.Warning, "waiting\nuntil", [
      ["id", "abc"],
      ["count", 3],
      ["level", "forged"],
      ["key", Redacted.make("secret")]
    ])
    assert.notInclude(line, "\n")
    assert.deepStrictEqual(JSON.parse(line), {
      time: at.toISOString(),
      level: "WARNING",
      message: "waiting\nuntil",
      id: "abc",
      count: 3,
      key: "<redacted>"
    })
  })

  it("survives values JSON cannot encode", () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const parsed = JSON.parse(RunLog.formatJsonLine(at, LogLevel.Info, "m", [["big", 10n], ["cyclic", cyclic]]))
    assert.strictEqual(parsed.big, "10")
    assert.deepStrictEqual(parsed.cyclic, { a: 1 })
  })
})

describe("RunLog.layer", () => {
  it.scoped("writes Effect.log calls to <dir>/YYYYMMDD_HHMMSS.log in the seed format", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const file = yield* withRunLog(
        { directory: dir, format: "text" },
        Effect.gen(function*() {
          yield* Effect.log("start")
          yield* Effect.logDebug("not written at the default minimum")
          yield* TestClock.adjust("1500 millis")
          yield* Effect.logWarning("QuotaExceededError... waiting until 2024-05-08T00:00:05.000Z to request again")
          yield* Effect.logError("Error: 500 {\n  \"error\": {}\n}")
          yield* Effect.logFatal("stopping")
        })
      )
      assert.strictEqual(file, path.join(dir, "20240507_185328.log"))
      assert.deepStrictEqual(yield* readLines(file), [
        "2024-05-07 18:53:28,059 -     INFO - start",
        "2024-05-07 18:53:29,559 -  WARNING - QuotaExceededError... waiting until 2024-05-08T00:00:05.000Z to request again",
        "2024-05-07 18:53:29,559 -    ERROR - Error: 500 {\\n  \"error\": {}\\n}",
        "2024-05-07 18:53:29,559 - CRITICAL - stopping"
      ])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("renders several values like Effect's logger, masking Redacted ones", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const file = yield* withRunLog(
        { directory: dir, format: "text" },
        Effect.log("saved", { key: "abc", n: 2 }, 42, Redacted.make("the-api-key"))
      )
      const [line] = yield* readLines(file)
      assert.strictEqual(line, "2024-05-07 18:53:28,059 -     INFO - saved {\"key\":\"abc\",\"n\":2} 42 <redacted>")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("appends a cause on the same line", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const file = yield* withRunLog(
        { directory: dir, format: "text" },
        Effect.logError("request failed", Cause.fail(new Error("boom")))
      )
      const lines = yield* readLines(file)
      assert.strictEqual(lines.length, 1)
      assert.match(lines[0], /^2024-05-07 18:53:28,059 -    ERROR - request failed Error: boom/)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("never overwrites: the next free name is _1, _2, …", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const earlier = path.join(dir, "20240507_185328.log")
      yield* fs.writeFileString(earlier, "an earlier run\n")
      const first = yield* withRunLog({ directory: dir, format: "text" }, Effect.log("first"))
      const second = yield* withRunLog({ directory: dir, format: "text" }, Effect.log("second"))
      assert.strictEqual(first, path.join(dir, "20240507_185328_1.log"))
      assert.strictEqual(second, path.join(dir, "20240507_185328_2.log"))
      assert.strictEqual(yield* fs.readFileString(earlier), "an earlier run\n")
      assert.deepStrictEqual(yield* readLines(first), ["2024-05-07 18:53:28,059 -     INFO - first"])
      assert.deepStrictEqual(yield* readLines(second), ["2024-05-07 18:53:28,059 -     INFO - second"])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("two runs open at the same time get different files", () =>
    Effect.gen(function*() {
      const path = yield* Path.Path
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const [a, b] = yield* Effect.all([
        withRunLog({ directory: dir, format: "text" }, Effect.log("a")),
        withRunLog({ directory: dir, format: "text" }, Effect.log("b"))
      ], { concurrency: 2 })
      assert.deepStrictEqual(
        [a, b].sort(),
        [path.join(dir, "20240507_185328.log"), path.join(dir, "20240507_185328_1.log")]
      )
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("creates the directory", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = path.join(yield* tempDir, "nested", "log")
      yield* TestClock.setTime(at.getTime())
      const file = yield* withRunLog({ directory: dir, format: "text" }, Effect.void)
      assert.isTrue(yield* fs.exists(file))
      assert.deepStrictEqual(yield* readLines(file), [])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("json format writes one object per line with annotations", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const file = yield* withRunLog(
        { directory: dir, format: "json" },
        Effect.gen(function*() {
          yield* Effect.log("requesting abc")
          yield* Effect.logWarning("multi\nline").pipe(Effect.annotateLogs({ id: "abc", attempt: 2 }))
        })
      )
      const lines = yield* readLines(file)
      assert.deepStrictEqual(lines.map((line) => JSON.parse(line)), [
        { time: at.toISOString(), level: "INFO", message: "requesting abc" },
        { time: at.toISOString(), level: "WARNING", message: "multi\nline", id: "abc", attempt: 2 }
      ])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("minLevel Debug writes debug lines once Effect's minimum allows them", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const file = yield* withRunLog(
        { directory: dir, format: "text", minLevel: LogLevel.Debug },
        Effect.gen(function*() {
          yield* Effect.logDebug("debug")
          yield* Effect.logTrace("trace, below the minimum")
        }).pipe(Logger.withMinimumLogLevel(LogLevel.All))
      )
      assert.deepStrictEqual(yield* readLines(file), ["2024-05-07 18:53:28,059 -    DEBUG - debug"])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("minLevel Warning drops info lines", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const file = yield* withRunLog(
        { directory: dir, format: "text", minLevel: LogLevel.Warning },
        Effect.log("info").pipe(Effect.zipRight(Effect.logWarning("warn")))
      )
      assert.deepStrictEqual(yield* readLines(file), ["2024-05-07 18:53:28,059 -  WARNING - warn"])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("keeps every line, in order, under a burst from many fibers", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const file = yield* withRunLog(
        { directory: dir, format: "text" },
        Effect.forEach(
          Array.from({ length: 20 }, (_, f) => f),
          (f) => Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) => Effect.log(`f${f} ${i}`)),
          { concurrency: "unbounded", discard: true }
        )
      )
      const lines = yield* readLines(file)
      assert.strictEqual(lines.length, 2000)
      const byFiber = new Map<string, Array<number>>()
      for (const line of lines) {
        const [, f, i] = / - (f\d+) (\d+)$/.exec(line) ?? []
        byFiber.set(f, [...(byFiber.get(f) ?? []), Number(i)])
      }
      assert.strictEqual(byFiber.size, 20)
      for (const seq of byFiber.values()) {
        assert.deepStrictEqual(seq, Array.from({ length: 100 }, (_, i) => i))
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("each line is in the file once the program has yielded to I/O after logging it", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      yield* Effect.gen(function*() {
        const { path } = yield* RunLog.RunLogFile
        yield* Effect.log("first")
        assert.strictEqual(yield* fs.readFileString(path), "2024-05-07 18:53:28,059 -     INFO - first\n")
        yield* Effect.logWarning("second")
        assert.strictEqual(
          yield* fs.readFileString(path),
          "2024-05-07 18:53:28,059 -     INFO - first\n2024-05-07 18:53:28,059 -  WARNING - second\n"
        )
      }).pipe(Effect.provide(RunLog.layer({ directory: dir, format: "text" })))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("adds its logger next to the others instead of replacing them", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* TestClock.setTime(at.getTime())
      const seen: Array<unknown> = []
      const capture = Logger.add(Logger.make(({ message }) => void seen.push(message)))
      const file = yield* Effect.gen(function*() {
        const { path } = yield* RunLog.RunLogFile
        yield* Effect.log("both")
        return path
      }).pipe(Effect.provide(Layer.merge(RunLog.layer({ directory: dir, format: "text" }), capture)))
      assert.deepStrictEqual(seen, [["both"]])
      assert.deepStrictEqual(yield* readLines(file), ["2024-05-07 18:53:28,059 -     INFO - both"])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("fails with a PlatformError when the directory cannot be created", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const blocker = path.join(yield* tempDir, "file")
      yield* fs.writeFileString(blocker, "x")
      const error = yield* Effect.flip(
        withRunLog({ directory: path.join(blocker, "log"), format: "text" }, Effect.void)
      )
      assert.strictEqual(error._tag, "SystemError")
    }).pipe(Effect.provide(NodeContext.layer)))
})
