/**
 * Analyses: what an upload, a URL submission or a rescan starts. An analysis goes `queued` → `in-progress` →
 * `completed`; {@link wait} polls it on a Schedule (bounded, configurable) and reports every state it sees.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { decode, segment, toDocument, withClient } from "./internal/api.js"
import { shown } from "./internal/request.js"
import type * as VtClient from "./VtClient.js"
import * as VtError from "./VtError.js"
import * as VtObject from "./VtObject.js"

/**
 * What a submission answers: `{"data":{"type":"analysis","id":…}}`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Descriptor {
  readonly id: string
  /** The answer as received. */
  readonly raw: Uint8Array
}

/**
 * `queued`, `in-progress` or `completed` (any other status VirusTotal may add is passed through).
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "queued" | "in-progress" | "completed" | (string & {})

/**
 * `meta.file_info` of a file analysis.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FileInfo = Schema.Struct({
  sha256: Schema.String,
  sha1: Schema.optional(Schema.String),
  md5: Schema.optional(Schema.String),
  size: Schema.optional(Schema.Number)
})

/**
 * `meta.url_info` of a URL analysis.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UrlInfo = Schema.Struct({ id: Schema.String, url: Schema.optional(Schema.String) })

const AnalysisDocument = Schema.Struct({
  data: Schema.Struct({
    type: Schema.String,
    id: Schema.String,
    attributes: Schema.Struct({
      status: Schema.String,
      date: Schema.optional(Schema.Number),
      stats: Schema.optional(VtObject.AnalysisStats),
      results: Schema.optional(VtObject.EngineResults)
    })
  }),
  meta: Schema.optional(Schema.Struct({
    file_info: Schema.optional(FileInfo),
    url_info: Schema.optional(UrlInfo)
  }))
})

/**
 * An analysis, typed; `raw` is the answer as received and `data` the whole object.
 *
 * @since 0.1.0
 * @category models
 */
export interface Analysis {
  readonly raw: Uint8Array
  readonly data: VtObject.VtObject
  readonly id: string
  readonly status: Status
  readonly date: Option.Option<Date>
  readonly stats: VtObject.AnalysisStats
  readonly results: { readonly [engine: string]: VtObject.EngineResult }
  readonly fileInfo: Option.Option<typeof FileInfo.Type>
  readonly urlInfo: Option.Option<typeof UrlInfo.Type>
}

const AnalysisState = Schema.declare(
  (u: unknown): u is Analysis => Predicate.hasProperty(u, "raw") && Predicate.hasProperty(u, "status"),
  { identifier: "Analysis" }
)

/**
 * The schedule was exhausted before the analysis completed. `status` is the last state seen, `polls` how many
 * requests were made, `last` the last state itself (to store or show: it is the freshest VirusTotal said).
 *
 * @since 0.1.0
 * @category errors
 */
export class AnalysisTimeoutError extends Schema.TaggedError<AnalysisTimeoutError>()("AnalysisTimeoutError", {
  id: Schema.String,
  status: Schema.String,
  polls: Schema.Number,
  message: Schema.String,
  /** @since 0.2.0 */
  last: Schema.optional(AnalysisState)
}) {}

const zeroStats: VtObject.AnalysisStats = Schema.decodeSync(VtObject.AnalysisStats)({})

/**
 * `GET /analyses/{id}`.
 *
 * @since 0.1.0
 * @category requests
 */
export const get = (id: string): Effect.Effect<Analysis, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const path = `/analyses/${yield* segment(vt, "analysis_id", id)}`
      const response = yield* vt.getJson(path)
      const document = yield* toDocument(vt, response, "GET", path)
      const typed = yield* decode(vt, AnalysisDocument, response, "GET", path)
      // Stored under the id asked for: an answer about another object is none of it.
      if (typed.data.type !== "analysis" || typed.data.id !== id) {
        return yield* Effect.fail(
          new VtError.RejectedResponseError({
            status: response.status,
            reason: "UnexpectedObject",
            message: vt.redact(
              `GET ${vt.baseUrl}${path}: ${
                typed.data.type === "analysis" ? "the analysis" : `a ${shown(typed.data.type)} object`
              } ${shown(typed.data.id)}; not the object asked for`
            )
          })
        )
      }
      const attributes = typed.data.attributes
      return {
        raw: response.raw,
        data: document.data,
        id: typed.data.id,
        status: attributes.status,
        date: Option.map(Option.fromNullable(attributes.date), (s) => new Date(s * 1000)),
        stats: attributes.stats ?? zeroStats,
        results: attributes.results ?? {},
        fileInfo: Option.fromNullable(typed.meta?.file_info),
        urlInfo: Option.fromNullable(typed.meta?.url_info)
      }
    })
  )

/**
 * `GET /analyses/{id}/item`: the analysed file or URL object. Before the analysis completes VirusTotal may answer
 * `NotAvailableYet`.
 *
 * @since 0.1.0
 * @category requests
 */
export const item = (id: string): Effect.Effect<VtObject.Document, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) => Effect.flatMap(segment(vt, "analysis_id", id), (s) => vt.getObject(`/analyses/${s}/item`)))

/**
 * True for a completed analysis.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isCompleted = (analysis: Analysis): boolean => analysis.status === "completed"

/**
 * How {@link poll} and {@link wait} space their requests: every 20 s (as vt-py does), for at most 10 minutes (as
 * vt-cli does), about 31 requests at most.
 *
 * @since 0.1.0
 * @category schedules
 */
export const defaultSchedule: Schedule.Schedule<unknown> = Schedule.spaced(Duration.seconds(20)).pipe(
  Schedule.upTo(Duration.minutes(10))
)

/**
 * How {@link poll} and {@link wait} space their requests. Pass a short schedule against the emulator (whose
 * analyses complete on its own clock) and keep the default against VirusTotal.
 *
 * @since 0.1.0
 * @category models
 */
export interface WaitOptions {
  /** Spacing and bound of the polls after the first (default {@link defaultSchedule}). */
  readonly schedule?: Schedule.Schedule<unknown, Analysis> | undefined
  /**
   * Wait this long before the first poll (default none): an analysis just submitted is never completed at once,
   * and every poll counts against the quota.
   *
   * @since 0.2.0
   */
  readonly initialDelay?: Duration.DurationInput | undefined
}

/**
 * The polls of a wait spaced `interval` apart (from the end of one to the start of the next, so a poll held back
 * does not make the next one come sooner), none starting once `timeout` has passed since the first.
 *
 * @since 0.2.0
 * @category schedules
 */
export const spacedUpTo = (
  interval: Duration.DurationInput,
  timeout: Duration.DurationInput
): Schedule.Schedule<unknown> => {
  const spacing = Duration.decode(interval)
  const bound = Duration.decode(timeout)
  // The next poll would start after the bound: stop now rather than wait for nothing.
  return Schedule.spaced(spacing).pipe(
    Schedule.whileOutput(() => true),
    Schedule.upTo(Duration.subtract(bound, Duration.min(spacing, bound)))
  )
}

/**
 * Every state of the analysis, one request per element: the first at once, the next ones as the schedule says,
 * ending with the completed analysis. If the schedule ends first, the stream fails with
 * {@link AnalysisTimeoutError}. Each request counts against the quota.
 *
 * @since 0.1.0
 * @category requests
 */
export const poll = (
  id: string,
  options?: WaitOptions
): Stream.Stream<Analysis, VtError.VtError | AnalysisTimeoutError, VtClient.VtClient> =>
  Stream.suspend(() => {
    let last: Analysis | undefined
    let polls = 0
    const first = options?.initialDelay === undefined ? Effect.void : Effect.sleep(options.initialDelay)
    return Stream.fromEffect(first).pipe(
      Stream.drain,
      Stream.concat(Stream.repeatEffectWithSchedule(
        Effect.tap(get(id), (analysis) =>
          Effect.sync(() => {
            last = analysis
            polls++
          })),
        options?.schedule ?? defaultSchedule
      ))
    ).pipe(
      Stream.takeUntil(isCompleted),
      Stream.concat(Stream.suspend(() =>
        last !== undefined && isCompleted(last)
          ? Stream.empty
          : Stream.fail(
            new AnalysisTimeoutError({
              id,
              status: last?.status ?? "unknown",
              polls,
              message: `analysis ${id} still ${last?.status ?? "unknown"} after ${polls} polls`,
              last
            })
          )
      ))
    )
  })

/**
 * Polls until the analysis is completed and answers it. `onProgress` sees every state polled (the completed one
 * included), for a progress display.
 *
 * @since 0.1.0
 * @category requests
 */
export const wait = (
  id: string,
  options?: WaitOptions & {
    readonly onProgress?: ((analysis: Analysis) => Effect.Effect<void>) | undefined
  }
): Effect.Effect<Analysis, VtError.VtError | AnalysisTimeoutError, VtClient.VtClient> =>
  poll(id, options).pipe(
    Stream.tap((analysis) => options?.onProgress?.(analysis) ?? Effect.void),
    Stream.runLast,
    Effect.flatMap(Option.match({
      // poll ends with a completed analysis or fails: never reached.
      onNone: () => Effect.dieMessage("Analysis.poll ended without a state"),
      onSome: Effect.succeed
    }))
  )
