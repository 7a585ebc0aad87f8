/**
 * How a failed request ends: the item fails, or the whole run stops. Decided here once, for every command.
 */
import type { ReportSink } from "@vt-harvest/report-sink"
import { VtError } from "@vt-harvest/vt-client"
import { Data, Effect } from "effect"
import * as Text from "../internal/text.js"
import * as Outcome from "./Outcome.js"
import * as StoreHealth from "./StoreHealth.js"

/** The key was refused (any 401 or 403, whatever the body): the run stops at once, exit status 3. */
export class KeyRefused extends Data.TaggedError("KeyRefused")<{ readonly error: VtError.VtError }> {}

/** The connection to VirusTotal cannot be trusted (a TLS or certificate error): the run stops, exit status 1. */
export class Untrusted extends Data.TaggedError("Untrusted")<{ readonly error: VtError.TransportError }> {}

/** The store cannot be written: the run stops before spending quota on reports it cannot keep, exit status 1. */
export class StoreFailed extends Data.TaggedError("StoreFailed")<{ readonly error: ReportSink.SinkError }> {}

/** What stops a run before its input ends. */
export type Stop = KeyRefused | Untrusted | StoreFailed

/**
 * A store operation whose failure an item can do without (a record that only saves work): a store that does not
 * answer still stops the run, as {@link storeOrStop} does; any other failure (that record unreadable) is `orElse`'s.
 */
export const storeOrElse = <A, B, E, R, R2>(
  self: Effect.Effect<A, ReportSink.SinkError, R>,
  orElse: (error: ReportSink.SinkError) => Effect.Effect<B, E, R2>
): Effect.Effect<A | B, StoreFailed | E, R | R2> =>
  Effect.matchEffect(self, {
    // A store that does not answer (tried again, in vain) stops the run: the way stays closed until it ends.
    onFailure: (error): Effect.Effect<B, StoreFailed | E, R2> =>
      StoreHealth.failing() ? Effect.fail(new StoreFailed({ error })) : orElse(error),
    // An operation that succeeds while StoreHealth has the way closed tells it.
    onSuccess: (a) => (StoreHealth.failing() ? Effect.as(StoreHealth.answered, a) : Effect.succeed(a))
  })

/** A store operation whose failure stops the run. */
export const storeOrStop = <A, R>(self: Effect.Effect<A, ReportSink.SinkError, R>): Effect.Effect<A, StoreFailed, R> =>
  storeOrElse(self, (error) => Effect.fail(new StoreFailed({ error })))

/** `Error: <status> <body>`, one line with control characters escaped, for the run log and the console. */
export const describeError = (error: VtError.VtError): string => {
  switch (error._tag) {
    case "TransportError":
      // "Other" names no reason: the message says it.
      return `Error: ${error.reason === "Other" ? "" : `${error.reason} `}${Text.oneLine(error.message)}`
    case "ResponseDecodeError":
      return `Error: ${error.status} ${Text.oneLine(error.message)}`
    case "RejectedResponseError":
      return `Error: ${error.status} ${error.reason}: ${Text.oneLine(error.message)}`
    case "InvalidIdError":
      return `Error: invalid ${error.kind} ${Text.oneLine(error.message)}`
    default:
      // The code is the server's text too: flattened like its body, whatever prints the line.
      return `Error: ${error.status} ${Text.oneLine(error.code, 200)} ${
        Text.oneLine(error.body === "" ? error.message : error.body)
      }`
  }
}

/** The stop a failed request means for the whole run (a refused key, an untrusted connection), if any. */
export const stopFor = (error: VtError.VtError): Stop | undefined =>
  VtError.isAuthFailure(error)
    ? new KeyRefused({ error })
    : VtError.isTlsFailure(error)
    ? new Untrusted({ error })
    : undefined

/** Stops the run; a refused key also names VirusTotal's answer in the log. */
const stop = (reason: Stop): Effect.Effect<never, Stop> =>
  reason._tag === "KeyRefused"
    ? Effect.zipRight(Effect.logError(describeError(reason.error)), Effect.fail(reason))
    : Effect.fail(reason)

/**
 * A request of the item described by `where` failed with `error`: a refused key or an untrusted connection stops
 * the run (the gate has already stopped every other request); anything else fails this item only.
 */
export const classify =
  (where: string, also: ReadonlyArray<Outcome.Counter> = []) =>
  (error: VtError.VtError): Effect.Effect<Outcome.Outcome, Stop> => {
    const reason = stopFor(error)
    return reason === undefined
      ? Effect.succeed(Outcome.failed(`${describeError(error)} (${where})`, also))
      : stop(reason)
  }

/** A fault of the program's own (a defect), in one short line: `unexpected failure: RangeError: Invalid time value`. */
export const describeDefect = (defect: unknown): string => {
  let text = "a value that cannot be shown"
  try {
    text = defect instanceof Error ? `${defect.name}: ${defect.message}` : String(defect)
  } catch {
    // An object without a string form (Object.create(null)).
  }
  return `unexpected failure: ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`
}

/** The same decision for a request made outside the item pipeline (the start-up quota read): stop, or `orElse`. */
export const stopOr = <A>(error: VtError.VtError, orElse: Effect.Effect<A>): Effect.Effect<A, Stop> => {
  const reason = stopFor(error)
  return reason === undefined ? orElse : stop(reason)
}
