/**
 * The key's quotas: `overall_quotas` (allowed and used per window) and `api_usage` (requests per day and
 * endpoint). Both answer for the key's own user unless another user id is given; the key then travels in the
 * path, so those requests get no tracing span and their errors show `<redacted>`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { decode, segment, withClient } from "./internal/api.js"
import * as VtClient from "./VtClient.js"
import type * as VtError from "./VtError.js"

/**
 * Allowed and used requests in one window, for the user or its group.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Counter = Schema.Struct({ allowed: Schema.Number, used: Schema.Number })

/**
 * One quota window: the user's counter and, for keys in a group, the group's.
 *
 * @since 0.1.0
 * @category schemas
 */
export const QuotaWindow = Schema.Struct({
  user: Schema.optional(Counter),
  group: Schema.optional(Schema.Struct({
    allowed: Schema.Number,
    used: Schema.Number,
    inherited_from: Schema.optional(Schema.String)
  }))
})

/**
 * The decoded {@link QuotaWindow} schema.
 *
 * @since 0.1.0
 * @category models
 */
export type QuotaWindow = typeof QuotaWindow.Type

const OverallDocument = Schema.Struct({
  data: Schema.Struct({
    api_requests_hourly: Schema.optional(QuotaWindow),
    api_requests_daily: Schema.optional(QuotaWindow),
    api_requests_monthly: Schema.optional(QuotaWindow)
  })
})

/**
 * `overall_quotas`: the three request windows typed; `data` holds every window VirusTotal sent (intelligence
 * searches, downloads…) as received.
 *
 * @since 0.1.0
 * @category models
 */
export interface OverallQuotas {
  readonly raw: Uint8Array
  readonly data: Readonly<Record<string, unknown>>
  readonly hourly: Option.Option<QuotaWindow>
  readonly daily: Option.Option<QuotaWindow>
  readonly monthly: Option.Option<QuotaWindow>
}

const userPath = (user: string | undefined) =>
  withClient((vt) => user === undefined ? Effect.succeed(VtClient.apiKeyPlaceholder) : segment(vt, "user", user))

/**
 * `GET /users/{id}/overall_quotas`, for the key's own user by default.
 *
 * @since 0.1.0
 * @category requests
 */
export const overall = (
  options?: { readonly user?: string | undefined }
): Effect.Effect<OverallQuotas, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const path = `/users/${yield* userPath(options?.user)}/overall_quotas`
      const response = yield* vt.getJson(path)
      const typed = yield* decode(vt, OverallDocument, response, "GET", path)
      return {
        raw: response.raw,
        data: typed.data,
        hourly: Option.fromNullable(typed.data.api_requests_hourly),
        daily: Option.fromNullable(typed.data.api_requests_daily),
        monthly: Option.fromNullable(typed.data.api_requests_monthly)
      }
    })
  )

const UsageDocument = Schema.Struct({
  data: Schema.Struct({
    daily: Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: Schema.Number }) }),
    total: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number }))
  })
})

/**
 * `api_usage`: requests per UTC day ("YYYY-MM-DD") and endpoint, and their totals.
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage {
  readonly raw: Uint8Array
  readonly daily: { readonly [day: string]: { readonly [endpoint: string]: number } }
  readonly total: { readonly [endpoint: string]: number }
}

const yyyymmdd = (date: Date | string): string =>
  typeof date === "string" ? date.replace(/-/g, "") : date.toISOString().slice(0, 10).replace(/-/g, "")

/**
 * `GET /users/{id}/api_usage?start_date=&end_date=` (dates as `Date`s, "YYYY-MM-DD" or "YYYYMMDD", UTC; the
 * server's default range without them).
 *
 * @since 0.1.0
 * @category requests
 */
export const usage = (options?: {
  readonly start?: Date | string | undefined
  readonly end?: Date | string | undefined
  readonly user?: string | undefined
}): Effect.Effect<Usage, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const path = `/users/${yield* userPath(options?.user)}/api_usage`
      const urlParams: Record<string, string> = {}
      if (options?.start !== undefined) urlParams.start_date = yyyymmdd(options.start)
      if (options?.end !== undefined) urlParams.end_date = yyyymmdd(options.end)
      const response = yield* vt.getJson(path, { urlParams })
      const typed = yield* decode(vt, UsageDocument, response, "GET", path)
      return { raw: response.raw, daily: typed.data.daily, total: typed.data.total ?? {} }
    })
  )
