import type { QuotaGate } from "@vt-harvest/rate-schedule"

/** VirusTotal reports a window without a limit with a huge allowance. */
export const unlimited = (allowed: number) => allowed >= 1e9

/** One window of `overall_quotas`, as `QuotaGate.readQuotas` answers it. */
export type Window = QuotaGate.WindowUsage | QuotaGate.QuotaUsage | undefined

/** The key's own part of a window. */
export const userPart = (window: Window): QuotaGate.QuotaUsage | undefined =>
  window === undefined ? undefined : "used" in window ? window : window.user

/** "17/500" or "17 (no limit)" for one window's user part. */
export const describeWindow = (window: Window): string => {
  const user = userPart(window)
  if (user === undefined) return "unknown"
  return unlimited(user.allowed) ? `${user.used} (no limit)` : `${user.used}/${user.allowed}`
}

/** Rows of text as an aligned table, two spaces between columns. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0].map((_, i) => rows.reduce((widest, row) => Math.max(widest, (row[i] ?? "").length), 0))
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n")
}
