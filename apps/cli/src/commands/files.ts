/**
 * `vt-harvest files|urls|domains|ips <input>`: the report of every id in a list, one request each (with
 * `--relationships`, still one); what a run may add per id: further relationship pages (`--relationship-pages`),
 * files' behaviours (`files --behaviour`), the submission of unknown URLs (`urls --submit-unknown`).
 */
import { Command, Options } from "@effect/cli"
import type { ReportKey } from "@vt-harvest/report-sink"
import { ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import type { Ref } from "effect"
import { Duration, Effect, Either, Layer, Option, Stream } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Flags from "../engine/Flags.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Steps from "../engine/Steps.js"
import * as Analyses from "../internal/analyses.js"
import * as Behaviours from "../internal/behaviours.js"
import * as Input from "../internal/input.js"
import * as Kinds from "../internal/kinds.js"
import * as Relationships from "../internal/relationships.js"
import * as Settings from "../internal/settings.js"
import * as Submission from "../internal/submission.js"

/**
 * The plan: each id of `input` → its report (with the first page of each relationship asked, still one request)
 * saved, after the further relationship pages and the behaviours asked are kept in their own stores; or its
 * not-found record; or skipped when the store has it with everything asked. A saved report lacking only behaviours
 * costs only their requests.
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

    /** What the saved report of `key` lacks of what this run asks (`undefined`: there is no saved report). */
    const lacking = (key: ReportKey.ReportKey) =>
      Effect.gen(function*() {
        const saved = yield* Failure.storeOrStop(store.get(key))
        if (Option.isNone(saved)) return undefined
        return {
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

    /** An unknown id submitted, its analysis waited for and kept, then its report fetched and kept. */
    const submitted = (
      work: Pipeline.Work<string>,
      key: ReportKey.ReportKey,
      parts: ReadonlyArray<Behaviours.Part>,
      seen: ReportSink.Presence | undefined,
      waiting: NonNullable<typeof options.submitUnknown>
    ) =>
      Effect.gen(function*() {
        const { analyses } = waiting
        const sent = yield* Submission.submitUrl(work.value)
        if (Either.isLeft(sent)) return Outcome.failed(sent.left)
        const { id, raw } = sent.right
        // The submission's answer first: a run stopped while waiting leaves the id to ask `analysis --wait` about.
        yield* Steps.keepAnalysis(analyses, id, raw)
        yield* Steps.awaitAnalysis(tally, analyses, id, waiting, { justSubmitted: true })
        yield* Effect.logInfo(`requesting ${work.value}`)
        const report = yield* kind.fetch(client, work.value, objectOptions).pipe(
          Effect.catchIf(VtError.isNotFound, Effect.succeed)
        )
        if (VtError.isNotFound(report)) {
          return Outcome.failed(`no report for ${work.value} yet although its analysis ${id} completed`, ["analysed"])
        }
        return yield* keepAll(work, key, report, parts, seen, {
          note: `submitted, analysis ${id}`,
          also: ["analysed"]
        })
      }).pipe(Effect.catchTag("AnalysisTimeoutError", (timeout) =>
        Effect.succeed(Outcome.failed(
          `analysis ${timeout.id} of ${work.value} still ${Analyses.statusText(timeout)} after ${
            Duration.format(waiting.timeout)
          } (--wait-timeout); its last state is saved: vt-harvest analysis --wait ${timeout.id}, or run again later`
        ))))

    const report = (
      work: Pipeline.Work<string>,
      key: ReportKey.ReportKey,
      parts: ReadonlyArray<Behaviours.Part>,
      seen: ReportSink.Presence | undefined
    ) =>
      Effect.gen(function*() {
        yield* Effect.logInfo(`requesting ${work.value}`)
        const report = yield* kind.fetch(client, work.value, objectOptions).pipe(
          Effect.catchIf(VtError.isNotFound, Effect.succeed)
        )
        if (!VtError.isNotFound(report)) return yield* keepAll(work, key, report, parts, seen)
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
      stored: request.names.length === 0 && behaviours.length === 0 ? undefined : (work, key) =>
        Effect.gen(function*() {
          const lacks = yield* lacking(key)
          if (lacks === undefined) return undefined
          const what = [
            ...(lacks.report === undefined ? [] : [lacks.report]),
            ...lacks.behaviours.map((part) => `behaviour ${part}`)
          ]
          if (what.length === 0) return Outcome.skipped()
          yield* Effect.logInfo(`the saved report of ${work.value} lacks ${what.join(", ")}`)
          return undefined
        }),
      fetch: (work, key, seen) =>
        Effect.gen(function*() {
          // Only a saved report lacking something reaches here as "saved": fetch only what it lacks.
          const lacks = seen === "saved" ? yield* lacking(key) : undefined
          if (lacks === undefined || lacks.report !== undefined) {
            return yield* report(work, key, lacks?.behaviours ?? behaviours, seen)
          }
          const saved = yield* Behaviours.keep(behaviourStores, lacks.behaviours, work.value, key)
          return Outcome.saved(`saved ${Behaviours.describe(saved).join("")} for ${key}.json`)
        }).pipe(Effect.provideService(VtClient.VtClient, client))
    }, tally)
  })

const flags = {
  input: Flags.input,
  ...Flags.common,
  retryNotFound: Flags.retryNotFound("Ask again for ids recorded as not found by an earlier run"),
  overwrite: Flags.overwrite("Fetch again ids that are already saved"),
  ...Flags.relationships
}

/** The analyses store when the run has one (`--submit-unknown`). */
const analysesStore = Effect.map(Effect.serviceOption(Run.AnalysisStore), Option.toArray)

/**
 * A run of `kind` with the options of {@link flags}, and those of one kind: the behaviour parts asked (files), the
 * wait settings of --submit-unknown (urls).
 */
const harvestCommand = (
  kind: Kinds.Kind,
  options: Command.Command.ParseConfig<typeof flags>,
  extra: {
    readonly parts?: ReadonlyArray<Behaviours.Part>
    readonly submit?: Command.Command.ParseConfig<typeof Flags.wait> | undefined
  } = {}
) =>
  Run.exitWith(Effect.gen(function*() {
    const parts = extra.parts ?? []
    const relationships = yield* Relationships.parse(options.relationships, options.relationshipPages)
    const waiting = extra.submit === undefined
      ? undefined
      : yield* Analyses.waitSettings({ ...options, ...extra.submit })
    const follows = Relationships.followsPages(relationships)
    // A saved report lacking a relationship asked is replaced by the one fetched again.
    const reports = Run.checkOut({ ...options, overwrite: options.overwrite || relationships.names.length > 0 })
    const pageStores = Run.checkNamedStores(
      Relationships.PageStores,
      options,
      StoreLayout.relationshipsDirectory,
      follows ? relationships.names : []
    )
    const behaviourStores = Run.checkNamedStores(Behaviours.Stores, options, StoreLayout.behavioursDirectory, parts)
    // Analyses are kept only when unknown ids are submitted; otherwise an empty store is never opened.
    const analyses = waiting === undefined
      ? Effect.succeed(Layer.empty)
      : Run.checkAnalysesOut(options)
    const prepared = yield* Run.prepare(
      options,
      Effect.map(
        Effect.all([reports, pageStores, behaviourStores, analyses]),
        ([a, b, c, d]) => Layer.mergeAll(a, b, c, d)
      )
    )
    yield* Input.checkReadable(options.input).pipe(
      Effect.mapError((error) => new Settings.UsageError({ message: error.message }))
    )
    const subStores = [
      ...(follows ? [`further relationship pages under ${options.out}/${StoreLayout.relationshipsDirectory}/`] : []),
      ...(parts.length > 0 ? [`behaviours under ${options.out}/${StoreLayout.behavioursDirectory}/`] : []),
      ...(waiting === undefined ? [] : [`analyses under ${Run.analysesLocation(options.out)}/`])
    ]
    return yield* Run.run({
      common: options,
      prepared,
      command: kind.command,
      source: Input.isStdin(options.input) ? "standard input" : options.input,
      writable: Effect.map(
        Effect.all([ReportSink.ReportSink, Relationships.PageStores, Behaviours.Stores, analysesStore]),
        ([store, pages, behaviours, analyses]) => [store, ...pages.values(), ...behaviours.values(), ...analyses]
      ),
      summary: [
        "saved",
        "notFound",
        "skipped",
        "invalid",
        "failed",
        ...(waiting === undefined ? [] : ["analysed" as const])
      ],
      progress: {
        counters: ["saved", "notFound", "failed", ...(waiting === undefined ? [] : ["analysed" as const])],
        whenAny: ["skipped", "invalid"]
      },
      total: prepared.screen.tty && !options.noProgress ? yield* Input.countLinesOfFile(options.input) : undefined,
      closing: (tally, log) =>
        tally.saved + tally.notFound > 0
          ? [
            `reports in ${options.out}/ (${
              [`not found under ${options.out}/_not_found/`, ...subStores].join(", ")
            }), log in ${log}`
          ]
          : [],
      body: (tally) =>
        Effect.gen(function*() {
          const submitUnknown = waiting === undefined
            ? undefined
            // Provided with --submit-unknown (above).
            : { ...waiting, analyses: Option.getOrThrow(yield* Effect.serviceOption(Run.AnalysisStore)) }
          yield* harvest(kind, {
            ...options,
            concurrency: prepared.policy.concurrency,
            relationships,
            submitUnknown
          }, tally)
        })
    })
  }))

const command = (kind: Kinds.Kind, description: string) =>
  Command.make(kind.command, flags, (options) => harvestCommand(kind, options)).pipe(
    Command.withDescription(description)
  )

export const files = Command.make(
  "files",
  { ...flags, behaviour: Flags.behaviour },
  (options) =>
    harvestCommand(Kinds.files, options, { parts: Behaviours.parts(Option.getOrUndefined(options.behaviour)) })
).pipe(
  Command.withDescription(
    "Fetch the file report of every MD5, SHA-1 or SHA-256 hash in <input> (one per line; - reads stdin), " +
      "saved as <out>/<hash>.json.\nExample: vt-harvest files hashes.txt -o vt_reports"
  )
)

export const urls = Command.make(
  "urls",
  {
    ...flags,
    submitUnknown: Options.boolean("submit-unknown").pipe(
      Options.withDescription(
        "Submit each URL VirusTotal does not know (POST /urls, also those recorded as not found by an earlier run), " +
          "wait for its analysis (saved under <out>/_analyses/), then save its report.\nExample: vt-harvest urls " +
          "urls.txt --submit-unknown --poll-interval 60"
      )
    ),
    ...Flags.wait
  },
  (options) =>
    harvestCommand(Kinds.urls, options, {
      submit: options.submitUnknown
        ? { pollInterval: options.pollInterval, waitTimeout: options.waitTimeout }
        : undefined
    })
).pipe(
  Command.withDescription(
    "Fetch the URL report of every http(s) URL in <input>, saved as <out>/<sha256 of the URL>.json.\n" +
      "Example: vt-harvest urls urls.txt -o vt_reports"
  )
)

export const domains = command(
  Kinds.domains,
  "Fetch the domain report of every domain name in <input> (lower-cased; IDN names as punycode).\n" +
    "Example: vt-harvest domains domains.txt -o vt_reports"
)

export const ips = command(
  Kinds.ips,
  "Fetch the IP address report of every IPv4 or IPv6 address in <input> (IPv6 saved with _ for :).\n" +
    "Example: vt-harvest ips ips.txt -o vt_reports"
)
