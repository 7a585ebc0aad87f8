/**
 * What the endpoint modules share: the client from the context, object paths from references, decoding answers
 * with schemas, and JSON request bodies.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as VtClient from "../VtClient.js"
import * as VtError from "../VtError.js"
import * as VtId from "../VtId.js"
import type * as VtObject from "../VtObject.js"
import { describeParseError } from "./parseError.js"
import { checkEnvelope, encodeSegment } from "./request.js"

/** @internal */
export const withClient = <A, E, R>(
  f: (vt: VtClient.Service) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | VtClient.VtClient> => Effect.flatMap(VtClient.VtClient, f)

const validators: Readonly<
  Record<VtObject.Collection, { kind: string; what: string; validate: (s: string) => Either.Either<string, string> }>
> = {
  files: { kind: "file", what: "file hash", validate: VtId.fileHash },
  urls: { kind: "url", what: "URL", validate: VtId.urlIdentifier },
  domains: { kind: "domain", what: "domain", validate: VtId.domain },
  ip_addresses: { kind: "ip_address", what: "IP address", validate: VtId.ipAddress }
}

/** A validated id, or the InvalidIdError that says why not (the key scrubbed, in case it was pasted). */
export const validId = (
  vt: VtClient.Service,
  kind: string,
  what: string,
  validate: (s: string) => Either.Either<string, string>,
  input: string
): Effect.Effect<string, VtError.InvalidIdError> =>
  Either.match(validate(input), {
    onLeft: (reason) =>
      Effect.fail(
        new VtError.InvalidIdError({
          kind,
          input: vt.redact(input),
          message: vt.redact(`invalid ${what} ${JSON.stringify(input)}: ${reason}`)
        })
      ),
    onRight: Effect.succeed
  })

/** `/{collection}/{normalised id}` of a reference. */
export const refPath = (vt: VtClient.Service, ref: VtObject.Ref): Effect.Effect<string, VtError.InvalidIdError> => {
  const v = validators[ref.collection]
  return Effect.map(
    validId(vt, v.kind, v.what, v.validate, ref.input),
    (id) => `/${ref.collection}/${encodeSegment(id)}`
  )
}

/** A segment the caller names freely (an analysis id, a sandbox id, a relationship): not empty, encoded. */
export const segment = (
  vt: VtClient.Service,
  kind: string,
  input: string
): Effect.Effect<string, VtError.InvalidIdError> =>
  validId(
    vt,
    kind,
    kind.replace(/_/g, " "),
    (s) => (s.trim() === "" ? Either.left("it is empty") : Either.right(encodeURIComponent(s.trim()))),
    input
  )

const describeRequest = (vt: VtClient.Service, method: string, path: string) =>
  vt.redact(`${method} ${/^https?:\/\//i.test(path) ? path : `${vt.baseUrl}${path}`}`)

/** Decodes a JSON answer with a schema (members it does not name kept), or fails with ResponseDecodeError. */
export const decode = <A, I>(
  vt: VtClient.Service,
  schema: Schema.Schema<A, I>,
  response: VtClient.JsonResponse,
  method: string,
  path: string
): Effect.Effect<A, VtError.ResponseDecodeError> =>
  Either.match(
    Schema.decodeUnknownEither(schema, { onExcessProperty: "preserve" })(response.json),
    {
      onLeft: (error) =>
        Effect.fail(
          new VtError.ResponseDecodeError({
            status: response.status,
            message: vt.redact(
              `${describeRequest(vt, method, path)}: unexpected document: ${describeParseError(error)}`
            )
          })
        ),
      onRight: Effect.succeed
    }
  )

/** An object answer checked like `getObject` does, for answers to any method. */
export const toDocument = (
  vt: VtClient.Service,
  response: VtClient.JsonResponse,
  method: string,
  path: string
): Effect.Effect<VtObject.Document, VtError.ResponseDecodeError> =>
  Either.match(checkEnvelope(response.json), {
    onLeft: (reason) =>
      Effect.fail(
        new VtError.ResponseDecodeError({
          status: response.status,
          message: vt.redact(`${describeRequest(vt, method, path)}: ${reason}`)
        })
      ),
    onRight: (envelope) => Effect.succeed({ raw: response.raw, data: envelope.data })
  })

/** `POST path` with a JSON body. */
export const postJson = (
  vt: VtClient.Service,
  path: string,
  body: unknown
): Effect.Effect<VtClient.JsonResponse, VtError.VtError> =>
  vt.execute(
    HttpClientRequest.post(path).pipe(
      HttpClientRequest.bodyUnsafeJson(body)
    )
  )

/** The error for an answer whose shape is not the one expected. */
export const decodeFailure = (
  vt: VtClient.Service,
  status: number,
  method: string,
  path: string,
  reason: string
): VtError.ResponseDecodeError =>
  new VtError.ResponseDecodeError({ status, message: vt.redact(`${describeRequest(vt, method, path)}: ${reason}`) })

const DescriptorDocument = Schema.Struct({
  data: Schema.Struct({ type: Schema.Literal("analysis"), id: Schema.String })
})

/** The analysis descriptor of a submission's answer (`{"data":{"type":"analysis","id":…}}`). */
export const analysisDescriptor = (
  vt: VtClient.Service,
  response: VtClient.JsonResponse,
  method: string,
  path: string
): Effect.Effect<{ readonly id: string; readonly raw: Uint8Array }, VtError.ResponseDecodeError> =>
  Effect.map(decode(vt, DescriptorDocument, response, method, path), (doc) => ({ id: doc.data.id, raw: response.raw }))
