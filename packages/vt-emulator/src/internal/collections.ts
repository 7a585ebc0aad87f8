/**
 * Collections: relationships (related objects and their descriptors), comments and votes, paginated the way
 * VirusTotal does (`limit`, opaque `cursor`, `meta.cursor` and `links.next`, neither on the last page). Pages are
 * assembled from the cached bytes of their items.
 */
import { createHash } from "node:crypto"
import { answerFile, isKnown as isKnownFile } from "./document.js"
import { derivedIp, isKnownId, objectAnswer, type ObjectKind, objectResults, urlObjectId } from "./objects.js"
import { hexString, mulberry32 } from "./prng.js"
import * as T from "./template.js"

export type Collection = "files" | "urls" | "domains" | "ip_addresses"

export type Target = "file" | "url" | "domain" | "ip_address" | "resolution" | "comment" | "vote"

interface Relationship {
  readonly target: Target
  /** A to-one relationship: `data` is one object (or null), never paginated. */
  readonly single?: boolean
}

const list = (target: Target): Relationship => ({ target })
const one = (target: Target): Relationship => ({ target, single: true })

/** The relationships each collection offers (a subset of VirusTotal's, with the same names). */
export const relationships: Readonly<Record<Collection, Readonly<Record<string, Relationship>>>> = {
  files: {
    comments: list("comment"),
    votes: list("vote"),
    bundled_files: list("file"),
    contacted_domains: list("domain"),
    contacted_ips: list("ip_address"),
    contacted_urls: list("url"),
    dropped_files: list("file"),
    embedded_domains: list("domain"),
    embedded_ips: list("ip_address"),
    embedded_urls: list("url"),
    execution_parents: list("file"),
    itw_domains: list("domain"),
    itw_ips: list("ip_address"),
    itw_urls: list("url"),
    similar_files: list("file")
  },
  urls: {
    comments: list("comment"),
    votes: list("vote"),
    communicating_files: list("file"),
    contacted_domains: list("domain"),
    contacted_ips: list("ip_address"),
    downloaded_files: list("file"),
    last_serving_ip_address: one("ip_address"),
    network_location: one("domain"),
    redirecting_urls: list("url"),
    redirects_to: list("url"),
    referrer_files: list("file"),
    referrer_urls: list("url")
  },
  domains: {
    comments: list("comment"),
    votes: list("vote"),
    communicating_files: list("file"),
    downloaded_files: list("file"),
    parent: one("domain"),
    referrer_files: list("file"),
    resolutions: list("resolution"),
    siblings: list("domain"),
    subdomains: list("domain"),
    urls: list("url")
  },
  ip_addresses: {
    comments: list("comment"),
    votes: list("vote"),
    communicating_files: list("file"),
    downloaded_files: list("file"),
    referrer_files: list("file"),
    resolutions: list("resolution"),
    urls: list("url")
  }
}

const digestOf = (s: string): Buffer => createHash("sha256").update(s).digest()

/** 10 to 40 related objects per (object, relationship): every list spans several pages at the default limit. */
export const relationshipCount = (collection: Collection, id: string, name: string): number =>
  10 + (digestOf(`${collection}/${id}/${name}`)[0] % 31)

// ---------------------------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------------------------

export type PaginationStyle = "both" | "cursor" | "links"

export const DEFAULT_LIMIT = 10
export const MAX_LIMIT = 40

export const encodeCursor = (offset: number): string => Buffer.from(`vt-emulator:${offset}`).toString("base64url")

const decodeCursor = (cursor: string): number | undefined => {
  const match = /^vt-emulator:(\d{1,9})$/.exec(Buffer.from(cursor, "base64url").toString("latin1"))
  return match === null ? undefined : Number(match[1])
}

export interface PageRequest {
  readonly limit: number
  readonly offset: number
}

/** `limit` (1…40, default 10; larger values are capped, as VirusTotal does) and `cursor`; a string when invalid. */
export const pageRequest = (query: URLSearchParams): PageRequest | string => {
  const rawLimit = query.get("limit")
  let limit = DEFAULT_LIMIT
  if (rawLimit !== null) {
    const n = Number(rawLimit)
    if (rawLimit.trim() === "" || !Number.isInteger(n) || n < 1) return `Invalid limit "${rawLimit}"`
    limit = Math.min(n, MAX_LIMIT)
  }
  const cursor = query.get("cursor")
  if (cursor === null || cursor === "") return { limit, offset: 0 }
  const offset = decodeCursor(cursor)
  return offset === undefined ? `Invalid cursor "${cursor}"` : { limit, offset }
}

const comma = Buffer.from(",")

const pageTemplate = T.compile({ data: [T.value("ITEMS")], meta: T.value("META"), links: T.value("LINKS") })
const singleTemplate = T.compile({ data: T.value("ITEM"), links: { self: T.text("SELF") } })

/** The JSON bytes of one item of a list: one buffer, or the parts of a cached document. */
export type Item = ReadonlyArray<Buffer> | Buffer

/**
 * A collection page: `items` are the JSON bytes of this page's items only (pages are built lazily: nothing past
 * the page is generated). `selfUrl` is the absolute URL of the collection without query string.
 */
export const page = (
  items: ReadonlyArray<Item>,
  total: number,
  request: PageRequest,
  selfUrl: string,
  style: PaginationStyle
): T.Body => {
  const { links, meta } = pageLinks(total, request, selfUrl, style)
  return T.render(pageTemplate, { ITEMS: joinItems(items), META: JSON.stringify(meta), LINKS: JSON.stringify(links) })
}

/**
 * The `meta` (count, and the next page's cursor) and `links` (self, and next) of one page of a list of `total`
 * items; `related` (the related objects' URL) comes first after `self` when given, as in an object's
 * `relationships` member.
 */
export const pageLinks = (
  total: number,
  request: PageRequest,
  selfUrl: string,
  style: PaginationStyle,
  related?: string
): { readonly meta: Record<string, unknown>; readonly links: Record<string, string> } => {
  const nextOffset = request.offset + request.limit
  const cursor = nextOffset < total ? encodeCursor(nextOffset) : undefined
  const query = (offset: number) =>
    `?limit=${request.limit}${offset === 0 ? "" : `&cursor=${encodeURIComponent(encodeCursor(offset))}`}`
  const meta: Record<string, unknown> = { count: total }
  if (cursor !== undefined && style !== "links") meta.cursor = cursor
  const links: Record<string, string> = { self: `${selfUrl}${query(request.offset)}` }
  if (related !== undefined) links.related = related
  if (cursor !== undefined && style !== "cursor") links.next = `${selfUrl}${query(nextOffset)}`
  return { meta, links }
}

/** The JSON bytes of items, comma-separated (the inside of a list). */
export const joinItems = (items: ReadonlyArray<Item>): Array<Buffer> => {
  const parts: Array<Buffer> = []
  items.forEach((item, i) => {
    if (i > 0) parts.push(comma)
    if (Buffer.isBuffer(item)) parts.push(item)
    else parts.push(...item)
  })
  return parts
}

/** A to-one relationship: `data` is the one object, never paginated. */
export const single = (item: Item, selfUrl: string): T.Body =>
  T.render(singleTemplate, { ITEM: item, SELF: T.escape(selfUrl) })

// ---------------------------------------------------------------------------------------------------------------
// Related objects
// ---------------------------------------------------------------------------------------------------------------

const TLDS = ["com", "net", "org", "ru", "top", "xyz", "info", "io"]

/** The i-th candidate related id of a kind, before the known/unknown rule filters it. */
const candidate = (target: Target, seed: string, j: number): { id: string; url?: string } => {
  const d = digestOf(`${seed}/${j}`)
  switch (target) {
    case "file":
      return { id: d.toString("hex") }
    case "domain":
      return { id: `${d.toString("hex").slice(0, 10)}.${TLDS[d[5] % TLDS.length]}` }
    case "ip_address":
      return { id: derivedIp(d) }
    case "url": {
      const url = `http://${d.toString("hex").slice(0, 10)}.${TLDS[d[5] % TLDS.length]}/${
        d.toString("hex").slice(10, 18)
      }`
      return { id: urlObjectId(url) ?? "", url }
    }
    default:
      return { id: `${derivedIp(d)}${d.toString("hex").slice(0, 10)}.${TLDS[d[5] % TLDS.length]}` }
  }
}

const known = (target: Target, id: string): boolean => (target === "file" ? isKnownFile(id) : isKnownId(id))

/** The related ids of one relationship, known to the emulator by the rule (so each can be fetched). */
export const relatedIds = (
  collection: Collection,
  id: string,
  name: string,
  target: Target,
  count: number
): Array<{ id: string; url?: string }> => {
  const seed = `${collection}/${id}/${name}`
  const out: Array<{ id: string; url?: string }> = []
  for (let j = 0; out.length < count; j++) {
    const c = candidate(target, seed, j)
    if (target === "resolution" || known(target, c.id)) out.push(c)
  }
  return out
}

const kindOf: Partial<Record<Target, ObjectKind>> = { url: "url", domain: "domain", ip_address: "ip_address" }

/** The JSON bytes of a related object as a list item (the `data` member of its document). */
export const relatedObject = (target: Target, related: { id: string; url?: string }): Item => {
  if (target === "file") return T.dataOf(answerFile(related.id))
  const kind = kindOf[target]
  if (kind !== undefined) return T.dataOf(objectAnswer(kind, related.id, related.url))
  // A resolution: "<ip><domain>", small enough to build per request.
  const ip = /^\d+\.\d+\.\d+\.\d+/.exec(related.id)?.[0] ?? ""
  const host = related.id.slice(ip.length)
  const d = digestOf(related.id)
  return Buffer.from(JSON.stringify({
    type: "resolution",
    id: related.id,
    links: { self: `https://www.virustotal.com/api/v3/resolutions/${related.id}` },
    attributes: {
      date: 1_600_000_000 + d.readUInt32BE(0) % 115_000_000,
      host_name: host,
      ip_address: ip,
      resolver: "VirusTotal",
      host_name_last_analysis_stats: objectResults("domain", host).stats,
      ip_address_last_analysis_stats: objectResults("ip_address", ip).stats
    }
  }))
}

/** A descriptor: type and id, plus the URL itself for URLs (as VirusTotal's context attributes). */
export const descriptor = (target: Target, related: { id: string; url?: string }): Buffer =>
  Buffer.from(JSON.stringify(
    related.url === undefined
      ? { type: target, id: related.id }
      : { type: target, id: related.id, context_attributes: { url: related.url } }
  ))

// ---------------------------------------------------------------------------------------------------------------
// Comments and votes
// ---------------------------------------------------------------------------------------------------------------

const prefixes: Readonly<Record<Collection, string>> = { files: "f", urls: "u", domains: "d", ip_addresses: "i" }

const SEEDED_END = 1_715_040_000

const commentTexts = [
  "#malware #trojan dropped by a phishing attachment",
  "Seen in a campaign targeting finance departments. #phishing",
  "C2 over HTTPS, beacons every 60 s. #c2 #cobaltstrike",
  "False positive? Signed by a known vendor.",
  "#ransomware encrypts user documents and drops a note",
  "Sandbox: persistence through a Run key. #persistence"
]

const tagsOf = (text: string): Array<string> =>
  [...text.matchAll(/#([\p{L}\p{N}_-]+)/gu)].map((m) => m[1].toLowerCase())

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

export interface CommentRecord {
  readonly id: string
  readonly date: number
  readonly text: string
}

export interface VoteRecord {
  readonly id: string
  readonly date: number
  readonly verdict: "harmless" | "malicious"
}

/** Comments and votes posted to one emulator, plus each object's seeded ones. */
export class Community {
  private comments = new Map<string, Array<CommentRecord>>()
  private votes = new Map<string, Array<VoteRecord>>()
  private voters = new Set<string>()

  clear(): void {
    this.comments = new Map()
    this.votes = new Map()
    this.voters = new Set()
  }

  private seededCount(kind: "comments" | "votes", collection: Collection, id: string): number {
    return (kind === "comments" ? 5 : 3) + (digestOf(`${kind}/${collection}/${id}`)[0] % 26)
  }

  commentCount(collection: Collection, id: string): number {
    return (this.comments.get(`${collection}/${id}`)?.length ?? 0) + this.seededCount("comments", collection, id)
  }

  voteCount(collection: Collection, id: string): number {
    return (this.votes.get(`${collection}/${id}`)?.length ?? 0) + this.seededCount("votes", collection, id)
  }

  /** Newest first: posted ones, then the seeded ones. */
  commentAt(collection: Collection, id: string, index: number): CommentRecord {
    const posted = this.comments.get(`${collection}/${id}`) ?? []
    if (index < posted.length) return posted[posted.length - 1 - index]
    const n = index - posted.length
    const rng = mulberry32(digestOf(`comment/${collection}/${id}/${n}`).readUInt32BE(0))
    return {
      id: `${prefixes[collection]}-${id}-${hexString(rng, 8)}`,
      date: SEEDED_END - (n + 1) * 86_400 - Math.floor(rng() * 3600),
      text: commentTexts[Math.floor(rng() * commentTexts.length)]
    }
  }

  voteAt(collection: Collection, id: string, index: number): VoteRecord {
    const posted = this.votes.get(`${collection}/${id}`) ?? []
    if (index < posted.length) return posted[posted.length - 1 - index]
    const n = index - posted.length
    const rng = mulberry32(digestOf(`vote/${collection}/${id}/${n}`).readUInt32BE(0))
    return {
      id: `${prefixes[collection]}-${id}-${hexString(rng, 8)}`,
      date: SEEDED_END - (n + 1) * 43_200,
      verdict: rng() < 0.7 ? "malicious" : "harmless"
    }
  }

  addComment(collection: Collection, id: string, text: string, date: number): CommentRecord {
    const key = `${collection}/${id}`
    const posted = this.comments.get(key) ?? []
    const record: CommentRecord = {
      id: `${prefixes[collection]}-${id}-${
        createHash("sha256").update(`${key}/${posted.length}/${text}`).digest("hex").slice(0, 8)
      }`,
      date,
      text
    }
    posted.push(record)
    this.comments.set(key, posted)
    return record
  }

  /** Undefined when this key already voted on the object. */
  addVote(
    collection: Collection,
    id: string,
    verdict: "harmless" | "malicious",
    date: number,
    voter: string
  ): VoteRecord | undefined {
    const key = `${collection}/${id}`
    const voterKey = `${voter}\n${key}`
    if (this.voters.has(voterKey)) return undefined
    this.voters.add(voterKey)
    const posted = this.votes.get(key) ?? []
    const record: VoteRecord = {
      id: `${prefixes[collection]}-${id}-${createHash("sha256").update(voterKey).digest("hex").slice(0, 8)}`,
      date,
      verdict
    }
    posted.push(record)
    this.votes.set(key, posted)
    return record
  }
}

export const commentObject = (c: CommentRecord) => {
  const tags = tagsOf(c.text)
  const d = digestOf(c.id)
  return {
    type: "comment",
    id: c.id,
    links: { self: `https://www.virustotal.com/api/v3/comments/${c.id}` },
    attributes: {
      date: c.date,
      text: c.text,
      html: escapeHtml(c.text),
      tags,
      votes: { positive: d[0] % 8, negative: d[1] % 3, abuse: 0 }
    }
  }
}

export const voteObject = (v: VoteRecord) => ({
  type: "vote",
  id: v.id,
  links: { self: `https://www.virustotal.com/api/v3/votes/${v.id}` },
  attributes: { date: v.date, verdict: v.verdict, value: v.verdict === "malicious" ? -1 : 1 }
})
