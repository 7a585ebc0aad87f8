/**
 * `vt-harvest quota [--usage]`: what the key has used and is allowed per window; with --usage, its requests per
 * endpoint over the last 30 days.
 */
import { Command, Options } from "@effect/cli"
import { QuotaGate } from "@vt-harvest/rate-schedule"
import { Quota, VtClient, VtError } from "@vt-harvest/vt-client"
import { Console, Effect, Option } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Flags from "../engine/Flags.js"
import * as Run from "../engine/Run.js"
import * as Formats from "../internal/formats.js"
import * as Proxy from "../internal/proxy.js"
import * as Quotas from "../internal/quotas.js"
import * as Settings from "../internal/settings.js"
import * as Text from "../internal/text.js"

const windows = (quotas: QuotaGate.OverallQuotas) =>
  [["hourly", quotas.hourly], ["daily", quotas.daily], ["monthly", quotas.monthly]] as const

const quotaTable = (quotas: QuotaGate.OverallQuotas) =>
  Quotas.table([
    ["window", "used", "allowed"],
    ...windows(quotas).map(([name, window]) => {
      const user = Quotas.userPart(window)
      const allowed = user === undefined ? "?" : Quotas.unlimited(user.allowed) ? "no limit" : String(user.allowed)
      return [name, user === undefined ? "?" : String(user.used), allowed]
    })
  ])

const usageTable = (usage: Quota.Usage) =>
  Quotas.table([
    ["endpoint", "requests"],
    ...Object.entries(usage.total).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1)).map((
      [endpoint, count]
    ) => [Text.oneLine(endpoint, 80), String(count)])
  ])

/** A window or an endpoint as a CSV row or a JSON line. */
type Line = ReadonlyArray<string | number | null>

const lineColumns = (names: ReadonlyArray<string>): ReadonlyArray<Formats.Column<Line>> =>
  names.map((name, i) => ({ name, text: (line) => String(line[i] ?? ""), json: (line) => line[i] }))

const windowLines = (quotas: QuotaGate.OverallQuotas): ReadonlyArray<Line> =>
  windows(quotas).map(([name, window]) => {
    const user = Quotas.userPart(window)
    return [name, user?.used ?? null, user?.allowed ?? null]
  })

const usageLines = (usage: Quota.Usage): ReadonlyArray<Line> =>
  Object.entries(usage.total).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1)).map(([endpoint, count]) => [
    endpoint,
    count
  ])

/** Lines as CSV or JSON lines, through the writer every command shares. */
const linesAs = (format: "csv" | "ndjson", names: ReadonlyArray<string>, lines: ReadonlyArray<Line>) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    const writer = yield* Formats.writer(format, lineColumns(names), (line) => Effect.sync(() => void out.push(line)), {
      width: process.stdout.columns ?? 120,
      tty: process.stdout.isTTY === true
    })
    yield* writer.begin
    for (const line of lines) yield* writer.record(line)
    yield* writer.end
    return out.join("\n")
  })

export const quota = Command.make("quota", {
  baseUrl: Flags.baseUrl,
  apiKeyFile: Flags.apiKeyFile,
  proxy: Flags.proxy,
  usage: Options.boolean("usage").pipe(
    Options.withDescription("Requests per endpoint over the last 30 days (api_usage) instead of the quota windows")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print JSON instead of a table (as --format json)")),
  format: Options.choice("format", Formats.formats).pipe(
    Options.withDescription(
      "table (default), json (the windows as VirusTotal names their parts), ndjson (one object per window or " +
        "endpoint) or csv (window,used,allowed; with --usage endpoint,requests)\nExample: vt-harvest quota --format csv"
    ),
    Options.optional
  )
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const baseUrl = yield* Settings.baseUrl(options.baseUrl)
    const proxy = yield* Proxy.resolve(options.proxy)
    const apiKey = yield* Settings.apiKey(options.apiKeyFile)
    const today = new Date()
    const start = new Date(today.getTime() - 29 * 86_400_000)
    const format = Option.getOrElse(options.format, () => (options.json ? "json" as const : "table" as const))
    const text = options.usage
      ? Effect.flatMap(Quota.usage({ start, end: today }), (usage) =>
        format === "json"
          ? Effect.succeed(Text.json({ daily: usage.daily, total: usage.total }, 2))
          : format === "table"
          ? Effect.succeed(usageTable(usage))
          : linesAs(format, ["endpoint", "requests"], usageLines(usage)))
      : Effect.flatMap(QuotaGate.readQuotas, (quotas) =>
        format === "json"
          ? Effect.succeed(
            Text.json(Object.fromEntries(windows(quotas).map(([name, w]) => [name, w ?? null])), 2)
          )
          : format === "table"
          ? Effect.succeed(quotaTable(quotas))
          : linesAs(format, ["window", "used", "allowed"], windowLines(quotas)))
    return yield* text.pipe(
      Effect.provide(VtClient.layerUndici({ apiKey, baseUrl, proxy: Run.clientProxy(proxy) })),
      Effect.flatMap((out) => Effect.as(Console.log(out), 0)),
      Effect.catchAll((error) =>
        VtError.isAuthFailure(error)
          ? Effect.as(Console.error(`vt-harvest: the API key was refused (${error._tag})`), 3)
          : Effect.as(Console.error(`vt-harvest: ${Failure.describeError(error)}`), 1)
      )
    )
  }))).pipe(
    Command.withDescription(
      "Show what the key has used and is allowed per window (hourly, daily, monthly), or with --usage its\n" +
        "requests per endpoint over the last 30 days.\nExample: vt-harvest quota --json\n" +
        "Example: vt-harvest quota --usage --format csv > usage.csv"
    )
  )
