/**
 * What a premium key may do: Intelligence search (`/intelligence/search`, paged by cursor) and file downloads
 * (`/files/{id}/download`, a redirect to a signed URL, and `/files/{id}/download_url`, that URL as a document). Other
 * keys get 403 ForbiddenError, as VirusTotal answers them. Signed URLs (`/_storage/…`) take no key, are neither
 * counted nor faulted, and hold for an hour (by `now()`); they carry their own HMAC, so the emulator remembers
 * nothing per URL.
 */
import * as crypto from "node:crypto"
import type * as Http from "node:http"
import { decodeSegment, type Handler, type Incoming } from "../context.js"
import { isKnown } from "../document.js"
import * as R from "../reply.js"
import { sample, SAMPLE_COUNT, sampleBySha256 } from "../samples.js"

/** Where signed download URLs point. */
export const STORAGE_BASE = "/_storage"

const URL_LIFETIME_MS = 3_600_000
const secret = crypto.randomBytes(32)

const origin = (request: Incoming) => `http://${request.req.headers.host ?? "127.0.0.1"}`

const sign = (text: string) => crypto.createHmac("sha256", secret).update(text).digest("base64url")

const signedUrl = (request: Incoming, sha256: string): string => {
  const expires = request.at + URL_LIFETIME_MS
  return `${origin(request)}${STORAGE_BASE}/${sha256}?expires=${expires}&signature=${sign(`${sha256}:${expires}`)}`
}

/** The sample a download names, or VirusTotal's answer when there is none (forbidden first, as VirusTotal). */
const downloadable = (request: Incoming, isPremium: boolean) => {
  if (!isPremium) return R.forbidden
  const id = decodeSegment(request.params.id ?? "")
  const found = /^[0-9a-f]{64}$/i.test(id) ? sampleBySha256(id) : undefined
  return found ?? R.error(404, "NotFoundError", `File "${id}" not found`)
}

/** `GET /files/{id}/download`: a redirect to the sample's signed URL. */
export const download: Handler = (context, request) => {
  const found = downloadable(request, context.isPremium(request.key))
  return "status" in found ? found : R.redirect(signedUrl(request, found.sha256))
}

/** `GET /files/{id}/download_url`: the sample's signed URL. */
export const downloadUrl: Handler = (context, request) => {
  const found = downloadable(request, context.isPremium(request.key))
  return "status" in found ? found : R.json({ data: signedUrl(request, found.sha256) })
}

/**
 * `GET /_storage/{sha256}?expires=&signature=`: the sample's bytes, at `downloadBytesPerSecond` if set. A request
 * carrying an API key is refused (400): a client must never send its key to storage.
 */
export const storage: Handler = (context, request) => {
  if (request.req.headers["x-apikey"] !== undefined) {
    return R.badRequest("a signed URL takes no API key; the key must not be sent here")
  }
  const sha256 = request.params.sha256 ?? ""
  const expires = request.query.get("expires") ?? ""
  const signature = request.query.get("signature") ?? ""
  const expected = sign(`${sha256}:${expires}`)
  if (
    signature.length !== expected.length ||
    !crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected)) ||
    !(Number(expires) > request.at)
  ) {
    return R.error(403, "ForbiddenError", "The signed URL is invalid or expired")
  }
  const found = sampleBySha256(sha256)
  if (found === undefined) return R.notFound
  const rate = context.options.downloadBytesPerSecond
  return {
    status: 200,
    head: found.bytes,
    tail: undefined,
    contentType: "application/octet-stream",
    write: rate === undefined || rate <= 0 ? undefined : paced(found.bytes, rate)
  }
}

/** Writes `bytes` in tenths of a second's worth; a closed connection stops it. */
const paced = (bytes: Buffer, rate: number) => (res: Http.ServerResponse) => {
  res.writeHead(200, ["Content-Type", "application/octet-stream", "Content-Length", String(bytes.length)])
  const chunk = Math.max(1, Math.floor(rate / 10))
  let at = 0
  const next = () => {
    if (res.destroyed) return
    const end = Math.min(bytes.length, at + chunk)
    res.write(bytes.subarray(at, end))
    at = end
    if (at >= bytes.length) res.end()
    else setTimeout(next, 100).unref()
  }
  next()
}

/** The samples of the corpus the emulator has a report for (VirusTotal's search finds only files it knows). */
let knownSamples: ReadonlyArray<string> | undefined

/**
 * The ids an Intelligence search matches: 5 or more of the corpus's samples that have a report (27 of the 32), in an
 * order of its own, per query.
 */
export const searchResults = (query: string): ReadonlyArray<string> => {
  knownSamples ??= Array.from({ length: SAMPLE_COUNT }, (_, i) => sample(i).sha256).filter(isKnown)
  const h = crypto.createHash("sha256").update(query).digest()
  const count = 5 + (h[0] % (knownSamples.length - 4))
  const offset = h[1] % knownSamples.length
  // 7 and the number of known samples have no common factor here (27), so the walk meets each at most once.
  return Array.from({ length: count }, (_, i) => knownSamples![(offset + i * 7) % knownSamples!.length]!)
}

const MAX_SEARCH_LIMIT = 300
const DEFAULT_SEARCH_LIMIT = 10

const encodeCursor = (offset: number) => Buffer.from(`vt-emulator-search:${offset}`).toString("base64url")
const decodeCursor = (cursor: string) => {
  const match = /^vt-emulator-search:(\d{1,9})$/.exec(Buffer.from(cursor, "base64url").toString("latin1"))
  return match === null ? undefined : Number(match[1])
}

/** `GET /intelligence/search?query=&limit=&cursor=`: file objects, with `meta.cursor` and `links.next` but on the last page. */
export const search: Handler = (context, request) => {
  if (!context.isPremium(request.key)) return R.forbidden
  const query = request.query.get("query") ?? ""
  if (query.trim() === "") return R.badRequest("No search query specified")
  const rawLimit = request.query.get("limit")
  const limitNumber = rawLimit === null ? DEFAULT_SEARCH_LIMIT : Number(rawLimit)
  if (!Number.isInteger(limitNumber) || limitNumber < 1) return R.invalidArgument(`Invalid limit "${rawLimit}"`)
  const limit = Math.min(limitNumber, MAX_SEARCH_LIMIT)
  const rawCursor = request.query.get("cursor")
  const offset = rawCursor === null || rawCursor === "" ? 0 : decodeCursor(rawCursor)
  if (offset === undefined) return R.invalidArgument(`Invalid cursor "${rawCursor}"`)
  const ids = searchResults(query)
  const data = ids.slice(offset, offset + limit).map((sha256) => {
    const found = sampleBySha256(sha256)!
    return {
      type: "file",
      id: sha256,
      links: { self: `https://www.virustotal.com/api/v3/files/${sha256}` },
      attributes: {
        sha256,
        sha1: found.sha1,
        md5: found.md5,
        size: found.bytes.length,
        type_description: "Win32 EXE",
        meaningful_name: `sample-${found.index}.exe`
      }
    }
  })
  const style = context.options.pagination ?? "both"
  const next = offset + limit < ids.length ? encodeCursor(offset + limit) : undefined
  const selfUrl = (cursor: string | undefined) =>
    `${origin(request)}${request.path}?query=${encodeURIComponent(query)}&limit=${limit}${
      cursor === undefined ? "" : `&cursor=${cursor}`
    }`
  const meta: Record<string, unknown> = { total_hits: ids.length }
  if (next !== undefined && style !== "links") meta.cursor = next
  const links: Record<string, string> = { self: selfUrl(rawCursor ?? undefined) }
  if (next !== undefined && style !== "cursor") links.next = selfUrl(next)
  return R.json({ data, meta, links })
}
