/**
 * Per-key usage: requests counted in UTC clock windows (minute, hour, day, calendar month) for the limits and
 * `overall_quotas`, and per day and endpoint group for `api_usage`.
 */

export interface Usage {
  minute: number
  minuteCount: number
  hour: number
  hourCount: number
  day: number
  dayCount: number
  month: number
  monthCount: number
}

export interface Limits {
  readonly perMinute?: number | undefined
  readonly perDay?: number | undefined
  readonly perMonth?: number | undefined
}

const DAY_MS = 86_400_000

const monthIndex = (ms: number): number => {
  const d = new Date(ms)
  return d.getUTCFullYear() * 12 + d.getUTCMonth()
}

/** Brings the counters to the UTC clock windows containing `now`. */
const roll = (usage: Usage, now: number): Usage => {
  const minute = Math.floor(now / 60_000)
  if (usage.minute === minute) return usage
  usage.minute = minute
  usage.minuteCount = 0
  const hour = Math.floor(now / 3_600_000)
  if (usage.hour !== hour) {
    usage.hour = hour
    usage.hourCount = 0
  }
  const day = Math.floor(now / DAY_MS)
  if (usage.day === day) return usage
  usage.day = day
  usage.dayCount = 0
  const month = monthIndex(now)
  if (usage.month !== month) {
    usage.month = month
    usage.monthCount = 0
  }
  return usage
}

export class Quota {
  private usages = new Map<string, Usage>()
  /** key → day index → group → count, for api_usage. */
  private daily = new Map<string, Map<number, Map<string, number>>>()

  clear(): void {
    this.usages = new Map()
    this.daily = new Map()
  }

  /** The key's counters in the windows containing `at`. */
  usage(key: string, at: number): Usage {
    let usage = this.usages.get(key)
    if (usage === undefined) {
      usage = { minute: -1, minuteCount: 0, hour: -1, hourCount: 0, day: -1, dayCount: 0, month: -1, monthCount: 0 }
      this.usages.set(key, usage)
    }
    return roll(usage, at)
  }

  /** Counts the request unless a window is spent; refused requests are not counted, as VirusTotal does. */
  admit(key: string, at: number, group: string, limits: Limits): boolean {
    const usage = this.usage(key, at)
    if (
      (limits.perMinute !== undefined && usage.minuteCount >= limits.perMinute) ||
      (limits.perDay !== undefined && usage.dayCount >= limits.perDay) ||
      (limits.perMonth !== undefined && usage.monthCount >= limits.perMonth)
    ) {
      return false
    }
    usage.minuteCount++
    usage.hourCount++
    usage.dayCount++
    usage.monthCount++
    let days = this.daily.get(key)
    if (days === undefined) this.daily.set(key, days = new Map())
    const day = Math.floor(at / DAY_MS)
    let groups = days.get(day)
    if (groups === undefined) days.set(day, groups = new Map())
    groups.set(group, (groups.get(group) ?? 0) + 1)
    return true
  }

  /** The key's counts by endpoint group on a UTC day index, in the order groups were first used that day. */
  groupsOn(key: string, day: number): ReadonlyMap<string, number> | undefined {
    return this.daily.get(key)?.get(day)
  }
}
