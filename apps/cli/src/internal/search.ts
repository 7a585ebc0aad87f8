/**
 * The plan of `search`: the objects an Intelligence query finds, page after page through the gated client, each
 * written to stdout as it arrives (one id a line, or one JSON object a line), waiting for the reader when the pipe is
 * full: `vt-harvest search … | vt-harvest files -` holds no more than a page in memory however slow the reader.
 */
import { Intelligence, type VtObject } from "@vt-harvest/vt-client"
import type { Ref } from "effect"
import { Effect, Stream } from "effect"
import * as Failure from "../engine/Failure.js"
import type * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Steps from "../engine/Steps.js"
import * as Text from "./text.js"

export type Format = "ids" | "ndjson"

/** What an id must look like to be printed as a line: printable ASCII, no spaces (anything else could fake a line). */
const printable = /^[\x21-\x7e]{1,512}$/

/** Writes one line to stdout; resolves once the pipe took it (or at once, when it has room). */
const writeLine = (line: string): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (process.stdout.write(`${line}\n`)) return resume(Effect.void)
    // A closed stdout never drains: bin.ts stops the run then (as SIGTERM would), which interrupts this wait.
    process.stdout.once("drain", () => resume(Effect.void))
  })

/** The line an object comes to, or why it is not printed. */
export const lineOf = (
  object: VtObject.VtObject,
  format: Format
): { readonly line: string } | { readonly why: string } =>
  !printable.test(object.id)
    ? { why: `skipped a ${Text.quote(object.type, 40)} object whose id ${Text.quote(object.id, 80)} is not printable` }
    : format === "ids" && object.id.startsWith("#")
    ? {
      why: `skipped a ${Text.quote(object.type, 40)} object whose id ${
        Text.quote(object.id, 80)
      } starts with #, which a list of ids reads as a comment`
    }
    : format === "ids"
    ? { line: object.id }
    : { line: Text.json(object) }

/**
 * Runs the query, at most `limit` objects. A refused key (a key without the privilege is answered 403) stops the run
 * (exit 3) after that one request; any other failure is counted as failed (exit 1) once the ids before it are out.
 */
export const search = (
  query: string,
  options: { readonly limit: number | undefined; readonly format: Format },
  tally: Ref.Ref<Outcome.Tally>
) =>
  Steps.requesting(`search ${Text.quote(query, 200)}`)(
    Intelligence.search(query, {
      limit: options.limit,
      onStop: Steps.collectionStopped(`search ${Text.quote(query, 200)}`)
    }).pipe(
      Stream.runForEach((object) => {
        const out = lineOf(object, options.format)
        return "why" in out
          ? Effect.logWarning(out.why)
          : Effect.zipRight(writeLine(out.line), Pipeline.step(tally, "found"))
      })
    )
  ).pipe(
    Effect.catchAll((error) =>
      Effect.flatMap(Failure.classify(`search ${Text.quote(query, 200)}`)(error), Pipeline.record(tally))
    )
  )
