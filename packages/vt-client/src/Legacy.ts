/**
 * The legacy v2 API (`…/vtapi/v2/`), still served by VirusTotal: file, URL, domain and IP address reports, file
 * and URL scans. The key goes as the `apikey` query parameter; it appears in no error, log line or span (v2
 * requests get no tracing span at all, their URL holding the key).
 *
 * Outcomes are mapped onto the same tagged errors as v3:
 *
 * | v2 answer | outcome |
 * |---|---|
 * | `response_code` 1 | success |
 * | `response_code` 0 (unknown) | `NotFoundError` (`VtError.isNotFound`) |
 * | `response_code` -2 (queued) | `NotAvailableYet`: ask again later |
 * | `response_code` -1 (invalid) | `InvalidArgumentError` |
 * | HTTP 204 (over quota, empty body) | `QuotaExceededError` (`VtError.isQuotaExceeded`) |
 * | HTTP 403 (forbidden or bad key) | `ForbiddenError` (`VtError.isAuthFailure`) |
 *
 * Their `status` is the HTTP status (200 for the `response_code` outcomes), `code` is `""` (v2 has no error
 * codes), `message` is `verbose_msg` and `body` the answer as received.
 *
 * @since 0.1.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import { basename } from "node:path"
import { validId, withClient } from "./internal/api.js"
import * as Multipart from "./internal/multipart.js"
import type * as VtClient from "./VtClient.js"
import * as VtError from "./VtError.js"
import * as VtId from "./VtId.js"

/**
 * One engine's line in a v2 `scans` object (file reports carry `version` and `update`, URL reports do not).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Scan = Schema.Struct({
  detected: Schema.Boolean,
  result: Schema.NullOr(Schema.String),
  version: Schema.optional(Schema.NullOr(Schema.String)),
  update: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * The decoded {@link Scan} schema.
 *
 * @since 0.1.0
 * @category models
 */
export type Scan = typeof Scan.Type

const Body = Schema.Struct({
  response_code: Schema.Number,
  verbose_msg: Schema.optional(Schema.String),
  resource: Schema.optional(Schema.String),
  scan_id: Schema.optional(Schema.String),
  permalink: Schema.optional(Schema.String),
  positives: Schema.optional(Schema.Number),
  total: Schema.optional(Schema.Number),
  scans: Schema.optional(Schema.Record({ key: Schema.String, value: Scan }))
})

/**
 * A found report (`response_code` 1), or an accepted scan: `json` is the whole answer as parsed (every member
 * kept), `raw` the bytes as received; the common members typed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly raw: Uint8Array
  readonly json: Readonly<Record<string, unknown>>
  readonly responseCode: number
  readonly verboseMsg: string
  readonly resource: Option.Option<string>
  readonly scanId: Option.Option<string>
  readonly permalink: Option.Option<string>
  readonly positives: Option.Option<number>
  readonly total: Option.Option<number>
  readonly scans: { readonly [engine: string]: Scan }
}

/**
 * The outcome of a v2 answer's `response_code`, as {@link Report} or the error the module documentation lists.
 * `redact` is applied to what the error carries (the client passes its own, which removes the key: v2 answers
 * echo the `resource`, which may be a pasted key).
 *
 * @since 0.1.0
 * @category decoding
 */
export const outcome = (
  response: VtClient.JsonResponse,
  redact: (text: string) => string = (text) => text
): Either.Either<Report, VtError.ApiError | VtError.ResponseDecodeError> => {
  const body = redact(new TextDecoder().decode(response.raw))
  const decoded = Schema.decodeUnknownEither(Body, { onExcessProperty: "preserve" })(response.json)
  if (Either.isLeft(decoded)) {
    return Either.left(
      new VtError.ResponseDecodeError({ status: response.status, message: "not a v2 answer (no response_code)" })
    )
  }
  const typed = decoded.right
  const message = redact(typed.verbose_msg ?? `response_code ${typed.response_code}`)
  const props = { status: response.status, code: "", message, body }
  switch (typed.response_code) {
    case 1:
      return Either.right({
        raw: response.raw,
        json: response.json as Record<string, unknown>,
        responseCode: 1,
        verboseMsg: typed.verbose_msg ?? "",
        resource: Option.fromNullable(typed.resource),
        scanId: Option.fromNullable(typed.scan_id),
        permalink: Option.fromNullable(typed.permalink),
        positives: Option.fromNullable(typed.positives),
        total: Option.fromNullable(typed.total),
        scans: typed.scans ?? {}
      })
    case 0:
      return Either.left(new VtError.NotFoundError(props))
    case -2:
      return Either.left(new VtError.NotAvailableYet(props))
    case -1:
      return Either.left(new VtError.InvalidArgumentError(props))
    default:
      return Either.left(new VtError.UnknownApiError(props))
  }
}

const send = (
  vt: VtClient.Service,
  request: HttpClientRequest.HttpClientRequest,
  timeout?: VtClient.ExecuteOptions["timeout"]
): Effect.Effect<Report, VtError.VtError> =>
  Effect.flatMap(vt.execute(request, { api: "v2", timeout }), (response) =>
    Either.match(outcome(response, vt.redact), {
      onLeft: (error) =>
        Effect.fail(
          error._tag === "ResponseDecodeError"
            ? new VtError.ResponseDecodeError({
              status: error.status,
              message: vt.redact(`${request.method} ${vt.legacyBaseUrl}${request.url}: ${error.message}`)
            })
            : error
        ),
      onRight: Effect.succeed
    }))

const nonEmpty = (what: string) => (input: string): Either.Either<string, string> =>
  input.trim() === "" ? Either.left(`an empty ${what}`) : Either.right(input.trim())

/**
 * `GET file/report?resource=`: by MD5, SHA-1, SHA-256 or a `scan_id`.
 *
 * @since 0.1.0
 * @category requests
 */
export const fileReport = (resource: string): Effect.Effect<Report, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(
      validId(vt, "resource", "resource", nonEmpty("resource"), resource),
      (valid) => send(vt, HttpClientRequest.get("/file/report", { urlParams: { resource: valid } }))
    )
  )

/**
 * `GET url/report?resource=&scan=`: by URL or `scan_id`; with `scan: true` an unknown URL is submitted (and the
 * answer is then `NotAvailableYet` until it is analysed).
 *
 * @since 0.1.0
 * @category requests
 */
export const urlReport = (
  resource: string,
  options?: { readonly scan?: boolean | undefined }
): Effect.Effect<Report, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(validId(vt, "resource", "resource", nonEmpty("resource"), resource), (valid) =>
      send(
        vt,
        HttpClientRequest.get("/url/report", { urlParams: { resource: valid, scan: options?.scan === true ? 1 : 0 } })
      ))
  )

/**
 * `GET domain/report?domain=`.
 *
 * @since 0.1.0
 * @category requests
 */
export const domainReport = (domain: string): Effect.Effect<Report, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(
      validId(vt, "domain", "domain", VtId.domain, domain),
      (valid) => send(vt, HttpClientRequest.get("/domain/report", { urlParams: { domain: valid } }))
    )
  )

/**
 * `GET ip-address/report?ip=`.
 *
 * @since 0.1.0
 * @category requests
 */
export const ipAddressReport = (ip: string): Effect.Effect<Report, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(
      validId(vt, "ip_address", "IP address", VtId.ipAddress, ip),
      (valid) => send(vt, HttpClientRequest.get("/ip-address/report", { urlParams: { ip: valid } }))
    )
  )

/**
 * `POST url/scan` (urlencoded `url`).
 *
 * @since 0.1.0
 * @category requests
 */
export const scanUrl = (url: string): Effect.Effect<Report, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(
      validId(vt, "url", "URL", VtId.url, url),
      (valid) => send(vt, HttpClientRequest.post("/url/scan").pipe(HttpClientRequest.bodyUrlParams({ url: valid })))
    )
  )

/**
 * `POST file/scan` (multipart `file`, up to 32 MB), streamed with a known length.
 *
 * @since 0.1.0
 * @category requests
 */
export const scanFileStream = (
  source: { readonly stream: Stream.Stream<Uint8Array, unknown>; readonly size: number; readonly filename: string }
): Effect.Effect<Report, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    send(
      vt,
      HttpClientRequest.post("/file/scan").pipe(
        HttpClientRequest.setBody(Multipart.body([], { name: "file", ...source }))
      ),
      vt.uploadTimeout
    )
  )

/**
 * `POST file/scan` of a file on disk, streamed.
 *
 * @since 0.1.0
 * @category requests
 */
export const scanFile = (
  path: string
): Effect.Effect<Report, VtError.VtError | PlatformError.PlatformError, VtClient.VtClient | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(path)
    return yield* scanFileStream({
      stream: fs.stream(path, { chunkSize: FileSystem.KiB(64) }),
      size: Number(info.size),
      filename: basename(path)
    })
  })
