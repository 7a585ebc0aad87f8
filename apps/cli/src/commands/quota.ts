/**
 * `vt-harvest quota [--usage]`: what the key has used and is allowed per window; with --usage, its requests per
 * endpoint over the last 30 days.
 */
import { Command, Options } from "@effect/cli"
import { QuotaGate } from "@vt-harvest/rate-schedule"
import { Quota, VtClient, VtError } from "@vt-harvest/vt-client"
import { Console, Effect } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Flags from "../engine/Flags.js"
import * as Run from "../engine/Run.js"
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

export const quota = Command.make("quota", {
  baseUrl: Flags.baseUrl,
  apiKeyFile: Flags.apiKeyFile,
  proxy: Flags.proxy,
  usage: Options.boolean("usage").pipe(
    Options.withDescription("Requests per endpoint over the last 30 days (api_usage) instead of the quota windows")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print JSON instead of a table"))
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const baseUrl = yield* Settings.baseUrl(options.baseUrl)
    const proxy = yield* Proxy.resolve(options.proxy)
    const apiKey = yield* Settings.apiKey(options.apiKeyFile)
    const today = new Date()
    const start = new Date(today.getTime() - 29 * 86_400_000)
    const text = options.usage
      ? Effect.map(Quota.usage({ start, end: today }), (usage) =>
        options.json ? JSON.stringify({ daily: usage.daily, total: usage.total }, null, 2) : usageTable(usage))
      : Effect.map(QuotaGate.readQuotas, (quotas) =>
        options.json
          ? JSON.stringify(Object.fromEntries(windows(quotas).map(([name, w]) => [name, w ?? null])), null, 2)
          : quotaTable(quotas))
    return yield* text.pipe(
      Effect.provide(VtClient.layerUndici({ apiKey, baseUrl, proxy: Run.clientProxy(proxy) })),
      Effect.flatMap((out) =>
        Effect.as(Console.log(out), 0)
      ),
      Effect.catchAll((error) =>
        VtError.isAuthFailure(error)
          ? Effect.as(Console.error(`vt-harvest: the API key was refused (${error._tag})`), 3)
          : Effect.as(Console.error(`vt-harvest: ${Failure.describeError(error)}`), 1)
      )
    )
  }))).pipe(
    Command.withDescription(
      "Show what the key has used and is allowed per window (hourly, daily, monthly), or with --usage its\n" +
        "requests per endpoint over the last 30 days.\nExample: vt-harvest quota --json"
    )
  )
