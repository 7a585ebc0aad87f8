#!/usr/bin/env node
/**
 * `vt-emulator`: the emulator as a process, for out-of-process tests, demos and benchmarks.
 * Dependency-free on purpose (node:util parseArgs, no effect) so that it starts in a blink.
 *
 * @since 0.1.0
 */
import { parseArgs } from "node:util"
import { start } from "./internal/server.js"
import type { FaultOptions, Options } from "./VtEmulator.js"

const usage = `Usage: vt-emulator [options]

A local VirusTotal API v3 server (base path /api/v3).

Options:
  --host <host>             interface to listen on (default 127.0.0.1)
  --port <n>                port (default 8787; 0 picks a free one)
  --api-key <key>           accepted key, repeatable (default: any non-empty key)
  --inactive-key <key>      key answered with 401 UserNotActiveError, repeatable
  --premium-key <key>       key with the premium privileges (search, downloads), repeatable
                            (default: every key has them; the others get 403 ForbiddenError)
  --per-minute <n>          requests per key per UTC minute, then 429 QuotaExceededError
  --per-day <n>             requests per key per UTC day
  --per-month <n>           requests per key per UTC month
  --latency-ms <n>          fixed delay before every answer
  --fault-503 <rate>        rate (0..1) of 503 TransientError
  --fault-429 <rate>        rate of 429 TooManyRequestsError
  --fault-504 <rate>        rate of 504 DeadlineExceededError
  --fault-reset <rate>      rate of connections destroyed without an answer
  --fault-truncated <rate>  rate of bodies cut half-way (full Content-Length declared)
  --fault-slow <rate>       rate of answers delayed by --slow-ms
  --slow-ms <n>             delay of a slow answer (default 30000)
  --seed <n>                seed of the fault generator (default 1)
  --analysis-queued-ms <n>  how long a new analysis stays "queued" (default 20000)
  --analysis-ms <n>         when an analysis is "completed" (default 60000)
  --pagination <style>      cursor forms of collection pages: both (default), cursor or links
  -h, --help                show this help

Serves /api/v3 (files, uploads and upload URLs, URLs, domains, IP addresses, analyses, comments, votes,
relationships, behaviours, quotas) and the legacy /vtapi/v2 reports and scans.

Admin: GET /_emulator/requests (request log), POST /_emulator/reset (log, quotas, submissions, votes).
`

const fail = (message: string): never => {
  process.stderr.write(`vt-emulator: ${message}\n\n${usage}`)
  process.exit(2)
}

const parsed = (() => {
  try {
    return parseArgs({
      options: {
        host: { type: "string" },
        port: { type: "string" },
        "api-key": { type: "string", multiple: true },
        "inactive-key": { type: "string", multiple: true },
        "premium-key": { type: "string", multiple: true },
        "per-minute": { type: "string" },
        "per-day": { type: "string" },
        "per-month": { type: "string" },
        "latency-ms": { type: "string" },
        "fault-503": { type: "string" },
        "fault-429": { type: "string" },
        "fault-504": { type: "string" },
        "fault-reset": { type: "string" },
        "fault-truncated": { type: "string" },
        "fault-slow": { type: "string" },
        "slow-ms": { type: "string" },
        seed: { type: "string" },
        "analysis-queued-ms": { type: "string" },
        "analysis-ms": { type: "string" },
        pagination: { type: "string" },
        help: { type: "boolean", short: "h" }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error))
  }
})()

if (parsed.help === true) {
  process.stdout.write(usage)
  process.exit(0)
}

const integer = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  return value.trim() !== "" && Number.isInteger(n) && n >= 0
    ? n
    : fail(`--${flag} expects a non-negative integer, got "${value}"`)
}

const rate = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  return value.trim() !== "" && n >= 0 && n <= 1 ? n : fail(`--${flag} expects a rate between 0 and 1, got "${value}"`)
}

const faults: FaultOptions = {
  transient: rate("fault-503", parsed["fault-503"]),
  tooManyRequests: rate("fault-429", parsed["fault-429"]),
  deadlineExceeded: rate("fault-504", parsed["fault-504"]),
  reset: rate("fault-reset", parsed["fault-reset"]),
  truncated: rate("fault-truncated", parsed["fault-truncated"]),
  slow: rate("fault-slow", parsed["fault-slow"]),
  slowMs: integer("slow-ms", parsed["slow-ms"])
}

const options: Options = {
  host: parsed.host ?? "127.0.0.1",
  port: integer("port", parsed.port) ?? 8787,
  apiKeys: parsed["api-key"],
  inactiveKeys: parsed["inactive-key"],
  premiumKeys: parsed["premium-key"],
  perMinute: integer("per-minute", parsed["per-minute"]),
  perDay: integer("per-day", parsed["per-day"]),
  perMonth: integer("per-month", parsed["per-month"]),
  latencyMs: integer("latency-ms", parsed["latency-ms"]),
  seed: integer("seed", parsed.seed),
  analysisQueuedMs: integer("analysis-queued-ms", parsed["analysis-queued-ms"]),
  analysisCompletedMs: integer("analysis-ms", parsed["analysis-ms"]),
  pagination: parsed.pagination === undefined
    ? undefined
    : parsed.pagination === "both" || parsed.pagination === "cursor" || parsed.pagination === "links"
    ? parsed.pagination
    : fail(`--pagination expects both, cursor or links, got "${parsed.pagination}"`),
  faults
}

start(options).then(
  (server) => {
    process.stdout.write(`vt-emulator listening on ${server.url}\n`)
    const stop = () => {
      server.close().then(() => process.exit(0), () => process.exit(1))
    }
    process.once("SIGINT", stop)
    process.once("SIGTERM", stop)
  },
  (error: unknown) => {
    process.stderr.write(`vt-emulator: cannot listen: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
)
