import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import { ConsoleLog } from "../src/index.js"

const controls = /[\u0000-\u001f\u007f-\u009f]/

const withNoColor = (value: string | undefined) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(value === undefined ? [] : [["NO_COLOR", value]])))

const withTTY = <A, E, R>(isTTY: boolean, self: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const before = Object.getOwnPropertyDescriptor(process.stderr, "isTTY")
      Object.defineProperty(process.stderr, "isTTY", { value: isTTY, configurable: true, writable: true })
      return before
    }),
    () => self,
    (before) =>
      Effect.sync(() => {
        if (before === undefined) delete (process.stderr as { isTTY?: boolean }).isTTY
        else Object.defineProperty(process.stderr, "isTTY", before)
      })
  )

describe("ConsoleLog.formatLine", () => {
  it("prefixes non-info levels and leaves info plain", () => {
    assert.strictEqual(ConsoleLog.formatLine(LogLevel.Info, "saved abc.json", false), "saved abc.json")
    assert.strictEqual(ConsoleLog.formatLine(LogLevel.Warning, "slow down", false), "warning: slow down")
    assert.strictEqual(ConsoleLog.formatLine(LogLevel.Error, "failed", false), "error: failed")
    assert.strictEqual(ConsoleLog.formatLine(LogLevel.Fatal, "stop", false), "fatal: stop")
    assert.strictEqual(ConsoleLog.formatLine(LogLevel.Debug, "d", false), "debug: d")
    assert.strictEqual(ConsoleLog.formatLine(LogLevel.Trace, "t", false), "debug: t")
  })

  it("has no control characters without colour, even for hostile messages", () => {
    for (const level of LogLevel.allLevels) {
      const line = ConsoleLog.formatLine(level, "id\u001b[2J\nforged line\r\u0007\u009b", false)
      assert.notMatch(line, controls)
      assert.include(line, "id\\u001b[2J\\nforged line\\r\\u0007\\u009b")
    }
  })

  it("colours only the prefix", () => {
    assert.strictEqual(
      ConsoleLog.formatLine(LogLevel.Warning, "w\u001b", true),
      "\u001b[33mwarning:\u001b[0m w\\u001b"
    )
    assert.strictEqual(ConsoleLog.formatLine(LogLevel.Info, "plain", true), "plain")
  })
})

describe("ConsoleLog.colorDefault", () => {
  it.effect("is off when stderr is not a terminal", () =>
    Effect.gen(function*() {
      assert.isFalse(yield* withTTY(false, ConsoleLog.colorDefault.pipe(withNoColor(undefined))))
    }))

  it.effect("is on for a terminal unless NO_COLOR is set to something", () =>
    Effect.gen(function*() {
      assert.isTrue(yield* withTTY(true, ConsoleLog.colorDefault.pipe(withNoColor(undefined))))
      assert.isTrue(yield* withTTY(true, ConsoleLog.colorDefault.pipe(withNoColor(""))))
      assert.isFalse(yield* withTTY(true, ConsoleLog.colorDefault.pipe(withNoColor("1"))))
    }))
})

describe("ConsoleLog.layer", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  const capture = () => {
    const lines: Array<string> = []
    vi.spyOn(console, "error").mockImplementation((...args: Array<unknown>) => void lines.push(args.join(" ")))
    const log = vi.spyOn(console, "log").mockImplementation(() => {})
    return { lines, log }
  }

  it.effect("replaces the default logger: one line per message on stderr", () =>
    Effect.gen(function*() {
      const { lines, log } = capture()
      yield* Effect.gen(function*() {
        yield* Effect.log("saved", "abc.json")
        yield* Effect.logWarning("QuotaExceededError... waiting")
        yield* Effect.logDebug("hidden by default")
        yield* Effect.logError("Error: 500", { code: "TransientError" })
        yield* Effect.log("key", Redacted.make("secret"))
      }).pipe(
        Effect.provide(ConsoleLog.layer({ color: false })),
        // Make sure Effect's default logger (console.log) is installed, as outside tests, so replacing it shows.
        Effect.provide(Logger.add(Logger.defaultLogger))
      )
      assert.deepStrictEqual(lines, [
        "saved abc.json",
        "warning: QuotaExceededError... waiting",
        "error: Error: 500 {\"code\":\"TransientError\"}",
        "key <redacted>"
      ])
      assert.strictEqual(log.mock.calls.length, 0)
    }))

  it.effect("minLevel filters, and causes are summarised on the same line", () =>
    Effect.gen(function*() {
      const { lines } = capture()
      yield* Effect.gen(function*() {
        yield* Effect.log("info")
        yield* Effect.logError("request failed", new Error("boom\nsecond line"))
        yield* Effect.logDebug("debug")
      }).pipe(
        Effect.provide(ConsoleLog.layer({ color: false, minLevel: LogLevel.Warning })),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      assert.deepStrictEqual(lines, ["error: request failed Error: boom\\nsecond line"])
    }))

  it.effect("defaults to no colour off a terminal", () =>
    Effect.gen(function*() {
      const { lines } = capture()
      yield* withTTY(false, Effect.logWarning("w").pipe(Effect.provide(ConsoleLog.layer())))
      assert.deepStrictEqual(lines, ["warning: w"])
    }))
})

describe("ConsoleLog causes", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it.effect("a failure cause is summarised after a colon", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      vi.spyOn(console, "error").mockImplementation((...args: Array<unknown>) => void lines.push(args.join(" ")))
      yield* Effect.fail(new Error("boom")).pipe(
        Effect.catchAllCause((cause) => Effect.logError("item failed", cause)),
        Effect.provide(ConsoleLog.layer({ color: false }))
      )
      assert.deepStrictEqual(lines, ["error: item failed: boom"])
    }))
})
