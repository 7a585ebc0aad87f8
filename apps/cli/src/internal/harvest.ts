import { QuotaGate } from "@vt-harvest/rate-schedule"
import type { ReportKey } from "@vt-harvest/report-sink"
import { ReportSink } from "@vt-harvest/report-sink"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import { Data, Effect, Either, Option, Queue, Stream } from "effect"
import type { Line, Parsed } from "./input.js"
import { classify, lines, quote } from "./input.js"

/** One kind of id the pipeline can harvest (files, URLs, domains, IP addresses). */
export interface Kind {
  readonly command: string
  readonly noun: string
  readonly parse: (input: string) => Either.Either<string, string>
  readonly key: (id: string) => Either.Either<ReportKey.ReportKey, unknown>
  readonly fetch: (client: VtClient.Service, id: string) => Effect.Effect<VtClient.Document, VtError.VtError>
}

/** Counters for the final summary and the progress display. */
export interface Counts {
  saved: number
  notFound: number
  skipped: number
  invalid: number
  failed: number
  done: number
  /** Blank and comment lines: not ids, but lines of the input the progress total counts. */
  ignored: number
}

export const emptyCounts = (): Counts => ({
  saved: 0,
  notFound: 0,
  skipped: 0,
  invalid: 0,
  failed: 0,
  done: 0,
  ignored: 0
})

/** The key was refused (401/403): the run stops at once, exit status 3. */
export class KeyRefused extends Data.TaggedError("KeyRefused")<{ readonly error: VtError.VtError }> {}

/** The store cannot be written: the run stops before burning quota on reports it cannot keep. */
export class StoreFailed extends Data.TaggedError("StoreFailed")<{ readonly error: ReportSink.SinkError }> {}

/** A store operation whose failure stops the run ({@link StoreFailed}). */
export const storeOrStop = <A, R>(self: Effect.Effect<A, ReportSink.SinkError, R>): Effect.Effect<A, StoreFailed, R> =>
  Effect.mapError(self, (error) => new StoreFailed({ error }))

/** An outcome that is counted, then logged: `counted(() => counts.failed++, Effect.logError)`. */
export const counted = (count: () => void, log: (message: string) => Effect.Effect<void>) => (message: string) =>
  Effect.zipRight(Effect.sync(count), log(message))

export interface Options {
  readonly source: string
  readonly concurrency: number
  readonly retryNotFound: boolean
  readonly overwrite: boolean
  readonly counts: Counts
}

const encoder = new TextEncoder()

type Work = Exclude<Parsed, { readonly _tag: "Ignored" }>

/** `Error: <status> <body>`, one line, for the run log and the console. */
export const describeError = (error: VtError.VtError): string => {
  switch (error._tag) {
    case "TransportError":
      return `Error: ${error.reason} ${error.message}`
    case "ResponseDecodeError":
      return `Error: ${error.status} ${error.message}`
    case "InvalidIdError":
      return `Error: invalid ${error.kind} ${error.message}`
    default:
      return `Error: ${error.status} ${oneLine(error.body === "" ? error.message : error.body)}`
  }
}

const oneLine = (text: string, max = 1000): string => {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim()
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}

/**
 * lines → parse/validate/normalise → dedupe → skip what the store has → request through the quota gate
 * → store → counters. Memory stays flat: the store answers "seen before", and only ids in flight (plus
 * the rare ids that failed) are held in memory.
 */
export const run = (kind: Kind, options: Options) =>
  Effect.gen(function*() {
    const sink = yield* ReportSink.ReportSink
    const client = yield* VtClient.VtClient
    const counts = options.counts
    const inFlight = new Set<string>()
    const settled = new Set<string>() // failed ids, and ids fetched this run when --overwrite ignores the store

    const invalid = (line: Line, reason: string) =>
      Effect.sync(() => {
        counts.invalid++
      }).pipe(
        Effect.zipRight(Effect.logWarning(`line ${line.number}: invalid ${kind.noun} ${quote(line.text)}: ${reason}`))
      )

    // Skips are counted, not logged: a resumed run of a million lines would otherwise build a million messages.
    const skip = Effect.sync(() => {
      counts.skipped++
      counts.done++
    })

    // `seen`: what the store said of the key just before (undefined when it was not asked, under --overwrite).
    const fetchOne = (line: Line, id: string, key: ReportKey.ReportKey, seen: ReportSink.Presence | undefined) =>
      QuotaGate.request(
        Effect.logInfo(`requesting ${id}`).pipe(Effect.zipRight(kind.fetch(client, id)))
      ).pipe(
        Effect.matchEffect({
          onSuccess: (document) =>
            sink.put(key, document.raw, { seen }).pipe(
              storeOrStop,
              Effect.zipRight(Effect.sync(() => {
                counts.saved++
              })),
              Effect.zipRight(Effect.logInfo(`saved ${key}.json`))
            ),
          onFailure: (error): Effect.Effect<void, StoreFailed | KeyRefused> => {
            if (VtError.isAuthFailure(error)) {
              return Effect.logError(describeError(error)).pipe(Effect.zipRight(Effect.fail(new KeyRefused({ error }))))
            }
            if (VtError.isNotFound(error)) {
              return sink.putNotFound(key, encoder.encode(error.body)).pipe(
                storeOrStop,
                Effect.zipRight(Effect.sync(() => {
                  counts.notFound++
                })),
                Effect.zipRight(Effect.logInfo(`not found ${id}`))
              )
            }
            return Effect.sync(() => {
              counts.failed++
              settled.add(key)
            }).pipe(
              Effect.zipRight(Effect.logError(`${describeError(error)} (line ${line.number}, ${kind.noun} ${id})`))
            )
          }
        }),
        Effect.ensuring(Effect.sync(() => {
          counts.done++
        }))
      )

    const handle = (line: Line, id: string) =>
      Effect.gen(function*() {
        const key = Option.getOrUndefined(Either.getRight(kind.key(id)))
        if (key === undefined) return yield* invalid(line, "cannot be stored under a safe name")
        // Checked and claimed in one step (no yield in between), so concurrent duplicates cannot both pass.
        if (inFlight.has(key) || settled.has(key)) return yield* skip
        inFlight.add(key)
        if (options.overwrite) settled.add(key)
        return yield* Effect.gen(function*() {
          if (options.overwrite) return yield* fetchOne(line, id, key, undefined)
          const presence = yield* sink.has(key).pipe(storeOrStop)
          if (presence === "saved") return yield* skip
          if (presence === "not-found" && !options.retryNotFound) {
            return yield* skip
          }
          return yield* fetchOne(line, id, key, presence)
        }).pipe(Effect.ensuring(Effect.sync(() => inFlight.delete(key))))
      })

    // A fixed pool of workers taking lines from a small bounded queue: the reader waits while the queue is full,
    // so memory stays flat, and the cost per line is a queue hand-off. (`Stream.mapEffect` with `concurrency`
    // runs each element through its own channel and fiber: about 0.25 ms per line at concurrency 32, more than
    // the request itself costs; see bench/RESULTS.md.) `undefined` tells a worker that the input has ended.
    const workers = Math.max(1, options.concurrency)
    const queue = yield* Queue.bounded<Work | undefined>(Math.max(64, workers * 2))
    const reader = lines(options.source).pipe(
      Stream.runForEachChunk((chunk) => {
        const work: Array<Work> = []
        for (const line of chunk) {
          const parsed = classify(line, kind.parse)
          if (parsed._tag !== "Ignored") work.push(parsed)
          else counts.ignored++
        }
        return Queue.offerAll(queue, work)
      }),
      Effect.zipRight(Queue.offerAll(queue, Array.from({ length: workers }, () => undefined)))
    )
    const worker = Effect.gen(function*() {
      while (true) {
        const work = yield* Queue.take(queue)
        if (work === undefined) return
        yield* work._tag === "Id" ? handle(work.line, work.id) : invalid(work.line, work.reason)
      }
    })
    // Any failure (unreadable input, refused key, unwritable store) interrupts the reader and every worker.
    yield* Effect.all([
      reader,
      Effect.all(Array.from({ length: workers }, () => worker), {
        concurrency: "unbounded",
        discard: true
      })
    ], { concurrency: "unbounded", discard: true }).pipe(
      Effect.ensuring(Queue.shutdown(queue))
    )
  })
