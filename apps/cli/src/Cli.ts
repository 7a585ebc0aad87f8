/**
 * The vt-harvest command line: each command assembles a Stream from the packages and runs it.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { ReportKey } from "@vt-harvest/report-sink"
import { VtClient, VtError, VtId } from "@vt-harvest/vt-client"
import { Config, Console, Effect, Either, Option, Stream } from "effect"
import * as Analyses from "./internal/analysis.js"
import type { Counts, Kind } from "./internal/harvest.js"
import * as Harvest from "./internal/harvest.js"
import * as Input from "./internal/input.js"
import * as Progress from "./internal/progress.js"
import * as Quotas from "./internal/quotas.js"
import * as Runner from "./internal/runner.js"
import * as Scan from "./internal/scan.js"
import * as Settings from "./internal/settings.js"
import * as Summary from "./internal/summary.js"

/**
 * What the process should exit with, set by the command that ran (0 when unset).
 *
 * @since 0.1.0
 * @category models
 */
export const exitStatus = { code: 0 }

/**
 * Whether a command that sends requests is running (see bin.ts: what a closed standard output does).
 *
 * @since 0.2.0
 * @category models
 */
export const sendingRequests: { readonly sending: boolean } = Runner.active

const withEnv = (name: string, fallback: string) => Config.string(name).pipe(Config.withDefault(fallback))

const common = {
  out: Options.text("out").pipe(
    Options.withAlias("o"),
    Options.withDescription(
      "Where reports go: a directory (default vt_reports) or s3://bucket/prefix (AWS_* environment) [VT_OUT]"
    ),
    Options.withFallbackConfig(withEnv("VT_OUT", "vt_reports"))
  ),
  baseUrl: Options.text("base-url").pipe(
    Options.withDescription(`VirusTotal API root (default ${Settings.defaultBaseUrl}) [VT_BASE_URL]`),
    Options.withFallbackConfig(withEnv("VT_BASE_URL", Settings.defaultBaseUrl))
  ),
  apiKeyFile: Options.text("api-key-file").pipe(
    Options.withDescription("Read the API key from this file instead of VT_API_KEY"),
    Options.optional
  ),
  tier: Options.choice("tier", ["public", "premium"]).pipe(
    Options.withDescription(
      "Quota preset (default public): public = 4/min, 500/day, 15,500/month, concurrency 1; premium = no limits, concurrency 16"
    ),
    Options.withDefault("public" as const)
  ),
  perMinute: Options.integer("per-minute").pipe(
    Options.withDescription("Requests per minute (default: from --tier)"),
    Options.optional
  ),
  perDay: Options.integer("per-day").pipe(
    Options.withDescription("Requests per UTC day (default: from --tier)"),
    Options.optional
  ),
  perMonth: Options.integer("per-month").pipe(
    Options.withDescription("Requests per UTC month (default: from --tier)"),
    Options.optional
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDescription("Requests in flight at once (default: from --tier)"),
    Options.optional
  ),
  retries: Options.integer("retries").pipe(
    Options.withDescription(
      "Retries of a hash after a transient failure (503, 504, timeouts…) before it fails (default 5)"
    ),
    Options.optional
  ),
  timeout: Options.integer("timeout").pipe(
    Options.withDescription("Seconds a request may take before it is abandoned and retried (default 60)"),
    Options.optional
  ),
  logDir: Options.text("log-dir").pipe(
    Options.withDescription("Directory for the run log (default log) [VT_LOG_DIR]"),
    Options.withFallbackConfig(withEnv("VT_LOG_DIR", "log"))
  ),
  logFormat: Options.choice("log-format", ["text", "json"]).pipe(
    Options.withDescription("Run log format: text lines or JSON lines (default text)"),
    Options.withDefault("text" as const)
  ),
  retryNotFound: Options.boolean("retry-not-found").pipe(
    Options.withDescription("Ask again for ids recorded as not found by an earlier run")
  ),
  overwrite: Options.boolean("overwrite").pipe(Options.withDescription("Fetch again ids that are already saved")),
  gzip: Options.boolean("gzip").pipe(
    Options.withDescription(
      "Store gzip-compressed records (<key>.json.gz in a directory, Content-Encoding: gzip on S3); reruns read both"
    )
  ),
  noProgress: Options.boolean("no-progress").pipe(Options.withDescription("No progress display, plain lines only")),
  noQuotaProbe: Options.boolean("no-quota-probe").pipe(
    Options.withDescription(
      "Don't ask VirusTotal what the key already used before starting, nor which window a 429 spent"
    )
  )
}

type HarvestOptions = Runner.CommonOptions & {
  readonly input: string
  readonly retryNotFound: boolean
  readonly overwrite: boolean
}

const summaryLine = (counts: Counts) =>
  `summary: saved ${counts.saved}, not found ${counts.notFound}, skipped ${counts.skipped}, invalid ${counts.invalid}, failed ${counts.failed}`

const harvest = (kind: Kind, options: HarvestOptions) =>
  Effect.gen(function*() {
    const prepared = yield* Runner.prepare(options, Runner.checkOut(options))
    yield* Input.checkReadable(options.input).pipe(
      Effect.mapError((error) => new Settings.UsageError({ message: error.message }))
    )
    const { policy, screen } = prepared
    const total = screen.tty && !Input.isStdin(options.input)
      ? yield* Input.countLines(options.input).pipe(Effect.option, Effect.map(Option.getOrUndefined))
      : undefined
    const counts = Harvest.emptyCounts()
    exitStatus.code = yield* Runner.run({
      common: options,
      prepared,
      command: kind.command,
      source: Input.isStdin(options.input) ? "standard input" : options.input,
      summary: () => summaryLine(counts),
      closing: (log) =>
        counts.saved + counts.notFound > 0
          ? [`reports in ${options.out}/ (not found under ${options.out}/_not_found/), log in ${log}`]
          : [],
      failed: () => counts.failed > 0,
      body: Effect.gen(function*() {
        yield* Progress.report({
          screen,
          enabled: !options.noProgress,
          counts,
          total,
          policy,
          plainEvery: "30 seconds"
        })
        yield* Harvest.run(kind, {
          source: options.input,
          concurrency: policy.concurrency,
          retryNotFound: options.retryNotFound,
          overwrite: options.overwrite,
          counts
        })
      })
    })
  })

const fileKind: Kind = {
  command: "files",
  noun: "hash",
  parse: VtId.fileHash,
  key: ReportKey.fromFileHash,
  fetch: (client, id) => client.getFile(id)
}

const input = Args.text({ name: "input" }).pipe(
  Args.withDescription("A file with one id per line, or - for standard input")
)

const urlKind: Kind = {
  command: "urls",
  noun: "URL",
  parse: VtId.url,
  key: (url) => Either.right(ReportKey.fromUrl(url)),
  fetch: (client, id) => client.getUrl(id)
}

const domainKind: Kind = {
  command: "domains",
  noun: "domain",
  parse: VtId.domain,
  key: ReportKey.fromDomain,
  fetch: (client, id) => client.getDomain(id)
}

const ipKind: Kind = {
  command: "ips",
  noun: "IP address",
  parse: VtId.ipAddress,
  key: ReportKey.fromIpAddress,
  fetch: (client, id) => client.getIpAddress(id)
}

const harvestCommand = (kind: Kind, description: string) =>
  Command.make(kind.command, { input, ...common }, (options) => harvest(kind, options)).pipe(
    Command.withDescription(description)
  )

const files = harvestCommand(
  fileKind,
  "Fetch the file report of every MD5, SHA-1 or SHA-256 hash in <input> (one per line; - reads stdin), " +
    "saved as <out>/<hash>.json.\nExample: vt-harvest files hashes.txt -o vt_reports"
)
const urls = harvestCommand(
  urlKind,
  "Fetch the URL report of every http(s) URL in <input>, saved as <out>/<sha256 of the URL>.json.\n" +
    "Example: vt-harvest urls urls.txt -o vt_reports"
)
const domains = harvestCommand(
  domainKind,
  "Fetch the domain report of every domain name in <input> (lower-cased; IDN names as punycode).\n" +
    "Example: vt-harvest domains domains.txt -o vt_reports"
)
const ips = harvestCommand(
  ipKind,
  "Fetch the IP address report of every IPv4 or IPv6 address in <input> (IPv6 saved with _ for :).\n" +
    "Example: vt-harvest ips ips.txt -o vt_reports"
)

// The options every command that sends requests shares (--retry-not-found and --overwrite mean something else
// for each command, so they are declared per command).
const { overwrite: _overwrite, retryNotFound: _retryNotFound, ...shared } = common

const waitOptions = {
  pollInterval: Options.integer("poll-interval").pipe(
    Options.withDescription(
      `Seconds between two requests for an analysis (default ${
        Analyses.defaultPollSeconds("public")
      } on the public tier, ${Analyses.defaultPollSeconds("premium")} on premium); each one counts against the quota`
    ),
    Options.optional
  ),
  waitTimeout: Options.integer("wait-timeout").pipe(
    Options.withDescription(
      `Seconds to wait for one analysis before giving up on it (default ${Analyses.defaultWaitTimeoutSeconds})`
    ),
    Options.optional
  )
}

const scan = Command.make(
  "scan",
  {
    paths: Args.text({ name: "path" }).pipe(
      Args.withDescription("A file, or a directory to scan every regular file under"),
      Args.atLeast(1)
    ),
    ...shared,
    concurrency: Options.integer("concurrency").pipe(
      Options.withDescription(
        "Files scanned at once (default from the tier); their requests still keep the tier's spacing"
      ),
      Options.optional
    ),
    force: Options.boolean("force").pipe(
      Options.withDescription("Upload every file, even those VirusTotal already knows or the store already holds")
    ),
    overwrite: Options.boolean("overwrite").pipe(
      Options.withDescription("Look up again files whose report is already saved, and save the fresh report")
    ),
    noWait: Options.boolean("no-wait").pipe(
      Options.withDescription(
        "Upload without waiting: save the upload's analysis descriptor only (no polls, no file report)"
      )
    ),
    ...waitOptions
  },
  (options) => Effect.map(Scan.command(options), (code) => void (exitStatus.code = code))
).pipe(
  Command.withDescription(
    "Scan files: each file's SHA-256 is looked up first; when VirusTotal knows it, its report is saved as\n" +
      "<out>/<sha256>.json and nothing is uploaded. Otherwise the file is uploaded (through an upload URL above\n" +
      "32 MiB, at most 650 MB), its analysis is polled until completed and saved under <out>/_analyses/, then the\n" +
      "file report is saved. Directories are walked recursively (regular files only; symbolic links inside them\n" +
      "are not followed). A file whose report is already saved is skipped without a request.\n" +
      "Example: vt-harvest scan samples/ suspicious.exe -o vt_reports"
  )
)

const analysis = Command.make(
  "analysis",
  {
    ids: Args.text({ name: "id" }).pipe(
      Args.withDescription("An analysis id (as scan or VirusTotal gave it), or - to read ids from stdin"),
      Args.atLeast(1)
    ),
    ...shared,
    concurrency: Options.integer("concurrency").pipe(
      Options.withDescription("Analyses fetched or waited for at once (default from the tier)"),
      Options.optional
    ),
    wait: Options.boolean("wait").pipe(Options.withDescription("Poll each analysis until it is completed")),
    ...waitOptions,
    overwrite: Options.boolean("overwrite").pipe(
      Options.withDescription("Fetch again analyses already saved as completed")
    ),
    retryNotFound: Options.boolean("retry-not-found").pipe(
      Options.withDescription("Ask again for analyses recorded as not found by an earlier run")
    ),
    json: Options.boolean("json").pipe(
      Options.withDescription("Print one JSON object per analysis instead of CSV")
    )
  },
  (options) => Effect.map(Analyses.command(options), (code) => void (exitStatus.code = code))
).pipe(
  Command.withDescription(
    "Fetch analyses by id into <out>/_analyses/ and print one CSV row per analysis to stdout (id, status,\n" +
      "malicious, suspicious, undetected, harmless, item: the file's SHA-256 or the URL). An analysis already\n" +
      "saved as completed is printed from the store without a request. With - ids are read from stdin, one per\n" +
      "line.\nExample: vt-harvest analysis --wait NjY0MjRlOTFjMDIyYTkyNWM0NjU2NWQzYWNlMzFmZmI6MTQ3NTA0ODI3Nw=="
  )
)

const quota = Command.make(
  "quota",
  {
    baseUrl: common.baseUrl,
    apiKeyFile: common.apiKeyFile,
    json: Options.boolean("json").pipe(Options.withDescription("Print JSON instead of a table"))
  },
  (options) =>
    Effect.gen(function*() {
      const baseUrl = yield* Settings.baseUrl(options.baseUrl)
      const apiKey = yield* Settings.apiKey(options.apiKeyFile)
      const quotas = yield* Quotas.overallQuotas.pipe(
        Effect.provide(VtClient.layerUndici({ apiKey, baseUrl })),
        Effect.catchAll((error): Effect.Effect<never, Harvest.KeyRefused | Settings.RequestFailed> =>
          VtError.isAuthFailure(error)
            ? Effect.fail(new Harvest.KeyRefused({ error }))
            : Effect.fail(new Settings.RequestFailed({ message: Harvest.describeError(error) }))
        )
      )
      const windows = [["hourly", quotas.hourly], ["daily", quotas.daily], ["monthly", quotas.monthly]] as const
      if (options.json) {
        const json = Object.fromEntries(windows.map(([name, window]) => [name, window ?? null]))
        return yield* Console.log(JSON.stringify(json, null, 2))
      }
      const rows = windows.map(([name, window]) => {
        const user = window?.user
        const allowed = user === undefined ? "?" : Quotas.unlimited(user.allowed) ? "no limit" : String(user.allowed)
        return [name, user === undefined ? "?" : String(user.used), allowed]
      })
      const table = [["window", "used", "allowed"], ...rows]
      const widths = [0, 1, 2].map((i) => Math.max(...table.map((row) => row[i].length)))
      yield* Console.log(
        table.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n")
      )
    })
).pipe(
  Command.withDescription(
    "Show what the key has used and is allowed per window (hourly, daily, monthly).\nExample: vt-harvest quota --json"
  )
)

const summary = Command.make(
  "summary",
  {
    store: Args.text({ name: "store" }).pipe(
      Args.withDescription("A directory of reports or s3://bucket/prefix"),
      Args.withDefault("vt_reports")
    )
  },
  (options) =>
    Effect.gen(function*() {
      if (!/^s3:\/\//i.test(options.store)) {
        const fs = yield* FileSystem.FileSystem
        const isDirectory = yield* fs.stat(options.store).pipe(
          Effect.map((info) => info.type === "Directory"),
          Effect.orElseSucceed(() => false)
        )
        if (!isDirectory) {
          return yield* new Settings.UsageError({ message: `no store at ${options.store}: not a directory` })
        }
      }
      const store = yield* Runner.checkOut({ out: options.store, overwrite: false, gzip: false, readOnly: true })
      let problems = 0
      const onProblem = (key: string, reason: string) =>
        Effect.sync(() => {
          problems++
          process.stderr.write(`warning: ${key}: ${reason}, skipped\n`)
        })
      const write = (line: string) => Effect.sync(() => void process.stdout.write(`${line}\n`))
      const run = process.stdout.isTTY === true
        ? Effect.flatMap(
          Stream.runCollect(Summary.rows(onProblem)),
          (rows) => write(Summary.table([...rows], process.stdout.columns ?? 120))
        )
        : write(Summary.csvLine(Summary.columns)).pipe(
          Effect.zipRight(
            Stream.runForEach(Summary.rows(onProblem), (row) =>
              write(Summary.csvLine(Summary.columns.map((c) => row[c]))))
          )
        )
      yield* run.pipe(
        Effect.provide(store),
        Effect.mapError((error) =>
          error._tag === "UsageError" ? error : new Settings.RequestFailed({ message: error.message })
        )
      )
      if (problems > 0) {
        exitStatus.code = 1
      }
    })
).pipe(
  Command.withDescription(
    "One CSV row per saved report (key, id, type, malicious, suspicious, undetected, harmless, reputation,\n" +
      "last_analysis_date, names) to stdout; an aligned table on a terminal. Reads directories and s3://\n" +
      "stores, gzipped or not, and the analyses scan and analysis keep in <store>/_analyses.\n" +
      "Example: vt-harvest summary vt_reports > verdicts.csv"
  )
)

/**
 * The root command with its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("vt-harvest").pipe(
  Command.withDescription("Collect VirusTotal reports in bulk, paced to your quota, resumable."),
  Command.withSubcommands([files, urls, domains, ips, scan, analysis, quota, summary])
)

/**
 * Runs the command line on `process.argv`-style arguments.
 *
 * @since 0.1.0
 * @category commands
 */
export const run = (argv: ReadonlyArray<string>) =>
  argv.length === 4 && argv[2] === "--completions" && argv[3] === "bash"
    ? Effect.flatMap(
      Command.getBashCompletions(command, "vt-harvest"),
      (lines) => Console.log(bashCompletions(lines).join("\n"))
    )
    : Command.run(command, { name: "vt-harvest", version })(
      argv.map((arg, i) => (i >= 2 && arg === "-" ? Input.stdinArgument : arg))
    )

/**
 * @effect/cli's bash script names the top command `vt-harvest` where it starts and `vt__harvest` where it matches
 * subcommands, so nothing after the command name ever completed: one spelling throughout (the function and
 * `complete` keep the real name).
 */
const bashCompletions = (lines: ReadonlyArray<string>): ReadonlyArray<string> =>
  lines.map((line) =>
    line.replace(/^(\s*)cmd="vt-harvest"$/, "$1cmd=\"vt__harvest\"").replace(/^(\s*)vt-harvest\)$/, "$1vt__harvest)")
  )

// The package's version, put in by the bundler (build.mjs); the unbundled build says "development".
declare const VT_HARVEST_VERSION: string | undefined
const version = typeof VT_HARVEST_VERSION === "string" ? VT_HARVEST_VERSION : "development"

/**
 * Keeps FileSystem in the requirements visible to bin.ts.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = FileSystem.FileSystem
