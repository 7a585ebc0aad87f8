import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Inspectable from "effect/Inspectable"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"

const renderPart = (part: unknown): string => {
  // An Error serialises to "{}" as JSON; its own rendering ("SinkError: cannot write …") says far more.
  if (part instanceof Error && part.message !== "") return String(part)
  if (Redacted.isRedacted(part)) return String(part)
  return Inspectable.toStringUnknown(part, 0)
}

/**
 * Renders what was passed to `Effect.log(...)` the way Effect's default logger does (strings as they are, other
 * values as JSON, parts joined by a space), but with compact JSON since the result must fit on one line, errors
 * as `Name: message`, and Redacted values as `<redacted>`.
 *
 * Must be called synchronously from `Logger.log`: Redacted values are only masked while Effect's redactable
 * context is set.
 *
 * @internal
 */
export const renderMessage = (message: unknown): string => Arr.ensure(message).map(renderPart).join(" ")

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" }

// C0 controls, DEL, C1 controls (U+009B is a terminal CSI), the Unicode line/paragraph separators and the
// bidirectional formatting characters (U+202E and its kin reorder what a line shows).

const controls = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/**
 * One line, no control characters: newlines become `\n`, other controls `\u00XX`. Ids in messages come from
 * user input, which must not be able to forge log lines or send escape sequences to a terminal.
 *
 * @internal
 */
export const flatten = (s: string): string =>
  s.replace(controls, (ch) => named[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** @internal */
export const renderCause = (cause: Cause.Cause<unknown>): string | undefined =>
  Cause.isEmptyType(cause) ? undefined : Cause.pretty(cause, { renderErrorCause: true })

/** @internal */
export const renderCauseBrief = (cause: Cause.Cause<unknown>): string | undefined => {
  if (Cause.isEmptyType(cause)) return undefined
  const messages = Cause.prettyErrors(cause).map((error) => error.message)
  return messages.length > 0 ? messages.join("; ") : Cause.pretty(cause).split("\n")[0]
}

/** @internal */
export const atLeast = (minLevel: LogLevel.LogLevel) => (level: LogLevel.LogLevel): boolean =>
  LogLevel.greaterThanEqual(level, minLevel)
