import { QuotaGate } from "@vt-harvest/rate-schedule"
import type { VtClient, VtError } from "@vt-harvest/vt-client"
import { Quota } from "@vt-harvest/vt-client"
import { Effect, Option } from "effect"

/** The key's usage per window, as `GET /users/{key}/overall_quotas` reports it. */
export interface Quotas {
  readonly hourly: Quota.QuotaWindow | undefined
  readonly daily: Quota.QuotaWindow | undefined
  readonly monthly: Quota.QuotaWindow | undefined
}

/** Asks VirusTotal what the key has used (the client puts the key into the path itself, never logged). */
export const overallQuotas: Effect.Effect<Quotas, VtError.VtError, VtClient.VtClient> = Quota.overall().pipe(
  Effect.map((quotas) => ({
    hourly: Option.getOrUndefined(quotas.hourly),
    daily: Option.getOrUndefined(quotas.daily),
    monthly: Option.getOrUndefined(quotas.monthly)
  }))
)

/** Which window a 429 spent, for the gate to wait exactly until it resets; "unknown" when it cannot tell. */
export const windowProbe: Effect.Effect<QuotaGate.SpentWindow, never, VtClient.VtClient> = overallQuotas.pipe(
  Effect.map(QuotaGate.spentWindow),
  Effect.orElseSucceed((): QuotaGate.SpentWindow => "unknown")
)

/** VirusTotal reports a window without a limit with a huge allowance. */
export const unlimited = (allowed: number) => allowed >= 1e9

/** "17/500" or "17 (no limit)" for one window's user part. */
export const describeWindow = (window: Quota.QuotaWindow | undefined): string => {
  const user = window?.user
  if (user === undefined) return "unknown"
  return unlimited(user.allowed) ? `${user.used} (no limit)` : `${user.used}/${user.allowed}`
}
