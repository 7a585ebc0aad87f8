/**
 * The plan of one id for `files`, `urls`, `domains` and `ips`: its report (with the first page of each relationship
 * asked, still one request), its further relationship pages, its behaviours, the submission of an unknown URL.
 */
import type { ReportKey } from "@vt-harvest/report-sink"
import { ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import { Analysis, VtClient, VtError } from "@vt-harvest/vt-client"
import type { Ref } from "effect"
import { Clock, Duration, Effect, Either, Layer, Option, Stream } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Steps from "../engine/Steps.js"
import * as Analyses from "./analyses.js"
import * as Behaviours from "./behaviours.js"
import * as Input from "./input.js"
import * as Kinds from "./kinds.js"
import * as Relationships from "./relationships.js"
import * as Rescans from "./rescans.js"
import * as Submission from "./submission.js"
import * as Uploads from "./uploads.js"

/** `url` as the WHATWG URL parser writes it, or undefined when it is no URL. */
const parsedUrl = (url: string): string | undefined => {
  try {
    return new URL(url).href
  } catch {
    return undefined
  }
}

/**
 * Whether the URL of an analysis (`meta.url_info`) is `url`, stored under `key`: as listed, or as a URL parser writes
 * both (VirusTotal may give it back with its scheme and host in lower case, or a `/` for an empty path), or by its key.
 */
export const sameUrl = (
  info: { readonly id: string; readonly url?: string | undefined },
  url: string,
  key: string
): boolean =>
  info.id.toLowerCase() === key ||
  (info.url !== undefined &&
    (info.url === url || (parsedUrl(url) !== undefined && parsedUrl(info.url) === parsedUrl(url))))

/**
 * The plan: each id of `input` → its report (with the first page of each relationship asked, still one request)
 * saved, after the further relationship pages and the behaviours asked are kept in their own stores; or its
 * not-found record; or skipped when the store has it with everything asked. A saved report lacking only behaviours
 * costs only their requests. With `rescan`, a report (saved or just fetched) analysed longer ago than its age is
 * analysed again (`POST …/analyse`, the analysis waited for and kept), fetched again and put over the saved one: the
 * store replaces it in one step, so the saved report is the old one or the new one, never absent or partial.
 */
export const harvest = (
  kind: Kinds.Kind,
  options: {
    readonly input: string
    readonly concurrency: number
    readonly overwrite: boolean
    readonly retryNotFound: boolean
    /** None by default. */
    readonly relationships?: Relationships.Request | undefined
    /**
     * Submit an id VirusTotal does not know (URLs: `POST /urls`), wait for its analysis (kept in the
     * `Run.AnalysisStore`) and save the report then; by default an unknown id is recorded as not found.
     */
    readonly submitUnknown?:
      | {
        readonly interval: Duration.Duration
        readonly timeout: Duration.Duration
        /** Where analyses are kept (`<out>/_analyses`). */
        readonly analyses: ReportSink.Service
        /** Which analysis the last submission of each URL started (`<out>/_submissions`, see `uploads.ts`). */
        readonly submissions: ReportSink.Service
      }
      | undefined
    /** Analyse again (files and URLs) a report whose `last_analysis_date` is older than `olderThan`. */
    readonly rescan?:
      | {
        readonly olderThan: Duration.Duration
        readonly interval: Duration.Duration
        readonly timeout: Duration.Duration
        /** Where analyses are kept (`<out>/_analyses`). */
        readonly analyses: ReportSink.Service
      }
      | undefined
  },
  tally: Ref.Ref<Outcome.Tally>
) =>
  Effect.gen(function*() {
    const store = yield* ReportSink.ReportSink
    const client = yield* VtClient.VtClient
    // Provided when further relationship pages, or behaviours, are asked.
    const pageStores = Option.getOrElse(
      yield* Effect.serviceOption(Relationships.PageStores),
      () => new Map<string, ReportSink.Service>()
    )
    const behaviourStores = Option.getOrElse(
      yield* Effect.serviceOption(Behaviours.Stores),
      () => new Map<Behaviours.Part, ReportSink.Service>()
    )
    const behaviours = [...behaviourStores.keys()]
    const request = options.relationships ?? Relationships.none
    const objectOptions = request.names.length === 0 ? undefined : { relationships: request.names }
    const rescanning = kind.rescan === undefined ? undefined : options.rescan
    /** Whether a report is to be analysed again: --rescan-older-than, and analysed longer ago than that. */
    const isStale = (raw: Uint8Array) =>
      rescanning === undefined
        ? Effect.succeed(false)
        : Effect.map(Clock.currentTimeMillis, (now) => Rescans.isStale(raw, rescanning.olderThan, now))

    /** What the saved report of `key` lacks of what this run asks (`undefined`: there is no saved report). */
    const lacking = (key: ReportKey.ReportKey) =>
      Effect.gen(function*() {
        // A saved report that cannot be read (too large, a bad gzip, permissions) is taken as one that is no JSON:
        // what it lacks is fetched again and put over it; the run goes on.
        const saved = yield* Failure.storeOrElse(store.get(key), () => Effect.succeed(Option.some(new Uint8Array(0))))
        if (Option.isNone(saved)) return undefined
        return {
          /** Analysed too long ago (--rescan-older-than): what the saved report says of its date, else undefined. */
          stale: (yield* isStale(saved.value)) ? Rescans.describeDate(saved.value) : undefined,
          report: request.names.length === 0
            ? undefined
            : yield* Relationships.missing(request, pageStores, key, saved.value),
          behaviours: yield* Behaviours.missing(behaviourStores, key)
        }
      })

    /** Keeps a report fetched, after its further relationship pages and its behaviours asked. */
    const keepAll = (
      work: Pipeline.Work<string>,
      key: ReportKey.ReportKey,
      report: VtClient.Document,
      parts: ReadonlyArray<Behaviours.Part>,
      seen: ReportSink.Presence | undefined,
      outcome: { readonly note?: string; readonly also?: ReadonlyArray<Outcome.Counter> } = {}
    ) =>
      Effect.gen(function*() {
        // Everything else first: a saved report then says its relationship pages and behaviours are saved too.
        const pages = yield* Relationships.keepFurtherPages(request, pageStores, kind.ref(work.value), key, report)
        const kept = yield* Behaviours.keep(behaviourStores, parts, work.value, key)
        const also = [
          ...(outcome.note === undefined ? [] : [outcome.note]),
          ...(pages === 0 ? [] : [`${pages} further relationship pages`]),
          ...Behaviours.describe(kept)
        ]
        const more = also.length === 0 ? "" : ` (${also.join("; ")})`
        const saved = Outcome.saved(`saved ${key}.json${more}`, { also: outcome.also ?? [] })
        return yield* Steps.keep(store, key, report.raw, saved, seen)
      })

    /**
     * An analysis just asked for (a submission, a rescan), or an earlier submission's just looked at: its answer kept
     * first (a run stopped while waiting leaves the id to ask `analysis --wait` about), the analysis waited for unless
     * it is `completed`, then the object's report fetched (or its 404).
     */
    const analysedThenFetched = (
      work: Pipeline.Work<string>,
      analyses: ReportSink.Service,
      id: string,
      raw: Uint8Array,
      waiting: { readonly interval: Duration.Duration; readonly timeout: Duration.Duration },
      state: { readonly completed: boolean } = { completed: false }
    ) =>
      Effect.gen(function*() {
        yield* Steps.keepAnalysis(analyses, id, raw)
        if (!state.completed) yield* Steps.awaitAnalysis(tally, analyses, id, waiting, { justSubmitted: true })
        return yield* Steps.requesting(work.value)(kind.fetch(client, work.value, objectOptions)).pipe(
          Effect.catchIf(VtError.isNotFound, Effect.succeed)
        )
      })

    // What an earlier run submitted of this URL and did not see analysed (a run stopped, or timed out, while waiting):
    // the analysis looked at once. One VirusTotal refuses the id of, or of another URL or of no URL (a record edited),
    // is none: the URL is submitted again.
    const earlierSubmission = (
      work: Pipeline.Work<string>,
      key: ReportKey.ReportKey,
      submissions: ReportSink.Service
    ) =>
      Effect.gen(function*() {
        const again = (why: string) =>
          Effect.logWarning(
            `the record of ${key} in ${StoreLayout.submissionsDirectory}/ ${why}: ${work.value} is submitted again`
          )
        const id = yield* Uploads.pending(submissions, key, "submitted", again)
        if (id === undefined) return undefined
        yield* Effect.logInfo(`${work.value} was submitted by an earlier run: looking at its analysis ${id}`)
        const analysis = yield* Steps.lookAtRecorded(id)
        if (analysis === undefined) {
          return yield* Effect.as(again(`names analysis ${id}, whose id VirusTotal refuses`), undefined)
        }
        const url = Option.getOrUndefined(analysis.urlInfo)
        if (url === undefined || !sameUrl(url, work.value, key)) {
          return yield* Effect.as(
            again(`names analysis ${id}, which is of ${url === undefined ? "no URL" : "another URL"}`),
            undefined
          )
        }
        return { id, analysis }
      })

    /**
     * An unknown URL submitted (unless an earlier submission of it is still being analysed: then that analysis is
     * waited for), its analysis waited for and kept, then its report fetched and kept. Each submission is recorded
     * under the URL's key before it is waited for, and marked once its analysis is seen completed.
     */
    const submitted = (
      work: Pipeline.Work<string>,
      key: ReportKey.ReportKey,
      parts: ReadonlyArray<Behaviours.Part>,
      seen: ReportSink.Presence | undefined,
      waiting: NonNullable<typeof options.submitUnknown>
    ) =>
      Effect.gen(function*() {
        const { analyses, submissions } = waiting
        const remember = (id: string, status: Uploads.Status) =>
          Failure.storeOrStop(submissions.put(key, Uploads.encode({ analysisId: id, status })))
        // --overwrite asks for everything afresh: the way out of an analysis that stays queued.
        const earlier = options.overwrite ? undefined : yield* earlierSubmission(work, key, submissions)
        let id: string
        let report: VtClient.Document | VtError.NotFoundError
        if (earlier === undefined) {
          const sent = yield* Submission.submitUrl(work.value)
          if (Either.isLeft(sent)) return Outcome.failed(sent.left)
          id = sent.right.id
          yield* remember(id, "submitted")
          report = yield* analysedThenFetched(work, analyses, id, sent.right.raw, waiting)
        } else {
          id = earlier.id
          report = yield* analysedThenFetched(work, analyses, id, earlier.analysis.raw, waiting, {
            completed: Analysis.isCompleted(earlier.analysis)
          })
        }
        yield* remember(id, "completed")
        if (VtError.isNotFound(report)) {
          return Outcome.failed(`no report for ${work.value} yet although its analysis ${id} completed`, ["analysed"])
        }
        return yield* keepAll(work, key, report, parts, seen, {
          note: earlier === undefined ? `submitted, analysis ${id}` : `submitted by an earlier run, analysis ${id}`,
          also: ["analysed"]
        })
      }).pipe(Effect.catchTag("AnalysisTimeoutError", (timeout) =>
        Effect.succeed(Outcome.failed(
          `analysis ${timeout.id} of ${work.value} still ${Analyses.statusText(timeout)} after ${
            Duration.format(waiting.timeout)
          } (--wait-timeout); its last state is saved: vt-harvest analysis --wait ${timeout.id}, or run again later ` +
            `(it is not submitted again while its analysis runs; --overwrite submits it again)`
        ))))

    /**
     * The object of a report the store holds asked to be analysed again, the analysis waited for and kept, then the
     * report fetched again and put over the saved one (`before`: what the saved one said of its date). Whatever
     * fails on the way, the saved report stays as it was.
     */
    const rescanned = (
      work: Pipeline.Work<string>,
      key: ReportKey.ReportKey,
      parts: ReadonlyArray<Behaviours.Part>,
      waiting: NonNullable<typeof rescanning>,
      before: string
    ) =>
      Effect.gen(function*() {
        const { analyses } = waiting
        yield* Effect.logInfo(`the saved report of ${work.value} is older than --rescan-older-than (${before})`)
        const sent = yield* Steps.requesting(`rescan of ${work.value}`)(Rescans.request(work.value, kind.rescan!))
        if (Either.isLeft(sent)) return Outcome.failed(sent.left)
        const { id, raw } = sent.right
        const report = yield* analysedThenFetched(work, analyses, id, raw, waiting)
        if (VtError.isNotFound(report)) {
          return Outcome.failed(
            `no report for ${work.value} after its analysis ${id} completed; the saved one (${before}) is kept`,
            ["analysed"]
          )
        }
        return yield* keepAll(work, key, report, parts, "saved", {
          note: `rescanned, analysis ${id}; was ${before}, now ${Rescans.describeDate(report.raw)}`,
          also: ["analysed"]
        })
      }).pipe(
        Effect.catchTag("AnalysisTimeoutError", (timeout) =>
          Effect.succeed(Outcome.failed(
            `analysis ${timeout.id} (rescan of ${work.value}) still ${Analyses.statusText(timeout)} after ${
              Duration.format(waiting.timeout)
            } (--wait-timeout); the saved report (${before}) is kept, run again later`
          )))
      )

    const report = (
      work: Pipeline.Work<string>,
      key: ReportKey.ReportKey,
      parts: ReadonlyArray<Behaviours.Part>,
      seen: ReportSink.Presence | undefined
    ) =>
      Effect.gen(function*() {
        const report = yield* Steps.requesting(work.value)(kind.fetch(client, work.value, objectOptions)).pipe(
          Effect.catchIf(VtError.isNotFound, Effect.succeed)
        )
        if (!VtError.isNotFound(report)) {
          if (rescanning !== undefined && (yield* isStale(report.raw))) {
            // Kept as it is first: a run stopped during the rescan leaves a complete report the next run rescans.
            yield* Failure.storeOrStop(store.put(key, report.raw, { seen }))
            return yield* rescanned(work, key, parts, rescanning, Rescans.describeDate(report.raw))
          }
          return yield* keepAll(work, key, report, parts, seen)
        }
        if (options.submitUnknown !== undefined) return yield* submitted(work, key, parts, seen, options.submitUnknown)
        return yield* Steps.keepNotFound(store, key, report, Outcome.notFound(`not found ${work.value}`))
      })

    yield* Pipeline.run({
      items: Stream.map(Input.lines(options.input), Kinds.item(kind)),
      concurrency: options.concurrency,
      store,
      overwrite: options.overwrite,
      // An id recorded as not found is what --submit-unknown is for.
      retryNotFound: options.retryNotFound || options.submitUnknown !== undefined,
      logSkips: false,
      key: (work: Pipeline.Work<string>) =>
        Effect.succeed(Pipeline.claim(Either.getOrThrow(kind.key(work.value)), work.value)),
      // A saved report is kept only if it carries every relationship asked (and their further pages) and its
      // behaviours asked are kept.
      stored: request.names.length === 0 && behaviours.length === 0 && rescanning === undefined
        ? undefined
        : (work, key) =>
          Effect.gen(function*() {
            const lacks = yield* lacking(key)
            if (lacks === undefined) return undefined
            const what = [
              ...(lacks.report === undefined ? [] : [lacks.report]),
              ...lacks.behaviours.map((part) => `behaviour ${part}`)
            ]
            if (what.length === 0 && lacks.stale === undefined) return Outcome.skipped()
            if (what.length > 0) yield* Effect.logInfo(`the saved report of ${work.value} lacks ${what.join(", ")}`)
            return undefined
          }),
      fetch: (work, key, seen) =>
        Effect.gen(function*() {
          // Only a saved report lacking something reaches here as "saved": fetch only what it lacks.
          const lacks = seen === "saved" ? yield* lacking(key) : undefined
          if (lacks?.stale !== undefined && rescanning !== undefined) {
            return yield* rescanned(work, key, lacks.behaviours, rescanning, lacks.stale)
          }
          if (lacks === undefined || lacks.report !== undefined) {
            // Parts are kept before their report: an id a killed run left without its report may have some already,
            // which are not asked again (under --overwrite, where nothing is seen, every part is).
            const parts = lacks?.behaviours ??
              (seen === undefined || behaviours.length === 0
                ? behaviours
                : yield* Behaviours.missing(behaviourStores, key))
            return yield* report(work, key, parts, seen)
          }
          const saved = yield* Behaviours.keep(behaviourStores, lacks.behaviours, work.value, key)
          return Outcome.saved(`saved ${Behaviours.describe(saved).join("")} for ${key}.json`)
        })
    }, tally)
  })

/**
 * The stores a run of `files`, `urls`, `domains` or `ips` writes to: the reports, and those below --out the run
 * needs (further relationship pages, behaviours, analyses of submitted URLs and what was submitted), each checked
 * before anything is sent.
 */
export const reportStores = (
  options: { readonly out: string; readonly gzip: boolean; readonly overwrite: boolean },
  relationships: Relationships.Request,
  parts: ReadonlyArray<Behaviours.Part>,
  submitting: boolean,
  rescanning = false
) => {
  const follows = Relationships.followsPages(relationships)
  // A saved report lacking a relationship asked, or analysed too long ago, is replaced by the one fetched again.
  const reports = Run.checkOut({
    ...options,
    overwrite: options.overwrite || relationships.names.length > 0 || rescanning
  })
  const pageStores = Run.checkNamedStores(
    Relationships.PageStores,
    options,
    StoreLayout.relationshipsDirectory,
    follows ? relationships.names : []
  )
  const behaviourStores = Run.checkNamedStores(Behaviours.Stores, options, StoreLayout.behavioursDirectory, parts)
  // Analyses are kept only when unknown ids are submitted or reports rescanned; otherwise no empty store is opened.
  const analyses = !submitting && !rescanning
    ? Effect.succeed(Layer.empty)
    : Run.checkAnalysesOut(options)
  const submissions = submitting ? Run.checkSubmissionsOut(options) : Effect.succeed(Layer.empty)
  const subStores = [
    ...(follows
      ? [`further relationship pages under ${Run.subLocation(options.out, StoreLayout.relationshipsDirectory)}`]
      : []),
    ...(parts.length > 0
      ? [`behaviours under ${Run.subLocation(options.out, StoreLayout.behavioursDirectory)}`]
      : []),
    ...(!submitting && !rescanning ? [] : [`analyses under ${Run.analysesLocation(options.out)}`]),
    ...(submitting ? [`submissions under ${Run.subLocation(options.out, StoreLayout.submissionsDirectory)}`] : [])
  ]
  return {
    layer: Effect.map(
      Effect.all([reports, pageStores, behaviourStores, analyses, submissions]),
      ([a, b, c, d, e]) => Layer.mergeAll(a, b, c, d, e)
    ),
    /** Every store the run writes to, for the writability probe. */
    writable: Effect.map(
      Effect.all([
        ReportSink.ReportSink,
        Relationships.PageStores,
        Behaviours.Stores,
        Effect.map(Effect.serviceOption(Run.AnalysisStore), Option.toArray),
        Effect.map(Effect.serviceOption(Run.SubmissionStore), Option.toArray)
      ]),
      ([store, pages, behaviours, analyses, submissions]) => [
        store,
        ...pages.values(),
        ...behaviours.values(),
        ...analyses,
        ...submissions
      ]
    ),
    /** Where the stores below --out are, for the closing line. */
    described: subStores
  }
}
