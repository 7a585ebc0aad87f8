/**
 * The collections below an object: relationships (`/{collection}/{id}/{relationship}`, and their descriptors under
 * `/relationships/`), comments and votes (seeded ones, plus those posted to this server), paginated as VirusTotal
 * does; and the reports of objects, which carry the first page of each relationship `?relationships=` names.
 */
import { formFailure, readJson, SMALL_BODY_BYTES } from "../body.js"
import * as Collections from "../collections.js"
import type { Context, Handler, Incoming } from "../context.js"
import * as R from "../reply.js"
import { nowSeconds, type Resolved } from "../resolve.js"
import * as T from "../template.js"
import { onObject } from "./objects.js"

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), "utf8")

const selfUrlOf = (request: Incoming) => `http://${request.req.headers.host ?? "127.0.0.1"}${request.path}`

/** One page of a list of `total` items, of which only this page's are built. */
export const paginated = (
  context: Context,
  request: Incoming,
  total: number,
  item: (index: number) => Collections.Item
): R.Reply => {
  const page = Collections.pageRequest(request.query)
  if (typeof page === "string") return R.invalidArgument(page)
  const items: Array<Collections.Item> = []
  for (let i = page.offset; i < Math.min(total, page.offset + page.limit); i++) items.push(item(i))
  return R.ok(Collections.page(items, total, page, selfUrlOf(request), context.options.pagination ?? "both"))
}

/** A relationship of one object: how many items it has, and each one as a related object or a descriptor. */
interface Source {
  /** A to-one relationship: one item, never paginated. */
  readonly single: boolean
  readonly total: number
  readonly item: (index: number, descriptorsOnly: boolean) => Collections.Item
}

const sourceOf = (context: Context, object: Resolved, name: string): Source | undefined => {
  const rel = Object.hasOwn(Collections.relationships[object.collection], name)
    ? Collections.relationships[object.collection][name]
    : undefined
  if (rel === undefined) return undefined
  const { collection, key } = object
  const { community } = context
  if (rel.target === "comment") {
    return {
      single: false,
      total: community.commentCount(collection, key),
      item: (i, descriptorsOnly) => {
        const comment = community.commentAt(collection, key, i)
        return descriptorsOnly ? Collections.descriptor("comment", comment) : json(Collections.commentObject(comment))
      }
    }
  }
  if (rel.target === "vote") {
    return {
      single: false,
      total: community.voteCount(collection, key),
      item: (i, descriptorsOnly) => {
        const vote = community.voteAt(collection, key, i)
        return descriptorsOnly ? Collections.descriptor("vote", vote) : json(Collections.voteObject(vote))
      }
    }
  }
  const count = rel.single === true ? 1 : Collections.relationshipCount(collection, key, name)
  const related = Collections.relatedIds(collection, key, name, rel.target, count)
  return {
    single: rel.single === true,
    total: related.length,
    item: (i, descriptorsOnly) =>
      descriptorsOnly
        ? Collections.descriptor(rel.target, related[i])
        : Collections.relatedObject(rel.target, related[i])
  }
}

const invalidRelationship = (object: Resolved, name: string): R.Reply =>
  R.invalidArgument(`Invalid relationship "${name}" for ${object.collection}`)

const relationship = (
  context: Context,
  request: Incoming,
  object: Resolved,
  name: string,
  descriptorsOnly: boolean
): R.Reply => {
  const source = sourceOf(context, object, name)
  if (source === undefined) return invalidRelationship(object, name)
  if (source.single) return R.ok(Collections.single(source.item(0, descriptorsOnly), selfUrlOf(request)))
  return paginated(context, request, source.total, (i) => source.item(i, descriptorsOnly))
}

const firstPage: Collections.PageRequest = { limit: Collections.DEFAULT_LIMIT, offset: 0 }

/**
 * The `relationships` member of an object asked for with `?relationships=a,b` (the bytes of a JSON object): for
 * each name, the first page of its descriptors with `meta` (count, cursor) and `links` (self, related, next) as
 * the descriptors' own route pages them, so that its cursor continues there. An unknown name is VirusTotal's 400.
 */
export const firstPages = (
  context: Context,
  request: Incoming,
  object: Resolved,
  names: ReadonlyArray<string>
): Buffer | R.Reply => {
  const base = `http://${request.req.headers.host ?? "127.0.0.1"}/api/v3/${object.collection}/${
    encodeURIComponent(object.key)
  }`
  const style = context.options.pagination ?? "both"
  const parts: Array<Buffer> = []
  for (const name of names) {
    const source = sourceOf(context, object, name)
    if (source === undefined) return invalidRelationship(object, name)
    const selfUrl = `${base}/relationships/${name}`
    const related = `${base}/${name}`
    let member: Array<Buffer>
    if (source.single) {
      const links = JSON.stringify({ self: selfUrl, related })
      member = [
        Buffer.from("{\"data\":"),
        ...Collections.joinItems([source.item(0, true)]),
        Buffer.from(`,"links":${links}}`)
      ]
    } else {
      const { links, meta } = Collections.pageLinks(source.total, firstPage, selfUrl, style, related)
      const items: Array<Collections.Item> = []
      for (let i = 0; i < Math.min(source.total, firstPage.limit); i++) items.push(source.item(i, true))
      member = [
        Buffer.from("{\"data\":["),
        ...Collections.joinItems(items),
        Buffer.from(`],"meta":${JSON.stringify(meta)},"links":${JSON.stringify(links)}}`)
      ]
    }
    parts.push(Buffer.from(`${parts.length === 0 ? "{" : ","}${JSON.stringify(name)}:`), ...member)
  }
  parts.push(Buffer.from(parts.length === 0 ? "{}" : "}"))
  return Buffer.concat(parts)
}

/** `GET /{collection}/{id}/{relationship}`: the related objects. */
export const related: Handler = onObject((context, request, object) =>
  relationship(context, request, object, request.params.relationship, false)
)

/** `GET /{collection}/{id}/relationships/{relationship}`: their descriptors. */
export const descriptors: Handler = onObject((context, request, object) =>
  relationship(context, request, object, request.params.relationship, true)
)

type Posted<A> = { readonly data?: { readonly type?: unknown; readonly attributes?: A } } | undefined

/** `GET|POST /{collection}/{id}/comments`. */
export const comments: Handler = onObject(async (context, request, object) => {
  if (request.method === "GET") return relationship(context, request, object, "comments", false)
  let body: unknown
  try {
    body = await readJson(request.req)
  } catch (error) {
    return formFailure(error, SMALL_BODY_BYTES)
  }
  const data = (body as Posted<{ readonly text?: unknown }>)?.data
  if (data?.type !== "comment" || typeof data.attributes?.text !== "string" || data.attributes.text === "") {
    return R.badRequest("Expected {\"data\":{\"type\":\"comment\",\"attributes\":{\"text\":…}}}")
  }
  const text = data.attributes.text
  const comment = context.community.addComment(object.collection, object.key, text, nowSeconds(request.at))
  return R.json({ data: Collections.commentObject(comment) })
})

/** `GET|POST /{collection}/{id}/votes`: one vote per key and object. */
export const votes: Handler = onObject(async (context, request, object) => {
  if (request.method === "GET") return relationship(context, request, object, "votes", false)
  let body: unknown
  try {
    body = await readJson(request.req)
  } catch (error) {
    return formFailure(error, SMALL_BODY_BYTES)
  }
  const data = (body as Posted<{ readonly verdict?: unknown }>)?.data
  if (data?.type !== "vote" || data.attributes === undefined) {
    return R.badRequest("Expected {\"data\":{\"type\":\"vote\",\"attributes\":{\"verdict\":…}}}")
  }
  const verdict = data.attributes.verdict
  if (verdict !== "harmless" && verdict !== "malicious") {
    return R.invalidArgument("verdict must be \"harmless\" or \"malicious\"")
  }
  const at = nowSeconds(request.at)
  const vote = context.community.addVote(object.collection, object.key, verdict, at, request.key ?? "")
  if (vote === undefined) return R.error(409, "AlreadyExistsError", "You have already voted for this item")
  return R.json({ data: Collections.voteObject(vote) })
})

/**
 * An object's report as asked: with `?relationships=a,b`, `data.relationships` holds the first page of each one
 * (as VirusTotal answers); without it, the report as it is, untouched.
 */
export const reportOf = (context: Context, request: Incoming, object: Resolved): R.Reply => {
  const document = object.document()
  const asked = request.hasQuery ? request.query.get("relationships") : null
  if (asked === null || document.status !== 200) return document
  const names = [...new Set(asked.split(",").map((name) => name.trim()).filter((name) => name !== ""))]
  if (names.length === 0) return document
  const member = firstPages(context, request, object, names)
  if (!Buffer.isBuffer(member)) return member
  // The document ends with the closing braces of `data` and of the document: the member goes before them.
  const bytes = T.copy(document)
  return {
    status: 200,
    head: Buffer.concat([bytes.subarray(0, bytes.length - 2), Buffer.from(",\"relationships\":"), member, closing]),
    tail: undefined
  }
}

const closing = Buffer.from("}}")

/** `GET /urls/{id}`, `/domains/{name}`, `/ip_addresses/{ip}`. */
export const report: Handler = onObject(reportOf)
