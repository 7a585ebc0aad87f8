import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import { gunzip, gunzipSync } from "node:zlib"
import {
  type ApiError,
  ForbiddenError,
  QuotaExceededError,
  RejectedResponseError,
  ResponseDecodeError,
  TransportError
} from "../VtError.js"
import * as VtId from "../VtId.js"
import type { Document } from "../VtObject.js"
import * as Json from "./json.js"

/** @internal */
export const redactedText = "<redacted>"

/**
 * Replaces every occurrence of the key in text we are about to put in an error: the key can reach such text through
 * a server echoing it (raw, URL-encoded, JSON-escaped, in any letter case, or in any mix of these spellings, one
 * character at a time; or encoded whole as base64 or hex, see {@link encodings}), a URL path (`/users/{key}/…`), an
 * id it was pasted in place of, or a low-level error message. Only ever applied to text already decoded for its meaning: an error's class is decided on the body as
 * received (a short key may well be part of an error code).
 *
 * @internal
 */
export const makeScrub = (key: string): (text: string) => string => {
  if (key === "") return (text) => text
  // The pattern has a group of spellings for each character of the key: compiled only for the first text that may
  // hold the key (V8 compiles a regular expression on its first use, about 2 ms of a one-id run for a 64-character
  // key). Every spelling other than the character itself starts with `%` or `\`: a text with neither holds the key
  // only as itself, in some letter case, which a plain search finds (for a key of ASCII characters, whose cases
  // the search and the pattern fold alike).
  let pattern: RegExp | undefined
  const ascii = /^[\x20-\x7e]*$/.test(key)
  const lowerKey = key.toLowerCase()
  const encoded = encodings(key)
  return (text) => {
    const plain = ascii && !/[%\\]/.test(text) && !text.toLowerCase().includes(lowerKey)
    if (!plain) {
      pattern ??= new RegExp(Array.from(key, spellings).join(""), "gi")
      text = text.replace(pattern, redactedText)
    }
    return encoded(text)
  }
}

/**
 * The key encoded as a server may echo it: base64 (a `Basic` credential, a token), in the standard or the URL
 * alphabet, and hexadecimal in either case. Each is searched in the text's characters of its alphabet alone, so that
 * whatever separates them (line breaks as MIME and PEM wrap base64, escaped line breaks in a JSON string at any
 * depth, blanks between groups, `:` or `\x` between hex pairs, the lines of a JSON array) does not hide it; what is
 * found is replaced from its first character to its last in the text, separators included, and nothing else.
 *
 * In a longer base64 text the key's bytes can start at any of three offsets of a 3-byte group: what is searched, for
 * each offset, is the encoding of the key's bytes that fill whole groups (at least 6 bytes: a shorter form could
 * match a text by chance); the characters of the groups at its two ends, which also carry bits of the key, are
 * replaced with it. A secret of 8 bytes or more is found at every offset, one of 6 or 7 at some.
 */
const encodings = (key: string): (text: string) => string => {
  const bytes = Buffer.from(key, "utf8")
  const base64Forms: Array<{ readonly forms: ReadonlyArray<string>; readonly before: number; readonly after: number }> =
    []
  for (let start = 0; start < 3; start++) {
    const length = Math.floor((bytes.length - start) / 3) * 3
    if (length < 6) continue
    const whole = bytes.subarray(start, start + length)
    const rest = bytes.length - start - length
    base64Forms.push({
      forms: [whole.toString("base64"), whole.toString("base64url")],
      // The key's bytes before (`start`) and after (`rest`) the whole groups share a group with other bytes: the
      // last `start + 1` characters of the group before, the first `rest + 1` of the group after, carry their bits.
      before: start === 0 ? 0 : start + 1,
      after: rest === 0 ? 0 : rest + 1
    })
  }
  const hex = bytes.length >= 6 ? bytes.toString("hex") : undefined
  const shortest = Math.min(...base64Forms.map(({ forms }) => forms[0].length), hex?.length ?? Infinity)
  return (text) => {
    if (text.length < shortest) return text
    // Where each form is among the characters of its alphabet (most texts: nowhere), then where that is in the text.
    const inBase64: Array<Found> = []
    const base64 = base64Forms.length > 0 ? alphabetOnly(text, BASE64, false) : ""
    for (const { after, before, forms } of base64Forms) {
      for (const form of forms) {
        for (let i = base64.indexOf(form); i >= 0; i = base64.indexOf(form, i + 1)) {
          inBase64.push({ first: Math.max(0, i - before), last: Math.min(base64.length, i + form.length + after) - 1 })
        }
      }
    }
    const inHex: Array<Found> = []
    if (hex !== undefined && text.length >= hex.length) {
      const hexes = alphabetOnly(text, HEX, true)
      for (let i = hexes.indexOf(hex); i >= 0; i = hexes.indexOf(hex, i + 1)) {
        inHex.push({ first: i, last: i + hex.length - 1 })
      }
    }
    if (inBase64.length === 0 && inHex.length === 0) return text
    return redactSpans(text, [...toSpans(text, BASE64, inBase64), ...toSpans(text, HEX, inHex)])
  }
}

/** Where a form was found among a text's characters of its alphabet: the indices of its first and last. */
interface Found {
  readonly first: number
  readonly last: number
}

const alphabet = (chars: string): Uint8Array => {
  const table = new Uint8Array(128)
  for (const c of chars) table[c.charCodeAt(0)] = 1
  return table
}
const BASE64 = alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")
const HEX = alphabet("0123456789abcdefABCDEF")

/**
 * Calls `keep(i)` for the index in `text` of each of its characters in `table`'s alphabet, in order. A run of
 * backslashes and the letter after it (`\n`, `\\r`, `\t`, `\x`: an escape at any depth) is no character of the text.
 */
const eachOfAlphabet = (text: string, table: Uint8Array, keep: (index: number, code: number) => void): void => {
  const n = text.length
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x5c) {
      while (i + 1 < n && text.charCodeAt(i + 1) === 0x5c) i++
      const next = text.charCodeAt(i + 1)
      if (next === 0x6e || next === 0x72 || next === 0x74 || next === 0x78) i++
      continue
    }
    if (c < 128 && table[c] === 1) keep(i, c)
  }
}

/** The characters of `text` in `table`'s alphabet (see {@link eachOfAlphabet}), lower-cased with `lower`. */
const alphabetOnly = (text: string, table: Uint8Array, lower: boolean): string => {
  const kept = Buffer.allocUnsafe(text.length)
  let w = 0
  eachOfAlphabet(text, table, (_, c) => {
    kept[w++] = lower && c >= 0x41 && c <= 0x5a ? c + 0x20 : c
  })
  return kept.toString("latin1", 0, w)
}

/**
 * Where in `text` each of `found` (indices among its characters of `table`'s alphabet) begins and ends: one more
 * pass over the text, made only when something was found. A hex dump's `\x` before its first pair goes with it.
 */
const toSpans = (text: string, table: Uint8Array, found: ReadonlyArray<Found>): Array<readonly [number, number]> => {
  if (found.length === 0) return []
  const wanted = new Map<number, number>()
  for (const { first, last } of found) wanted.set(first, -1).set(last, -1)
  let k = 0
  eachOfAlphabet(text, table, (index) => {
    if (wanted.has(k)) wanted.set(k, index)
    k++
  })
  return found.map(({ first, last }) => {
    const start = wanted.get(first)!
    const dump = table === HEX && start >= 2 && text.startsWith("\\x", start - 2)
    return [dump ? start - 2 : start, wanted.get(last)! + 1]
  })
}

/** `text` with every span (`[start, end)`, in any order, overlapping or not) replaced by one `<redacted>` each. */
const redactSpans = (text: string, spans: Array<readonly [number, number]>): string => {
  spans.sort((a, b) => a[0] - b[0])
  let out = ""
  let last = 0
  for (const [start, end] of spans) {
    if (end <= last) continue
    out += start >= last ? text.slice(last, start) + redactedText : ""
    last = end
  }
  return out + text.slice(last)
}

const regexEscape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")

// A text can hold the key escaped more than once: a JSON error body whose message quotes the key as a JSON string
// (each level doubles the backslashes before an escape: `"` is `\"`, then `\\\"`, then seven backslashes and the quote),
// or a URL inside a URL (each `%` encoded again as `%25`). Up to three levels are recognised, each by its exact
// number of backslashes, so that a body of a million backslashes costs time in proportion to its length.
const percent = "%(?:25){0,2}"
const hex = (code: number, width: number) => code.toString(16).padStart(width, "0")
const backslashes = (...counts: ReadonlyArray<number>) => `(?:${counts.map((n) => `\\\\{${n}}`).join("|")})`

// Every way one character of the key can be written in a URL or a JSON string, escaped up to three times over.
const spellings = (char: string): string => {
  const code = char.codePointAt(0) ?? 0
  const ways = new Set([regexEscape(char), regexEscape(encodeURIComponent(char)).replace(/%/g, percent)])
  if (code < 0x80) ways.add(`${percent}${hex(code, 2)}`)
  if (code <= 0xffff) ways.add(`${backslashes(4, 2, 1)}u${hex(code, 4)}`)
  if (char === "\"") ways.add(`${backslashes(7, 3, 1)}"`)
  // A JSON encoder may or may not escape `/`, at each level.
  if (char === "/") ways.add(`${backslashes(7, 6, 3, 2, 1)}\\/`)
  if (char === "\\") ways.add(backslashes(8, 4, 2))
  return ways.size === 1 ? [...ways][0] : `(?:${[...ways].join("|")})`
}

/**
 * The origin of an http(s) URL, or the URL itself when it has none (then nothing matches it).
 *
 * @internal
 */
export const originOf = (url: string): string => {
  try {
    return new URL(url).origin
  } catch {
    return url
  }
}

/**
 * Why an absolute URL must not receive the key, or `undefined` when its origin is one of `origins` (scheme, host and
 * port alike: the same host over plain http is another origin).
 *
 * @internal
 */
export const unsafeTarget = (url: string, origins: ReadonlySet<string>): string | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "not a URL"
  }
  if (origins.has(parsed.origin)) return undefined
  return `${parsed.origin} is not the API's origin (${[...origins].join(", ")}); the API key goes nowhere else`
}

const tlsCodes = /^(?:ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_MISMATCH|EPROTO$)/

/**
 * Whether a transport failure is about TLS (a certificate that does not verify, a handshake that fails), looking
 * through the chain of causes: such a failure repeats on every request.
 *
 * @internal
 */
export const isTlsCause = (cause: unknown): boolean => {
  for (let current = cause, depth = 0; current instanceof Error && depth < 8; depth++) {
    const code = Predicate.hasProperty(current, "code") && typeof current.code === "string" ? current.code : ""
    if (tlsCodes.test(code) || /certificate|ssl routines|tls/i.test(current.message)) return true
    current = current.cause
  }
  return false
}

/**
 * The hint a TLS failure carries: what to do about a corporate proxy's own certificate authority.
 *
 * @internal
 */
export const tlsHint =
  "the server's certificate could not be verified; behind a proxy that inspects TLS, point NODE_EXTRA_CA_CERTS at its CA certificate (a PEM file)"

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
  if (isTlsCause(error.cause)) {
    return new TransportError({ reason: "Tls", message: scrub(`${target}: ${detail}: ${tlsHint}`) })
  }
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

/**
 * An answer over one of the client's bounds.
 *
 * @internal
 */
export interface Bound {
  readonly _tag: "Bound"
  readonly reason: "TooLarge" | "Compression"
  readonly message: string
}

/** @internal */
export interface GzipFailure {
  readonly _tag: "Gzip"
  readonly message: string
}

const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`

/** @internal */
export const tooLarge = (status: number, target: string, maxBytes: number): RejectedResponseError =>
  new RejectedResponseError({
    status,
    reason: "TooLarge",
    message: `${target}: the answer is larger than ${mib(maxBytes)} (maxBodyBytes); not read further`
  })

/** @internal */
export const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/**
 * A gzip member starts with 1f 8b, and JSON text never starts with 0x1f: looking at the bytes rather than
 * at `content-encoding` copes both with HTTP clients that already decompressed (fetch keeps the header)
 * and with plain bodies labelled gzip (VirusTotal's 429 answers).
 *
 * @internal
 */
export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b

/** Gzip bodies up to this size (compressed) are inflated on the calling thread. */
const inflateAtOnceBelow = 64 * 1024

/**
 * The body decompressed when it is gzip, never growing beyond `maxBytes` nor beyond `maxRatio` times its compressed
 * size: inflating stops at the bound (zlib's `maxOutputLength`), so a bomb costs no more memory than the bound.
 *
 * @internal
 */
export const decompress = (
  bytes: Uint8Array,
  maxBytes: number,
  maxRatio: number
): Effect.Effect<Uint8Array, Bound | GzipFailure> => {
  if (!isGzip(bytes)) {
    return bytes.length > maxBytes
      ? Effect.fail({ _tag: "Bound", reason: "TooLarge", message: `the answer is larger than ${mib(maxBytes)}` })
      : Effect.succeed(bytes)
  }
  const byRatio = Math.max(64 * 1024, Math.floor(bytes.length * maxRatio))
  const limit = Math.min(maxBytes, byRatio)
  const failed = (error: unknown): Bound | GzipFailure => {
    const code = Predicate.hasProperty(error, "code") ? error.code : undefined
    if (code === "ERR_BUFFER_TOO_LARGE" || error instanceof RangeError) {
      return limit === maxBytes
        ? { _tag: "Bound", reason: "TooLarge", message: `the answer decompresses to more than ${mib(maxBytes)}` }
        : {
          _tag: "Bound",
          reason: "Compression",
          message: `the gzip answer of ${bytes.length} bytes decompresses to more than ${maxRatio} times its size`
        }
    }
    return { _tag: "Gzip", message: error instanceof Error ? error.message : String(error) }
  }
  const view = (out: Buffer) => new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  // A report is a few KB of gzip: inflated at once, in tens of microseconds, rather than through zlib's threads,
  // whose hand-offs (a callback per 16 KiB of output) cost several times the inflating itself.
  if (bytes.length <= inflateAtOnceBelow) {
    return Effect.suspend(() => {
      try {
        return Effect.succeed(view(gunzipSync(bytes, { maxOutputLength: limit })))
      } catch (error) {
        return Effect.fail(failed(error))
      }
    })
  }
  return Effect.async<Uint8Array, Bound | GzipFailure>((resume) => {
    gunzip(bytes, { maxOutputLength: limit }, (error, out) => {
      resume(error === null ? Effect.succeed(view(out)) : Effect.fail(failed(error)))
    })
  })
}

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
export const legacyStatus = (status: number, body: string, scrub: (text: string) => string): ApiError | undefined => {
  if (status === 204) {
    return new QuotaExceededError({
      status,
      code: "",
      message: "HTTP 204: the v2 request quota is spent",
      body: scrub(body)
    })
  }
  if (status === 403 && !body.includes("\"error\"")) {
    return new ForbiddenError({ status, code: "", message: "HTTP 403: forbidden or bad key", body: scrub(body) })
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
 * What an object answer must be: its `data.type`, and a check of its id (or of its attributes, for a file asked for
 * by MD5 or SHA-1, whose `data.id` is the SHA-256). `reason` says what was asked for, for messages.
 *
 * @internal
 */
export interface Expectation {
  readonly type: string
  readonly asked: string
  readonly matches: (id: string, document: Document) => boolean
  /** What was got instead, for the message (default: the id). */
  readonly got?: (id: string, document: Document) => string
}

/** @internal A server's text in a message: quoted, cut at 100 characters. */
export const shown = (value: unknown): string =>
  typeof value === "string" ? JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value) : "none"

/** @internal */
export const expectFile = (hash: string): Expectation => ({
  type: "file",
  asked: hash,
  matches: (id, document) => {
    if (hash.length === 64) return id.toLowerCase() === hash
    const attribute = hash.length === 32 ? document.data.attributes.md5 : document.data.attributes.sha1
    return typeof attribute === "string" && attribute.toLowerCase() === hash
  },
  // Asked for by MD5 or SHA-1, a file is told by that attribute: the one that did not match is named.
  got: (id, document) =>
    hash.length === 64
      ? shown(id)
      : `the file ${shown(id)} whose ${hash.length === 32 ? "md5" : "sha1"} is ${
        shown(hash.length === 32 ? document.data.attributes.md5 : document.data.attributes.sha1)
      }`
})

/** @internal */
export const expectUrl = (urlId: string): Expectation => ({
  type: "url",
  asked: urlId,
  // Asked for by URL (its base64 id), VirusTotal answers with the SHA-256 of its canonical form of the URL, which
  // only VirusTotal can compute; asked for by that SHA-256, the same one.
  matches: (id) =>
    /^[0-9a-f]{64}$/i.test(urlId)
      ? id.toLowerCase() === urlId.toLowerCase()
      : /^[0-9a-f]{64}$/i.test(id) || id === urlId
})

/** @internal */
export const expectDomain = (name: string): Expectation => ({
  type: "domain",
  asked: name,
  matches: (id) => Either.getOrUndefined(VtId.domain(id)) === name
})

/** @internal */
export const expectIpAddress = (ip: string): Expectation => ({
  type: "ip_address",
  asked: ip,
  matches: (id) => Either.getOrUndefined(VtId.ipAddress(id)) === ip
})

/** @internal */
export type ObjectCheck =
  | { readonly _tag: "Ok"; readonly document: Document }
  | { readonly _tag: "Malformed"; readonly reason: string }
  | { readonly _tag: "Unexpected"; readonly reason: string }

/**
 * The bytes as an object answer (`{"data":{"type","id","attributes"}}`), checked by one scan that builds nothing
 * (the same verdicts as {@link parseJson} followed by {@link checkEnvelope}), then against what was asked for.
 *
 * @internal
 */
export const checkObject = (bytes: Uint8Array, expect: Expectation | undefined): ObjectCheck => {
  const result = Json.scan(bytes)
  const problem = result._tag === "Invalid" ? result.reason : Json.envelopeProblem(result.envelope)
  if (problem !== undefined) return { _tag: "Malformed", reason: problem }
  const document = lazyDocument(bytes)
  if (expect === undefined || result._tag === "Invalid" || result.envelope === undefined) {
    return { _tag: "Ok", document }
  }
  const { id, type } = result.envelope
  if (type !== expect.type) {
    return {
      _tag: "Unexpected",
      reason: `asked for the ${expect.type} ${expect.asked}, got a ${JSON.stringify(type)} object`
    }
  }
  if (id === undefined || !expect.matches(id, document)) {
    const got = id === undefined ? "no id" : expect.got?.(id, document) ?? shown(id)
    return { _tag: "Unexpected", reason: `asked for the ${expect.type} ${expect.asked}, got ${got}` }
  }
  return { _tag: "Ok", document }
}

/**
 * What is wrong with the bytes as an object answer, or `undefined`: {@link checkObject} without an expectation.
 *
 * @internal
 */
export const objectProblem = (bytes: Uint8Array): string | undefined => {
  const checked = checkObject(bytes, undefined)
  return checked._tag === "Ok" ? undefined : checked.reason
}

/**
 * A document whose `data` is parsed on first read (and kept): a caller storing `raw` never pays for the parse.
 * Only for bytes {@link checkObject} accepted.
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

/**
 * Why an absolute URL must not receive a request sent without the key (a storage URL VirusTotal redirected to), or
 * `undefined`: any http(s) origin will do, except plain http when the API itself is https.
 *
 * @internal
 */
export const unsafeAnonymousTarget = (url: string, baseUrl: string): string | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "not a URL"
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return `${parsed.protocol} is not http(s)`
  if (parsed.protocol === "http:" && originOf(baseUrl).startsWith("https:")) {
    return "plain http while the API is https"
  }
  if (parsed.username !== "" || parsed.password !== "") return "a URL with credentials"
  return undefined
}

/**
 * The absolute URL a `Location` header points to, resolved against the request's URL, when it is http(s).
 *
 * @internal
 */
export const locationOf = (location: string | undefined, requestUrl: string): string | undefined => {
  if (location === undefined || location === "") return undefined
  try {
    const url = new URL(location, requestUrl)
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : undefined
  } catch {
    return undefined
  }
}

/** The least a streamed body must bring in each window of the idle timeout (see {@link boundedStream}). */
export const minBytesPerIdle = 64 * 1024

/**
 * A body stream that fails once it holds more than `maxBytes`, when no chunk arrives for `idle`, or when a whole
 * window of `idle` brings less than {@link minBytesPerIdle}.
 *
 * @internal
 */
export const boundedStream = <E>(
  body: Stream.Stream<Uint8Array, E>,
  status: number,
  target: string,
  maxBytes: number,
  idle: Duration.Duration
): Stream.Stream<Uint8Array, E | RejectedResponseError | TransportError> =>
  Stream.suspend(() => {
    let size = 0
    // The bytes of the current window of `idle`: a body that brings less than `minBytesPerIdle` in a whole window
    // is abandoned, so that one byte a second (never a pause of `idle`) cannot hold a download open for ever.
    let windowStart: number | undefined
    let windowBytes = 0
    const idleMillis = Duration.toMillis(idle)
    return body.pipe(
      Stream.mapEffect((chunk): Effect.Effect<Uint8Array, RejectedResponseError | TransportError> =>
        Effect.flatMap(
          Clock.currentTimeMillis,
          (now): Effect.Effect<Uint8Array, RejectedResponseError | TransportError> => {
            size += chunk.length
            if (size > maxBytes) return Effect.fail(tooLarge(status, target, maxBytes))
            windowStart ??= now
            // The chunk that closes a window counts in it: a slow start, then a burst, is no trickle.
            windowBytes += chunk.length
            if (now - windowStart >= idleMillis) {
              if (windowBytes < minBytesPerIdle) {
                return Effect.fail(
                  new TransportError({
                    reason: "Timeout",
                    message: `${target}: less than ${minBytesPerIdle / 1024} KiB in ${
                      Duration.format(idle)
                    }; the answer was abandoned`
                  })
                )
              }
              windowStart = now
              windowBytes = 0
            }
            return Effect.succeed(chunk)
          }
        )
      ),
      Stream.timeoutFail(
        () =>
          new TransportError({
            reason: "Timeout",
            message: `${target}: no data for ${Duration.format(idle)}; the answer was abandoned`
          }),
        idle
      )
    )
  })
