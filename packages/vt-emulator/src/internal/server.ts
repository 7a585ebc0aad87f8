/**
 * The HTTP side of the emulator, on plain node:http: no framework and no effect, so the bin starts fast and the
 * server is never the bottleneck of a benchmark.
 *
 * Every `/api/v3` request goes through the same steps: route (which names the id for the log), authentication,
 * quota, fault, then the route's answer. Answers that need the request body (uploads, comments, votes, URL
 * submissions) read it only after the request was admitted.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { FaultOptions, Options, RequestLogEntry, Server } from "../VtEmulator.js"
import * as Behaviour from "./behaviour.js"
import * as Collections from "./collections.js"
import {
  answerFile,
  answerUploaded,
  errorBody,
  fileIdentity,
  isKnown as isKnownFile,
  normaliseFileId
} from "./document.js"
import * as Legacy from "./legacy.js"
import {
  boundaryOf,
  type Form,
  FormError,
  readMultipart,
  readSmall,
  TooLargeError,
  type UploadedFile
} from "./multipart.js"
import { isKnownId, objectAnswer, type ObjectKind, parseDomain, parseIp, parseUrlId, urlObjectId } from "./objects.js"
import { mulberry32, type Prng } from "./prng.js"
import { analysisBody, DEFAULT_COMPLETED_MS, DEFAULT_QUEUED_MS, State, statusAt } from "./state.js"
import * as T from "./template.js"

const BASE = "/api/v3"
const LEGACY_BASE = "/vtapi/v2"
const UPLOAD_BASE = "/_ah/upload/"
const DEFAULT_SLOW_MS = 30_000
const DEFAULT_LOG_LIMIT = 100_000
/** What overall_quotas reports as "allowed" for a window without a limit. */
const UNLIMITED = 1_000_000_000
export const DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
export const DEFAULT_MAX_LARGE_UPLOAD_BYTES = 650 * 1024 * 1024
/** Room for the multipart framing and small fields around the file. */
const FRAMING_ALLOWANCE = 256 * 1024

interface Reply {
  readonly status: number
  readonly body: Uint8Array
  /** Shared bytes sent after `body` (the static bulk of a report). */
  readonly tail?: Uint8Array | undefined
  /** Defaults to application/json. */
  readonly contentType?: string | undefined
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

const json = (value: unknown, status = 200): Reply => ({ status, body: Buffer.from(JSON.stringify(value), "utf8") })
const bytes = (body: Buffer | T.Body, status = 200): Reply =>
  Buffer.isBuffer(body) ? { status, body } : { status, body: body.head, tail: body.tail }
const empty = (status: number): Reply => ({ status, body: Buffer.alloc(0) })

type FaultKind = "reset" | "truncated" | "transient" | "tooManyRequests" | "deadlineExceeded" | "slow" | "error"

const FAULT_ORDER: ReadonlyArray<Exclude<keyof FaultOptions, "slowMs" | "error">> = [
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

const headersFor = (length: number, contentType = "application/json"): Array<string> => [
  "Content-Type",
  contentType,
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

/** Every occurrence of a key in a text (any letter case, or URL-encoded) as `<redacted>`. */
const makeKeyRedactor = () => {
  let memo: string | undefined
  let needles: ReadonlyArray<string> = []
  return (text: string, key: string | undefined): string => {
    if (key === undefined || key === "" || text.length < key.length) return text
    if (key !== memo) {
      memo = key
      needles = [...new Set([key, encodeURIComponent(key)].map((k) => k.toLowerCase()))]
    }
    let out = text
    for (const needle of needles) {
      const lower = out.toLowerCase()
      let at = lower.indexOf(needle)
      if (at === -1) continue
      let result = ""
      let from = 0
      for (; at !== -1; at = lower.indexOf(needle, from)) {
        result += `${out.slice(from, at)}<redacted>`
        from = at + needle.length
      }
      out = result + out.slice(from)
    }
    return out
  }
}

/** "YYYY-MM-DD" of a UTC day index. */
const isoDay = (day: number): string => new Date(day * 86_400_000).toISOString().slice(0, 10)

/** A `YYYYMMDD` parameter as a UTC day index. */
const parseDay = (text: string): number | undefined => {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(text)
  if (match === null) return undefined
  const ms = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))
  return isoDay(ms / 86_400_000).replace(/-/g, "") === text ? ms / 86_400_000 : undefined
}

const collectionKinds: Readonly<Record<Exclude<Collections.Collection, "files">, ObjectKind>> = {
  urls: "url",
  domains: "domain",
  ip_addresses: "ip_address"
}

/** An object a request names, resolved to the key its comments, votes and relationships are filed under. */
interface Resolved {
  readonly collection: Collections.Collection
  /** Canonical id: a file's SHA-256, a URL's object id, a lower-cased domain, an address. */
  readonly key: string
  /** The report (before faults). */
  readonly document: () => Reply
  /** For files: the report variant (behaviour) and identity (analyses). */
  readonly file?: { readonly sha256: string; readonly sha1: string; readonly md5: string; readonly size: number }
  readonly variant?: number
  readonly url?: string
}

/** What one request is about, decided before authentication so that refusals are logged with the id. */
interface Route {
  /** The id the log names. */
  readonly id?: string | undefined
  /** The quota endpoints: neither counted nor limited nor faulted. */
  readonly exempt?: boolean
  /** The `api_usage` group the request counts in. */
  readonly group: string
  readonly run: () => Reply | Promise<Reply>
}

export const start = (initial: Options = {}): Promise<Server> => {
  let options: Options = { ...initial }
  let rng: Prng = mulberry32(options.seed ?? 1)
  let log: Array<RequestLogEntry> = []
  let usages = new Map<string, Usage>()
  /** key → day index → group → count, for api_usage. */
  let daily = new Map<string, Map<number, Map<string, number>>>()
  const state = new State()
  const community = new Collections.Community()
  const pending = new Set<ReturnType<typeof setTimeout>>()
  const redactKey = makeKeyRedactor()

  const now = (): number => (options.now ?? Date.now)()
  const queuedMs = () => options.analysisQueuedMs ?? DEFAULT_QUEUED_MS
  const completedMs = () => Math.max(options.analysisCompletedMs ?? DEFAULT_COMPLETED_MS, queuedMs())

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
  const admit = (key: string, at: number, group: string): boolean => {
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
    let days = daily.get(key)
    if (days === undefined) daily.set(key, days = new Map())
    const day = Math.floor(at / 86_400_000)
    let groups = days.get(day)
    if (groups === undefined) days.set(day, groups = new Map())
    groups.set(group, (groups.get(group) ?? 0) + 1)
    return true
  }

  const drawFault = (): FaultKind | undefined => {
    const faults = options.faults
    if (faults === undefined) return undefined
    for (const kind of FAULT_ORDER) {
      const rate = faults[kind]
      if (rate !== undefined && rate > 0 && rng() < rate) return kind
    }
    if (faults.error !== undefined) {
      const rate = faults.error.rate ?? 1
      if (rate > 0 && rng() < rate) return "error"
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
    return json({
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

  const apiUsage = (key: string, at: number, query: URLSearchParams): Reply => {
    const today = Math.floor(at / 86_400_000)
    const startText = query.get("start_date")
    const endText = query.get("end_date")
    const end = endText === null ? today : parseDay(endText)
    const start = startText === null ? (end ?? today) - 29 : parseDay(startText)
    if (start === undefined || end === undefined) {
      return fixed(400, "BadRequestError", "start_date and end_date must be dates as YYYYMMDD")
    }
    if (end < start || end - start > 365) {
      return fixed(400, "BadRequestError", "end_date must follow start_date, within a year")
    }
    const days = daily.get(key)
    const perDay: Record<string, Record<string, number>> = {}
    const total: Record<string, number> = {}
    for (let day = start; day <= end; day++) {
      const groups = days?.get(day)
      perDay[isoDay(day)] = groups === undefined ? {} : Object.fromEntries(groups)
      for (const [group, n] of groups ?? []) total[group] = (total[group] ?? 0) + n
    }
    return json({ data: { daily: perDay, total } })
  }

  const send = (res: Http.ServerResponse, reply: Reply): void => {
    if (reply.status === 204) {
      res.writeHead(204)
      res.end()
      return
    }
    if (reply.tail === undefined) {
      res.writeHead(reply.status, headersFor(reply.body.length, reply.contentType))
      res.end(reply.body)
      return
    }
    res.writeHead(reply.status, headersFor(reply.body.length + reply.tail.length, reply.contentType))
    // Corked, head and tail leave in one writev with the headers.
    res.cork()
    res.write(reply.body)
    res.end(reply.tail)
  }

  const sendTruncated = (res: Http.ServerResponse, reply: Reply): void => {
    const body = reply.tail === undefined ? reply.body : Buffer.concat([reply.body, reply.tail])
    res.writeHead(reply.status, headersFor(body.length, reply.contentType))
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

  const resetAll = (): void => {
    log = []
    usages = new Map()
    daily = new Map()
    state.clear()
    community.clear()
    rng = mulberry32(options.seed ?? 1)
  }

  const admin = (req: Http.IncomingMessage, res: Http.ServerResponse, path: string): void => {
    if (req.method === "GET" && path === "/_emulator/requests") {
      return send(res, json({ requests: log }))
    }
    if (req.method === "POST" && path === "/_emulator/reset") {
      resetAll()
      return send(res, { status: 200, body: Buffer.from("{\"ok\":true}") })
    }
    send(res, notFound)
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Objects
  // ---------------------------------------------------------------------------------------------------------------

  const nowSeconds = (at: number) => Math.floor(at / 1000)

  /** A file by any hash: a submitted file once its analysis completed, else the known/unknown rule. */
  const resolveFile = (raw: string, at: number): Resolved | Reply => {
    const id = normaliseFileId(raw)
    const submitted = id === undefined ? undefined : state.submitted(id)
    if (submitted !== undefined && at >= submitted.availableAt) {
      return {
        collection: "files",
        key: submitted.sha256,
        file: submitted,
        variant: fileIdentity(submitted.sha256)?.variant ?? 0,
        document: () => {
          const answer = answerUploaded(submitted, nowSeconds(submitted.availableAt))
          return { status: 200, body: answer.head, tail: answer.tail }
        }
      }
    }
    const answer = answerFile(raw)
    if (answer.status !== 200) return { status: answer.status, body: answer.head }
    const identity = fileIdentity(raw)!
    return {
      collection: "files",
      key: identity.sha256,
      file: identity,
      variant: identity.variant,
      document: () => ({ status: 200, body: answer.head, tail: answer.tail })
    }
  }

  const resolveObject = (collection: Collections.Collection, raw: string, at: number): Resolved | Reply => {
    if (collection === "files") return resolveFile(raw, at)
    const kind = collectionKinds[collection]
    switch (kind) {
      case "url": {
        const parsed = parseUrlId(raw)
        if (parsed === undefined) {
          return fixed(400, "InvalidArgumentError", `"${raw}" is not a valid URL identifier`)
        }
        if (parsed.url !== undefined) state.rememberUrl(parsed.id, parsed.url)
        const submitted = state.urls.get(parsed.id)
        const known = isKnownId(parsed.id) || (submitted !== undefined && at >= submitted.availableAt)
        if (!known) return fixed(404, "NotFoundError", `URL "${raw}" not found`)
        const url = parsed.url ?? state.seenUrls.get(parsed.id) ?? submitted?.url
        return {
          collection,
          key: parsed.id,
          ...(url === undefined ? {} : { url }),
          document: () => {
            const answer = objectAnswer("url", parsed.id, url)
            return { status: 200, body: answer.head, tail: answer.tail }
          }
        }
      }
      case "domain": {
        const name = parseDomain(raw)
        if (name === undefined) return fixed(400, "InvalidArgumentError", `"${raw}" is not a valid domain`)
        if (!isKnownId(name)) return fixed(404, "NotFoundError", `Domain "${raw}" not found`)
        return {
          collection,
          key: name,
          document: () => {
            const answer = objectAnswer("domain", name)
            return { status: 200, body: answer.head, tail: answer.tail }
          }
        }
      }
      case "ip_address": {
        const ip = parseIp(raw)
        if (ip === undefined) return fixed(400, "InvalidArgumentError", `"${raw}" is not a valid IP address`)
        if (!isKnownId(ip)) return fixed(404, "NotFoundError", `IP address "${raw}" not found`)
        return {
          collection,
          key: ip,
          document: () => {
            const answer = objectAnswer("ip_address", ip)
            return { status: 200, body: answer.head, tail: answer.tail }
          }
        }
      }
    }
  }

  const isReply = (r: Resolved | Reply): r is Reply => "status" in r

  /** The lower-cased id the log names for an object request (files as before: not for a malformed hash). */
  const logId = (collection: Collections.Collection, raw: string): string | undefined => {
    if (collection === "files") return normaliseFileId(raw)
    return raw.toLowerCase()
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Bodies
  // ---------------------------------------------------------------------------------------------------------------

  const badRequest = (message: string) => fixed(400, "BadRequestError", message)

  const readJson = async (req: Http.IncomingMessage): Promise<unknown> => {
    const body = await readSmall(req)
    try {
      return JSON.parse(body.toString("utf8")) as unknown
    } catch {
      return undefined
    }
  }

  /** A urlencoded or multipart form with small fields only. */
  const readForm = async (req: Http.IncomingMessage, maxBytes: number): Promise<Form> => {
    const boundary = boundaryOf(req.headers["content-type"])
    if (boundary !== undefined) return readMultipart(req, boundary, maxBytes)
    const body = await readSmall(req)
    return { fields: new Map(new URLSearchParams(body.toString("utf8"))), files: [], bodyBytes: body.length }
  }

  const formFailure = (error: unknown, limit: number): Reply => {
    if (error instanceof TooLargeError) {
      return fixed(413, "BadRequestError", `Request too large: a file may have at most ${limit} bytes`)
    }
    if (error instanceof FormError) return badRequest(`Malformed multipart body: ${error.message}`)
    throw error
  }

  /** A file upload (`POST /files`, an upload URL, v2 `file/scan`): streamed, hashed, never buffered. */
  const receiveFile = async (
    req: Http.IncomingMessage,
    limit: number,
    at: number
  ): Promise<
    Reply | { readonly sha256: string; readonly sha1: string; readonly md5: string; readonly size: number }
  > => {
    const boundary = boundaryOf(req.headers["content-type"])
    if (boundary === undefined) return badRequest("Expected a multipart/form-data body with a \"file\" field")
    const declared = Number(req.headers["content-length"] ?? "0")
    if (declared > limit + FRAMING_ALLOWANCE) return formFailure(new TooLargeError(declared), limit)
    let form: Form
    try {
      form = await readMultipart(req, boundary, limit + FRAMING_ALLOWANCE)
    } catch (error) {
      return formFailure(error, limit)
    }
    const file = form.files.find((f) => f.field === "file")
    if (file === undefined) return badRequest("No file was uploaded in the \"file\" field")
    if (file.size > limit) return formFailure(new TooLargeError(file.size), limit)
    state.submitFile(
      { sha256: file.sha256, sha1: file.sha1, md5: file.md5, size: file.size, name: file.filename },
      at + completedMs()
    )
    return file
  }

  const analysisDescriptor = (id: string): Reply =>
    json({ data: { type: "analysis", id, links: { self: `https://www.virustotal.com/api/v3/analyses/${id}` } } })

  // ---------------------------------------------------------------------------------------------------------------
  // Collections
  // ---------------------------------------------------------------------------------------------------------------

  const selfUrlOf = (req: Http.IncomingMessage, path: string) => `http://${req.headers.host ?? "127.0.0.1"}${path}`

  const paginated = (
    req: Http.IncomingMessage,
    path: string,
    query: URLSearchParams,
    total: number,
    item: (index: number) => Collections.Item
  ): Reply => {
    const request = Collections.pageRequest(query)
    if (typeof request === "string") return fixed(400, "InvalidArgumentError", request)
    const items: Array<Collections.Item> = []
    for (let i = request.offset; i < Math.min(total, request.offset + request.limit); i++) items.push(item(i))
    return bytes(
      Collections.page(items, total, request, selfUrlOf(req, path), options.pagination ?? "both")
    )
  }

  const relationship = (
    req: Http.IncomingMessage,
    path: string,
    query: URLSearchParams,
    object: Resolved,
    name: string,
    descriptorsOnly: boolean
  ): Reply => {
    const rel = Collections.relationships[object.collection][name]
    if (rel === undefined) {
      return fixed(400, "InvalidArgumentError", `Invalid relationship "${name}" for ${object.collection}`)
    }
    const { collection, key } = object
    if (rel.target === "comment" || rel.target === "vote") {
      const total = rel.target === "comment"
        ? community.commentCount(collection, key)
        : community.voteCount(collection, key)
      return paginated(req, path, query, total, (i) => {
        const value = rel.target === "comment"
          ? Collections.commentObject(community.commentAt(collection, key, i))
          : Collections.voteObject(community.voteAt(collection, key, i))
        return Buffer.from(JSON.stringify(descriptorsOnly ? { type: value.type, id: value.id } : value))
      })
    }
    const count = rel.single === true ? 1 : Collections.relationshipCount(collection, key, name)
    const related = Collections.relatedIds(collection, key, name, rel.target, count)
    const render = (i: number) =>
      descriptorsOnly
        ? Collections.descriptor(rel.target, related[i])
        : Collections.relatedObject(rel.target, related[i])
    if (rel.single === true) return bytes(Collections.single(render(0), selfUrlOf(req, path)))
    return paginated(req, path, query, related.length, render)
  }

  const comments = (
    req: Http.IncomingMessage,
    path: string,
    query: URLSearchParams,
    object: Resolved,
    at: number
  ): Reply | Promise<Reply> => {
    if (req.method === "GET") return relationship(req, path, query, object, "comments", false)
    return readJson(req).then((body) => {
      const data = (body as { data?: { type?: unknown; attributes?: { text?: unknown } } } | undefined)?.data
      if (data?.type !== "comment" || typeof data.attributes?.text !== "string" || data.attributes.text === "") {
        return badRequest("Expected {\"data\":{\"type\":\"comment\",\"attributes\":{\"text\":…}}}")
      }
      const comment = community.addComment(object.collection, object.key, data.attributes.text, nowSeconds(at))
      return json({ data: Collections.commentObject(comment) })
    }, (error) => formFailure(error, 1024 * 1024))
  }

  const votes = (
    req: Http.IncomingMessage,
    path: string,
    query: URLSearchParams,
    object: Resolved,
    at: number,
    voter: string
  ): Reply | Promise<Reply> => {
    if (req.method === "GET") return relationship(req, path, query, object, "votes", false)
    return readJson(req).then((body) => {
      const data = (body as { data?: { type?: unknown; attributes?: { verdict?: unknown } } } | undefined)?.data
      if (data?.type !== "vote" || data.attributes === undefined) {
        return badRequest("Expected {\"data\":{\"type\":\"vote\",\"attributes\":{\"verdict\":…}}}")
      }
      const verdict = data.attributes.verdict
      if (verdict !== "harmless" && verdict !== "malicious") {
        return fixed(400, "InvalidArgumentError", "verdict must be \"harmless\" or \"malicious\"")
      }
      const vote = community.addVote(object.collection, object.key, verdict, nowSeconds(at), voter)
      if (vote === undefined) return fixed(409, "AlreadyExistsError", "You have already voted for this item")
      return json({ data: Collections.voteObject(vote) })
    }, (error) => formFailure(error, 1024 * 1024))
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Routes
  // ---------------------------------------------------------------------------------------------------------------

  const isCollection = (s: string): s is Collections.Collection =>
    s === "files" || s === "urls" || s === "domains" || s === "ip_addresses"

  const route = (
    req: Http.IncomingMessage,
    method: string,
    path: string,
    segments: ReadonlyArray<string>,
    query: URLSearchParams,
    key: string | undefined,
    at: number
  ): Route => {
    // segments: ["", "api", "v3", collection, id, ...]
    const s = segments.slice(3)
    const n = s.length
    const head = s[0]
    const fallback: Route = { group: head ?? "", run: () => notFound }
    if (n === 0 || s.some((x) => x === "")) return fallback

    if (head === "users" && n === 3 && method === "GET") {
      const user = decodeSegment(s[1])
      if (s[2] === "overall_quotas") return { exempt: true, group: "users", run: () => overallQuotas(user, at) }
      if (s[2] === "api_usage") return { exempt: true, group: "users", run: () => apiUsage(user, at, query) }
      return fallback
    }

    if (head === "files" && n === 1 && method === "POST") {
      return {
        group: "files",
        run: async () => {
          const file = await receiveFile(req, options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES, at)
          return "status" in file ? file : analysisDescriptor(state.fileAnalysis(file, at))
        }
      }
    }
    if (head === "files" && n === 2 && s[1] === "upload_url" && method === "GET") {
      return {
        group: "files",
        run: () => json({ data: `http://${req.headers.host ?? "127.0.0.1"}${UPLOAD_BASE}${state.newUploadToken(at)}` })
      }
    }
    if (head === "urls" && n === 1 && method === "POST") {
      return {
        group: "urls",
        run: async () => {
          let form: Form
          try {
            form = await readForm(req, 1024 * 1024)
          } catch (error) {
            return formFailure(error, 1024 * 1024)
          }
          const url = form.fields.get("url")
          if (url === undefined || url === "") return badRequest("Missing the \"url\" form field")
          const id = urlObjectId(url)
          if (id === undefined) return fixed(400, "InvalidArgumentError", `"${url}" is not a valid URL`)
          state.submitUrl(id, url, at + completedMs())
          return analysisDescriptor(state.urlAnalysis(id, url, at))
        }
      }
    }

    if (isCollection(head) && n >= 2) {
      const raw = decodeSegment(s[1])
      const id = logId(head, raw)
      const object = () => resolveObject(head, raw, at)
      const withObject = (f: (o: Resolved) => Reply | Promise<Reply>): Route => ({
        id,
        group: head,
        run: () => {
          const o = object()
          return isReply(o) ? o : f(o)
        }
      })
      if (n === 2) return method === "GET" ? withObject((o) => o.document()) : { ...fallback, id, group: head }
      const sub = s[2]
      if (n === 3 && sub === "analyse" && method === "POST") {
        if (head !== "files" && head !== "urls") return { ...fallback, id }
        return withObject((o) =>
          analysisDescriptor(
            o.file !== undefined
              ? state.fileAnalysis(o.file, at, o.variant)
              : state.urlAnalysis(o.key, o.url ?? state.seenUrls.get(o.key) ?? `http://${o.key}.example/`, at)
          )
        )
      }
      if (n === 3 && sub === "comments" && (method === "GET" || method === "POST")) {
        return withObject((o) => comments(req, path, query, o, at))
      }
      if (n === 3 && sub === "votes" && (method === "GET" || method === "POST")) {
        return withObject((o) => votes(req, path, query, o, at, key ?? ""))
      }
      if (method !== "GET") return { ...fallback, id }
      if (head === "files" && n === 3 && sub === "behaviour_summary") {
        return withObject((o) => bytes(Behaviour.summary(o.variant ?? 0)))
      }
      if (head === "files" && n === 3 && sub === "behaviour_mitre_trees") {
        return withObject((o) => bytes(Behaviour.mitreTrees(o.variant ?? 0)))
      }
      if (head === "files" && n === 3 && sub === "behaviours") {
        return withObject((o) => {
          const list = Behaviour.sandboxesOf(o.key)
          return paginated(req, path, query, list.length, (i) =>
            T.dataOf(
              Behaviour.behaviourDocument(o.key, list[i].name, o.variant ?? 0, nowSeconds(at) - 3600 * (i + 1))
            ))
        })
      }
      if (n === 3) return withObject((o) => relationship(req, path, query, o, sub, false))
      if (n === 4 && sub === "relationships") {
        return withObject((o) => relationship(req, path, query, o, s[3], true))
      }
      return { ...fallback, id }
    }

    if (head === "file_behaviours" && (n === 2 || n === 3) && method === "GET") {
      const raw = decodeSegment(s[1])
      const parsed = Behaviour.parseBehaviourId(raw)
      const id = parsed?.sha256
      return {
        id,
        group: "file_behaviours",
        run: () => {
          const file = parsed === undefined ? undefined : resolveFile(parsed.sha256, at)
          if (parsed === undefined || file === undefined || isReply(file)) {
            return fixed(404, "NotFoundError", `File behaviour "${raw}" not found`)
          }
          if (n === 2) {
            return bytes(
              Behaviour.behaviourDocument(parsed.sha256, parsed.sandbox, file.variant ?? 0, nowSeconds(at) - 3600)
            )
          }
          const kind = s[2]
          if (kind !== "html" && kind !== "evtx" && kind !== "memdump" && kind !== "pcap") return notFound
          const artefact = Behaviour.artefact(parsed, kind)
          if (artefact === undefined) {
            return fixed(404, "NotFoundError", `No ${kind} for file behaviour "${raw}"`)
          }
          return { status: 200, body: artefact.body, contentType: artefact.contentType }
        }
      }
    }

    if (head === "analyses" && (n === 2 || (n === 3 && s[2] === "item")) && method === "GET") {
      const id = decodeSegment(s[1])
      return {
        id,
        group: "analyses",
        run: () => {
          const analysis = state.analysis(id)
          if (analysis === undefined) return fixed(404, "NotFoundError", `Analysis "${id}" not found`)
          const status = statusAt(analysis.created, at, queuedMs(), completedMs())
          if (n === 2) return bytes(analysisBody(analysis, status))
          if (status !== "completed") {
            return fixed(400, "NotAvailableYet", `The analysis "${id}" is not completed yet`)
          }
          const item = analysis.file !== undefined
            ? resolveFile(analysis.file.sha256, at)
            : resolveObject("urls", analysis.url?.id ?? "", at)
          return isReply(item) ? item : item.document()
        }
      }
    }

    return fallback
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Legacy v2
  // ---------------------------------------------------------------------------------------------------------------

  const handleLegacy = async (
    req: Http.IncomingMessage,
    method: string,
    path: string,
    query: URLSearchParams,
    at: number,
    keySeen: (key: string | undefined) => void,
    finish: (reply: Reply, fault: FaultKind | undefined, id: string | undefined) => void
  ): Promise<void> => {
    const endpoint = path.slice(LEGACY_BASE.length + 1)
    const known = ["file/report", "file/scan", "url/report", "url/scan", "domain/report", "ip-address/report"]
    if (!known.includes(endpoint)) return finish(empty(404), undefined, undefined)
    const isPost = method === "POST"
    if (!isPost && method !== "GET") return finish(empty(405), undefined, undefined)
    // The key may come in the query or in the form, so a POST's form is read first.
    let fields: ReadonlyMap<string, string> | undefined
    let upload: V2Upload | undefined
    if (isPost && endpoint === "file/scan") {
      upload = await receiveFileV2(req)
      fields = upload.fields
    } else if (isPost) {
      try {
        fields = (await readForm(req, 1024 * 1024)).fields
      } catch {
        return finish(empty(400), undefined, undefined)
      }
    }
    const param = (name: string): string | undefined => query.get(name) ?? fields?.get(name)
    const key = param("apikey")
    keySeen(key)
    const resource = param("resource") ?? param("url") ?? param("domain") ?? param("ip")
    const id = resource === undefined
      ? undefined
      : endpoint.startsWith("file/")
      ? normaliseFileId(resource) ?? resource
      : resource.toLowerCase()
    const logged = id
    if (key === undefined || authenticate(key) !== undefined) return finish(empty(403), undefined, logged)
    if (!admit(key, at, "v2")) return finish(empty(204), undefined, logged)
    const fault = drawFault()
    switch (fault) {
      case "transient":
        return finish(empty(503), fault, logged)
      case "tooManyRequests":
        return finish(empty(204), fault, logged)
      case "deadlineExceeded":
        return finish(empty(504), fault, logged)
      case "error":
        return finish(empty(options.faults?.error?.status ?? 500), fault, logged)
      default:
        return finish(legacyAnswer(endpoint, param, upload, at), fault, logged)
    }
  }

  interface V2Upload {
    readonly fields: ReadonlyMap<string, string>
    readonly file?: UploadedFile | undefined
    readonly failure?: Reply | undefined
  }

  const receiveFileV2 = async (req: Http.IncomingMessage): Promise<V2Upload> => {
    const boundary = boundaryOf(req.headers["content-type"])
    if (boundary === undefined) return { fields: new Map(), failure: empty(400) }
    const limit = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES
    let form: Form
    try {
      form = await readMultipart(req, boundary, limit + FRAMING_ALLOWANCE)
    } catch (error) {
      return { fields: new Map(), failure: { ...formFailure(error, limit), body: Buffer.alloc(0) } }
    }
    const file = form.files.find((f) => f.field === "file")
    if (file === undefined) return { fields: form.fields, failure: empty(400) }
    if (file.size > limit) return { fields: form.fields, failure: empty(413) }
    return { fields: form.fields, file }
  }

  const legacyAnswer = (
    endpoint: string,
    param: (name: string) => string | undefined,
    upload: V2Upload | undefined,
    at: number
  ): Reply => {
    const seconds = nowSeconds(at)
    switch (endpoint) {
      case "file/scan": {
        const file = upload?.file
        if (file === undefined) return upload?.failure ?? empty(400)
        state.submitFile({ ...file, name: file.filename }, at + completedMs())
        state.fileAnalysis(file, at)
        return bytes(Legacy.fileScanQueued(file, seconds))
      }
      case "file/report": {
        const resource = param("resource")
        if (resource === undefined) return bytes(Legacy.invalid("", "resource"))
        const scanId = /^([0-9a-fA-F]{64})-\d+$/.exec(resource)?.[1]
        const id = normaliseFileId(scanId ?? resource)
        if (id === undefined) return bytes(Legacy.invalid(resource, "resource"))
        const submitted = state.submitted(id)
        if (submitted !== undefined && at < submitted.availableAt && !isKnownFile(id)) {
          return bytes(Legacy.queued(resource, `${submitted.sha256}-${seconds}`))
        }
        const resolved = resolveFile(id, at)
        if (isReply(resolved) || resolved.file === undefined) return bytes(Legacy.unknownResource(resource))
        const identity = submitted !== undefined && at >= submitted.availableAt
          ? { ...submitted, variant: resolved.variant ?? 0, lastAnalysisDate: nowSeconds(submitted.availableAt) }
          : fileIdentity(id)!
        return bytes(Legacy.fileReport(resource, identity, identity.lastAnalysisDate))
      }
      case "url/scan": {
        const url = param("url")
        const id = url === undefined ? undefined : urlObjectId(url)
        if (url === undefined || id === undefined) return bytes(Legacy.invalid(url ?? "", "url"))
        state.submitUrl(id, url, at + completedMs())
        state.urlAnalysis(id, url, at)
        return bytes(Legacy.urlScanQueued(url, id, seconds))
      }
      case "url/report": {
        const resource = param("resource")
        if (resource === undefined) return bytes(Legacy.invalid("", "resource"))
        const scanId = /^([0-9a-fA-F]{64})-\d+$/.exec(resource)?.[1]
        const id = scanId ?? (/^[0-9a-fA-F]{64}$/.test(resource) ? resource.toLowerCase() : urlObjectId(resource))
        if (id === undefined) return bytes(Legacy.invalid(resource, "url"))
        const url = /^https?:\/\//i.test(resource) ? resource : state.seenUrls.get(id) ?? state.urls.get(id)?.url
        if (url !== undefined) state.rememberUrl(id, url)
        const submitted = state.urls.get(id)
        if (isKnownId(id) || (submitted !== undefined && at >= submitted.availableAt)) {
          return bytes(Legacy.urlReport(resource, url ?? `http://h${id.slice(0, 12)}.example/`, id, seconds - 3600))
        }
        if (submitted !== undefined) return bytes(Legacy.queued(resource, `${id}-${seconds}`))
        if (param("scan") === "1" && url !== undefined) {
          state.submitUrl(id, url, at + completedMs())
          state.urlAnalysis(id, url, at)
          return bytes(Legacy.queued(resource, `${id}-${seconds}`))
        }
        return bytes(Legacy.unknownResource(resource))
      }
      case "domain/report": {
        const raw = param("domain") ?? ""
        const domain = parseDomain(raw)
        if (domain === undefined) return bytes(Legacy.invalid(raw, "domain"))
        return bytes(isKnownId(domain) ? Legacy.domainReport(domain) : Legacy.domainUnknown(domain))
      }
      default: {
        const raw = param("ip") ?? ""
        const ip = parseIp(raw)
        if (ip === undefined) return bytes(Legacy.invalid(raw, "IP address"))
        return bytes(isKnownId(ip) ? Legacy.ipReport(ip) : Legacy.ipUnknown(ip))
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The request
  // ---------------------------------------------------------------------------------------------------------------

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
    const isUsers = segments.length === 6 && segments[3] === "users" && path.startsWith(`${BASE}/`)
    // A key can only reach the log through the path: the {id} of /users/{id}/... or a segment equal to the key.
    const logged = isUsers
      ? `${BASE}/users/<redacted>/${segments[5]}`
      : key !== undefined && key !== "" &&
          segments.some((s) => s === key || (s.includes("%") && decodeSegment(s) === key))
      ? segments.map((s) => s === key || decodeSegment(s) === key ? "<redacted>" : s).join("/")
      : path

    // The key the request carried (header, or v2's apikey parameter once read): never written to the log.
    let logKey = key
    const finish = (reply: Reply, fault: FaultKind | undefined, id: string | undefined): void => {
      const entry: { -readonly [K in keyof RequestLogEntry]: RequestLogEntry[K] } = {
        method,
        path: redactKey(logged, logKey),
        status: fault === "reset" ? 0 : reply.status,
        at
      }
      if (id !== undefined) entry.id = redactKey(id, logKey)
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

    const failed = (error: unknown) => {
      process.stderr.write(`vt-emulator: ${error instanceof Error ? error.stack : String(error)}\n`)
      if (!res.headersSent) finish(fixed(500, "InternalError", "The emulator failed"), undefined, undefined)
      else res.destroy()
    }

    const answer = (run: () => Reply | Promise<Reply>, fault: FaultKind | undefined, id: string | undefined) => {
      let reply: Reply | Promise<Reply>
      try {
        reply = run()
      } catch (error) {
        return failed(error)
      }
      if ("then" in reply) reply.then((r) => finish(r, fault, id), failed)
      else finish(reply, fault, id)
    }

    if (path.startsWith(`${LEGACY_BASE}/`)) {
      const query = new URLSearchParams(q === -1 ? "" : url.slice(q + 1))
      handleLegacy(req, method, path, query, at, (k) => {
        logKey = k
      }, finish).catch(failed)
      return
    }

    const isUpload = path.startsWith(UPLOAD_BASE) && path.length > UPLOAD_BASE.length
    if (!isUpload && path !== BASE && !path.startsWith(`${BASE}/`)) return finish(notFound, undefined, undefined)

    let routed: Route
    if (isUpload) {
      const token = path.slice(UPLOAD_BASE.length)
      routed = method !== "POST"
        ? { group: "files", run: () => notFound }
        : {
          group: "files",
          run: () => {
            if (!state.consumeUploadToken(token, at)) {
              return badRequest("This upload URL is unknown, expired or already used")
            }
            return receiveFile(req, options.maxLargeUploadBytes ?? DEFAULT_MAX_LARGE_UPLOAD_BYTES, at).then((file) =>
              "status" in file ? file : analysisDescriptor(state.fileAnalysis(file, at))
            )
          }
        }
    } else if (
      method === "GET" && segments.length === 5 && segments[3] === "files" && segments[4] !== "" &&
      segments[4] !== "upload_url"
    ) {
      // The hot path (bulk report lookups) stays as lean as it was: no query parsing, no closure per step.
      const raw = decodeSegment(segments[4])
      const fileAnswer = state.files.size === 0 ? answerFile(raw) : undefined
      // Every log entry of a file request names the id, refusals included, so tests can follow one item.
      const id = fileAnswer === undefined
        ? normaliseFileId(raw)
        : fileAnswer.status === 400
        ? undefined
        : fileAnswer.id
      routed = fileAnswer === undefined
        ? {
          id,
          group: "files",
          run: () => {
            const o = resolveFile(raw, at)
            return isReply(o) ? o : o.document()
          }
        }
        : {
          id,
          group: "files",
          run: () => ({ status: fileAnswer.status, body: fileAnswer.head, tail: fileAnswer.tail })
        }
    } else {
      const query = new URLSearchParams(q === -1 ? "" : url.slice(q + 1))
      routed = route(req, method, path, segments, query, key, at)
    }

    const refused = authenticate(key)
    if (refused !== undefined || key === undefined) return finish(refused ?? missingKey, undefined, routed.id)
    // The quota endpoints are neither counted nor faulted: clients ask them precisely when they were refused.
    if (routed.exempt === true) return answer(routed.run, undefined, undefined)
    if (!admit(key, at, routed.group)) return finish(quotaExceeded, undefined, routed.id)
    const fault = drawFault()
    switch (fault) {
      case "transient":
        return finish(transient, fault, routed.id)
      case "tooManyRequests":
        return finish(tooManyRequests, fault, routed.id)
      case "deadlineExceeded":
        return finish(deadlineExceeded, fault, routed.id)
      case "error": {
        const error = options.faults?.error
        return finish(
          fixed(error?.status ?? 500, error?.code ?? "UnknownError", error?.message ?? `Injected ${error?.code}`),
          fault,
          routed.id
        )
      }
      default:
        return answer(routed.run, fault, routed.id)
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
        legacyUrl: `http://${host}:${address.port}${LEGACY_BASE}`,
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
          daily = new Map()
        },
        reset() {
          resetAll()
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
