/**
 * The HTTP side of the emulator, on plain node:http: no framework and no effect, so the bin starts fast and the
 * server is never the bottleneck of a benchmark.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { FaultOptions, Options, RequestLogEntry, Server } from "../VtEmulator.js"
import { answerFile, errorBody } from "./document.js"
import { mulberry32, type Prng } from "./prng.js"

const BASE = "/api/v3"
const DEFAULT_SLOW_MS = 30_000
const DEFAULT_LOG_LIMIT = 100_000
/** What overall_quotas reports as "allowed" for a window without a limit. */
const UNLIMITED = 1_000_000_000

interface Reply {
  readonly status: number
  readonly body: Uint8Array
  /** Shared bytes sent after `body` (the static bulk of a file report). */
  readonly tail?: Uint8Array | undefined
}

const fixed = (status: number, code: string, message: string): Reply => ({ status, body: errorBody(code, message) })

const missingKey = fixed(401, "AuthenticationRequiredError", "X-Apikey header is missing")
const wrongKey = fixed(401, "WrongCredentialsError", "Wrong API key")
const inactiveKey = fixed(401, "UserNotActiveError", "User is not active")
const quotaExceeded = fixed(429, "QuotaExceededError", "Quota exceeded")
const tooManyRequests = fixed(429, "TooManyRequestsError", "Too many requests")
const transient = fixed(503, "TransientError", "Transient error, please try again later")
const deadlineExceeded = fixed(504, "DeadlineExceededError", "Deadline exceeded")
const notFound = fixed(404, "NotFoundError", "Resource not found")

type FaultKind = "reset" | "truncated" | "transient" | "tooManyRequests" | "deadlineExceeded" | "slow"

const FAULT_ORDER: ReadonlyArray<Exclude<keyof FaultOptions, "slowMs">> = [
  "reset",
  "truncated",
  "transient",
  "tooManyRequests",
  "deadlineExceeded",
  "slow"
]

interface Usage {
  minute: number
  minuteCount: number
  hour: number
  hourCount: number
  day: number
  dayCount: number
  month: number
  monthCount: number
}

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
  const day = Math.floor(now / 86_400_000)
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

const jsonHeaders = (length: number): Array<string> => [
  "Content-Type",
  "application/json",
  "Content-Length",
  String(length)
]

const decodeSegment = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

export const start = (initial: Options = {}): Promise<Server> => {
  let options: Options = { ...initial }
  let rng: Prng = mulberry32(options.seed ?? 1)
  let log: Array<RequestLogEntry> = []
  let usages = new Map<string, Usage>()
  const pending = new Set<ReturnType<typeof setTimeout>>()

  const now = (): number => (options.now ?? Date.now)()

  const record = (entry: RequestLogEntry): void => {
    const limit = options.logLimit ?? DEFAULT_LOG_LIMIT
    if (limit <= 0) return
    log.push(entry)
    // Amortised trimming: drop the oldest half-window at once rather than shift on every request.
    if (log.length >= limit * 2) log = log.slice(log.length - limit)
  }

  const usageOf = (key: string, at: number): Usage => {
    let usage = usages.get(key)
    if (usage === undefined) {
      usage = { minute: -1, minuteCount: 0, hour: -1, hourCount: 0, day: -1, dayCount: 0, month: -1, monthCount: 0 }
      usages.set(key, usage)
    }
    return roll(usage, at)
  }

  /** Counts the request unless a window is spent; refused requests are not counted, as VirusTotal does. */
  const admit = (key: string, at: number): boolean => {
    const usage = usageOf(key, at)
    if (
      (options.perMinute !== undefined && usage.minuteCount >= options.perMinute) ||
      (options.perDay !== undefined && usage.dayCount >= options.perDay) ||
      (options.perMonth !== undefined && usage.monthCount >= options.perMonth)
    ) {
      return false
    }
    usage.minuteCount++
    usage.hourCount++
    usage.dayCount++
    usage.monthCount++
    return true
  }

  const drawFault = (): FaultKind | undefined => {
    const faults = options.faults
    if (faults === undefined) return undefined
    for (const kind of FAULT_ORDER) {
      const rate = faults[kind]
      if (rate !== undefined && rate > 0 && rng() < rate) return kind
    }
    return undefined
  }

  const authenticate = (key: string | undefined): Reply | undefined => {
    if (key === undefined || key === "") return missingKey
    if (options.inactiveKeys?.includes(key) === true) return inactiveKey
    if (options.apiKeys !== undefined && !options.apiKeys.includes(key)) return wrongKey
    return undefined
  }

  const overallQuotas = (key: string, at: number): Reply => {
    const usage = usageOf(key, at)
    const window = (allowed: number | undefined, used: number) => ({ user: { allowed: allowed ?? UNLIMITED, used } })
    const body = JSON.stringify({
      data: {
        api_requests_daily: window(options.perDay, usage.dayCount),
        api_requests_hourly: window(
          options.perMinute === undefined ? undefined : options.perMinute * 60,
          usage.hourCount
        ),
        api_requests_monthly: window(options.perMonth, usage.monthCount)
      }
    })
    return { status: 200, body: Buffer.from(body, "utf8") }
  }

  const send = (res: Http.ServerResponse, reply: Reply): void => {
    if (reply.tail === undefined) {
      res.writeHead(reply.status, jsonHeaders(reply.body.length))
      res.end(reply.body)
      return
    }
    res.writeHead(reply.status, jsonHeaders(reply.body.length + reply.tail.length))
    // Corked, head and tail leave in one writev with the headers.
    res.cork()
    res.write(reply.body)
    res.end(reply.tail)
  }

  const sendTruncated = (res: Http.ServerResponse, reply: Reply): void => {
    const body = reply.tail === undefined ? reply.body : Buffer.concat([reply.body, reply.tail])
    res.writeHead(reply.status, jsonHeaders(body.length))
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy())
  }

  const later = (res: Http.ServerResponse, delayMs: number, action: () => void): void => {
    if (delayMs <= 0) return action()
    const timer = setTimeout(() => {
      pending.delete(timer)
      res.off("close", cancel)
      action()
    }, delayMs)
    const cancel = () => {
      clearTimeout(timer)
      pending.delete(timer)
    }
    pending.add(timer)
    // Before anything is sent, "close" means the client gave up (timeout, abort): no timer for a dead connection.
    res.once("close", cancel)
  }

  const admin = (req: Http.IncomingMessage, res: Http.ServerResponse, path: string): void => {
    if (req.method === "GET" && path === "/_emulator/requests") {
      return send(res, { status: 200, body: Buffer.from(JSON.stringify({ requests: log }), "utf8") })
    }
    if (req.method === "POST" && path === "/_emulator/reset") {
      log = []
      usages = new Map()
      rng = mulberry32(options.seed ?? 1)
      return send(res, { status: 200, body: Buffer.from("{\"ok\":true}") })
    }
    send(res, notFound)
  }

  const handle = (req: Http.IncomingMessage, res: Http.ServerResponse): void => {
    const url = req.url ?? "/"
    const q = url.indexOf("?")
    const path = q === -1 ? url : url.slice(0, q)
    if (path.startsWith("/_emulator/")) return admin(req, res, path)
    const method = req.method ?? "GET"
    const at = now()
    const header = req.headers["x-apikey"]
    const key = Array.isArray(header) ? header[0] : header
    const segments = path.split("/")
    // ["", "api", "v3", collection, id, ...]
    const isFile = method === "GET" && segments.length === 5 && segments[3] === "files" && segments[4] !== ""
    const isQuota = method === "GET" && segments.length === 6 && segments[3] === "users" &&
      segments[5] === "overall_quotas"
    // A key can only reach the log through the path: the {id} of /users/{id}/... or a segment equal to the key.
    const logged = isQuota
      ? `${BASE}/users/<redacted>/overall_quotas`
      : key !== undefined && key !== "" &&
          segments.some((s) => s === key || (s.includes("%") && decodeSegment(s) === key))
      ? segments.map((s) => s === key || decodeSegment(s) === key ? "<redacted>" : s).join("/")
      : path

    const finish = (reply: Reply, fault: FaultKind | undefined, id: string | undefined): void => {
      const entry: { -readonly [K in keyof RequestLogEntry]: RequestLogEntry[K] } = {
        method,
        path: logged,
        status: fault === "reset" ? 0 : reply.status,
        at
      }
      if (id !== undefined) entry.id = id
      if (fault !== undefined) entry.fault = fault
      record(entry)
      const latency = options.latencyMs ?? 0
      switch (fault) {
        case "reset":
          return later(res, latency, () => req.socket.destroy())
        case "truncated":
          return later(res, latency, () => sendTruncated(res, reply))
        case "slow":
          return later(res, latency + (options.faults?.slowMs ?? DEFAULT_SLOW_MS), () => send(res, reply))
        default:
          return later(res, latency, () => send(res, reply))
      }
    }

    if (path !== BASE && !path.startsWith(`${BASE}/`)) return finish(notFound, undefined, undefined)
    const fileAnswer = isFile ? answerFile(decodeSegment(segments[4])) : undefined
    // Every log entry of a file request names the id, refusals included, so tests can follow one item.
    const id = fileAnswer?.status === 400 ? undefined : fileAnswer?.id
    const refused = authenticate(key)
    if (refused !== undefined || key === undefined) return finish(refused ?? missingKey, undefined, id)
    // The quota endpoint is neither counted nor faulted: clients ask it precisely when they were refused.
    if (isQuota) return finish(overallQuotas(decodeSegment(segments[4]), at), undefined, undefined)
    if (!admit(key, at)) return finish(quotaExceeded, undefined, id)
    const fault = drawFault()
    switch (fault) {
      case "transient":
        return finish(transient, fault, id)
      case "tooManyRequests":
        return finish(tooManyRequests, fault, id)
      case "deadlineExceeded":
        return finish(deadlineExceeded, fault, id)
      default:
        return finish(
          fileAnswer === undefined
            ? notFound
            : { status: fileAnswer.status, body: fileAnswer.head, tail: fileAnswer.tail },
          fault,
          id
        )
    }
  }

  const server = Http.createServer({ keepAlive: true, noDelay: true }, handle)
  // Longer than the usual client agent idle time, so that a pooled connection is not closed under a request.
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 66_000

  return new Promise<Server>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject)
      const address = server.address() as AddressInfo
      const host = address.family === "IPv6" || address.address.includes(":")
        ? `[${address.address}]`
        : address.address
      let closing: Promise<void> | undefined
      resolve({
        url: `http://${host}:${address.port}${BASE}`,
        port: address.port,
        get requests() {
          return log
        },
        clearLog() {
          log = []
        },
        update(patch) {
          const { host: _host, port: _port, ...rest } = patch
          options = { ...options, ...rest }
          if ("seed" in rest) rng = mulberry32(rest.seed ?? 1)
        },
        resetQuota() {
          usages = new Map()
        },
        close() {
          closing ??= new Promise<void>((done) => {
            for (const timer of pending) clearTimeout(timer)
            pending.clear()
            server.close(() => done())
            server.closeAllConnections()
          })
          return closing
        }
      })
    })
  })
}
