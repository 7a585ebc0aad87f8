import type { FileSystem } from "@effect/platform"
import type { Path } from "@effect/platform"
import { ConsoleLog, RunLog } from "@vt-harvest/logging"
import { QuotaGate, type QuotaPolicy } from "@vt-harvest/rate-schedule"
import { ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import type { Option } from "effect"
import { Context, Duration, Effect, Either, Layer, Logger, LogLevel } from "effect"
import * as nodePath from "node:path"
import { describeError, KeyRefused } from "./harvest.js"
import * as Progress from "./progress.js"
import * as Quotas from "./quotas.js"
import * as Settings from "./settings.js"

/** The options of every command that sends requests and writes to a store. */
export interface CommonOptions extends Settings.LimitOptions {
  readonly out: string
  readonly baseUrl: string
  readonly apiKeyFile: Option.Option<string>
  readonly timeout: Option.Option<number>
  readonly logDir: string
  readonly logFormat: "text" | "json"
  readonly gzip: boolean
  readonly noProgress: boolean
  readonly noQuotaProbe: boolean
}

/** The store a run writes reports to. */
export type StoreLayer = Layer.Layer<
  ReportSink.ReportSink,
  ReportSink.SinkError | Settings.UsageError,
  FileSystem.FileSystem | Path.Path
>

/**
 * The store --out names, checked before anything is sent. The S3 sink, and the AWS SDK with it, is loaded only for
 * s3:// outputs, so that a run to a directory does not pay for loading it.
 */
export const checkOut = (
  options: { readonly out: string; readonly overwrite: boolean; readonly gzip: boolean; readonly readOnly?: boolean }
): Effect.Effect<StoreLayer, Settings.UsageError> => {
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

/** The name of the analyses store under --out. */
export const analysesDirectoryName = StoreLayout.analysesDirectory

/** `<out>/_analyses`: the sub-directory, or the sub-prefix of an s3:// output (`s3://bucket/prefix/_analyses`). */
export const analysesLocation = (out: string): string =>
  /^s3:\/\//i.test(out)
    ? `${out.replace(/\/$/, "")}/${StoreLayout.analysesDirectory}`
    : nodePath.join(out, StoreLayout.analysesDirectory)

/**
 * The analyses of a run: a store of their own under `<out>/_analyses`, made by the same sink packages. It always
 * replaces what it holds, since a later state of an analysis (completed) supersedes an earlier one (queued).
 */
export class AnalysisStore extends Context.Tag("@vt-harvest/cli/AnalysisStore")<AnalysisStore, ReportSink.Service>() {}

/** The analyses store of --out, checked like --out itself. */
export const checkAnalysesOut = (options: { readonly out: string; readonly gzip: boolean }) =>
  Effect.map(
    checkOut({ out: analysesLocation(options.out), overwrite: true, gzip: options.gzip }),
    (layer) => Layer.project(layer, ReportSink.ReportSink, AnalysisStore, (sink) => sink)
  )

/** A store layer whose failures are usage errors naming --out (exit status 2). */
export const asUsage = <A, R>(
  layer: Layer.Layer<A, ReportSink.SinkError | Settings.UsageError, R>,
  out: string
): Layer.Layer<A, Settings.UsageError, R> =>
  layer.pipe(
    Layer.mapError((error) =>
      error._tag === "UsageError"
        ? error
        : new Settings.UsageError({ message: `cannot use --out ${out}: ${error.message}` })
    )
  )

/**
 * What the key already used today and this month, so a second run the same day does not burn a 429 to find
 * out. A refused key stops the run here (nothing else is sent); any other failure only costs the head start.
 */
export const startingLedger = Quotas.overallQuotas.pipe(
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
      ? Effect.logError(describeError(error)).pipe(
        Effect.zipRight(Effect.fail(new KeyRefused({ error })))
      )
      : Effect.logWarning(
        `could not read the key's quota usage (${error._tag}); counting from zero this run`
      ).pipe(Effect.as(undefined))
  )
)

/** The settings every command checks before anything is sent (each failure is exit status 2). */
export interface Prepared<S> {
  readonly policy: QuotaPolicy.QuotaPolicy
  readonly client: Layer.Layer<VtClient.VtClient>
  readonly stores: Layer.Layer<S, Settings.UsageError, FileSystem.FileSystem | Path.Path>
  readonly screen: Progress.Screen
}

/** Checks the limits, --base-url, --timeout, the store(s) --out names and the API key, in that order. */
export const prepare = <S>(
  options: CommonOptions,
  stores: Effect.Effect<
    Layer.Layer<S, ReportSink.SinkError | Settings.UsageError, FileSystem.FileSystem | Path.Path>,
    Settings.UsageError
  >
): Effect.Effect<Prepared<S>, Settings.UsageError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const policy = yield* Settings.policy(options)
    const baseUrl = yield* Settings.baseUrl(options.baseUrl)
    const timeout = yield* Settings.seconds("timeout", options.timeout, 60)
    const layer = yield* stores
    const apiKey = yield* Settings.apiKey(options.apiKeyFile)
    return {
      policy,
      client: VtClient.layerUndici({ apiKey, baseUrl, timeout: Duration.seconds(timeout) }),
      stores: asUsage(layer, options.out),
      screen: Progress.makeScreen(process.stderr.isTTY === true && !options.noProgress)
    }
  })

/** The limits in force, for the start line of the run log. */
export const describeLimits = (policy: QuotaPolicy.QuotaPolicy): string =>
  [
    `per-minute ${policy.perMinute ?? "unlimited"}`,
    `per-day ${policy.perDay ?? "unlimited"}`,
    `per-month ${policy.perMonth ?? "unlimited"}`,
    `concurrency ${policy.concurrency}`
  ].join(", ")

/**
 * One run of a command, the same for every command: the run log opens, `start` is logged, the key's quota usage
 * seeds the gate (a refused key stops here), `body` runs with the gate, and whatever happens (done, failed, a
 * signal) the summary line is logged and printed, then `end`. Answers the exit status: 1 when `failed()`.
 */
/**
 * Whether a run that sends requests is under way: a closed standard output then stops it as a signal would (the
 * summary is written and the exit status says so), where a command that only reads just ends.
 */
export const active = { sending: false }

export const run = <S, E, R>(options: {
  readonly common: CommonOptions
  readonly prepared: Prepared<S>
  readonly command: string
  readonly source: string
  /** Where the run writes, for the start line (default --out). */
  readonly target?: string | undefined
  readonly summary: () => string
  readonly closing?: ((logPath: string) => ReadonlyArray<string>) | undefined
  readonly failed: () => boolean
  readonly body: Effect.Effect<void, E, R>
}) =>
  Effect.gen(function*() {
    const { common, prepared } = options
    const { policy, screen } = prepared
    const color = yield* ConsoleLog.colorDefault
    const runLog = RunLog.layer({ directory: common.logDir, format: common.logFormat }).pipe(
      Layer.mapError((error) =>
        new Settings.UsageError({
          message: `cannot write the run log in --log-dir ${common.logDir}: ${error.message}`
        })
      )
    )
    let requests = 0
    const target = options.target ?? common.out
    const program = Effect.gen(function*() {
      active.sending = true
      const logFile = yield* RunLog.RunLogFile
      yield* Effect.logInfo(
        `start ${options.command} ${options.source} -> ${target} (tier ${common.tier}: ${describeLimits(policy)})`
      )
      screen.line(`vt-harvest ${options.command}: ${options.source} -> ${target}/ (log ${logFile.path})`)
      const summarise = Effect.gen(function*() {
        const line = `${options.summary()}, requests ${requests}`
        yield* Effect.logInfo(line)
        yield* Effect.logInfo("end")
        screen.clear()
        screen.line(line)
        for (const closing of options.closing?.(logFile.path) ?? []) screen.line(closing)
      })
      const initial = common.noQuotaProbe ? undefined : yield* startingLedger.pipe(Effect.tapError(() => summarise))
      const gate = yield* QuotaGate.make(policy, {
        initial,
        probe: common.noQuotaProbe ? undefined : Quotas.windowProbe
      })
      const finish = Effect.gen(function*() {
        requests = (yield* gate.status).requests
        yield* summarise
      })
      yield* options.body.pipe(
        Effect.provideService(QuotaGate.QuotaGate, gate),
        Effect.onInterrupt(() =>
          Effect.logWarning("stopped by a signal: requests in flight were abandoned, nothing partial is kept")
        ),
        Effect.ensuring(finish)
      )
      return options.failed() ? 1 : 0
    })
    return yield* program.pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(prepared.client, prepared.stores, runLog)),
      Effect.provide(Logger.replace(Logger.defaultLogger, Progress.consoleLogger(screen, color))),
      Logger.withMinimumLogLevel(LogLevel.Info)
    )
  })
