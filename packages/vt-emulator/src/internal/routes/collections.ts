/**
 * The collections below an object: relationships (`/{collection}/{id}/{relationship}`, and their descriptors under
 * `/relationships/`), comments and votes (seeded ones, plus those posted to this server), paginated as VirusTotal
 * does.
 */
import { formFailure, readJson, SMALL_BODY_BYTES } from "../body.js"
import * as Collections from "../collections.js"
import type { Context, Handler, Incoming } from "../context.js"
import * as R from "../reply.js"
import { nowSeconds, type Resolved } from "../resolve.js"
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

const relationship = (
  context: Context,
  request: Incoming,
  object: Resolved,
  name: string,
  descriptorsOnly: boolean
): R.Reply => {
  const rel = Collections.relationships[object.collection][name]
  if (rel === undefined) return R.invalidArgument(`Invalid relationship "${name}" for ${object.collection}`)
  const { collection, key } = object
  const { community } = context
  if (rel.target === "comment") {
    return paginated(context, request, community.commentCount(collection, key), (i) => {
      const comment = community.commentAt(collection, key, i)
      return descriptorsOnly ? Collections.descriptor("comment", comment) : json(Collections.commentObject(comment))
    })
  }
  if (rel.target === "vote") {
    return paginated(context, request, community.voteCount(collection, key), (i) => {
      const vote = community.voteAt(collection, key, i)
      return descriptorsOnly ? Collections.descriptor("vote", vote) : json(Collections.voteObject(vote))
    })
  }
  const count = rel.single === true ? 1 : Collections.relationshipCount(collection, key, name)
  const related = Collections.relatedIds(collection, key, name, rel.target, count)
  const render = (i: number) =>
    descriptorsOnly
      ? Collections.descriptor(rel.target, related[i])
      : Collections.relatedObject(rel.target, related[i])
  if (rel.single === true) return R.ok(Collections.single(render(0), selfUrlOf(request)))
  return paginated(context, request, related.length, render)
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
