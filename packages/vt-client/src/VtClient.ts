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
import * as internal from "./internal/request.js"
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
 * The name of the header carrying the key; it is added to `Headers.currentRedactedNames` so spans and
 * logs show `<redacted>` in its place.
 *
 * @since 0.1.0
 * @category models
 */
export const apiKeyHeader = "x-apikey"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly apiKey: Redacted.Redacted<string>
  /** Defaults to {@link defaultBaseUrl}; point it at the emulator in tests. */
  readonly baseUrl?: string | undefined
  /** Per request; defaults to {@link defaultTimeout}. */
  readonly timeout?: Duration.DurationInput | undefined
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
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  readonly urlParams?: UrlParams.Input | undefined
  /** Overrides the client's timeout for this request (uploads need longer). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
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
   * `GET` of a path answering one object (`{"data":{"type","id","attributes"}}`). The caller encodes the
   * path's segments.
   */
  readonly getObject: (path: string, options?: RequestOptions) => Effect.Effect<Document, VtError.VtError>
  /** `GET` of a path answering any JSON document (collections, quotas, upload URLs). */
  readonly getJson: (path: string, options?: RequestOptions) => Effect.Effect<JsonResponse, VtError.VtError>
  /** {@link Service.executeBytes}, then the body parsed as JSON (any JSON value). */
  readonly execute: (
    request: HttpClientRequest.HttpClientRequest,
    options?: { readonly timeout?: Duration.DurationInput | undefined }
  ) => Effect.Effect<JsonResponse, VtError.VtError>
  /**
   * The core every call goes through: adds the key, `accept: application/json` unless the request sets
   * its own `accept`, and `accept-encoding: gzip`; prefixes a relative URL (starting with `/`) with the
   * base URL; applies the timeout; reads and decompresses the body; maps every failure to a `VtError`
   * (non-2xx answers through `VtError.fromResponse`). Absolute URLs are sent as they are (VirusTotal's
   * one-time upload URLs).
   */
  readonly executeBytes: (
    request: HttpClientRequest.HttpClientRequest,
    options?: { readonly timeout?: Duration.DurationInput | undefined }
  ) => Effect.Effect<BytesResponse, VtError.VtError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class VtClient extends Context.Tag("@vt-harvest/vt-client/VtClient")<VtClient, Service>() {}

const addRedactedName = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> =>
  names.includes(apiKeyHeader) ? names : [...names, apiKeyHeader]

/**
 * Builds the service on the `HttpClient` in context. Any client works; with `@effect/platform-node`,
 * `NodeHttpClient.layerUndici` is the fast one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const httpClient = yield* HttpClient.HttpClient
    const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
    const timeout = Duration.decode(options.timeout ?? defaultTimeout)
    const scrub = internal.makeScrub(Redacted.value(options.apiKey))
    const keyInUrl = (request: HttpClientRequest.HttpClientRequest) => {
      const text = `${request.url} ${JSON.stringify(request.urlParams)}`
      return scrub(text) !== text
    }

    const resolve = (request: HttpClientRequest.HttpClientRequest) =>
      /^https?:\/\//i.test(request.url) ? request : HttpClientRequest.prependUrl(request, baseUrl)
    // How errors name a request: method and URL, never the query string (cursors are long and opaque).
    const describe = (request: HttpClientRequest.HttpClientRequest) => scrub(`${request.method} ${request.url}`)

    const executeBytes: Service["executeBytes"] = (request, callOptions) => {
      const resolved = resolve(request)
      const target = describe(resolved)
      const duration = callOptions?.timeout ?? timeout
      return Effect.suspend(() =>
        httpClient.execute(
          resolved.pipe(
            resolved.headers["accept"] === undefined ? HttpClientRequest.acceptJson : identity,
            HttpClientRequest.setHeader("accept-encoding", "gzip"),
            // Read from the Redacted value only here, as the request leaves.
            HttpClientRequest.setHeader(apiKeyHeader, Redacted.value(options.apiKey))
          )
        )
      ).pipe(
        Effect.catchTags({
          RequestError: (error) => Effect.fail(internal.fromRequestError(error, target, scrub)),
          // Only a status filter raises this at this stage, and none is installed; kept total anyway.
          ResponseError: (error) => Effect.fail(internal.fromBodyError(error, target, scrub))
        }),
        Effect.flatMap((response) =>
          response.arrayBuffer.pipe(
            Effect.catchTag("ResponseError", (error) => Effect.fail(internal.fromBodyError(error, target, scrub))),
            Effect.flatMap((buffer) =>
              internal.decompress(new Uint8Array(buffer)).pipe(
                Effect.mapError((error) =>
                  new VtError.ResponseDecodeError({
                    status: response.status,
                    message: scrub(`${target}: the gzip body could not be decompressed: ${error.message}`)
                  })
                )
              )
            ),
            Effect.flatMap((raw): Effect.Effect<BytesResponse, VtError.ApiError> => {
              const status = response.status
              return status >= 200 && status <= 299
                ? Effect.succeed({ status, headers: response.headers, raw })
                : Effect.fail(VtError.fromResponse(status, scrub(internal.decodeText(raw))))
            })
          )
        ),
        Effect.timeoutFail({
          duration,
          onTimeout: () =>
            new VtError.TransportError({
              reason: "Timeout",
              message: `${target}: no complete answer within ${Duration.format(duration)}`
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

    const execute: Service["execute"] = (request, callOptions) =>
      Effect.flatMap(executeBytes(request, callOptions), ({ raw, status }) =>
        Either.match(internal.parseJson(raw), {
          onLeft: (reason) =>
            Effect.fail(
              new VtError.ResponseDecodeError({
                status,
                message: `${describe(resolve(request))}: ${scrub(reason)}`
              })
            ),
          onRight: (json): Effect.Effect<JsonResponse> => Effect.succeed({ status, raw, json })
        }))

    const getJson: Service["getJson"] = (path, requestOptions) =>
      execute(
        HttpClientRequest.get(path, { urlParams: requestOptions?.urlParams }),
        { timeout: requestOptions?.timeout }
      )

    const getObject: Service["getObject"] = (path, requestOptions) =>
      Effect.flatMap(getJson(path, requestOptions), ({ json, raw, status }) =>
        Either.match(internal.checkEnvelope(json), {
          onLeft: (reason) =>
            Effect.fail(
              new VtError.ResponseDecodeError({ status, message: scrub(`GET ${baseUrl}${path}: ${reason}`) })
            ),
          onRight: (envelope): Effect.Effect<Document> =>
            Effect.succeed({ raw, data: envelope.data })
        }))

    const getFile: Service["getFile"] = (hash) =>
      Either.match(VtId.fileHash(hash), {
        onLeft: (reason) =>
          Effect.fail(
            new VtError.InvalidIdError({
              kind: "file",
              input: scrub(hash),
              message: scrub(`invalid file hash ${JSON.stringify(hash)}: ${reason}`)
            })
          ),
        onRight: (id) =>
          getObject(`/files/${id}`)
      })

    return VtClient.of({ getFile, getObject, getJson, execute, executeBytes })
  })

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
}): Layer.Layer<VtClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const apiKey = yield* options?.apiKey ?? Config.redacted("VT_API_KEY")
      const baseUrl = yield* options?.baseUrl ?? Config.string("VT_BASE_URL").pipe(Config.withDefault(defaultBaseUrl))
      const timeout = options?.timeout === undefined ? undefined : yield* options.timeout
      return layer({ apiKey, baseUrl, timeout })
    })
  )
