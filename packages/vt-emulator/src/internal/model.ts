/**
 * The models of the emulator's public face (options, fault rates, the request log, a running server), defined below
 * the server that implements them; `VtEmulator` re-exports them.
 */

/**
 * Fault rates, each between 0 and 1, drawn from the seeded generator for every API request that passed
 * authentication and the quota check (the quota endpoint is exempt). At most one fault hits a request; they are
 * tried in this order: reset, truncated, transient, tooManyRequests, deadlineExceeded, slow, error.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultOptions {
  /** 503 TransientError. */
  readonly transient?: number | undefined
  /** 429 TooManyRequestsError (not a quota refusal: the request is counted). */
  readonly tooManyRequests?: number | undefined
  /** 504 DeadlineExceededError. */
  readonly deadlineExceeded?: number | undefined
  /** The socket is destroyed without an answer. */
  readonly reset?: number | undefined
  /** Headers declare the full Content-Length, half of the body is sent, then the socket is destroyed. */
  readonly truncated?: number | undefined
  /** The normal answer, `slowMs` late. */
  readonly slow?: number | undefined
  /** Delay of a slow answer (default 30 000 ms). */
  readonly slowMs?: number | undefined
  /**
   * Any VirusTotal error, at `rate` (default 1), tried after the others: `{ status: 424, code:
   * "FailedDependencyError" }` makes every API request answer that error document. Legacy v2 requests get the
   * status with an empty body, as v2 does.
   */
  readonly error?: {
    readonly status: number
    readonly code: string
    readonly message?: string | undefined
    readonly rate?: number | undefined
  } | undefined
}

/**
 * Server options. Every field may be changed at run time with `Server.update`, except `host` and `port`; an
 * explicit `undefined` in an update removes a limit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Interface to listen on (default 127.0.0.1). */
  readonly host?: string | undefined
  /** Port (default 0: any free port). */
  readonly port?: number | undefined
  /** Accepted keys; undefined accepts any non-empty key. */
  readonly apiKeys?: ReadonlyArray<string> | undefined
  /**
   * Keys with the premium privileges (Intelligence search, file downloads); the others get 403 ForbiddenError there.
   * Undefined grants them to every accepted key.
   */
  readonly premiumKeys?: ReadonlyArray<string> | undefined
  /**
   * Bytes per second at which signed download URLs send a sample (default: as fast as the connection goes), so that
   * tests can interrupt a download half-way.
   */
  readonly downloadBytesPerSecond?: number | undefined
  /** Keys answered with 401 UserNotActiveError. */
  readonly inactiveKeys?: ReadonlyArray<string> | undefined
  /** Requests per key per UTC clock minute; refused requests are not counted. */
  readonly perMinute?: number | undefined
  /** Requests per key per UTC day. */
  readonly perDay?: number | undefined
  /** Requests per key per UTC calendar month. */
  readonly perMonth?: number | undefined
  /** Fixed delay before every API answer. */
  readonly latencyMs?: number | undefined
  readonly faults?: FaultOptions | undefined
  /** Seed of the fault generator (default 1). */
  readonly seed?: number | undefined
  /** The clock of the quota windows and of the log, in ms (default `Date.now`), so tests can cross a minute. */
  readonly now?: (() => number) | undefined
  /** Most recent entries kept in the request log (default 100 000; 0 disables the log). */
  readonly logLimit?: number | undefined
  /** How long (by `now()`) a new analysis stays "queued" (default 20 000 ms). */
  readonly analysisQueuedMs?: number | undefined
  /**
   * When (by `now()`, from its submission) an analysis is "completed" (default 60 000 ms); "in-progress" in between.
   * A submitted file or URL has a report from then on. Changed by `Server.update`, it applies to the analyses and
   * submissions already made too (their status and reports follow the value in force when asked).
   */
  readonly analysisCompletedMs?: number | undefined
  /**
   * Which cursor forms collection pages carry: `"both"` (default, as VirusTotal: `meta.cursor` and `links.next`),
   * `"cursor"` (only `meta.cursor`) or `"links"` (only `links.next`), to test clients against either.
   */
  readonly pagination?: "both" | "cursor" | "links" | undefined
  /** Largest file `POST /files` and v2 `file/scan` accept (default 32 MiB); larger → 413. */
  readonly maxUploadBytes?: number | undefined
  /** Largest file an upload URL accepts (default 650 MiB); larger → 413. */
  readonly maxLargeUploadBytes?: number | undefined
}

/**
 * One answered (or deliberately unanswered) request. The path never contains the API key: the `{id}` of
 * `/users/{id}/…` and any occurrence of the request's key are replaced by `<redacted>`; the query string is dropped.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestLogEntry {
  readonly method: string
  readonly path: string
  /**
   * What the request is about: the lower-cased file id of a `/files/{id}…` request; likewise the URL id, domain or
   * address of `/urls/{id}…`, `/domains/{name}…`, `/ip_addresses/{ip}…`; the analysis id of `/analyses/{id}…`; the
   * SHA-256 of `/file_behaviours/{id}…`; the `resource` (or url, domain, ip) of a v2 request.
   */
  readonly id?: string
  /** Status answered, or declared for a truncated body; 0 for a reset connection. */
  readonly status: number
  /** `now()` when the request arrived, in ms. */
  readonly at: number
  /** "reset", "truncated", "transient", "tooManyRequests", "deadlineExceeded", "slow" or "error". */
  readonly fault?: string
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  /** Base URL of the API, e.g. "http://127.0.0.1:8787/api/v3". */
  readonly url: string
  /** Base URL of the legacy v2 API, e.g. "http://127.0.0.1:8787/vtapi/v2". */
  readonly legacyUrl: string
  readonly port: number
  /** The request log, oldest first. */
  readonly requests: ReadonlyArray<RequestLogEntry>
  clearLog(): void
  update(patch: Partial<Options>): void
  /** Forgets every key's usage (quota windows and `api_usage`). */
  resetQuota(): void
  /**
   * Back to a fresh server: the log, usage, submitted files and URLs, analyses, upload URLs, posted comments and
   * votes, and the fault generator's seed (what `POST /_emulator/reset` does).
   */
  reset(): void
  /** Stops listening, drops open connections and pending slow answers. */
  close(): Promise<void>
}
