/**
 * `/users/{id}/overall_quotas` and `/users/{id}/api_usage`: what a key has used, in the windows the limits count
 * (`overall_quotas`) and per day and endpoint group (`api_usage`). The `{id}` is the key asked about.
 */
import { decodeSegment, type Handler } from "../context.js"
import * as R from "../reply.js"

/** What `overall_quotas` reports as "allowed" for a window without a limit. */
const UNLIMITED = 1_000_000_000
const DAY_MS = 86_400_000
/** The longest span one `api_usage` request may cover, and how far back it may start, in days. */
const MAX_DAYS = 30
const HISTORY_DAYS = 60

/** "YYYY-MM-DD" of a UTC day index. */
const isoDay = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10)

/** A `YYYYMMDD` parameter as a UTC day index. */
const parseDay = (text: string): number | undefined => {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(text)
  if (match === null) return undefined
  const ms = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))
  return isoDay(ms / DAY_MS).replace(/-/g, "") === text ? ms / DAY_MS : undefined
}

/** `GET /users/{id}/overall_quotas`: the hourly window is reported as 60 times the per-minute limit. */
export const overallQuotas: Handler = (context, request) => {
  const { options } = context
  const usage = context.quota.usage(decodeSegment(request.params.user), request.at)
  const window = (allowed: number | undefined, used: number) => ({ user: { allowed: allowed ?? UNLIMITED, used } })
  return R.json({
    data: {
      api_requests_daily: window(options.perDay, usage.dayCount),
      api_requests_hourly: window(
        options.perMinute === undefined ? undefined : options.perMinute * 60,
        usage.hourCount
      ),
      api_requests_monthly: window(options.perMonth, usage.monthCount)
    }
  })
}

/**
 * `GET /users/{id}/api_usage[?start_date=YYYYMMDD&end_date=YYYYMMDD]`: by default the 30 days up to today; at most 30
 * days, starting within the last 60 (400 BadRequestError otherwise). Endpoints are named as VirusTotal names them
 * (`file_report`, `url_submission`, `file_relationships`…; table.ts).
 */
export const apiUsage: Handler = (context, request) => {
  const user = decodeSegment(request.params.user)
  const today = Math.floor(request.at / DAY_MS)
  const startText = request.query.get("start_date")
  const endText = request.query.get("end_date")
  const end = endText === null ? today : parseDay(endText)
  const start = startText === null ? (end ?? today) - 29 : parseDay(startText)
  if (start === undefined || end === undefined) {
    return R.badRequest("start_date and end_date must be dates as YYYYMMDD")
  }
  // As VirusTotal: at most 30 days a request, and only the last 60 days of history.
  if (end < start) return R.badRequest("end_date must not be before start_date")
  if (end - start + 1 > MAX_DAYS) return R.badRequest(`The maximum number of days is ${MAX_DAYS}`)
  if (start <= today - HISTORY_DAYS) return R.badRequest(`Only the last ${HISTORY_DAYS} days can be requested`)
  const perDay: Record<string, Record<string, number>> = {}
  const total: Record<string, number> = {}
  for (let day = start; day <= end; day++) {
    const groups = context.quota.groupsOn(user, day)
    perDay[isoDay(day)] = groups === undefined ? {} : Object.fromEntries(groups)
    for (const [group, n] of groups ?? []) total[group] = (total[group] ?? 0) + n
  }
  return R.json({ data: { daily: perDay, total } })
}
