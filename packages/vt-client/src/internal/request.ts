import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import { gunzip } from "node:zlib"
import type { Document } from "../VtClient.js"
import { type ApiError, ForbiddenError, QuotaExceededError, ResponseDecodeError, TransportError } from "../VtError.js"
import * as Json from "./json.js"

/** @internal */
export const redactedText = "<redacted>"

/**
 * Replaces every occurrence of the key (in any letter case, and URL-encoded) in text we are about to put
 * in an error: the key can reach such text through a server echoing it, a URL path (`/users/{key}/…`), an
 * id it was pasted in place of, or a low-level error message.
 *
 * @internal
 */
export const makeScrub = (key: string): (text: string) => string => {
  if (key === "") return (text) => text
  const variants = [...new Set([key, encodeURIComponent(key)])]
  const pattern = new RegExp(variants.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gi")
  return (text) => text.replace(pattern, redactedText)
}

const describeCause = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? ` (${cause.code})` : ""
    const inner = cause.cause !== undefined && cause.cause !== cause ? `: ${describeCause(cause.cause)}` : ""
    return `${cause.message}${code}${inner}`
  }
  return cause === undefined ? "" : String(cause)
}

/**
 * Only a description of the cause survives: the platform error holds the request, headers included, and
 * must not travel further than this function.
 *
 * @internal
 */
export const fromRequestError = (
  error: HttpClientError.RequestError,
  target: string,
  scrub: (text: string) => string
): TransportError => {
  const cause = describeCause(error.cause)
  const detail = cause === "" ? error.description ?? "" : cause
  return new TransportError({
    reason: error.reason === "Transport" ? "Connection" : "Other",
    message: scrub(
      `${target}: ${error.reason === "Transport" ? "connection failed" : "request not sent"}${
        detail === "" ? "" : `: ${detail}`
      }`
    )
  })
}

/** @internal */
export const fromBodyError = (
  error: HttpClientError.ResponseError,
  target: string,
  scrub: (text: string) => string
): ResponseDecodeError => {
  const cause = describeCause(error.cause)
  return new ResponseDecodeError({
    status: error.response.status,
    message: scrub(`${target}: the response body could not be read${cause === "" ? "" : `: ${cause}`}`)
  })
}

const maxDecompressed = 512 * 1024 * 1024

/**
 * A gzip member starts with 1f 8b, and JSON text never starts with 0x1f: looking at the bytes rather than
 * at `content-encoding` copes both with HTTP clients that already decompressed (fetch keeps the header)
 * and with plain bodies labelled gzip (VirusTotal's 429 answers).
 *
 * @internal
 */
export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b

/** @internal */
export const decompress = (bytes: Uint8Array): Effect.Effect<Uint8Array, Error> =>
  isGzip(bytes)
    ? Effect.async<Uint8Array, Error>((resume) => {
      gunzip(bytes, { maxOutputLength: maxDecompressed }, (error, out) => {
        resume(
          error === null
            ? Effect.succeed(new Uint8Array(out.buffer, out.byteOffset, out.byteLength))
            : Effect.fail(error)
        )
      })
    })
    : Effect.succeed(bytes)

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const lenientUtf8 = new TextDecoder("utf-8")

/** @internal */
export const decodeText = (bytes: Uint8Array): string => lenientUtf8.decode(bytes)

/** @internal */
export const parseJson = (bytes: Uint8Array): Either.Either<unknown, string> => {
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return Either.left("the body is not UTF-8 text")
  }
  if (text.trim() === "") return Either.left("the body is empty")
  try {
    return Either.right(JSON.parse(text) as unknown)
  } catch (error) {
    return Either.left(`the body is not JSON (${describeCause(error)})`)
  }
}

/** @internal */
export interface Envelope {
  readonly data: { readonly type: string; readonly id: string; readonly attributes: Record<string, unknown> }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Checks only what every object answer has; the rest of the document stays as VirusTotal sent it.
 *
 * @internal
 */
export const checkEnvelope = (json: unknown): Either.Either<Envelope, string> => {
  if (!isRecord(json)) return Either.left("the body is not a JSON object")
  const data = json.data
  if (!isRecord(data)) return Either.left("the document has no \"data\" object")
  if (typeof data.type !== "string") return Either.left("\"data.type\" is not a string")
  if (typeof data.id !== "string") return Either.left("\"data.id\" is not a string")
  if (!isRecord(data.attributes)) return Either.left("\"data.attributes\" is not an object")
  return Either.right(json as unknown as Envelope)
}

/**
 * A path segment: percent-encoded, except ":" (legal in a path, and what IPv6 addresses are made of).
 *
 * @internal
 */
export const encodeSegment = (segment: string): string => encodeURIComponent(segment).replace(/%3A/gi, ":")

/**
 * The v2 base URL next to a v3 one: `…/api/v3` becomes `…/vtapi/v2` (VirusTotal's layout, and the emulator's).
 *
 * @internal
 */
export const legacyBaseUrlOf = (baseUrl: string, fallback: string): string =>
  /\/api\/v3$/.test(baseUrl) ? baseUrl.replace(/\/api\/v3$/, "/vtapi/v2") : fallback

/**
 * v2's own statuses: 204 with an empty body when a quota window is spent, 403 (also empty) for a refused key.
 * Anything else is decoded as v3 errors are.
 *
 * @internal
 */
export const legacyStatus = (status: number, body: string): ApiError | undefined => {
  if (status === 204) {
    return new QuotaExceededError({
      status,
      code: "",
      message: "HTTP 204: the v2 request quota is spent",
      body
    })
  }
  if (status === 403 && !body.includes("\"error\"")) {
    return new ForbiddenError({ status, code: "", message: "HTTP 403: forbidden or bad key", body })
  }
  return undefined
}

/**
 * An answer as a transport delivers it: the status, the head's headers, and the body bytes as sent (maybe gzip).
 *
 * @internal
 */
export interface RawAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: Uint8Array
}

/**
 * What is wrong with the bytes as an object answer (`{"data":{"type","id","attributes"}}`), or `undefined`: the
 * same verdicts as {@link parseJson} followed by {@link checkEnvelope}, from one scan that builds nothing.
 *
 * @internal
 */
export const objectProblem = (bytes: Uint8Array): string | undefined => {
  const result = Json.scan(bytes)
  return result._tag === "Invalid" ? result.reason : Json.envelopeProblem(result.envelope)
}

/**
 * A document whose `data` is parsed on first read (and kept): a caller storing `raw` never pays for the parse.
 * Only for bytes {@link objectProblem} accepted.
 *
 * @internal
 */
export const lazyDocument = (raw: Uint8Array): Document => {
  let data: Envelope["data"] | undefined
  return {
    raw,
    get data() {
      return data ??= (JSON.parse(strictUtf8.decode(raw)) as Envelope).data
    }
  }
}
