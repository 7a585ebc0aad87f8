/**
 * A local VirusTotal API v3 server for tests, demos and benchmarks: real HTTP, VirusTotal's status codes and error
 * bodies, per-key quotas, fault injection and a request log.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Document from "./internal/document.js"
import * as Internal from "./internal/server.js"

/**
 * Fault rates, each between 0 and 1, drawn from the seeded generator for every API request that passed
 * authentication and the quota check (the quota endpoint is exempt). At most one fault hits a request; they are
 * tried in this order: reset, truncated, transient, tooManyRequests, deadlineExceeded, slow.
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
  /** The lower-cased file id of a `/files/{id}` request. */
  readonly id?: string
  /** Status answered, or declared for a truncated body; 0 for a reset connection. */
  readonly status: number
  /** `now()` when the request arrived, in ms. */
  readonly at: number
  /** "reset", "truncated", "transient", "tooManyRequests", "deadlineExceeded" or "slow". */
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
  readonly port: number
  /** The request log, oldest first. */
  readonly requests: ReadonlyArray<RequestLogEntry>
  clearLog(): void
  update(patch: Partial<Options>): void
  /** Forgets every key's usage. */
  resetQuota(): void
  /** Stops listening, drops open connections and pending slow answers. */
  close(): Promise<void>
}

/**
 * Starts an emulator; resolves once it listens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start: (options?: Options) => Promise<Server> = Internal.start

/**
 * Starts an emulator that is closed when the scope ends. A failure to listen (port taken) is a defect: the
 * emulator is test infrastructure, not something to recover from.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (server) => Effect.promise(() => server.close())
  )

/**
 * The known/unknown rule, so tests know what to expect: an id is unknown iff the first hex digit of
 * SHA-256(lower-cased id) is 0, 1 or 2 (about 19 % of ids). Case-insensitive.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isKnown: (id: string) => boolean = Document.isKnown

/**
 * The exact body bytes served for `GET /files/{id}` when no fault hits: the report for a known id (its `data.id`
 * is the SHA-256; the requested hash appears in its own field, the others are derived from it), the 404
 * NotFoundError body for an unknown one, the 400 InvalidArgumentError body for a malformed one.
 *
 * @since 0.1.0
 * @category utils
 */
export const fileDocument = (id: string): Uint8Array => Document.answerBody(Document.answerFile(id))
