/**
 * One run of a command that sends requests, the same for every command: settings checked (exit status 2, nothing
 * sent), the store proven writable, the run log opened, the key's own quotas learned, the client gated, the
 * command's pipeline run with progress, and whatever happens (done, stopped, a signal) the summary line logged and
 * printed, then `end`. The exit status is the value it answers.
 */
import type { FileSystem, Path } from "@effect/platform"
import { ConsoleLog, RunLog } from "@vt-harvest/logging"
import { QuotaGate, type QuotaPolicy, type SharedLedger } from "@vt-harvest/rate-schedule"
import { type ReportClaims, ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import { ReportSinkFs } from "@vt-harvest/report-sink-fs"
import { VtClient } from "@vt-harvest/vt-client"
import {
  Context,
  Duration,
  Effect,
  Either,
  Layer,
  Logger,
  LogLevel,
  Option,
  type Redacted,
  Ref,
  type Scope
} from "effect"
import * as nodeFs from "node:fs"
import * as nodePath from "node:path"
import type { InputError } from "../internal/input.js"
import * as Progress from "../internal/progress.js"
import * as Proxy from "../internal/proxy.js"
import * as ProxyAgent from "../internal/proxyAgent.js"
import * as Quotas from "../internal/quotas.js"
import * as Settings from "../internal/settings.js"
import * as Text from "../internal/text.js"
import * as UserConfig from "../internal/userConfig.js"
import * as Failure from "./Failure.js"
import * as Outcome from "./Outcome.js"
import * as Pipeline from "./Pipeline.js"
import * as Steps from "./Steps.js"
import * as StoreHealth from "./StoreHealth.js"

/** The options of every command that sends requests and writes to a store. */
export interface CommonOptions extends Settings.LimitOptions {
  readonly out: string
  readonly baseUrl: string
  readonly apiKeyFile: Option.Option<string>
  readonly proxy: Option.Option<string>
  readonly timeout: Option.Option<number>
  readonly logDir: string
  readonly logFormat: "text" | "json"
  readonly gzip: boolean
  readonly noProgress: boolean
  readonly noQuotaProbe: boolean
  /** --quota-store: a PostgreSQL database holding the quota ledger and the claims shared with other processes. */
  readonly quotaStore: Option.Option<string>
  /** --shard i/n. */
  readonly shard: Option.Option<string>
}

/** A store layer as `--out` names it. */
export type StoreLayer<S = ReportSink.ReportSink> = Layer.Layer<
  S,
  ReportSink.SinkError | Settings.UsageError,
  FileSystem.FileSystem | Path.Path
>

/**
 * The store --out names, checked before anything is sent. The S3 sink, and the AWS SDK with it, is loaded only for
 * s3:// outputs, so that a run to a directory does not pay for loading it.
 */
export const checkOut = (
  options: {
    readonly out: string
    readonly overwrite: boolean
    readonly gzip: boolean
    readonly readOnly?: boolean
    /** The directory itself must not be a symbolic link (a sub-store of --out, never followed out of it). */
    readonly refuseSymlink?: boolean
    /** The --out a directory sub-store lies below: no directory in between may be a symbolic link either. */
    readonly within?: string
    /** On PostgreSQL: the table (default the reports'). */
    readonly table?: string
    /** --proxy, for S3 (else the environment's or the config file's proxy). */
    readonly proxy?: Option.Option<string>
  }
): Effect.Effect<StoreLayer, Settings.UsageError> => {
  const { gzip, out, overwrite } = options
  const readOnly = options.readOnly === true
  if (isPostgres(out)) {
    return Effect.map(
      Effect.promise(() => import("@vt-harvest/report-sink-pg")),
      ({ ReportSinkPg }) =>
        ReportSinkPg.layer({
          url: out,
          table: options.table ?? ReportSinkPg.defaultTable,
          overwrite,
          gzip,
          readOnly,
          applicationName: "vt-harvest",
          retry: StoreHealth.watched(ReportSinkPg.defaultRetry, ReportSinkPg.isTransient)
        })
    )
  }
  if (/^s3:\/\//i.test(out)) {
    return Effect.gen(function*() {
      const { ReportSinkS3, S3Location } = yield* Effect.promise(() => import("@vt-harvest/report-sink-s3"))
      const location = yield* Either.mapLeft(
        S3Location.parse(out),
        (error) => new Settings.UsageError({ message: `bad --out: ${Text.oneLine(error.message)}` })
      )
      // The SDK warns on every run under Node 20 about its releases of 2027; nothing a user of this CLI can act on.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"
      // S3 goes through the same proxy as VirusTotal, NO_PROXY included (a MinIO on the LAN is usually listed there).
      const agents = ProxyAgent.agents(yield* Proxy.resolve(options.proxy ?? Option.none()))
      const client = ReportSinkS3.layerS3Client(agents === undefined ? {} : { requestHandler: agents }).pipe(
        Layer.mapError((error) =>
          new Settings.UsageError({ message: `cannot configure S3 from the environment: ${String(error)}` })
        )
      )
      return ReportSinkS3.layer({
        ...location,
        overwrite,
        gzip,
        readOnly,
        retry: StoreHealth.watched(ReportSinkS3.defaultRetry, ReportSinkS3.isTransient)
      }).pipe(Layer.provide(client))
    })
  }
  // A URL of another kind, or a mistyped one (`s3:/bucket`, `ftp://…`), is no directory name a user means.
  return out.trim() === "" || /^[a-z][a-z0-9+.-]+:\//i.test(out)
    ? Effect.fail(
      new Settings.UsageError({
        message: `--out must name a directory, s3://bucket/prefix or postgres://…, got ${JSON.stringify(showOut(out))}`
      })
    )
    : Effect.succeed(
      ReportSinkFs.layer({
        directory: out,
        overwrite,
        gzip,
        readOnly,
        removeStaleTemps: !readOnly,
        refuseSymlink: options.refuseSymlink === true,
        within: options.within
      })
    )
}

// A store's certificate that cannot be verified (an endpoint or a proxy with a CA of its own): the same hint as the
// client gives for VirusTotal's.
/** Whether `error`, or a cause under it, is a certificate or TLS failure (by its code, never its words). */
const isTlsFailure = (error: unknown, depth = 0): boolean => {
  if (typeof error !== "object" || error === null || depth > 6) return false
  const code = (error as { readonly code?: unknown }).code
  if (typeof code === "string" && /CERT|^ERR_SSL|^ERR_TLS|^UNABLE_TO_/.test(code)) return true
  return isTlsFailure((error as { readonly cause?: unknown }).cause, depth + 1)
}
const tlsHint = "; behind a proxy that inspects TLS, or with an endpoint's own CA, point NODE_EXTRA_CA_CERTS at " +
  "its CA certificate (a PEM file)"

/** Whether --out names a PostgreSQL database (`postgres://…`, `postgresql://…`). */
export const isPostgres = (out: string): boolean => /^postgres(?:ql)?:\/\//i.test(out)

/** --out for messages: a password in a URL is never shown, nor one given as a parameter (`?password=`). */
export const showOut = (out: string): string => {
  // A directory holds no credentials, nor does an S3 location (its key may hold an `@`).
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(out) || /^s3:\/\//i.test(out)) return out
  if (UserConfig.credentialsMisplaced(out)) return UserConfig.maskToLastAt(out, "***")
  const url = new URL(out)
  const secrets = UserConfig.secretParams.filter((name) => url.searchParams.has(name))
  if (url.password === "" && secrets.length === 0) return out
  if (url.password !== "") url.password = "***"
  for (const name of secrets) url.searchParams.set(name, "***")
  return url.toString()
}

/**
 * The store --out names, the same however it is spelt, for the claims processes share (`--quota-store`): a
 * PostgreSQL database by host, port and name (not the user, a password, `postgresql://`), a directory by its real
 * path, an S3 location without its trailing slash. Each command writes its own part of it: the claims' scope is
 * this and the command.
 */
const storeIdentity = (out: string): Effect.Effect<string> =>
  isPostgres(out)
    ? Effect.map(Effect.promise(() => import("@vt-harvest/report-sink-pg")), ({ PgPool }) => PgPool.identity(out))
    : /^s3:\/\//i.test(out)
    ? Effect.succeed(out.replace(/\/+$/, ""))
    : Effect.sync(() => {
      try {
        return nodeFs.realpathSync(out)
      } catch {
        return nodePath.resolve(out)
      }
    })

/** Where the reports of --out are, for the closing line of a run. */
export const reportsLocation = (out: string): string =>
  isPostgres(out)
    ? `${showOut(out)} (table reports, not found records beside them)`
    : `${out.replace(/\/$/, "")}/ (not found under ${out.replace(/\/$/, "")}/_not_found/)`

/** The table of a PostgreSQL database that holds a store below --out: `_relationships/x` → `relationships_x`. */
const subTable = (segments: ReadonlyArray<string>): string => segments.join("_").replace(/^_+/, "").replace(/_+/g, "_")

/**
 * A store below --out: the sub-directory, the sub-prefix of an s3:// output (`s3://bucket/prefix/_analyses`), or a
 * table of a PostgreSQL database (`analyses`, `relationships_<name>`).
 */
export const subLocation = (out: string, ...segments: ReadonlyArray<string>): string =>
  isPostgres(out)
    ? `${showOut(out)} (table ${subTable(segments)})`
    : /^s3:\/\//i.test(out)
    ? [out.replace(/\/$/, ""), ...segments].join("/")
    : nodePath.join(out, ...segments)

/** `<out>/_analyses`. */
export const analysesLocation = (out: string): string => subLocation(out, StoreLayout.analysesDirectory)

/**
 * A store of its own below --out (`_analyses`, `_relationships/<name>`…), made by the same sink packages. It always
 * replaces what it holds: it is written only when its report is fetched again, and a later state supersedes an
 * earlier one. In a directory, neither it nor any directory between it and --out may be a symbolic link (nothing
 * is written through a link out of --out).
 */
export const checkSubStore = (
  options: { readonly out: string; readonly gzip: boolean; readonly proxy?: Option.Option<string> },
  segments: ReadonlyArray<string>
): Effect.Effect<StoreLayer, Settings.UsageError> => {
  if (isPostgres(options.out)) {
    return checkOut({ out: options.out, table: subTable(segments), overwrite: true, gzip: options.gzip })
  }
  // The directory store checks the directories between --out and it, when it opens and before every step.
  return checkOut({
    out: subLocation(options.out, ...segments),
    overwrite: true,
    gzip: options.gzip,
    refuseSymlink: true,
    within: options.out,
    ...(options.proxy === undefined ? {} : { proxy: options.proxy })
  })
}

/** The analyses of a run: `<out>/_analyses` (see {@link checkSubStore}). */
export class AnalysisStore extends Context.Tag("@vt-harvest/cli/AnalysisStore")<AnalysisStore, ReportSink.Service>() {}

// A store below --out under a tag of its own.
const checkSubStoreAs = <Id>(
  tag: Context.Tag<Id, ReportSink.Service>,
  options: { readonly out: string; readonly gzip: boolean; readonly proxy?: Option.Option<string> },
  directory: string
): Effect.Effect<StoreLayer<Id>, Settings.UsageError> =>
  Effect.map(
    checkSubStore(options, [directory]),
    (layer) => Layer.project(layer, ReportSink.ReportSink, tag, (sink) => sink)
  )

/** The analyses store of --out, checked like --out itself. */
export const checkAnalysesOut = (
  options: { readonly out: string; readonly gzip: boolean; readonly proxy?: Option.Option<string> }
): Effect.Effect<StoreLayer<AnalysisStore>, Settings.UsageError> =>
  checkSubStoreAs(AnalysisStore, options, StoreLayout.analysesDirectory)

/**
 * The uploads of `scan`: `<out>/_uploads`, keyed by the uploaded file's SHA-256, what analysis its last upload started
 * (see `internal/uploads.ts`).
 */
export class UploadStore extends Context.Tag("@vt-harvest/cli/UploadStore")<UploadStore, ReportSink.Service>() {}

/** The uploads store of --out, checked like --out itself. */
export const checkUploadsOut = (
  options: { readonly out: string; readonly gzip: boolean; readonly proxy?: Option.Option<string> }
): Effect.Effect<StoreLayer<UploadStore>, Settings.UsageError> =>
  checkSubStoreAs(UploadStore, options, StoreLayout.uploadsDirectory)

/**
 * The URLs `urls --submit-unknown` submitted: `<out>/_submissions`, keyed like the URL reports, what analysis the
 * last submission of each started (see `internal/uploads.ts`).
 */
export class SubmissionStore
  extends Context.Tag("@vt-harvest/cli/SubmissionStore")<SubmissionStore, ReportSink.Service>()
{}

/** The submissions store of --out, checked like --out itself. */
export const checkSubmissionsOut = (
  options: { readonly out: string; readonly gzip: boolean; readonly proxy?: Option.Option<string> }
): Effect.Effect<StoreLayer<SubmissionStore>, Settings.UsageError> =>
  checkSubStoreAs(SubmissionStore, options, StoreLayout.submissionsDirectory)

/**
 * Stores by name below --out (`_relationships/<name>`, `_behaviours/<name>`), each checked like --out itself and
 * opened before anything is sent.
 */
export const checkNamedStores = <Id, Names extends string>(
  tag: Context.Tag<Id, ReadonlyMap<Names, ReportSink.Service>>,
  options: { readonly out: string; readonly gzip: boolean; readonly proxy?: Option.Option<string> },
  directory: string,
  names: ReadonlyArray<Names>
): Effect.Effect<StoreLayer<Id>, Settings.UsageError> =>
  Effect.map(
    Effect.forEach(names, (name) =>
      Effect.map(checkSubStore(options, [directory, name]), (layer) => [name, layer] as const)),
    (layers) =>
      Layer.scoped(
        tag,
        Effect.map(
          Effect.forEach(layers, ([name, layer]) =>
            Effect.map(Layer.build(layer), (context) =>
              [name, Context.get(context, ReportSink.ReportSink)] as const)),
          (entries) =>
            new Map(entries)
        )
      )
  )

/** The settings every command checks before anything is sent (each failure is exit status 2). */
export interface Prepared<S> {
  readonly policy: QuotaPolicy.QuotaPolicy
  readonly baseUrl: string
  /** The client as configured, not gated yet: the run gates it. */
  readonly client: Layer.Layer<VtClient.VtClient>
  readonly stores: Layer.Layer<S, Settings.UsageError, FileSystem.FileSystem | Path.Path>
  readonly screen: Progress.Screen
  /** The proxies in force, for VirusTotal and S3 alike. */
  readonly proxy: Proxy.Proxy | undefined
  /** What --quota-store shares with other processes, opened when the run starts; none without it. */
  readonly shared: Effect.Effect<Shared | undefined, Settings.UsageError, Scope.Scope>
  /** --shard, as 0-based index and count. */
  readonly shard: { readonly index: number; readonly count: number } | undefined
}

/** The quota ledger and the claims a run shares with other processes (`--quota-store`). */
export interface Shared {
  readonly ledger: SharedLedger.Service
  readonly claims: ReportClaims.Service
}

/**
 * The ledger and the claims of --quota-store, on one small pool; PostgreSQL's driver is loaded only then. Failing to
 * open them is exit status 2, nothing sent.
 */
const openShared = (url: string, apiKey: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const { PgClaims, PgPool, PgQuotaLedger } = yield* Effect.promise(() => import("@vt-harvest/report-sink-pg"))
    // A database that stops answering fails the request that asked (and lets the run end) instead of holding it.
    const pool = yield* Layer.build(
      PgPool.layer({
        url,
        maxConnections: 4,
        applicationName: "vt-harvest",
        queryTimeoutMillis: Duration.toMillis(PgQuotaLedger.defaultTimeout)
      })
    )
    const ledger = yield* Effect.provide(PgQuotaLedger.make({ apiKey }), pool)
    const claims = yield* Effect.provide(PgClaims.make(), pool)
    return { ledger, claims } satisfies Shared
  }).pipe(
    Effect.mapError((error) =>
      new Settings.UsageError({
        message: `cannot use --quota-store ${showOut(url)}: ${Text.oneLine(error.message)}; nothing was sent`
      })
    )
  )

/** Checks the limits, --base-url, --timeout, the store(s) --out names and the API key, in that order. */
export const prepare = <S>(
  options: CommonOptions,
  stores: Effect.Effect<StoreLayer<S>, Settings.UsageError>
): Effect.Effect<Prepared<S>, Settings.UsageError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const policy = yield* Settings.policy(options)
    const baseUrl = yield* Settings.baseUrl(options.baseUrl)
    const timeout = yield* Settings.seconds("timeout", options.timeout, 60)
    const proxy = yield* Proxy.resolve(options.proxy)
    const shard = yield* Settings.shard(options.shard)
    const quotaStore = Option.getOrUndefined(options.quotaStore)?.trim()
    if (quotaStore !== undefined && !isPostgres(quotaStore)) {
      return yield* new Settings.UsageError({
        message: "--quota-store must name a PostgreSQL database: postgres://user@host:5432/database"
      })
    }
    const layer = yield* stores
    const apiKey = yield* Settings.apiKey(options.apiKeyFile)
    return {
      policy,
      baseUrl,
      proxy,
      shard,
      shared: quotaStore === undefined ? Effect.succeed(undefined) : openShared(quotaStore, apiKey),
      client: VtClient.layerUndici({ apiKey, baseUrl, timeout: Duration.seconds(timeout), proxy: clientProxy(proxy) }),
      stores: layer.pipe(
        Layer.mapError((error) =>
          error._tag === "UsageError"
            ? error
            : new Settings.UsageError({
              message: `cannot use --out ${showOut(options.out)}: ${Text.oneLine(error.message)}${
                isTlsFailure(error) ? tlsHint : ""
              }`
            })
        )
      ),
      screen: Progress.makeScreen(process.stderr.isTTY === true && !options.noProgress)
    }
  })

/** The proxies as vt-client takes them (NO_PROXY included), or none: direct. */
export const clientProxy = (proxy: Proxy.Proxy | undefined): VtClient.ProxyOptions | undefined =>
  proxy === undefined ? undefined : {
    httpProxy: proxy.httpProxy,
    httpsProxy: proxy.httpsProxy,
    noProxy: proxy.noProxy ?? ""
  }

/** The limits in force, for the start line of the run log. */
export const describeLimits = (policy: QuotaPolicy.QuotaPolicy): string =>
  [
    `per-minute ${policy.perMinute ?? "unlimited"}`,
    `per-day ${policy.perDay ?? "unlimited"}`,
    `per-month ${policy.perMonth ?? "unlimited"}`,
    `concurrency ${policy.concurrency}`
  ].join(", ")

/**
 * The key's quotas at the start: they lower the gate's limits to the key's own and seed its ledger. A refused key
 * or an untrusted connection stops the run here (nothing else is sent); any other failure only costs the head
 * start.
 */
const startingQuotas = (baseUrl: string) =>
  QuotaGate.readQuotas.pipe(
    Effect.tap((quotas) =>
      Effect.logInfo(
        `quota used: today ${Quotas.describeWindow(quotas.daily)}, this month ${
          Quotas.describeWindow(quotas.monthly)
        }, this hour ${Quotas.describeWindow(quotas.hourly)}`
      )
    ),
    Effect.catchAll((error) =>
      Failure.stopOr(
        error,
        Effect.logWarning(
          `could not read the key's quota usage (${error._tag}); counting from zero this run${
            // VirusTotal knows the user of every key it accepts: a 404 here is most often a base URL that is not the
            // API's root, under which every id would be recorded as not found.
            error._tag === "NotFoundError" && !apiPath.test(new URL(baseUrl).pathname)
              ? `. The base URL does not end in /api/v3, the path of VirusTotal's API (${VtClient.defaultBaseUrl}): ` +
                "under another path every id may be recorded as not found"
              : ""}`
        ).pipe(
          Effect.as<QuotaGate.OverallQuotas | undefined>(undefined)
        )
      )
    )
  )

const apiPath = /\/api\/v3\/?$/

/** What a stopped run says, and its exit status. */
const stopped = (stop: Failure.Stop | InputError): readonly [number, string] => {
  switch (stop._tag) {
    case "KeyRefused":
      return [3, `the API key was refused (${stop.error._tag}); nothing more was sent`]
    case "Untrusted":
      return [1, `${Failure.describeError(stop.error)}; stopped, nothing more was sent`]
    case "StoreFailed":
      return [1, `cannot write to the store: ${Text.oneLine(stop.error.message)}; stopped so no quota is wasted`]
    case "InputError":
      return [1, stop.message]
  }
}

/** A run as a command declares it. */
export interface Spec<S, R> {
  readonly common: CommonOptions
  readonly prepared: Prepared<S>
  readonly command: string
  readonly source: string
  /** Where the run writes, for the start line (default --out). */
  readonly target?: string | undefined
  /** What a 403 means for this command, said after "the API key was refused" (a privilege the key lacks). */
  readonly forbidden?: string | undefined
  /** The target is a stream (standard output), not a place: named without a trailing `/`. */
  readonly targetIsStream?: boolean | undefined
  /** The stores proven writable before the first request. */
  readonly writable: Effect.Effect<ReadonlyArray<ReportSink.Service>, never, S>
  /** The counters of the summary line, in order. */
  readonly summary: ReadonlyArray<Outcome.Counter>
  readonly progress: Progress.View
  /** The number of items, when known, for the progress bar and the ETA. */
  readonly total: number | undefined
  readonly closing?: ((tally: Outcome.Tally, logPath: string) => ReadonlyArray<string>) | undefined
  readonly body: (
    tally: Ref.Ref<Outcome.Tally>
  ) => Effect.Effect<void, Failure.Stop | InputError, R | S | VtClient.VtClient | QuotaGate.QuotaGate>
}

/** Runs a command's pipeline and answers its exit status. */
export const run = <S, R>(spec: Spec<S, R>) =>
  Effect.gen(function*() {
    const { common, prepared } = spec
    const { policy, screen } = prepared
    const color = yield* ConsoleLog.colorDefault
    const runLog = RunLog.layer({ directory: common.logDir, format: common.logFormat }).pipe(
      Layer.mapError((error) =>
        new Settings.UsageError({
          message: `cannot write the run log in --log-dir ${common.logDir}: ${Text.oneLine(error.message)}`
        })
      )
    )
    const target = spec.target ?? showOut(common.out)
    const tally = yield* Ref.make(Outcome.empty)
    const program = Effect.gen(function*() {
      const logFile = yield* RunLog.RunLogFile
      // No quota for reports that cannot be kept: each store takes (and removes) a probe before the first request.
      for (const store of yield* spec.writable) {
        // Through storeOrStop as every store operation: a probe that succeeds after being tried again opens the way
        // StoreHealth closed meanwhile.
        yield* Failure.storeOrStop(store.checkWritable).pipe(
          Effect.mapError(({ error }) =>
            new Settings.UsageError({
              message: `cannot write to --out ${showOut(common.out)}: ${Text.oneLine(error.message)}; nothing was sent`
            })
          )
        )
      }
      const shared = yield* prepared.shared
      const { shard } = prepared
      yield* Effect.logInfo(
        `start ${spec.command} ${spec.source} -> ${target} (api ${new URL(prepared.baseUrl).origin}${
          Proxy.describe(prepared.proxy, new URL(prepared.baseUrl))
        }, tier ${common.tier}: ${describeLimits(policy)}${
          shared === undefined ? "" : `, quota and claims shared in ${shared.ledger.location}`
        }${shard === undefined ? "" : `, shard ${shard.index + 1}/${shard.count}`})`
      )
      screen.line(
        `vt-harvest ${spec.command}: ${spec.source} -> ${target}${
          spec.targetIsStream === true || isPostgres(common.out) ? "" : "/"
        } (log ${logFile.path})`
      )
      const gateRef = yield* Ref.make<QuotaGate.Service | undefined>(undefined)
      const summarise = Effect.gen(function*() {
        const gate = yield* Ref.get(gateRef)
        const requests = gate === undefined ? 0 : (yield* gate.status).requests
        const line = `${Outcome.summaryLine(yield* Ref.get(tally), spec.summary)}, requests ${requests}`
        yield* Effect.logInfo(line)
        yield* Effect.logInfo("end")
        screen.clear()
        screen.line(line)
        for (const closing of spec.closing?.(yield* Ref.get(tally), logFile.path) ?? []) screen.line(closing)
      })
      const run = Effect.gen(function*() {
        const quotas = common.noQuotaProbe ? undefined : yield* startingQuotas(prepared.baseUrl)
        const gated = QuotaGate.layerGated(policy, {
          quotas,
          // Asked in the fiber of the request refused: named as what it is in the run log, not as that request.
          probe: common.noQuotaProbe
            ? undefined
            : Steps.requesting("the quota windows of the key (after a refusal)")(QuotaGate.windowProbe),
          ledger: shared?.ledger
        }).pipe(Layer.provide(Steps.layerRequestLog))
        const sharing: Pipeline.SharingService = {
          claims: shared === undefined
            ? undefined
            : { service: shared.claims, scope: `${spec.command} ${yield* storeIdentity(common.out)}` },
          shard
        }
        return yield* Effect.gen(function*() {
          yield* Ref.set(gateRef, yield* QuotaGate.QuotaGate)
          yield* Progress.report({
            screen,
            enabled: !common.noProgress,
            tally,
            view: spec.progress,
            total: spec.total,
            policy,
            plainEvery: "30 seconds"
          })
          yield* spec.body(tally)
        }).pipe(Effect.provide(gated), Effect.provideService(Pipeline.Sharing, sharing))
      })
      return yield* run.pipe(
        Effect.zipRight(Effect.map(Ref.get(tally), Outcome.exitStatus)),
        Effect.catchAll((stop) => {
          const [code, message] = stopped(stop)
          const hint =
            stop._tag === "KeyRefused" && stop.error._tag === "ForbiddenError" && spec.forbidden !== undefined
              ? ` (${spec.forbidden})`
              : ""
          return Effect.as(Effect.logError(`${message}${hint}`), code)
        }),
        Effect.onInterrupt(() =>
          Effect.logWarning("stopped by a signal: requests in flight were abandoned, nothing partial is kept")
        ),
        Effect.ensuring(Effect.zipRight(Effect.sync(() => void (sending = false)), summarise))
      )
    })
    return yield* program.pipe(
      Effect.scoped,
      StoreHealth.during,
      Effect.provide(Layer.mergeAll(prepared.client, prepared.stores, runLog)),
      Effect.provide(Logger.replace(Logger.defaultLogger, Progress.consoleLogger(screen, color))),
      Logger.withMinimumLogLevel(LogLevel.Info)
    )
  })

// Whether a run of this process may still send a request: from its start to the end of its pipeline.
let sending = true

/**
 * Whether a run of this process may still send a request (false once its pipeline has ended, done or stopped, and
 * only its summary is left to write): the process edge (bin.ts) stops a run whose reader went away only while this
 * holds, so that a run that ended well is not reported stopped because its summary could not be read.
 *
 * @since 0.3.0
 * @category runs
 */
export const maySend = (): boolean => sending

/** Where a command leaves the exit status of the program (see `Cli.run`): a value of the run, not a global. */
export class ExitStatus extends Context.Tag("@vt-harvest/cli/ExitStatus")<ExitStatus, Ref.Ref<number>>() {}

/** Leaves the exit status `effect` answers as the program's (see `Cli.run`). */
export const exitWith = <E, R>(effect: Effect.Effect<number, E, R>): Effect.Effect<void, E, R | ExitStatus> =>
  Effect.flatMap(effect, (code) => Effect.flatMap(ExitStatus, (status) => Ref.set(status, code)))
