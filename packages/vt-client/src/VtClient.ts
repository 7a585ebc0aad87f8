/**
 * The VirusTotal API v3 client as an Effect service.
 *
 * Every call answers with the exact bytes VirusTotal sent (decompressed) next to the parsed document, or
 * with a tagged {@link VtError.VtError}. The client sends each request once: retries and pacing belong to
 * a policy that decorates the client ({@link transform}; `@vt-harvest/rate-schedule`'s `QuotaGate.layerClient`
 * is the one the project ships), so that every request of every module passes through it.
 *
 * What the client guarantees by itself, whatever decorates it: the key goes only to the API's own origin (never to
 * another host, never over plain http when the API is https, never along a redirect, which is not followed; the one
 * redirect that is, a download's to its signed storage URL, is a request of its own sent without the key);
 * answers are bounded (size after decompression, decompression ratio, time); an object asked for by id is
 * checked to be that object; texts in errors are free of the key.
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Dispatcher } from "undici"
import * as internal from "./internal/request.js"
import * as Undici from "./internal/undici.js"
import * as VtError from "./VtError.js"
import * as VtId from "./VtId.js"
import type * as VtObjectModule from "./VtObject.js"

/**
 * The public API's address.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultBaseUrl = "https://www.virustotal.com/api/v3"

/**
 * How long one request may take, answer body included, before it fails with a `TransportError` of
 * reason `"Timeout"`.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultTimeout: Duration.Duration = Duration.seconds(60)

/**
 * The legacy v2 API's address.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultLegacyBaseUrl = "https://www.virustotal.com/vtapi/v2"

/**
 * How long an upload may take, body included, unless a call says otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultUploadTimeout: Duration.Duration = Duration.minutes(30)

/**
 * A path (relative to the base URL) may name the key's own user with this placeholder, as in
 * `/users/{apikey}/overall_quotas`: it is replaced by the key (URL-encoded) only as the request leaves, so the
 * key is in no description of the request, and such a request gets no tracing span. Absolute URLs are never
 * rewritten.
 *
 * @since 0.1.0
 * @category models
 */
export const apiKeyPlaceholder = "{apikey}"

/**
 * The name of the header carrying the key; it is added to `Headers.currentRedactedNames` so spans and
 * logs show `<redacted>` in its place.
 *
 * @since 0.1.0
 * @category models
 */
export const apiKeyHeader = "x-apikey"

/**
 * How to reach VirusTotal: the key (a `Redacted`, read only as a request leaves), the base URLs and the timeouts.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly apiKey: Redacted.Redacted<string>
  /** Defaults to {@link defaultBaseUrl}; point it at the emulator in tests. */
  readonly baseUrl?: string | undefined
  /** Per request; defaults to {@link defaultTimeout}. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * The legacy v2 API. Defaults to the base URL with `/api/v3` replaced by `/vtapi/v2` (so the emulator's is
   * found by itself), or {@link defaultLegacyBaseUrl} when the base URL does not end in `/api/v3`.
   */
  readonly legacyBaseUrl?: string | undefined
  /** Per upload; defaults to {@link defaultUploadTimeout}. */
  readonly uploadTimeout?: Duration.DurationInput | undefined
  /** The largest answer accepted, in bytes after decompression; defaults to {@link defaultMaxBodyBytes}. */
  readonly maxBodyBytes?: number | undefined
  /**
   * The largest decompressed size accepted per compressed byte of a gzip answer; defaults to
   * {@link defaultMaxGzipRatio}.
   */
  readonly maxGzipRatio?: number | undefined
}

/**
 * The largest answer the client accepts by default: 64 MiB after decompression. VirusTotal's largest reports
 * (a file with every relationship) run to a few MiB; anything larger is a fault or an attack, and an answer is
 * held whole in memory.
 *
 * @since 0.2.0
 * @category models
 */
export const defaultMaxBodyBytes = 64 * 1024 * 1024

/**
 * How much larger than its compressed form a gzip answer may be by default. JSON reports compress about ten to
 * one; a gzip bomb compresses a thousand to one.
 *
 * @since 0.2.0
 * @category models
 */
export const defaultMaxGzipRatio = 200

/**
 * The largest body {@link Service.executeStream} accepts by default: 650 MiB, above the largest file VirusTotal
 * takes (650 MB), so any sample fits and nothing endless does.
 *
 * @since 0.2.0
 * @category models
 */
export const defaultMaxStreamBytes = 650 * 1024 * 1024

/**
 * Per-request options of {@link Service.executeStream}.
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamOptions {
  /**
   * How long the answer's head may take, and then the longest pause between two chunks of its body; defaults to the
   * client's timeout. A large body takes as long as it takes, as long as it keeps coming.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /** The most bytes the body may have; defaults to {@link defaultMaxStreamBytes}. More fails the stream. */
  readonly maxBytes?: number | undefined
  /**
   * Send the request without the key, to an absolute URL on any http(s) origin (a storage URL VirusTotal redirected
   * to): the key goes to the API's origin only, so a request that may leave it carries no key at all. Plain http is
   * refused when the API is https.
   */
  readonly anonymous?: boolean | undefined
  /**
   * `"answer"`: a redirect (3xx with a `Location`) is an answer, its `location` resolved, its body discarded, and
   * nothing is followed: the caller decides (see `Files.download`). By default (`"fail"`) a redirect is an error, as
   * with every other call.
   */
  readonly redirects?: "answer" | "fail" | undefined
}

/**
 * A successful answer of {@link Service.executeStream}: the head, and the body as it arrives. The body is read within
 * the scope of the call (closing it aborts the exchange); it is bounded by {@link StreamOptions.maxBytes}.
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamResponse {
  readonly status: number
  readonly headers: Headers.Headers
  /** The absolute URL a redirect points to, when redirects are answered; otherwise `undefined`. */
  readonly location: string | undefined
  readonly body: Stream.Stream<Uint8Array, VtError.VtError>
}

/**
 * A VirusTotal object (defined in `VtObject`, named here too for the signatures of this module).
 *
 * @since 0.1.0
 * @category models
 */
export type VtObject = VtObjectModule.VtObject

/**
 * An object answer (defined in `VtObject`): `raw` is the body exactly as received, the thing to store; `data` the
 * parsed object.
 *
 * @since 0.1.0
 * @category models
 */
export type Document = VtObjectModule.Document

/**
 * Any successful (2xx) JSON answer, before endpoint-specific checks.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonResponse {
  readonly status: number
  readonly raw: Uint8Array
  readonly json: unknown
}

/**
 * Any successful (2xx) answer as bytes, for the endpoints that do not answer JSON (sandbox HTML, PCAP, …).
 *
 * @since 0.1.0
 * @category models
 */
export interface BytesResponse {
  readonly status: number
  readonly headers: Headers.Headers
  readonly raw: Uint8Array
}

/**
 * Which API a request is for.
 *
 * - `"v3"` (default): relative URLs get the base URL; the key goes in the `x-apikey` header.
 * - `"v2"`: relative URLs get the legacy base URL; the key goes in the `apikey` query parameter and no header;
 *   HTTP 204 (v2's "over quota", empty body) is `QuotaExceededError` and a 403 without an error document is
 *   `ForbiddenError` (v2's "forbidden or bad key").
 *
 * @since 0.1.0
 * @category models
 */
export type Api = "v3" | "v2"

/**
 * Per-request options of {@link Service.execute} and {@link Service.executeBytes}: a timeout other than the
 * client's, and which API (v3 or the legacy v2) the request is for.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExecuteOptions {
  readonly timeout?: Duration.DurationInput | undefined
  readonly api?: Api | undefined
}

/**
 * Per-request options of {@link Service.getJson} and {@link Service.getObject}: query parameters and a timeout.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  readonly urlParams?: UrlParams.Input | undefined
  /** Overrides the client's timeout for this request (uploads need longer). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * What an object getter ({@link Service.getFile} and its siblings) asks for besides the report.
 *
 * @since 0.2.0
 * @category models
 */
export interface ObjectOptions {
  /**
   * Relationships to include (`contacted_domains`, `resolutions`…): one request with `?relationships=a,b`, and the
   * answer's `data.relationships.<name>` holds the first page of each (descriptors, `meta.cursor`, `links`), as
   * VirusTotal answers. Follow a cursor with `Relationships.pages(ref, name, { cursor, descriptorsOnly: true })`.
   * Each name must match {@link relationshipNamePattern}; duplicates are sent once.
   */
  readonly relationships?: ReadonlyArray<string> | undefined
}

/**
 * What a relationship name looks like (lower-case letters, digits and `_`, at most 64): anything else is refused
 * with `InvalidIdError` of kind `relationship` before anything is sent.
 *
 * @since 0.2.0
 * @category models
 */
export const relationshipNamePattern: RegExp = /^[a-z0-9_]{1,64}$/

/**
 * The client: typed getters for the objects with reports, and the core (`execute`, `executeBytes`) every module
 * of this package builds its requests on. Every call sends one request and never retries, unless a
 * {@link Middleware} installed with {@link transform} says otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * `GET /files/{hash}` for an MD5, SHA-1 or SHA-256 in any case. A malformed hash fails with
   * `InvalidIdError` without sending anything. The answer must be that file (`data.id` the SHA-256 asked for, or
   * `attributes.md5` / `attributes.sha1` the MD5 or SHA-1 asked for), else `RejectedResponseError`. With
   * `options.relationships`, the same one request carries the first page of each (see {@link ObjectOptions}).
   */
  readonly getFile: (hash: string, options?: ObjectOptions) => Effect.Effect<Document, VtError.VtError>
  /**
   * `GET /urls/{id}` for a URL (its id is computed: unpadded URL-safe base64) or a URL object id (64 hex digits,
   * the SHA-256 of VirusTotal's canonical URL). Anything else fails with `InvalidIdError`, nothing sent. The
   * answer must be a URL object (with the id asked for, when asked by object id). Takes {@link ObjectOptions}.
   */
  readonly getUrl: (urlOrId: string, options?: ObjectOptions) => Effect.Effect<Document, VtError.VtError>
  /**
   * `GET /domains/{name}`; the name is validated and normalised first (`VtId.domain`); the answer must be that
   * domain. Takes {@link ObjectOptions}.
   */
  readonly getDomain: (name: string, options?: ObjectOptions) => Effect.Effect<Document, VtError.VtError>
  /**
   * `GET /ip_addresses/{ip}`; the address is validated and normalised first (`VtId.ipAddress`); the answer must
   * be that address. Takes {@link ObjectOptions}.
   */
  readonly getIpAddress: (ip: string, options?: ObjectOptions) => Effect.Effect<Document, VtError.VtError>
  /**
   * `GET` of a path answering one object (`{"data":{"type","id","attributes"}}`). The caller encodes the
   * path's segments.
   */
  readonly getObject: (path: string, options?: RequestOptions) => Effect.Effect<Document, VtError.VtError>
  /** `GET` of a path answering any JSON document (collections, quotas, upload URLs). */
  readonly getJson: (path: string, options?: RequestOptions) => Effect.Effect<JsonResponse, VtError.VtError>
  /** {@link Service.executeBytes}, then the body parsed as JSON (any JSON value). */
  readonly execute: (
    request: HttpClientRequest.HttpClientRequest,
    options?: ExecuteOptions
  ) => Effect.Effect<JsonResponse, VtError.VtError>
  /**
   * The core every call goes through: adds the key, `accept: application/json` unless the request sets
   * its own `accept`, and `accept-encoding: gzip`; prefixes a relative URL (starting with `/`) with the
   * base URL; applies the timeout; reads and decompresses the body within the size bounds; maps every failure to
   * a `VtError` (non-2xx answers through `VtError.fromResponse`, redirects included: they are never followed).
   * Absolute URLs (VirusTotal's one-time upload URLs) are sent only to the origin of the base URL (or of the legacy
   * base URL); any other is refused with a `TransportError` of reason `UnsafeTarget` and nothing is sent. A
   * relative URL may hold {@link apiKeyPlaceholder}. `options.api` selects the legacy v2 conventions (see
   * {@link Api}). Every request passes through the middlewares installed with {@link transform}.
   */
  readonly executeBytes: (
    request: HttpClientRequest.HttpClientRequest,
    options?: ExecuteOptions
  ) => Effect.Effect<BytesResponse, VtError.VtError>
  /**
   * A request whose answer body is streamed rather than held (file downloads): answers once the head is in, the
   * body then read as it is pulled, never decompressed (`accept-encoding: identity`). The same rules as
   * {@link Service.executeBytes} otherwise (the key only to the API's origin, errors read whole and mapped by
   * `VtError.fromResponse`, the middlewares of {@link transform} around the request, which they see as an answer
   * without a body), plus {@link StreamOptions}: bounded size, an idle timeout, a request without the key, redirects
   * answered instead of refused.
   *
   * @since 0.2.0
   */
  readonly executeStream: (
    request: HttpClientRequest.HttpClientRequest,
    options?: StreamOptions
  ) => Effect.Effect<StreamResponse, VtError.VtError, Scope.Scope>
  /**
   * Marks `self` as one unit of requests that depend on each other (a one-time upload URL and the upload to it):
   * middlewares retry the unit whole instead of its requests one by one. Without a middleware, `self` as it is.
   */
  readonly unit: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** The base URL requests are resolved against (no trailing slash). */
  readonly baseUrl: string
  /** The legacy v2 base URL (no trailing slash). */
  readonly legacyBaseUrl: string
  /** The upload timeout the client was configured with. */
  readonly uploadTimeout: Duration.Duration
  /**
   * The text with every occurrence of the key (any letter case, URL-encoded, JSON-escaped, or any mix of these
   * spellings) replaced by `<redacted>`: what the client does to everything it puts in an error, for callers
   * composing their own messages.
   */
  readonly redact: (text: string) => string
}

/**
 * What a middleware knows of a request before it is sent.
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestInfo {
  readonly method: string
  /** The absolute URL, without its query string, free of the key. */
  readonly url: string
  readonly api: Api
  /**
   * The request is part of a {@link Service.unit}: the unit is retried whole, so this request must not be
   * retried alone.
   */
  readonly inUnit: boolean
}

/**
 * A policy around every request of a client, installed with {@link transform}: `request` wraps each request as
 * it is about to be sent (it may wait before running `send`, run it again, or fail without running it);
 * `unit` wraps each {@link Service.unit}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Middleware {
  readonly request: (
    send: Effect.Effect<BytesResponse, VtError.VtError>,
    info: RequestInfo
  ) => Effect.Effect<BytesResponse, VtError.VtError>
  readonly unit?: (<A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined
}

/**
 * The service tag. Provide it with {@link layer}, {@link layerUndici} or {@link layerConfig}.
 *
 * @since 0.1.0
 * @category tags
 */
export class VtClient extends Context.Tag("@vt-harvest/vt-client/VtClient")<VtClient, Service>() {}

const addRedactedName = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> =>
  names.includes(apiKeyHeader) ? names : [...names, apiKeyHeader]

/** Whether the requests of the current fiber belong to a {@link Service.unit}. */
const currentUnit = FiberRef.unsafeMake(false)

/**
 * How a request leaves: given the request (absolute URL, key and headers set), a description of it free of the key,
 * the time it may take and the most bytes its body may have as received, the answer as received. The two
 * transports are HttpClient's and undici's.
 */
type Transport = (
  request: HttpClientRequest.HttpClientRequest,
  target: string,
  timeout: Duration.Duration,
  scrub: (text: string) => string,
  maxBytes: number
) => Effect.Effect<internal.RawAnswer, VtError.TransportError | VtError.ResponseDecodeError | VtError.VtError>

/**
 * How a streamed request leaves (see {@link Transport}): the answer once its head is in, the body as it arrives (as
 * sent), the exchange aborted when the scope closes. `timeout` bounds the head only.
 */
type StreamTransport = (
  request: HttpClientRequest.HttpClientRequest,
  target: string,
  timeout: Duration.Duration,
  scrub: (text: string) => string
) => Effect.Effect<Undici.RawStreamAnswer, VtError.TransportError, Scope.Scope>

const httpClientStreamTransport =
  (httpClient: HttpClient.HttpClient): StreamTransport => (request, target, timeout, scrub) =>
    httpClient.execute(request).pipe(
      Effect.catchTags({
        RequestError: (error) => Effect.fail(internal.fromRequestError(error, target, scrub)),
        ResponseError: (error) =>
          Effect.fail(
            new VtError.TransportError({
              reason: "Other",
              message: internal.fromBodyError(error, target, scrub).message
            })
          )
      }),
      Effect.map((response): Undici.RawStreamAnswer => ({
        status: response.status,
        headers: response.headers,
        body: Stream.catchTag(
          response.stream,
          "ResponseError",
          (error) => Stream.fail(internal.fromBodyError(error, target, scrub))
        )
      })),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new VtError.TransportError({
            reason: "Timeout",
            message: `${target}: no answer within ${Duration.format(timeout)}`
          })
      }),
      Effect.locallyWith(Headers.currentRedactedNames, addRedactedName),
      Effect.provideService(FetchHttpClient.RequestInit, { redirect: "manual" })
    )

const httpClientTransport =
  (httpClient: HttpClient.HttpClient): Transport => (request, target, timeout, scrub, maxBytes) => {
    const keyInUrl = (request: HttpClientRequest.HttpClientRequest) => {
      const text = `${request.url} ${JSON.stringify(request.urlParams)}`
      return scrub(text) !== text
    }
    // The status of the answer's head, once it is in: a success whose body then does not arrive in time is an
    // answer cut short, not a transport failure (see `timedOut`).
    let headStatus = 0
    return httpClient.execute(request).pipe(
      Effect.catchTags({
        RequestError: (error) => Effect.fail(internal.fromRequestError(error, target, scrub)),
        // Only a status filter raises this at this stage, and none is installed; kept total anyway.
        ResponseError: (error) => Effect.fail(internal.fromBodyError(error, target, scrub))
      }),
      Effect.tap((response) => void (headStatus = response.status)),
      Effect.flatMap((response) =>
        response.stream.pipe(
          Stream.catchTag("ResponseError", (error) => Stream.fail(internal.fromBodyError(error, target, scrub))),
          Stream.runFoldEffect(
            { chunks: [] as Array<Uint8Array>, size: 0 },
            (acc, chunk): Effect.Effect<{ chunks: Array<Uint8Array>; size: number }, VtError.RejectedResponseError> => {
              acc.size += chunk.length
              if (acc.size > maxBytes) return Effect.fail(internal.tooLarge(response.status, target, maxBytes))
              acc.chunks.push(chunk)
              return Effect.succeed(acc)
            }
          ),
          Effect.map(({ chunks, size }): internal.RawAnswer => ({
            status: response.status,
            headers: response.headers,
            body: internal.concat(chunks, size)
          }))
        )
      ),
      Effect.timeoutFail({ duration: timeout, onTimeout: () => Undici.timedOut(target, timeout, headStatus) }),
      Effect.locallyWith(Headers.currentRedactedNames, addRedactedName),
      // A span records the full URL; a URL holding the key (`/users/{key}/…`) gets no span at all.
      Effect.locallyWith(
        HttpClient.currentTracerDisabledWhen,
        (disabled) => (request) => disabled(request) || keyInUrl(request)
      ),
      // A redirect is an answer like any other (never followed: it would carry the key elsewhere). Only the fetch
      // client follows redirects by default; the Node clients never do.
      Effect.provideService(FetchHttpClient.RequestInit, { redirect: "manual" })
    )
  }

/** What {@link derive} builds the derived calls of a service from. */
interface Core {
  readonly executeBytes: Service["executeBytes"]
  readonly executeStream: Service["executeStream"]
  readonly unit: Service["unit"]
  readonly baseUrl: string
  readonly legacyBaseUrl: string
  readonly uploadTimeout: Duration.Duration
  readonly redact: (text: string) => string
}

const isAbsolute = (request: HttpClientRequest.HttpClientRequest) => /^https?:\/\//i.test(request.url)

// How errors name a request: method and URL, never the query string (cursors are long and opaque, and v2 carries
// the key there).
const describeRequest = (core: Core, request: HttpClientRequest.HttpClientRequest, api: Api = "v3") =>
  core.redact(
    `${request.method} ${
      isAbsolute(request) ? request.url : `${api === "v2" ? core.legacyBaseUrl : core.baseUrl}${request.url}`
    }`
  )

// GET and HEAD ask; any other method (a POST) may change something at VirusTotal each time it is sent.
const isSafe = (method: string): boolean => method === "GET" || method === "HEAD"

/**
 * What a 2xx answer to a request that changes something comes to when its body is unusable: not a transient
 * failure, as sending the request again would do again what it may already have done (a second comment, a second
 * upload of a large file, each counted against the quota).
 */
const unconfirmed = (method: string) => (error: VtError.VtError): VtError.VtError =>
  !isSafe(method) && error._tag === "ResponseDecodeError" && error.status >= 200 && error.status <= 299
    ? new VtError.RejectedResponseError({
      status: error.status,
      reason: "Unconfirmed",
      message: `${error.message}; VirusTotal answered ${error.status} and may have acted on it: not sent again`
    })
    : error

/** Everything but `executeBytes` and `unit`, built on them: so a transformed client's calls all pass its middleware. */
/** The clients whose middlewares take units (see `derive`): a request and its check are one unit for them. */
const takesUnits = new WeakSet<Service>()

const derive = (core: Core, checkInUnit = false): Service => {
  const { executeBytes, redact } = core

  // A request and the check of its answer's body, retried together by a middleware that takes units: a body that
  // is not JSON is as transient as one cut short (`VtError.isTransient`), and the check comes after the middleware
  // has seen the request answered. A request already inside a unit is left to it (the unit is retried whole, and
  // retries are not multiplied). Under middlewares without units, requests are theirs alone, as always.
  const withCheck = <A>(effect: Effect.Effect<A, VtError.VtError>): Effect.Effect<A, VtError.VtError> =>
    checkInUnit ? Effect.flatMap(FiberRef.get(currentUnit), (inUnit) => (inUnit ? effect : core.unit(effect))) : effect

  const execute: Service["execute"] = (request, callOptions) =>
    withCheck(
      Effect.flatMap(executeBytes(request, callOptions), ({ raw, status }) =>
        Either.match(internal.parseJson(raw), {
          onLeft: (reason) =>
            Effect.fail(
              unconfirmed(request.method)(
                new VtError.ResponseDecodeError({
                  status,
                  message: `${describeRequest(core, request, callOptions?.api)}: ${redact(reason)}`
                })
              )
            ),
          onRight: (json): Effect.Effect<JsonResponse> => Effect.succeed({ status, raw, json })
        }))
    )

  const getJson: Service["getJson"] = (path, requestOptions) =>
    execute(
      HttpClientRequest.get(path, { urlParams: requestOptions?.urlParams }),
      { timeout: requestOptions?.timeout }
    )

  // Checked by a scan of the bytes that builds nothing; `data` is parsed only if someone reads it.
  const objectAt = (
    path: string,
    requestOptions: RequestOptions | undefined,
    expect: internal.Expectation | undefined
  ): Effect.Effect<Document, VtError.VtError> =>
    withCheck(Effect.flatMap(
      executeBytes(
        HttpClientRequest.get(path, { urlParams: requestOptions?.urlParams }),
        { timeout: requestOptions?.timeout }
      ),
      ({ raw, status }): Effect.Effect<Document, VtError.VtError> => {
        const checked = internal.checkObject(raw, expect)
        switch (checked._tag) {
          case "Ok":
            return Effect.succeed(checked.document)
          case "Malformed":
            return Effect.fail(
              new VtError.ResponseDecodeError({
                status,
                message: redact(`GET ${core.baseUrl}${path}: ${checked.reason}`)
              })
            )
          case "Unexpected":
            return Effect.fail(
              new VtError.RejectedResponseError({
                status,
                reason: "UnexpectedObject",
                message: redact(`GET ${core.baseUrl}${path}: ${checked.reason}; not the object asked for`)
              })
            )
        }
      }
    ))

  const getObject: Service["getObject"] = (path, requestOptions) => objectAt(path, requestOptions, undefined)

  const validated = (
    kind: string,
    what: string,
    validate: (input: string) => Either.Either<string, string>,
    collection: string,
    expect: (id: string) => internal.Expectation
  ) =>
  (input: string, objectOptions?: ObjectOptions): Effect.Effect<Document, VtError.VtError> =>
    Either.match(validate(input), {
      onLeft: (reason) =>
        Effect.fail(
          new VtError.InvalidIdError({
            kind,
            input: redact(input),
            message: redact(`invalid ${what} ${JSON.stringify(input)}: ${reason}`)
          })
        ),
      onRight: (id) => {
        const names = [...new Set(objectOptions?.relationships ?? [])]
        const invalid = names.find((name) => !relationshipNamePattern.test(name))
        if (invalid !== undefined) {
          return Effect.fail(
            new VtError.InvalidIdError({
              kind: "relationship",
              input: redact(invalid),
              message: redact(
                `invalid relationship ${JSON.stringify(invalid)}: not a relationship name (a-z, 0-9, _; at most 64)`
              )
            })
          )
        }
        return objectAt(
          `/${collection}/${internal.encodeSegment(id)}`,
          names.length === 0 ? undefined : { urlParams: { relationships: names.join(",") } },
          expect(id)
        )
      }
    })

  return VtClient.of({
    getFile: validated("file", "file hash", VtId.fileHash, "files", internal.expectFile),
    getUrl: validated("url", "URL", VtId.urlIdentifier, "urls", internal.expectUrl),
    getDomain: validated("domain", "domain", VtId.domain, "domains", internal.expectDomain),
    getIpAddress: validated("ip_address", "IP address", VtId.ipAddress, "ip_addresses", internal.expectIpAddress),
    getObject,
    getJson,
    execute,
    executeBytes,
    executeStream: core.executeStream,
    unit: core.unit,
    baseUrl: core.baseUrl,
    legacyBaseUrl: core.legacyBaseUrl,
    uploadTimeout: core.uploadTimeout,
    redact
  })
}

const makeWith = (options: Options, transport: Transport, streamTransport: StreamTransport): Service => {
  const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
  const legacyBaseUrl = (options.legacyBaseUrl ?? internal.legacyBaseUrlOf(baseUrl, defaultLegacyBaseUrl))
    .replace(/\/+$/, "")
  const timeout = Duration.decode(options.timeout ?? defaultTimeout)
  const uploadTimeout = Duration.decode(options.uploadTimeout ?? defaultUploadTimeout)
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
  const maxGzipRatio = options.maxGzipRatio ?? defaultMaxGzipRatio
  const scrub = internal.makeScrub(Redacted.value(options.apiKey))
  // The only origins the key is sent to: the API's own (and the legacy API's, on the same host in practice).
  const origins = new Set([internal.originOf(baseUrl), internal.originOf(legacyBaseUrl)])

  const resolve = (request: HttpClientRequest.HttpClientRequest, api: Api = "v3") =>
    isAbsolute(request) ? request : HttpClientRequest.prependUrl(request, api === "v2" ? legacyBaseUrl : baseUrl)

  // The key is read from the Redacted value only here, as the request leaves.
  const authorize = (request: HttpClientRequest.HttpClientRequest, relative: boolean, api: Api) => {
    const key = Redacted.value(options.apiKey)
    const withUser = relative && request.url.includes(apiKeyPlaceholder)
      ? HttpClientRequest.modify(request, {
        url: request.url.split(apiKeyPlaceholder).join(encodeURIComponent(key))
      })
      : request
    return api === "v2"
      ? HttpClientRequest.setUrlParam(withUser, "apikey", key)
      : HttpClientRequest.setHeader(withUser, apiKeyHeader, key)
  }

  const answer = (target: string, api: Api) => (raw: internal.RawAnswer) =>
    internal.decompress(raw.body, maxBodyBytes, maxGzipRatio).pipe(
      Effect.mapError((error) =>
        error._tag === "Bound"
          ? new VtError.RejectedResponseError({
            status: raw.status,
            reason: error.reason,
            message: scrub(`${target}: ${error.message}`)
          })
          : new VtError.ResponseDecodeError({
            status: raw.status,
            message: scrub(`${target}: the gzip body could not be decompressed: ${error.message}`)
          })
      ),
      Effect.flatMap((body): Effect.Effect<BytesResponse, VtError.ApiError> => {
        const status = raw.status
        if (api === "v2") {
          const legacy = internal.legacyStatus(status, internal.decodeText(body), scrub)
          if (legacy !== undefined) return Effect.fail(legacy)
        }
        return status >= 200 && status <= 299
          ? Effect.succeed({ status, headers: Headers.fromInput(raw.headers), raw: body })
          : Effect.fail(VtError.fromResponse(status, internal.decodeText(body), scrub))
      })
    )

  const send = (request: HttpClientRequest.HttpClientRequest, callOptions: ExecuteOptions | undefined) => {
    const api = callOptions?.api ?? "v3"
    const resolved = resolve(request, api)
    const target = scrub(`${resolved.method} ${resolved.url}`)
    const refused = internal.unsafeTarget(resolved.url, origins)
    if (refused !== undefined) {
      return Effect.fail(
        new VtError.TransportError({ reason: "UnsafeTarget", message: scrub(`${target}: not sent: ${refused}`) })
      )
    }
    const duration = callOptions?.timeout === undefined ? timeout : Duration.decode(callOptions.timeout)
    return Effect.suspend(() =>
      transport(
        authorize(
          resolved.pipe(
            resolved.headers["accept"] === undefined ? HttpClientRequest.acceptJson : identity,
            HttpClientRequest.setHeader("accept-encoding", "gzip")
          ),
          !isAbsolute(request),
          api
        ),
        target,
        duration,
        scrub,
        maxBodyBytes
      )
    ).pipe(Effect.flatMap(answer(target, api)), Effect.mapError(unconfirmed(resolved.method)))
  }

  const sendStream: Service["executeStream"] = (request, callOptions) => {
    const anonymous = callOptions?.anonymous === true
    const resolved = resolve(request)
    const target = scrub(`${resolved.method} ${resolved.url}`)
    const refused = anonymous
      ? internal.unsafeAnonymousTarget(resolved.url, baseUrl)
      : internal.unsafeTarget(resolved.url, origins)
    if (refused !== undefined) {
      return Effect.fail(
        new VtError.TransportError({ reason: "UnsafeTarget", message: scrub(`${target}: not sent: ${refused}`) })
      )
    }
    const duration = callOptions?.timeout === undefined ? timeout : Duration.decode(callOptions.timeout)
    const maxBytes = callOptions?.maxBytes ?? defaultMaxStreamBytes
    const prepared = resolved.pipe(
      resolved.headers["accept"] === undefined ? HttpClientRequest.setHeader("accept", "*/*") : identity,
      HttpClientRequest.setHeader("accept-encoding", "identity")
    )
    return Effect.flatMap(
      Effect.suspend(() =>
        streamTransport(anonymous ? prepared : authorize(prepared, !isAbsolute(request), "v3"), target, duration, scrub)
      ),
      (raw): Effect.Effect<StreamResponse, VtError.VtError> => {
        const status = raw.status
        const headers = Headers.fromInput(raw.headers)
        if (status >= 200 && status <= 299) {
          return Effect.succeed({
            status,
            headers,
            location: undefined,
            body: internal.boundedStream(raw.body, status, target, maxBytes, duration)
          })
        }
        const location = internal.locationOf(headers["location"], resolved.url)
        if (status >= 300 && status <= 399 && callOptions?.redirects === "answer") {
          if (location !== undefined) return Effect.succeed({ status, headers, location, body: Stream.empty })
          if ((headers["location"] ?? "") !== "") {
            return Effect.fail(
              new VtError.TransportError({
                reason: "UnsafeTarget",
                message: scrub(`${target}: redirected to a URL that is not http(s); not followed`)
              })
            )
          }
        }
        // Anything else is an error: its body read whole within the usual bounds, and decoded as every answer is.
        return raw.body.pipe(
          (body) => internal.boundedStream(body, status, target, maxBodyBytes, duration),
          Stream.runCollect,
          Effect.map((chunks) => {
            const all = [...chunks]
            return internal.concat(all, all.reduce((n, chunk) => n + chunk.length, 0))
          }),
          Effect.flatMap((body) => answer(target, "v3")({ status, headers: raw.headers, body })),
          Effect.flatMap(() =>
            Effect.fail(
              new VtError.ResponseDecodeError({ status, message: scrub(`${target}: unexpected answer HTTP ${status}`) })
            )
          ),
          // A request sent without the key (a signed storage URL) refused says nothing of the key: not a refusal
          // that stops everything (`isAuthFailure`), the failure of that request alone.
          Effect.mapError((error) =>
            anonymous && VtError.isAuthFailure(error)
              ? new VtError.RejectedResponseError({
                status: error.status,
                reason: "LinkRefused",
                message: scrub(`${target}: HTTP ${error.status} from a request sent without the key: ${error.message}`)
              })
              : error
          )
        )
      }
    )
  }

  return derive({
    executeBytes: send,
    executeStream: sendStream,
    unit: (self) => Effect.locally(self, currentUnit, true),
    baseUrl,
    legacyBaseUrl,
    uploadTimeout,
    redact: scrub
  })
}

/**
 * The client with a middleware around every request it sends (each attempt) and around every
 * {@link Service.unit}: getters, `execute`, `getJson` and every module of this package built on the service all
 * pass through it. Middlewares stack: the last installed is the outermost.
 *
 * @since 0.2.0
 * @category combinators
 */
export const transform = (service: Service, middleware: Middleware): Service => {
  const unitOf = middleware.unit
  const core: Core = {
    executeBytes: (request, options) =>
      Effect.flatMap(FiberRef.get(currentUnit), (inUnit) =>
        middleware.request(service.executeBytes(request, options), {
          method: request.method,
          // Computed (and redacted) only for a middleware that reads it.
          get url() {
            return describeUrl(service, request, options?.api)
          },
          api: options?.api ?? "v3",
          inUnit
        })),
    // The middleware sees a streamed request as any other (waits, retries, counts it), its answer as the head alone;
    // the body of the answer that got through is handed over as it is.
    executeStream: (request, options) =>
      Effect.gen(function*() {
        const inUnit = yield* FiberRef.get(currentUnit)
        const scope = yield* Effect.scope
        let opened: StreamResponse | undefined
        const send = Effect.map(
          Effect.provideService(service.executeStream(request, options), Scope.Scope, scope),
          (response): BytesResponse => {
            opened = response
            return { status: response.status, headers: response.headers, raw: new Uint8Array(0) }
          }
        )
        yield* middleware.request(send, {
          method: request.method,
          get url() {
            return describeUrl(service, request, "v3")
          },
          api: "v3",
          inUnit
        })
        return opened ?? (yield* Effect.dieMessage("a middleware answered a streamed request without sending it"))
      }),
    unit: unitOf === undefined ? service.unit : (self) => unitOf(service.unit(self)),
    baseUrl: service.baseUrl,
    legacyBaseUrl: service.legacyBaseUrl,
    uploadTimeout: service.uploadTimeout,
    redact: service.redact
  }
  const checkInUnit = unitOf !== undefined || takesUnits.has(service)
  const derived = derive(core, checkInUnit)
  if (checkInUnit) takesUnits.add(derived)
  return derived
}

const describeUrl = (service: Service, request: HttpClientRequest.HttpClientRequest, api: Api = "v3") =>
  service.redact(
    isAbsolute(request) ? request.url : `${api === "v2" ? service.legacyBaseUrl : service.baseUrl}${request.url}`
  )

/**
 * {@link transform} as a layer: replaces the `VtClient` in context by the same client with the middleware made by
 * `make` (which may read the context, e.g. a quota gate).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerTransform = <E, R>(
  make: (service: Service) => Effect.Effect<Middleware, E, R>
): Layer.Layer<VtClient, E, VtClient | R> =>
  Layer.effect(
    VtClient,
    Effect.flatMap(VtClient, (service) => Effect.map(make(service), (middleware) => transform(service, middleware)))
  )

/**
 * Builds the service on the `HttpClient` in context. Any client works (fetch, Node, Bun…), and requests get
 * HttpClient's tracing spans. For a Node program bound by request rate, {@link makeUndici} costs far less per
 * request.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(
    HttpClient.HttpClient,
    (httpClient) => makeWith(options, httpClientTransport(httpClient), httpClientStreamTransport(httpClient))
  )

/**
 * {@link Options} for {@link makeUndici}.
 *
 * @since 0.2.0
 * @category models
 */
export interface UndiciOptions extends Options {
  /**
   * The undici Dispatcher requests go through. By default a new `Agent` (keep-alive connection pools per origin,
   * as many connections as requests in flight), closed when the scope ends; a given one is left open.
   */
  readonly dispatcher?: Dispatcher | undefined
  /**
   * Send requests through an HTTP proxy (undici's `EnvHttpProxyAgent`, ignored when a `dispatcher` is given). Each
   * field left out comes from the environment as curl reads it: `https_proxy`/`HTTPS_PROXY` for https targets
   * (else the http proxy), `http_proxy`/`HTTP_PROXY`, and `no_proxy`/`NO_PROXY` for the hosts reached directly.
   * `{}` is the environment alone. The proxy's credentials are removed from every error message, as the key is.
   *
   * @since 0.2.0
   */
  readonly proxy?: ProxyOptions | undefined
}

/**
 * Where requests go through a proxy: see {@link UndiciOptions.proxy}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProxyOptions {
  /** The proxy for http:// targets, `http://[user:password@]host:port`. */
  readonly httpProxy?: string | undefined
  /** The proxy for https:// targets (default: the http proxy). */
  readonly httpsProxy?: string | undefined
  /** Hosts reached directly: comma-separated names, `.suffix`es, `host:port`s, or `*`. */
  readonly noProxy?: string | undefined
}

/** A raw `%` in a proxy's user name or password (no escape) made `%25`, as undici decodes both. */
const escapedCredentials = (uri: string | undefined): string | undefined => {
  if (uri === undefined || !URL.canParse(uri)) return uri
  const url = new URL(uri)
  const raw = /%(?![0-9A-Fa-f]{2})/
  if (!raw.test(url.username) && !raw.test(url.password)) return uri
  url.username = url.username.replaceAll(new RegExp(raw, "g"), "%25")
  url.password = url.password.replaceAll(new RegExp(raw, "g"), "%25")
  return url.href
}

const proxyEnvironment = (proxy: ProxyOptions) => ({
  httpProxy: escapedCredentials(proxy.httpProxy ?? process.env.http_proxy ?? process.env.HTTP_PROXY),
  httpsProxy: escapedCredentials(proxy.httpsProxy ?? process.env.https_proxy ?? process.env.HTTPS_PROXY)
})

/** Every spelling of the proxies' credentials an error message might carry, replaced like the key. */
const proxyScrub = (proxy: ProxyOptions | undefined): (text: string) => string => {
  if (proxy === undefined) return (text) => text
  const secrets = new Set<string>()
  for (const uri of Object.values(proxyEnvironment(proxy))) {
    if (uri === undefined || !URL.canParse(uri)) continue
    const url = new URL(uri)
    for (const part of [url.password, url.username]) {
      if (part === "") continue
      secrets.add(part)
      // A raw `%` in a password is no escape: decoded where it decodes.
      try {
        secrets.add(decodeURIComponent(part))
      } catch {
        // Kept as written.
      }
    }
  }
  const scrubs = [...secrets].sort((a, b) => b.length - a.length).map((secret) => internal.makeScrub(secret))
  return (text) => scrubs.reduce((acc, scrub) => scrub(acc), text)
}

/**
 * Builds the service on undici directly (Node only): each request is one `dispatch` with a callback handler and
 * one timer: a `getFile` costs less than half the CPU it costs through HttpClient (147 against 379 µs in
 * bench/RESULTS.md). Behaviour, errors and secrecy are
 * the same as {@link make}'s; requests get no tracing spans.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeUndici = (options: UndiciOptions): Effect.Effect<Service, never, Scope.Scope> => {
  const proxy = options.dispatcher === undefined ? options.proxy : undefined
  const scrubProxy = proxyScrub(proxy)
  return Effect.map(
    options.dispatcher === undefined
      // undici is loaded when first needed: a program that never makes this client does not pay for loading it.
      ? Effect.acquireRelease(
        Effect.promise(() => Undici.loadAgents(proxy !== undefined)).pipe(Effect.map((undici): Dispatcher => {
          const { Agent, EnvHttpProxyAgent, Pool } = undici
          if (proxy === undefined || EnvHttpProxyAgent === undefined || Pool === undefined) return new Agent()
          const settings = {
            ...proxyEnvironment(proxy),
            noProxy: proxy.noProxy ?? process.env.no_proxy ?? process.env.NO_PROXY
          }
          return new EnvHttpProxyAgent({
            ...Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined && value !== "")),
            // Each origin's pool connects through the proxy's tunnel with a connector that fails the request when
            // the tunnel fails, instead of connecting again at once, thousands of times a second.
            factory: (origin: string | URL, options: Undici.PoolOptions) =>
              new Pool(
                origin,
                options.connect === undefined ? options : { ...options, connect: Undici.guardTunnel(options.connect) }
              )
          })
        })),
        (agent) => Effect.promise(() => agent.close())
      )
      : Effect.succeed(options.dispatcher),
    (dispatcher) =>
      makeWith(
        options,
        (request, target, timeout, scrub, maxBytes) =>
          Undici.send(dispatcher, request, target, timeout, (text) => scrubProxy(scrub(text)), maxBytes),
        (request, target, timeout, scrub) =>
          Undici.sendStream(dispatcher, request, target, timeout, (text) => scrubProxy(scrub(text)))
      )
  )
}

/**
 * Also adds `x-apikey` to `Headers.currentRedactedNames` for the whole program the layer is provided to,
 * so a request or headers logged by the application are redacted too.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<VtClient, never, HttpClient.HttpClient> =>
  Layer.merge(
    Layer.effect(VtClient, make(options)),
    Layer.fiberRefLocallyScopedWith(Headers.currentRedactedNames, addRedactedName)
  )

/**
 * {@link makeUndici} as a layer (Node only; nothing required): the fast choice for programs that send many
 * requests. Also adds `x-apikey` to `Headers.currentRedactedNames`, as {@link layer} does.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerUndici = (options: UndiciOptions): Layer.Layer<VtClient> =>
  Layer.merge(
    Layer.scoped(VtClient, makeUndici(options)),
    Layer.fiberRefLocallyScopedWith(Headers.currentRedactedNames, addRedactedName)
  )

/**
 * {@link layer} with its options read from `Config`: by default the key from `VT_API_KEY` (as a
 * `Redacted`) and the base URL from `VT_BASE_URL`, falling back to {@link defaultBaseUrl}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options?: {
  readonly apiKey?: Config.Config<Redacted.Redacted<string>> | undefined
  readonly baseUrl?: Config.Config<string> | undefined
  readonly timeout?: Config.Config<Duration.Duration> | undefined
  readonly legacyBaseUrl?: Config.Config<string> | undefined
  readonly uploadTimeout?: Config.Config<Duration.Duration> | undefined
}): Layer.Layer<VtClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const apiKey = yield* options?.apiKey ?? Config.redacted("VT_API_KEY")
      const baseUrl = yield* options?.baseUrl ?? Config.string("VT_BASE_URL").pipe(Config.withDefault(defaultBaseUrl))
      const timeout = options?.timeout === undefined ? undefined : yield* options.timeout
      const legacyBaseUrl = options?.legacyBaseUrl === undefined ? undefined : yield* options.legacyBaseUrl
      const uploadTimeout = options?.uploadTimeout === undefined ? undefined : yield* options.uploadTimeout
      return layer({ apiKey, baseUrl, timeout, legacyBaseUrl, uploadTimeout })
    })
  )
