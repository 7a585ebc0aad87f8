/**
 * The vt-harvest command line: each command assembles a Stream from the packages and runs it.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import type { FileSystem } from "@effect/platform"
import { ConsoleLog, RunLog } from "@vt-harvest/logging"
import { QuotaGate } from "@vt-harvest/rate-schedule"
import { ReportKey } from "@vt-harvest/report-sink"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import { VtClient, VtError, VtId } from "@vt-harvest/vt-client"
import { Config, Duration, Effect, Layer, Logger, LogLevel, Option, type Redacted } from "effect"
import type { Counts, Kind } from "./internal/harvest.js"
import * as Harvest from "./internal/harvest.js"
import * as Input from "./internal/input.js"
import * as Progress from "./internal/progress.js"
import * as Quotas from "./internal/quotas.js"
import * as Settings from "./internal/settings.js"

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
    Options.withDescription("Where reports go: a directory (default vt_reports) [VT_OUT]"),
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
  readonly noProgress: boolean
  readonly noQuotaProbe: boolean
}

const summaryLine = (counts: Counts, requests: number) =>
  `summary: saved ${counts.saved}, not found ${counts.notFound}, skipped ${counts.skipped}, invalid ${counts.invalid}, failed ${counts.failed}, requests ${requests}`

const checkOut = (out: string) =>
  out.startsWith("s3://")
    ? Effect.fail(new Settings.UsageError({ message: "S3 output (--out s3://…) is not available in this version" }))
    : out.trim() === ""
    ? Effect.fail(new Settings.UsageError({ message: "--out must name a directory" }))
    : Effect.void

/**
 * What the key already used today and this month, so a second run the same day does not burn a 429 to find
 * out. A refused key stops the run here (nothing else is sent); any other failure only costs the head start.
 */
const startingLedger = (apiKey: Redacted.Redacted<string>) =>
  Quotas.overallQuotas(apiKey).pipe(
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
    yield* checkOut(options.out)
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

    const store = ReportSinkFs.layer({ directory: options.out, overwrite: options.overwrite }).pipe(
      Layer.mapError((error) =>
        new Settings.UsageError({ message: `cannot use --out ${options.out}: ${error.message}` })
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
      VtClient.layer({ apiKey, baseUrl, timeout: Duration.seconds(timeout) }),
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
        : yield* startingLedger(apiKey).pipe(Effect.tapError(() => summarise(0)))
      const gate = yield* QuotaGate.make(policy, {
        initial,
        probe: options.noQuotaProbe ? undefined : Quotas.windowProbe(apiKey)
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

const files = Command.make("files", { input, ...common }, (options) => harvest(fileKind, options)).pipe(
  Command.withDescription(
    "Fetch the file report of every MD5, SHA-1 or SHA-256 hash in <input> (one per line; - reads stdin).\n" +
      "Example: vt-harvest files hashes.txt -o vt_reports"
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
  Command.withSubcommands([files])
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
