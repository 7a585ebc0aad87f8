/**
 * What a route handler is given: the emulator (options in force, clock, and everything remembered between requests:
 * usage, submissions and analyses, comments and votes, the fault generator, the request log) and the request.
 * Handlers reach shared state only through here, so that a reset or an update touches one object.
 */
import type * as Http from "node:http"
import { Community } from "./collections.js"
import { type FaultKind, Faults } from "./faults.js"
import type { Options, RequestLogEntry } from "./model.js"
import type { UploadedFile } from "./multipart.js"
import { Quota } from "./quota.js"
import type { Refusal, Reply } from "./reply.js"
import { DEFAULT_COMPLETED_MS, DEFAULT_QUEUED_MS, State } from "./state.js"

const DEFAULT_LOG_LIMIT = 100_000

export class Context {
  options: Options
  readonly state = new State()
  readonly community = new Community()
  readonly quota = new Quota()
  readonly faults: Faults
  /** The request log, oldest first; replaced (not emptied) when cleared or trimmed, as `Server.requests` shows it. */
  requests: Array<RequestLogEntry> = []
  private readonly redact = keyRedactor()

  constructor(options: Options) {
    this.options = { ...options }
    this.faults = new Faults(this.options.seed ?? 1)
  }

  now(): number {
    return (this.options.now ?? Date.now)()
  }

  queuedMs(): number {
    return this.options.analysisQueuedMs ?? DEFAULT_QUEUED_MS
  }

  completedMs(): number {
    return Math.max(this.options.analysisCompletedMs ?? DEFAULT_COMPLETED_MS, this.queuedMs())
  }

  /** When a submission made at `submittedAt` has its report: once its analysis completes, by the options in force. */
  availableAt(submission: { readonly submittedAt: number }): number {
    return submission.submittedAt + this.completedMs()
  }

  /** Whether a key has the premium privileges (Intelligence search, downloads). */
  isPremium(key: string | undefined): boolean {
    return key !== undefined && (this.options.premiumKeys === undefined || this.options.premiumKeys.includes(key))
  }

  /** Why a key is refused, if it is. */
  authenticate(key: string | undefined): Exclude<Refusal, "quotaExceeded"> | undefined {
    if (key === undefined || key === "") return "missingKey"
    if (this.options.inactiveKeys?.includes(key) === true) return "inactiveKey"
    if (this.options.apiKeys !== undefined && !this.options.apiKeys.includes(key)) return "wrongKey"
    return undefined
  }

  /**
   * Logs an answered request. The key it carried (`received`: the header's, or v2's `apikey` once read) never
   * reaches the log: not in the path, not in the id.
   */
  record(
    request: Incoming,
    received: string | undefined,
    reply: Reply,
    fault: FaultKind | undefined,
    id: string | undefined
  ): void {
    const limit = this.options.logLimit ?? DEFAULT_LOG_LIMIT
    if (limit <= 0) return
    const entry: { -readonly [K in keyof RequestLogEntry]: RequestLogEntry[K] } = {
      method: request.method,
      path: this.redact(loggedPath(request.path, request.key), received),
      status: fault === "reset" ? 0 : reply.status,
      at: request.at
    }
    if (id !== undefined) entry.id = this.redact(id, received)
    if (fault !== undefined) entry.fault = fault
    this.requests.push(entry)
    // Amortised trimming: drop the oldest half-window at once rather than shift on every request.
    if (this.requests.length >= limit * 2) this.requests = this.requests.slice(this.requests.length - limit)
  }

  /** Every option but `host` and `port`; a new seed restarts the fault generator. */
  update(patch: Partial<Options>): void {
    const { host: _host, port: _port, ...rest } = patch
    this.options = { ...this.options, ...rest }
    if ("seed" in rest) this.faults.reseed(rest.seed ?? 1)
  }

  /** Back to a fresh server (what `POST /_emulator/reset` does). */
  reset(): void {
    this.requests = []
    this.quota.clear()
    this.state.clear()
    this.community.clear()
    this.faults.reseed(this.options.seed ?? 1)
  }
}

/** A v2 body: its fields (which may carry the key) and, for `file/scan`, the file or why there is none. */
export interface LegacyForm {
  readonly fields: ReadonlyMap<string, string>
  readonly file?: UploadedFile | undefined
  readonly failure?: Reply | undefined
}

/** One request as a route sees it. */
export class Incoming {
  private parsedQuery: URLSearchParams | undefined

  constructor(
    readonly req: Http.IncomingMessage,
    readonly method: string,
    /** Without the query string. */
    readonly path: string,
    /** The query string, without the "?". */
    private readonly search: string,
    /** `now()` when the request arrived. */
    readonly at: number,
    /** The API key the request carried: the X-Apikey header, or v2's `apikey` parameter once its body was read. */
    readonly key: string | undefined,
    /** The path parameters the route's pattern names, as they appear in the path (not decoded). */
    readonly params: Readonly<Record<string, string>> = {},
    /** The body read before admission (v2 only, whose key may be a form field). */
    readonly form: LegacyForm | undefined = undefined
  ) {}

  /** Whether the request has a query string (cheaper than looking into {@link query}). */
  get hasQuery(): boolean {
    return this.search !== ""
  }

  /** The query string, parsed on first use (the hot path never needs it). */
  get query(): URLSearchParams {
    return this.parsedQuery ??= new URLSearchParams(this.search)
  }

  withParams(params: Readonly<Record<string, string>>): Incoming {
    return new Incoming(this.req, this.method, this.path, this.search, this.at, this.key, params, this.form)
  }

  withForm(form: LegacyForm | undefined, key: string | undefined): Incoming {
    return new Incoming(this.req, this.method, this.path, this.search, this.at, key, this.params, form)
  }
}

/** What the first line of a request says: method, path and query string. */
export interface RequestLine {
  readonly method: string
  /** Without the query string. */
  readonly path: string
  /** The query string, without the "?". */
  readonly search: string
}

export const requestLine = (req: Http.IncomingMessage): RequestLine => {
  const url = req.url ?? "/"
  const q = url.indexOf("?")
  return {
    method: req.method ?? "GET",
    path: q === -1 ? url : url.slice(0, q),
    search: q === -1 ? "" : url.slice(q + 1)
  }
}

/** A request that arrived at `at`, with the key of its X-Apikey header. */
export const parse = (req: Http.IncomingMessage, line: RequestLine, at: number): Incoming => {
  const header = req.headers["x-apikey"]
  return new Incoming(req, line.method, line.path, line.search, at, Array.isArray(header) ? header[0] : header)
}

export type Handler = (context: Context, request: Incoming) => Reply | Promise<Reply>

/** A path segment as decoded by `decodeURIComponent`, or as it is when it does not decode. */
export const decodeSegment = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/**
 * The path as the log shows it. A key can only reach the log through the path: the {id} of
 * `/api/v3/users/{id}/…`, whatever it is, or a segment equal to the header's key (as it is or decoded).
 */
const loggedPath = (path: string, key: string | undefined): string => {
  const segments = path.split("/")
  // ["", "api", "v3", "users", id, endpoint]
  if (segments.length === 6 && segments[3] === "users" && path.startsWith("/api/v3/")) {
    return `/api/v3/users/<redacted>/${segments[5]}`
  }
  if (key === undefined || key === "") return path
  if (!segments.some((s) => s === key || (s.includes("%") && decodeSegment(s) === key))) return path
  return segments.map((s) => s === key || decodeSegment(s) === key ? "<redacted>" : s).join("/")
}

/** Every occurrence of a key in a text (any letter case, or URL-encoded) as `<redacted>`. */
const keyRedactor = () => {
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
