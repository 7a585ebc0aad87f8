/**
 * The human logger: one short line per message on stderr, `warning: quota exceeded…`, `error: …`, and plain text
 * for info. No timestamps or fiber ids (the run log has those), and no control characters at all unless colour is
 * on, so output piped to a file or another program stays clean.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { atLeast, flatten, renderCauseBrief, renderMessage } from "./internal/render.js"

/**
 * What the console logger prints: the lowest level, and whether the level prefix is coloured.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The lowest level printed (default `Info`); Effect's own minimum log level applies first. */
  readonly minLevel?: LogLevel.LogLevel
  /** ANSI colours for the level prefix. Default: {@link colorDefault}. */
  readonly color?: boolean
}

const prefixes: Record<string, { readonly name: string; readonly ansi: string }> = {
  Fatal: { name: "fatal", ansi: "\u001b[1;31m" },
  Error: { name: "error", ansi: "\u001b[31m" },
  Warning: { name: "warning", ansi: "\u001b[33m" },
  Debug: { name: "debug", ansi: "\u001b[2m" },
  Trace: { name: "debug", ansi: "\u001b[2m" }
}

const reset = "\u001b[0m"

/**
 * One console line, without the line break: `warning: message`, `error: message`, `debug: message`, `fatal:
 * message`, or the bare message at `Info`. The message is flattened to one line with control characters escaped
 * (ids in messages come from user input); with `color`, only the prefix is coloured.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatLine = (level: LogLevel.LogLevel, message: string, color: boolean): string => {
  const text = flatten(message)
  const prefix = prefixes[level._tag]
  if (prefix === undefined) return text
  return color ? `${prefix.ansi}${prefix.name}:${reset} ${text}` : `${prefix.name}: ${text}`
}

/**
 * Colour by default only when stderr is a terminal and `NO_COLOR` is unset or empty (https://no-color.org).
 * `NO_COLOR` is read through Effect's `ConfigProvider`, so tests and embedding programs can set it.
 *
 * @since 0.1.0
 * @category utils
 */
export const colorDefault: Effect.Effect<boolean> = Config.option(Config.string("NO_COLOR")).pipe(
  Effect.map((noColor) =>
    Option.match(noColor, { onNone: () => true, onSome: (value) => value === "" }) &&
    typeof process === "object" && process.stderr?.isTTY === true
  ),
  Effect.orElseSucceed(() => false)
)

/**
 * The logger itself, writing through the `Console` service's `error` (stderr by default), or through `write`
 * when given (a progress display that must clear its line before a message is printed, for one).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: {
    readonly minLevel?: LogLevel.LogLevel
    readonly color: boolean
    readonly write?: (line: string) => void
  }
): Logger.Logger<unknown, Option.Option<void>> => {
  const enabled = atLeast(options.minLevel ?? LogLevel.Info)
  const format = Logger.make<unknown, string>(({ cause, logLevel, message }) => {
    const text = renderMessage(message)
    const brief = renderCauseBrief(cause)
    return formatLine(logLevel, brief === undefined ? text : `${text}: ${brief}`, options.color)
  })
  const write = options.write
  const logger = write === undefined ? Logger.withConsoleError(format) : Logger.map(format, (line) => write(line))
  return logger.pipe(Logger.filterLogLevel(enabled))
}

/**
 * Replaces Effect's default logger (which prints logfmt to stdout) with this one; a run log added with
 * `RunLog.layer` keeps working alongside.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<never> =>
  Logger.replaceEffect(
    Logger.defaultLogger,
    Effect.map(
      options.color === undefined ? colorDefault : Effect.succeed(options.color),
      (color) => make(options.minLevel === undefined ? { color } : { color, minLevel: options.minLevel })
    )
  )
