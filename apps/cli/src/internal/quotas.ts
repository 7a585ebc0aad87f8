import { QuotaGate } from "@vt-harvest/rate-schedule"
import type { VtError } from "@vt-harvest/vt-client"
import { VtClient } from "@vt-harvest/vt-client"
import { Effect, Redacted, Schema } from "effect"

const Usage = Schema.Struct({ used: Schema.Number, allowed: Schema.Number })
const Window = Schema.Struct({ user: Schema.optional(Usage), group: Schema.optional(Usage) })
const Response = Schema.Struct({
  data: Schema.Struct({
    api_requests_hourly: Schema.optional(Window),
    api_requests_daily: Schema.optional(Window),
    api_requests_monthly: Schema.optional(Window)
  })
})

/** The key's usage per window, as `GET /users/{key}/overall_quotas` reports it. */
export interface Quotas {
  readonly hourly: typeof Window.Type | undefined
  readonly daily: typeof Window.Type | undefined
  readonly monthly: typeof Window.Type | undefined
}

/** The quota endpoint answered with something that is not an overall_quotas document. */
export class QuotaDecodeError extends Schema.TaggedError<QuotaDecodeError>()("QuotaDecodeError", {
  message: Schema.String
}) {}

/** Asks VirusTotal what the key has used; the key goes into the path, so nothing here may log the path. */
export const overallQuotas = (
  apiKey: Redacted.Redacted<string>
): Effect.Effect<Quotas, VtError.VtError | QuotaDecodeError, VtClient.VtClient> =>
  Effect.gen(function*() {
    const client = yield* VtClient.VtClient
    const response = yield* client.getJson(`/users/${encodeURIComponent(Redacted.value(apiKey))}/overall_quotas`)
    const decoded = yield* Schema.decodeUnknown(Response)(response.json).pipe(
      Effect.mapError(() => new QuotaDecodeError({ message: "unexpected overall_quotas document" }))
    )
    return {
      hourly: decoded.data.api_requests_hourly,
      daily: decoded.data.api_requests_daily,
      monthly: decoded.data.api_requests_monthly
    }
  })

/** Which window a 429 spent, for the gate to wait exactly until it resets; "unknown" when it cannot tell. */
export const windowProbe = (apiKey: Redacted.Redacted<string>) =>
  overallQuotas(apiKey).pipe(
    Effect.map(QuotaGate.spentWindow),
    Effect.orElseSucceed((): QuotaGate.SpentWindow => "unknown")
  )

/** "17/500" or "17 (no limit)" for one window's user part. */
export const describeWindow = (window: typeof Window.Type | undefined): string => {
  const user = window?.user
  if (user === undefined) return "unknown"
  return user.allowed >= 1e9 ? `${user.used} (no limit)` : `${user.used}/${user.allowed}`
}
