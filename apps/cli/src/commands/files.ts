/**
 * `vt-harvest files|urls|domains|ips <input>`: the report of every id in a list, one request each (with
 * `--relationships`, still one); what a run may add per id: further relationship pages (`--relationship-pages`),
 * files' behaviours (`files --behaviour`), the submission of unknown URLs (`urls --submit-unknown`).
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as Flags from "../engine/Flags.js"
import * as Run from "../engine/Run.js"
import * as Analyses from "../internal/analyses.js"
import * as Behaviours from "../internal/behaviours.js"
import * as Input from "../internal/input.js"
import * as Kinds from "../internal/kinds.js"
import * as Relationships from "../internal/relationships.js"
import { harvest, reportStores } from "../internal/reports.js"
import * as Rescans from "../internal/rescans.js"
import * as Settings from "../internal/settings.js"

/** The options of every kind, with examples of that kind. */
const flagsOf = (example: Flags.HarvestExample) => ({
  input: Flags.input,
  ...Flags.common,
  retryNotFound: Flags.retryNotFound("Ask again for ids recorded as not found by an earlier run"),
  overwrite: Flags.overwrite("Fetch again ids that are already saved"),
  ...Flags.relationships(example)
})

type HarvestFlags = ReturnType<typeof flagsOf>

const examples: Record<Kinds.Kind["command"], Flags.HarvestExample> = {
  files: { command: "files", input: "hashes.txt", relationships: ["contacted_domains", "dropped_files"] },
  urls: { command: "urls", input: "urls.txt", relationships: ["contacted_domains", "contacted_ips"] },
  domains: { command: "domains", input: "domains.txt", relationships: ["resolutions", "subdomains"] },
  ips: { command: "ips", input: "ips.txt", relationships: ["resolutions", "communicating_files"] }
}

/**
 * A run of `kind` with the options of {@link flagsOf}, and those of one kind: the behaviour parts asked (files), the
 * wait settings of --submit-unknown (urls).
 */
const harvestCommand = (
  kind: Kinds.Kind,
  options: Command.Command.ParseConfig<HarvestFlags>,
  extra: {
    readonly parts?: ReadonlyArray<Behaviours.Part>
    readonly submit?: Command.Command.ParseConfig<typeof Flags.wait> | undefined
    /** --rescan-older-than, and the wait settings its analyses are polled with. */
    readonly rescan?:
      | { readonly olderThan: Option.Option<string> } & Command.Command.ParseConfig<typeof Flags.wait>
      | undefined
  } = {}
) =>
  Run.exitWith(Effect.gen(function*() {
    const parts = extra.parts ?? []
    const relationships = yield* Relationships.parse(options.relationships, options.relationshipPages)
    const waiting = extra.submit === undefined
      ? undefined
      : yield* Analyses.waitSettings({ ...options, ...extra.submit })
    const olderThan = yield* Rescans.parseAge(extra.rescan?.olderThan ?? Option.none())
    const rescanWaiting = olderThan === undefined || extra.rescan === undefined
      ? undefined
      : { olderThan, ...yield* Analyses.waitSettings({ ...options, ...extra.rescan }) }
    const stores = reportStores(options, relationships, parts, waiting !== undefined, rescanWaiting !== undefined)
    const analysing = waiting !== undefined || rescanWaiting !== undefined
    const prepared = yield* Run.prepare(options, stores.layer)
    yield* Input.checkReadable(options.input).pipe(
      Effect.mapError((error) => new Settings.UsageError({ message: error.message }))
    )
    return yield* Run.run({
      common: options,
      prepared,
      command: kind.command,
      source: Input.isStdin(options.input) ? "standard input" : options.input,
      writable: stores.writable,
      summary: [
        "saved",
        "notFound",
        "skipped",
        "invalid",
        "failed",
        ...(analysing ? ["analysed" as const] : [])
      ],
      progress: {
        counters: ["saved", "notFound", "failed", ...(analysing ? ["analysed" as const] : [])],
        whenAny: ["skipped", "invalid"]
      },
      total: prepared.screen.tty && !options.noProgress ? yield* Input.countLinesOfFile(options.input) : undefined,
      closing: (tally, log) =>
        tally.saved + tally.notFound > 0
          ? [`reports in ${[Run.reportsLocation(options.out), ...stores.described].join(", ")}, log in ${log}`]
          : [],
      body: (tally) =>
        Effect.gen(function*() {
          // Provided with --submit-unknown or --rescan-older-than (above).
          const analyses = Option.getOrUndefined(yield* Effect.serviceOption(Run.AnalysisStore))
          const submissions = Option.getOrUndefined(yield* Effect.serviceOption(Run.SubmissionStore))
          const submitUnknown = waiting === undefined || analyses === undefined || submissions === undefined
            ? undefined
            : { ...waiting, analyses, submissions }
          const rescan = rescanWaiting === undefined || analyses === undefined
            ? undefined
            : { ...rescanWaiting, analyses }
          yield* harvest(kind, {
            ...options,
            concurrency: prepared.policy.concurrency,
            relationships,
            submitUnknown,
            rescan
          }, tally)
        })
    })
  }))

const command = (kind: Kinds.Kind, description: string) =>
  Command.make(kind.command, flagsOf(examples[kind.command]), (options) => harvestCommand(kind, options)).pipe(
    Command.withDescription(description)
  )

export const files = Command.make(
  "files",
  { ...flagsOf(examples.files), behaviour: Flags.behaviour, rescanOlderThan: Flags.rescanOlderThan, ...Flags.wait },
  (options) =>
    harvestCommand(Kinds.files, options, {
      parts: Behaviours.parts(Option.getOrUndefined(options.behaviour)),
      rescan: {
        olderThan: options.rescanOlderThan,
        pollInterval: options.pollInterval,
        waitTimeout: options.waitTimeout
      }
    })
).pipe(
  Command.withDescription(
    "Fetch the file report of every MD5, SHA-1 or SHA-256 hash in <input> (one per line; - reads stdin), " +
      "saved as <out>/<hash>.json.\nExample: vt-harvest files hashes.txt -o vt_reports\n" +
      "Example: vt-harvest files hashes.txt --rescan-older-than 30d"
  )
)

export const urls = Command.make(
  "urls",
  {
    ...flagsOf(examples.urls),
    submitUnknown: Options.boolean("submit-unknown").pipe(
      Options.withDescription(
        "Submit each URL VirusTotal does not know (POST /urls, also those recorded as not found by an earlier run), " +
          "wait for its analysis (saved under <out>/_analyses/), then save its report. Each submission is recorded " +
          "under <out>/_submissions/: a URL whose analysis an earlier run did not see completed is not submitted " +
          "again, its analysis is waited for (--overwrite submits it again).\nExample: vt-harvest urls " +
          "urls.txt --submit-unknown --poll-interval 60"
      )
    ),
    rescanOlderThan: Flags.rescanOlderThan,
    ...Flags.wait
  },
  (options) =>
    harvestCommand(Kinds.urls, options, {
      submit: options.submitUnknown
        ? { pollInterval: options.pollInterval, waitTimeout: options.waitTimeout }
        : undefined,
      rescan: {
        olderThan: options.rescanOlderThan,
        pollInterval: options.pollInterval,
        waitTimeout: options.waitTimeout
      }
    })
).pipe(
  Command.withDescription(
    "Fetch the URL report of every http(s) URL in <input>, saved as <out>/<sha256 of the URL>.json.\n" +
      "Example: vt-harvest urls urls.txt -o vt_reports\nExample: vt-harvest urls urls.txt --rescan-older-than 2w"
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
