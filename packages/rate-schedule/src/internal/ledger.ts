import type { QuotaPolicy } from "../QuotaPolicy.js"

const dayMillis = 86_400_000

/** @internal The UTC day number of an instant: days since 1970-01-01. */
export const utcDay = (ms: number): number => Math.floor(ms / dayMillis)

/** @internal The UTC month number of an instant: `year * 12 + month`. */
export const utcMonth = (ms: number): number => {
  const date = new Date(ms)
  return date.getUTCFullYear() * 12 + date.getUTCMonth()
}

/** @internal How many requests the process started in the current UTC day and month. */
export interface Ledger {
  readonly day: number
  readonly today: number
  readonly month: number
  readonly thisMonth: number
}

/** @internal */
export const empty = (now: number): Ledger => ({ day: utcDay(now), today: 0, month: utcMonth(now), thisMonth: 0 })

// A count read from elsewhere (VirusTotal's `overall_quotas`) that is not a positive number counts as nothing.
const count = (n: number): number => n > 0 ? Math.floor(n) : 0

/** @internal A ledger for the UTC day and month of `now` that already counts the given requests. */
export const seeded = (now: number, counts: { readonly today: number; readonly thisMonth: number }): Ledger => ({
  ...empty(now),
  today: count(counts.today),
  thisMonth: count(counts.thisMonth)
})

/** @internal The ledger as seen at `now`: counters of a day or month that has ended start again from zero. */
export const roll = (ledger: Ledger, now: number): Ledger => {
  const day = utcDay(now)
  const month = utcMonth(now)
  if (day === ledger.day && month === ledger.month) return ledger
  return {
    day,
    today: day === ledger.day ? ledger.today : 0,
    month,
    thisMonth: month === ledger.month ? ledger.thisMonth : 0
  }
}

/** @internal */
export const record = (ledger: Ledger): Ledger => ({
  ...ledger,
  today: ledger.today + 1,
  thisMonth: ledger.thisMonth + 1
})

/** @internal */
export const dayFull = (p: QuotaPolicy, ledger: Ledger): boolean => p.perDay !== undefined && ledger.today >= p.perDay

/** @internal */
export const monthFull = (p: QuotaPolicy, ledger: Ledger): boolean =>
  p.perMonth !== undefined && ledger.thisMonth >= p.perMonth
