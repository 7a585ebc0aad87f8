/**
 * The VirusTotal API v3 client as an Effect service.
 *
 * Every call answers with the exact bytes VirusTotal sent (decompressed) next to the parsed document, or
 * with a tagged {@link VtError.VtError}. The client sends each request once: retries and pacing belong to
 * the caller's policy (see `@vt-harvest/rate-schedule`).
 *
 * @since 0.1.0
 */
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
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Dispatcher } from "undici"
import * as internal from "./internal/request.js"
import * as Undici from "./internal/undici.js"
import * as VtError from "./VtError.js"
import * as VtId from "./VtId.js"

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
}

/**
 * A VirusTotal object: `attributes` holds everything VirusTotal sent, including attributes this type
 * does not name.
 *
 * @since 0.1.0
 * @category models
 */
export interface VtObject {
  readonly type: string
  readonly id: string
  readonly attributes: Record<string, unknown>
  readonly links?: Record<string, unknown> | undefined
  readonly relationships?: Record<string, unknown> | undefined
  readonly context_attributes?: Record<string, unknown> | undefined
}

/**
 * An object answer: `raw` is the body exactly as received (after gzip decoding), the thing to store;
 * `data` is the parsed object, for decisions and summaries.
 *
 * @since 0.1.0
 * @category models
 */
export interface Document {
  readonly raw: Uint8Array
  readonly data: VtObject
}

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
 * The client: typed getters for the objects with reports, and the core (`execute`, `executeBytes`) every module
 * of this package builds its requests on. Every call sends one request and never retries.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * `GET /files/{hash}` for an MD5, SHA-1 or SHA-256 in any case. A malformed hash fails with
   * `InvalidIdError` without sending anything.
   */
  readonly getFile: (hash: string) => Effect.Effect<Document, VtError.VtError>
  /**
   * `GET /urls/{id}` for a URL (its id is computed: unpadded URL-safe base64) or a URL object id (64 hex digits,
   * the SHA-256 of VirusTotal's canonical URL). Anything else fails with `InvalidIdError`, nothing sent.
   */
  readonly getUrl: (urlOrId: string) => Effect.Effect<Document, VtError.VtError>
  /** `GET /domains/{name}`; the name is validated and normalised first (`VtId.domain`). */
  readonly getDomain: (name: string) => Effect.Effect<Document, VtError.VtError>
  /** `GET /ip_addresses/{ip}`; the address is validated and normalised first (`VtId.ipAddress`). */
  readonly getIpAddress: (ip: string) => Effect.Effect<Document, VtError.VtError>
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
   * base URL; applies the timeout; reads and decompresses the body; maps every failure to a `VtError`
   * (non-2xx answers through `VtError.fromResponse`). Absolute URLs are sent as they are (VirusTotal's
   * one-time upload URLs). A relative URL may hold {@link apiKeyPlaceholder}. `options.api` selects the
   * legacy v2 conventions (see {@link Api}).
   */
  readonly executeBytes: (
    request: HttpClientRequest.HttpClientRequest,
    options?: ExecuteOptions
  ) => Effect.Effect<BytesResponse, VtError.VtError>
  /** The base URL requests are resolved against (no trailing slash). */
  readonly baseUrl: string
  /** The legacy v2 base URL (no trailing slash). */
  readonly legacyBaseUrl: string
  /** The upload timeout the client was configured with. */
  readonly uploadTimeout: Duration.Duration
  /**
   * The text with every occurrence of the key (any letter case, URL-encoded too) replaced by `<redacted>`: what
   * the client does to everything it puts in an error, for callers composing their own messages.
   */
  readonly redact: (text: string) => string
}

/**
 * The service tag. Provide it with {@link layer} or {@link layerConfig} (both need an `HttpClient`, e.g.
 * `NodeHttpClient.layerUndici` from `@effect/platform-node`).
 *
 * @since 0.1.0
 * @category tags
 */
export class VtClient extends Context.Tag("@vt-harvest/vt-client/VtClient")<VtClient, Service>() {}

const addRedactedName = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> =>
  names.includes(apiKeyHeader) ? names : [...names, apiKeyHeader]

/**
 * How a request leaves: given the request (absolute URL, key and headers set), a description of it free of the key,
 * and the time it may take, the answer as received. The two transports are HttpClient's and undici's.
 */
type Transport = (
  request: HttpClientRequest.HttpClientRequest,
  target: string,
  timeout: Duration.Duration,
  scrub: (text: string) => string
) => Effect.Effect<internal.RawAnswer, VtError.TransportError | VtError.ResponseDecodeError>

const httpClientTransport = (httpClient: HttpClient.HttpClient): Transport => (request, target, timeout, scrub) => {
  const keyInUrl = (request: HttpClientRequest.HttpClientRequest) => {
    const text = `${request.url} ${JSON.stringify(request.urlParams)}`
    return scrub(text) !== text
  }
  return httpClient.execute(request).pipe(
    Effect.catchTags({
      RequestError: (error) => Effect.fail(internal.fromRequestError(error, target, scrub)),
      // Only a status filter raises this at this stage, and none is installed; kept total anyway.
      ResponseError: (error) => Effect.fail(internal.fromBodyError(error, target, scrub))
    }),
    Effect.flatMap((response) =>
      response.arrayBuffer.pipe(
        Effect.catchTag("ResponseError", (error) => Effect.fail(internal.fromBodyError(error, target, scrub))),
        Effect.map((buffer): internal.RawAnswer => ({
          status: response.status,
          headers: response.headers,
          body: new Uint8Array(buffer)
        }))
      )
    ),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new VtError.TransportError({
          reason: "Timeout",
          message: `${target}: no complete answer within ${Duration.format(timeout)}`
        })
    }),
    Effect.locallyWith(Headers.currentRedactedNames, addRedactedName),
    // A span records the full URL; a URL holding the key (`/users/{key}/…`) gets no span at all.
    Effect.locallyWith(
      HttpClient.currentTracerDisabledWhen,
      (disabled) => (request) => disabled(request) || keyInUrl(request)
    )
  )
}

const makeWith = (options: Options, transport: Transport): Service => {
  const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
  const legacyBaseUrl = (options.legacyBaseUrl ?? internal.legacyBaseUrlOf(baseUrl, defaultLegacyBaseUrl))
    .replace(/\/+$/, "")
  const timeout = Duration.decode(options.timeout ?? defaultTimeout)
  const uploadTimeout = Duration.decode(options.uploadTimeout ?? defaultUploadTimeout)
  const scrub = internal.makeScrub(Redacted.value(options.apiKey))

  const isAbsolute = (request: HttpClientRequest.HttpClientRequest) => /^https?:\/\//i.test(request.url)
  const resolve = (request: HttpClientRequest.HttpClientRequest, api: Api = "v3") =>
    isAbsolute(request) ? request : HttpClientRequest.prependUrl(request, api === "v2" ? legacyBaseUrl : baseUrl)
  // How errors name a request: method and URL, never the query string (cursors are long and opaque, and v2
  // carries the key there).
  const describe = (request: HttpClientRequest.HttpClientRequest) => scrub(`${request.method} ${request.url}`)

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
    internal.decompress(raw.body).pipe(
      Effect.mapError((error) =>
        new VtError.ResponseDecodeError({
          status: raw.status,
          message: scrub(`${target}: the gzip body could not be decompressed: ${error.message}`)
        })
      ),
      Effect.flatMap((body): Effect.Effect<BytesResponse, VtError.ApiError> => {
        const status = raw.status
        if (api === "v2") {
          const legacy = internal.legacyStatus(status, scrub(internal.decodeText(body)))
          if (legacy !== undefined) return Effect.fail(legacy)
        }
        return status >= 200 && status <= 299
          ? Effect.succeed({ status, headers: Headers.fromInput(raw.headers), raw: body })
          : Effect.fail(VtError.fromResponse(status, scrub(internal.decodeText(body))))
      })
    )

  const executeBytes: Service["executeBytes"] = (request, callOptions) => {
    const api = callOptions?.api ?? "v3"
    const resolved = resolve(request, api)
    const target = describe(resolved)
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
        scrub
      )
    ).pipe(Effect.flatMap(answer(target, api)))
  }

  const execute: Service["execute"] = (request, callOptions) =>
    Effect.flatMap(executeBytes(request, callOptions), ({ raw, status }) =>
      Either.match(internal.parseJson(raw), {
        onLeft: (reason) =>
          Effect.fail(
            new VtError.ResponseDecodeError({
              status,
              message: `${describe(resolve(request, callOptions?.api))}: ${scrub(reason)}`
            })
          ),
        onRight: (json): Effect.Effect<JsonResponse> => Effect.succeed({ status, raw, json })
      }))

  const getJson: Service["getJson"] = (path, requestOptions) =>
    execute(
      HttpClientRequest.get(path, { urlParams: requestOptions?.urlParams }),
      { timeout: requestOptions?.timeout }
    )

  // Checked by a scan of the bytes that builds nothing; `data` is parsed only if someone reads it.
  const getObject: Service["getObject"] = (path, requestOptions) =>
    Effect.flatMap(
      executeBytes(
        HttpClientRequest.get(path, { urlParams: requestOptions?.urlParams }),
        { timeout: requestOptions?.timeout }
      ),
      ({ raw, status }) => {
        const problem = internal.objectProblem(raw)
        return problem === undefined
          ? Effect.succeed(internal.lazyDocument(raw))
          : Effect.fail(
            new VtError.ResponseDecodeError({ status, message: scrub(`GET ${baseUrl}${path}: ${problem}`) })
          )
      }
    )

  const validated = (
    kind: string,
    what: string,
    validate: (input: string) => Either.Either<string, string>,
    collection: string
  ) =>
  (input: string): Effect.Effect<Document, VtError.VtError> =>
    Either.match(validate(input), {
      onLeft: (reason) =>
        Effect.fail(
          new VtError.InvalidIdError({
            kind,
            input: scrub(input),
            message: scrub(`invalid ${what} ${JSON.stringify(input)}: ${reason}`)
          })
        ),
      onRight: (id) => getObject(`/${collection}/${internal.encodeSegment(id)}`)
    })

  return VtClient.of({
    getFile: validated("file", "file hash", VtId.fileHash, "files"),
    getUrl: validated("url", "URL", VtId.urlIdentifier, "urls"),
    getDomain: validated("domain", "domain", VtId.domain, "domains"),
    getIpAddress: validated("ip_address", "IP address", VtId.ipAddress, "ip_addresses"),
    getObject,
    getJson,
    execute,
    executeBytes,
    baseUrl,
    legacyBaseUrl,
    uploadTimeout,
    redact: scrub
  })
}

/**
 * Builds the service on the `HttpClient` in context. Any client works (fetch, Node, Bun…), and requests get
 * HttpClient's tracing spans. For a Node program bound by request rate, {@link makeUndici} costs far less per
 * request.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (httpClient) => makeWith(options, httpClientTransport(httpClient)))

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
}

// undici is CommonJS: loaded by Node its exports are named, loaded from a bundle they may only be under `default`.
const agentClass = (
  undici: { readonly Agent?: Undici.Module["Agent"]; readonly default?: { readonly Agent: Undici.Module["Agent"] } }
): Undici.Module["Agent"] => undici.Agent ?? undici.default!.Agent

/**
 * Builds the service on undici directly (Node only): each request is one `dispatch` with a callback handler and
 * one timer: a `getFile` costs less than half the CPU it costs through HttpClient (147 against 379 µs in
 * bench/RESULTS.md). Behaviour, errors and secrecy are
 * the same as {@link make}'s; requests get no tracing spans.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeUndici = (options: UndiciOptions): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.map(
    options.dispatcher === undefined
      // undici is loaded when first needed: a program that never makes this client does not pay for loading it.
      ? Effect.acquireRelease(
        Effect.promise(() => import("undici")).pipe(Effect.map((undici) => new (agentClass(undici))())),
        (agent) => Effect.promise(() => agent.close())
      )
      : Effect.succeed(options.dispatcher),
    (dispatcher) =>
      makeWith(
        options,
        (request, target, timeout, scrub) => Undici.send(dispatcher, request, target, timeout, scrub)
      )
  )

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
