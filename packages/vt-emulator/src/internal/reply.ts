/**
 * What a route answers: a status and a body as head and shared tail, so that the server writes cached report bytes
 * without copying them. Also VirusTotal's error document, which every route and the admission steps answer with,
 * the refusals of either API, and how a reply is written.
 */
import type * as Http from "node:http"
import { gzipSync } from "node:zlib"
import * as T from "./template.js"

export interface Reply extends T.Body {
  readonly status: number
  /** Defaults to application/json. */
  readonly contentType?: string | undefined
  /** Further headers, as name, value, name, value… (`Location`). */
  readonly headers?: ReadonlyArray<string> | undefined
  /** Writes the answer itself (a sample at a given rate), instead of head and tail. */
  readonly write?: ((res: Http.ServerResponse) => void) | undefined
}

/** VirusTotal's error document: `{"error":{"code":…,"message":…}}`. */
export const errorDocument = (code: string, message: string): T.Body => T.json({ error: { code, message } })

export const error = (status: number, code: string, message: string): Reply => ({
  status,
  ...errorDocument(code, message)
})

export const ok = (body: T.Body): Reply => ({ status: 200, ...body })

/** A small document built per request, as `JSON.stringify` writes it. */
export const json = (value: unknown): Reply => ok(T.json(value))

export const empty = (status: number): Reply => ({ status, head: Buffer.alloc(0), tail: undefined })

export const missingKey = error(401, "AuthenticationRequiredError", "X-Apikey header is missing")
export const wrongKey = error(401, "WrongCredentialsError", "Wrong API key")
export const inactiveKey = error(401, "UserNotActiveError", "User is not active")
export const quotaExceeded = error(429, "QuotaExceededError", "Quota exceeded")
export const tooManyRequests = error(429, "TooManyRequestsError", "Too many requests")
export const transient = error(503, "TransientError", "Transient error, please try again later")
export const deadlineExceeded = error(504, "DeadlineExceededError", "Deadline exceeded")
export const notFound = error(404, "NotFoundError", "Resource not found")

/** Why admission refuses a request. */
export type Refusal = "missingKey" | "wrongKey" | "inactiveKey" | "quotaExceeded"

/** Which API a request is for: v3 answers refusals and faults with error documents, v2 with bare statuses. */
export type Dialect = "v3" | "v2"

const v3Refusals: Readonly<Record<Refusal, Reply>> = { missingKey, wrongKey, inactiveKey, quotaExceeded }
const v2Forbidden = empty(403)
const v2QuotaExceeded = empty(204)

/** What a refused request is answered: v2 says 403 for any key problem and 204 for a spent quota. */
export const refusal = (dialect: Dialect, why: Refusal): Reply =>
  dialect === "v3" ? v3Refusals[why] : why === "quotaExceeded" ? v2QuotaExceeded : v2Forbidden

export const forbidden = error(403, "ForbiddenError", "You are not authorized to perform the requested operation")

/** A redirect, as VirusTotal's download endpoint answers: an empty body and a `Location`. */
export const redirect = (location: string): Reply => ({
  status: 302,
  head: Buffer.alloc(0),
  tail: undefined,
  headers: ["Location", location]
})

export const badRequest = (message: string): Reply => error(400, "BadRequestError", message)
export const invalidArgument = (message: string): Reply => error(400, "InvalidArgumentError", message)

/** What a submission answers: the analysis to poll. */
export const analysisDescriptor = (id: string): Reply =>
  json({ data: { type: "analysis", id, links: { self: `https://www.virustotal.com/api/v3/analyses/${id}` } } })

const headersFor = (length: number, contentType = "application/json", extra?: ReadonlyArray<string>): Array<string> => [
  "Content-Type",
  contentType,
  "Content-Length",
  String(length),
  ...(extra ?? [])
]

/** Gzip members of shared tails, compressed once each: a tail is the large static end of a cached document. */
const gzippedTails = new WeakMap<Buffer, Buffer>()

/** Below this size an answer is sent as it is: gzip would make it larger. */
const GZIP_MIN_BYTES = 256

const wantsGzip = (res: Http.ServerResponse): boolean => {
  const accepted = res.req?.headers["accept-encoding"]
  return typeof accepted === "string" &&
    /(?:^|,)\s*gzip\s*(?:;\s*q=(?:1(?:\.0*)?|0?\.\d*[1-9]\d*))?\s*(?:,|$)/i.test(accepted)
}

/**
 * A JSON answer gzip-compressed, as VirusTotal answers a client that accepts it (never a 429: VirusTotal sends those
 * plain). The per-request head and the shared tail are two gzip members, one after the other (RFC 1952 allows any
 * number; every gunzip reads them as one stream): only the small head is compressed per request, the tail's member
 * is compressed once and cached, so the emulator still serves cached bytes.
 */
const sendGzip = (res: Http.ServerResponse, reply: Reply): void => {
  const head = gzipSync(reply.head, { level: 1 })
  let tail: Buffer | undefined
  if (reply.tail !== undefined) {
    tail = gzippedTails.get(reply.tail)
    if (tail === undefined) gzippedTails.set(reply.tail, tail = gzipSync(reply.tail))
  }
  const length = head.length + (tail?.length ?? 0)
  res.writeHead(reply.status, [
    ...headersFor(length, reply.contentType, reply.headers),
    "Content-Encoding",
    "gzip",
    "Vary",
    "Accept-Encoding"
  ])
  res.cork()
  res.write(head)
  res.end(tail)
}

export const send = (res: Http.ServerResponse, reply: Reply): void => {
  if (reply.status === 204) {
    res.writeHead(204)
    res.end()
    return
  }
  if (reply.write !== undefined) return reply.write(res)
  if (
    reply.status !== 429 && (reply.contentType === undefined || reply.contentType === "application/json") &&
    reply.head.length + (reply.tail?.length ?? 0) >= GZIP_MIN_BYTES && wantsGzip(res)
  ) {
    return sendGzip(res, reply)
  }
  if (reply.tail === undefined) {
    res.writeHead(reply.status, headersFor(reply.head.length, reply.contentType, reply.headers))
    res.end(reply.head)
    return
  }
  res.writeHead(reply.status, headersFor(reply.head.length + reply.tail.length, reply.contentType, reply.headers))
  // Corked, head and tail leave in one writev with the headers.
  res.cork()
  res.write(reply.head)
  res.end(reply.tail)
}

/** The `truncated` fault: the headers announce the whole body, half of it is sent, then the connection closes. */
export const sendTruncated = (res: Http.ServerResponse, reply: Reply): void => {
  const body = T.copy(reply)
  res.writeHead(reply.status, headersFor(body.length, reply.contentType))
  res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy())
}
