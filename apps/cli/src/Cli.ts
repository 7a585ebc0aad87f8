/**
 * The vt-harvest command line: each command assembles a Stream from the packages and runs it.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem, type Path } from "@effect/platform"
import { ConsoleLog, RunLog } from "@vt-harvest/logging"
import { QuotaGate } from "@vt-harvest/rate-schedule"
import type { ReportSink } from "@vt-harvest/report-sink"
import { ReportKey } from "@vt-harvest/report-sink"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import { VtClient, VtError, VtId } from "@vt-harvest/vt-client"
import { Config, Console, Duration, Effect, Either, Layer, Logger, LogLevel, Option, Stream } from "effect"
import type { Counts, Kind } from "./internal/harvest.js"
import * as Harvest from "./internal/harvest.js"
import * as Input from "./internal/input.js"
import * as Progress from "./internal/progress.js"
import * as Quotas from "./internal/quotas.js"
import * as Settings from "./internal/settings.js"
import * as Summary from "./internal/summary.js"

/**
 * What the process should exit with, set by the command that ran (0 when unset).
 *
 * @since 0.1.0
 * @category models
 */
export const exitStatus = { code: 0 }

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
      "Quota preset: public = 4/min, 500/day, 15,500/month, concurrency 1; premium = no limits, concurrency 16"
    ),
    Options.withDefault("public" as const)
  ),
  perMinute: Options.integer("per-minute").pipe(Options.withDescription("Requests per minute"), Options.optional),
  perDay: Options.integer("per-day").pipe(Options.withDescription("Requests per UTC day"), Options.optional),
  perMonth: Options.integer("per-month").pipe(Options.withDescription("Requests per UTC month"), Options.optional),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDescription("Requests in flight at once"),
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
    Options.withDescription("Run log format"),
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

type CommonOptions = {
  readonly input: string
  readonly out: string
  readonly baseUrl: string
  readonly apiKeyFile: Option.Option<string>
  readonly tier: "public" | "premium"
  readonly perMinute: Option.Option<number>
  readonly perDay: Option.Option<number>
  readonly perMonth: Option.Option<number>
  readonly concurrency: Option.Option<number>
  readonly retries: Option.Option<number>
  readonly timeout: Option.Option<number>
  readonly logDir: string
  readonly logFormat: "text" | "json"
  readonly retryNotFound: boolean
  readonly overwrite: boolean
  readonly gzip: boolean
  readonly noProgress: boolean
  readonly noQuotaProbe: boolean
}

const summaryLine = (counts: Counts, requests: number) =>
  `summary: saved ${counts.saved}, not found ${counts.notFound}, skipped ${counts.skipped}, invalid ${counts.invalid}, failed ${counts.failed}, requests ${requests}`

/**
 * The store --out names, checked before anything is sent. The S3 sink, and the AWS SDK with it, is loaded only for
 * s3:// outputs, so that a run to a directory does not pay for loading it.
 */
const checkOut = (
  options: Pick<CommonOptions, "out" | "overwrite" | "gzip"> & { readonly readOnly?: boolean }
): Effect.Effect<
  Layer.Layer<ReportSink.ReportSink, ReportSink.SinkError | Settings.UsageError, FileSystem.FileSystem | Path.Path>,
  Settings.UsageError
> => {
  const { gzip, out, overwrite } = options
  if (/^s3:\/\//i.test(out)) {
    return Effect.gen(function*() {
      const { ReportSinkS3, S3Location } = yield* Effect.promise(() => import("@vt-harvest/report-sink-s3"))
      const location = yield* Either.mapLeft(
        S3Location.parse(out),
        (error) => new Settings.UsageError({ message: `bad --out: ${error.message}` })
      )
      // The SDK warns on every run under Node 20 about its releases of 2027; nothing a user of this CLI can act on.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"
      const client = ReportSinkS3.layerS3Client().pipe(
        Layer.mapError((error) =>
          new Settings.UsageError({ message: `cannot configure S3 from the environment: ${String(error)}` })
        )
      )
      return ReportSinkS3.layer({ ...location, overwrite, gzip }).pipe(Layer.provide(client))
    })
  }
  return out.trim() === ""
    ? Effect.fail(new Settings.UsageError({ message: "--out must name a directory or s3://bucket/prefix" }))
    : Effect.succeed(
      ReportSinkFs.layer({ directory: out, overwrite, gzip, removeStaleTemps: options.readOnly !== true })
    )
}

/**
 * What the key already used today and this month, so a second run the same day does not burn a 429 to find
 * out. A refused key stops the run here (nothing else is sent); any other failure only costs the head start.
 */
const startingLedger = Quotas.overallQuotas.pipe(
  Effect.tap((quotas) =>
    Effect.logInfo(
      `quota used: today ${Quotas.describeWindow(quotas.daily)}, this month ${
        Quotas.describeWindow(quotas.monthly)
      }, this hour ${Quotas.describeWindow(quotas.hourly)}`
    )
  ),
  Effect.map((quotas) => ({ today: quotas.daily?.user?.used ?? 0, thisMonth: quotas.monthly?.user?.used ?? 0 })),
  Effect.catchAll((error) =>
    VtError.isAuthFailure(error)
      ? Effect.logError(Harvest.describeError(error)).pipe(
        Effect.zipRight(Effect.fail(new Harvest.KeyRefused({ error })))
      )
      : Effect.logWarning(
        `could not read the key's quota usage (${error._tag}); counting from zero this run`
      ).pipe(Effect.as(undefined))
  )
)

const harvest = (kind: Kind, options: CommonOptions) =>
  Effect.gen(function*() {
    const policy = yield* Settings.policy(options)
    const baseUrl = yield* Settings.baseUrl(options.baseUrl)
    const timeout = yield* Settings.seconds("timeout", options.timeout, 60)
    const sink = yield* checkOut(options)
    const apiKey = yield* Settings.apiKey(options.apiKeyFile)
    yield* Input.checkReadable(options.input).pipe(
      Effect.mapError((error) => new Settings.UsageError({ message: error.message }))
    )
    const screen = Progress.makeScreen(process.stderr.isTTY === true && !options.noProgress)
    const total = screen.tty && !Input.isStdin(options.input)
      ? yield* Input.countLines(options.input).pipe(Effect.option, Effect.map(Option.getOrUndefined))
      : undefined
    const counts = Harvest.emptyCounts()
    const color = yield* ConsoleLog.colorDefault

    const store = sink.pipe(
      Layer.mapError((error) =>
        error._tag === "UsageError"
          ? error
          : new Settings.UsageError({ message: `cannot use --out ${options.out}: ${error.message}` })
      )
    )
    const runLog = RunLog.layer({ directory: options.logDir, format: options.logFormat }).pipe(
      Layer.mapError((error) =>
        new Settings.UsageError({
          message: `cannot write the run log in --log-dir ${options.logDir}: ${error.message}`
        })
      )
    )
    const services = Layer.mergeAll(
      VtClient.layerUndici({ apiKey, baseUrl, timeout: Duration.seconds(timeout) }),
      store,
      runLog
    )

    const program = Effect.gen(function*() {
      const logFile = yield* RunLog.RunLogFile
      const limits = [
        `per-minute ${policy.perMinute ?? "unlimited"}`,
        `per-day ${policy.perDay ?? "unlimited"}`,
        `per-month ${policy.perMonth ?? "unlimited"}`,
        `concurrency ${policy.concurrency}`
      ].join(", ")
      const source = Input.isStdin(options.input) ? "standard input" : options.input
      yield* Effect.logInfo(`start ${kind.command} ${source} -> ${options.out} (tier ${options.tier}: ${limits})`)
      screen.line(`vt-harvest ${kind.command}: ${source} -> ${options.out}/ (log ${logFile.path})`)
      const summarise = (requests: number) =>
        Effect.gen(function*() {
          const line = summaryLine(counts, requests)
          yield* Effect.logInfo(line)
          yield* Effect.logInfo("end")
          screen.clear()
          screen.line(line)
          if (counts.saved + counts.notFound > 0) {
            screen.line(
              `reports in ${options.out}/ (not found under ${options.out}/_not_found/), log in ${logFile.path}`
            )
          }
        })
      const initial = options.noQuotaProbe
        ? undefined
        : yield* startingLedger.pipe(Effect.tapError(() => summarise(0)))
      const gate = yield* QuotaGate.make(policy, {
        initial,
        probe: options.noQuotaProbe ? undefined : Quotas.windowProbe
      })
      const harvestRun = Effect.gen(function*() {
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
      const finish = Effect.gen(function*() {
        const status = yield* gate.status
        yield* summarise(status.requests)
      })
      yield* harvestRun.pipe(
        Effect.provideService(QuotaGate.QuotaGate, gate),
        Effect.onInterrupt(() =>
          Effect.logWarning("stopped by a signal: requests in flight were abandoned, nothing partial is kept")
        ),
        Effect.ensuring(finish)
      )
      exitStatus.code = counts.failed > 0 ? 1 : 0
    })

    yield* program.pipe(
      Effect.scoped,
      Effect.provide(services),
      Effect.provide(Logger.replace(Logger.defaultLogger, Progress.consoleLogger(screen, color))),
      Logger.withMinimumLogLevel(LogLevel.Info)
    )
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
      const store = yield* checkOut({ out: options.store, overwrite: false, gzip: false, readOnly: true })
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
      "stores, gzipped or not.\nExample: vt-harvest summary vt_reports > verdicts.csv"
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
  Command.withSubcommands([files, urls, domains, ips, quota, summary])
)

/**
 * Runs the command line on `process.argv`-style arguments.
 *
 * @since 0.1.0
 * @category commands
 */
export const run = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "vt-harvest", version: "0.1.0" })(
    argv.map((arg, i) => (i >= 2 && arg === "-" ? Input.stdinArgument : arg))
  )

/**
 * Keeps FileSystem in the requirements visible to bin.ts.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = FileSystem.FileSystem
