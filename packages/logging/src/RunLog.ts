/**
 * The run log: one file per run that records what was requested, saved, not found, waited for and why a run
 * ended, so a long unattended harvest can be audited afterwards.
 *
 * Text lines keep the seed tool's format, `2024-05-07 18:53:28,059 -     INFO - message`, so existing habits and
 * scripts (grep, awk on ` - `) keep working; `format: "json"` writes one JSON object per line instead.
 *
 * @since 0.1.0
 */
import type * as PlatformError from "@effect/platform/Error"
import { SystemError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as NFS from "node:fs"
import { atLeast, flatten, renderCause, renderMessage } from "./internal/render.js"

/**
 * The name a level has in the run log. Effect's levels map onto the seed's (Python logging) names: `Fatal` is
 * `CRITICAL`, `Warning` is `WARNING`, and `Trace`, which the seed did not have, is written as `DEBUG`.
 *
 * @since 0.1.0
 * @category utils
 */
export const levelName = (level: LogLevel.LogLevel): string => {
  switch (level._tag) {
    case "Fatal":
      return "CRITICAL"
    case "Error":
      return "ERROR"
    case "Warning":
      return "WARNING"
    case "Info":
      return "INFO"
    case "Debug":
    case "Trace":
      return "DEBUG"
    default:
      return level.label
  }
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/**
 * The file name of a run started at `date` (local time): `YYYYMMDD_HHMMSS.log`, or `YYYYMMDD_HHMMSS_<n>.log` for
 * the `n`-th run started in the same second.
 *
 * @since 0.1.0
 * @category utils
 */
export const fileName = (date: Date, n: number = 0): string => {
  const stamp = `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}_${pad(date.getHours())}${
    pad(date.getMinutes())
  }${pad(date.getSeconds())}`
  return n === 0 ? `${stamp}.log` : `${stamp}_${n}.log`
}

const timestamp = (date: Date): string =>
  `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${
    pad(date.getMinutes())
  }:${pad(date.getSeconds())},${pad(date.getMilliseconds(), 3)}`

/**
 * One text line, without the line break: `2024-05-07 18:53:28,059 -     INFO - message`. Local time, milliseconds
 * after a comma, the level name right-aligned to 8 characters; the message is flattened to one line (newlines
 * escaped as `\n`, other control characters as `\u00XX`) so that each line is exactly one event.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatLine = (date: Date, level: LogLevel.LogLevel, message: string): string =>
  `${timestamp(date)} - ${levelName(level).padStart(8)} - ${flatten(message)}`

const reserved = new Set(["time", "level", "message", "cause"])

const jsonValue = (value: unknown): unknown => {
  try {
    // Round-trip through Effect's stringifier: handles cycles and masks Redacted values.
    const text = Inspectable.stringifyCircular(value, 0)
    return text === undefined ? String(value) : JSON.parse(text)
  } catch {
    return String(value)
  }
}

/**
 * One JSON line, without the line break: `{"time":"<ISO 8601 UTC>","level":"INFO","message":"…"}` followed by the
 * log annotations as extra fields (an annotation cannot replace `time`, `level`, `message` or `cause`). Control
 * characters are escaped, C1 and U+2028/U+2029 included.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatJsonLine = (
  date: Date,
  level: LogLevel.LogLevel,
  message: string,
  extra: Iterable<readonly [string, unknown]> = [],
  cause?: string
): string => {
  const record: Record<string, unknown> = { time: date.toISOString(), level: levelName(level), message }
  if (cause !== undefined) record.cause = cause
  for (const [key, value] of extra) {
    if (!reserved.has(key)) record[key] = jsonValue(value)
  }
  // JSON.stringify leaves DEL, the C1 controls (U+009B is a terminal's CSI) and U+2028/U+2029 as they are: escaped
  // here, so that `cat` or `tail -f` of the log cannot drive a terminal and every line stays one event.
  return JSON.stringify(record).replace(
    /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )
}

/**
 * The file the current run logs to, for messages such as "log written to …".
 *
 * @since 0.1.0
 * @category models
 */
export class RunLogFile extends Context.Tag("@vt-harvest/logging/RunLogFile")<RunLogFile, {
  readonly path: string
}>() {}

/**
 * Where the run log goes and in which format (`text`: the seed tool's line format, `json`: JSON lines).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where run logs go (created if missing); the file path keeps this form, relative or absolute. */
  readonly directory: string
  readonly format: "text" | "json"
  /**
   * The lowest level written to the file (default `Info`). Effect itself drops messages below the fiber's minimum
   * log level (also `Info` by default) before any logger sees them: to get `Debug` lines, also lower that one
   * with `Logger.minimumLogLevel`.
   */
  readonly minLevel?: LogLevel.LogLevel
}

const maxAttempts = 1000

const systemError = (method: string, path: string, cause: unknown): PlatformError.PlatformError => {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  const reason = code === "EEXIST"
    ? "AlreadyExists"
    : code === "ENOENT"
    ? "NotFound"
    : code === "EACCES" || code === "EPERM"
    ? "PermissionDenied"
    : code === "EISDIR" || code === "ENOTDIR"
    ? "BadResource"
    : "Unknown"
  return new SystemError({
    reason,
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    description: cause instanceof Error ? cause.message : String(cause),
    cause
  })
}

// "wx": created by this run or not at all, so an earlier run's log is never appended to or replaced.
const openExclusive = (
  path: Path.Path,
  directory: string,
  date: Date
): Effect.Effect<{ readonly fd: number; readonly path: string }, PlatformError.PlatformError> => {
  const attempt = (
    n: number
  ): Effect.Effect<{ readonly fd: number; readonly path: string }, PlatformError.PlatformError> => {
    const candidate = path.join(directory, fileName(date, n))
    return Effect.try({
      try: () => ({ fd: NFS.openSync(candidate, "wx", 0o644), path: candidate }),
      catch: (cause) => systemError("open", candidate, cause)
    }).pipe(
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "AlreadyExists" && n + 1 < maxAttempts,
        () => attempt(n + 1)
      )
    )
  }
  return attempt(0)
}

const writeFully = (fd: number, bytes: Uint8Array): void => {
  let offset = 0
  while (offset < bytes.length) {
    offset += NFS.writeSync(fd, bytes, offset, bytes.length - offset)
  }
}

/**
 * Creates this run's log file and adds a logger writing to it (with `Logger.add`, so a console logger keeps
 * working alongside).
 *
 * The lines logged in one turn of the event loop are written together at the end of that turn (one `write` system
 * call), and whatever is pending is written before the file is closed and when the process exits (`process.exit`
 * included). So a line is in the file by the time the code that logged it yields to I/O; a process killed outright
 * (SIGKILL) loses at most the lines of the turn it was in, never a part of a line. The file is closed when the
 * layer's scope closes. A failing write (disk full) is reported once on stderr and the run goes on: losing log lines must not
 * stop a harvest. The directory is created with the `FileSystem` service; the file itself is written with
 * `node:fs`, because the `FileSystem` service has no synchronous write.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<RunLogFile, PlatformError.PlatformError, FileSystem.FileSystem | Path.Path> =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const enabled = atLeast(options.minLevel ?? LogLevel.Info)

    yield* fs.makeDirectory(options.directory, { recursive: true })
    const started = new Date(yield* Clock.currentTimeMillis)
    const state = { closed: false, reported: false }
    const { fd, path: logPath } = yield* Effect.acquireRelease(
      openExclusive(path, options.directory, started),
      ({ fd }) =>
        Effect.sync(() => {
          if (scheduled !== undefined) clearImmediate(scheduled)
          process.removeListener("exit", flush)
          flush()
          state.closed = true
        }).pipe(Effect.zipRight(Effect.try(() => NFS.closeSync(fd))), Effect.ignore)
    )

    // Lines logged in one turn of the event loop are written together, at the end of that turn: one write for the
    // dozens of lines a busy harvest logs at once instead of one each. A line is on disk (in the OS's cache) as soon
    // as the code that logged it yields to I/O, and everything is written before the file is closed.
    const encoder = new TextEncoder()
    let pending: Array<string> = []
    let scheduled: NodeJS.Immediate | undefined
    const flush = (): void => {
      scheduled = undefined
      if (pending.length === 0) return
      const text = pending.length === 1 ? pending[0] : pending.join("")
      pending = []
      try {
        writeFully(fd, encoder.encode(text))
      } catch (cause) {
        if (!state.reported) {
          state.reported = true
          process.stderr.write(`cannot write run log ${logPath}: ${cause instanceof Error ? cause.message : cause}\n`)
        }
      }
    }
    const write = (line: string): void => {
      if (state.closed) return
      pending.push(line)
      scheduled ??= setImmediate(flush)
    }
    // A program that ends with process.exit (a closed pipe, say) ends before the next turn: its lines are written
    // on the way out.
    process.on("exit", flush)

    const logger = Logger.make<unknown, void>(({ annotations, cause, date, logLevel, message }) => {
      if (!enabled(logLevel)) return
      const text = renderMessage(message)
      const causeText = renderCause(cause)
      write(
        (options.format === "json"
          ? formatJsonLine(date, logLevel, text, annotations, causeText)
          : formatLine(date, logLevel, causeText === undefined ? text : `${text} ${causeText}`)) + "\n"
      )
    })

    return Layer.merge(Layer.succeed(RunLogFile, { path: logPath }), Logger.add(logger))
  }))
