/**
 * The objects of the four collections (`/files/{id}`, `/urls/{id}`, `/domains/{name}`, `/ip_addresses/{ip}`): the id
 * the request log names, and the step every route below an object starts with (resolve it, or answer the error for a
 * malformed or unknown id). Their reports are served by `files.ts` and `collections.ts` (`?relationships=`).
 */
import type * as Collections from "../collections.js"
import { type Context, decodeSegment, type Handler, type Incoming } from "../context.js"
import type { Reply } from "../reply.js"
import { isReply, objectLogId, type Resolved, resolveObject } from "../resolve.js"

/** The collection a route names: its `:collection` parameter, or the one it is declared for. */
const collectionOf = (request: Incoming, fixed: Collections.Collection | undefined): Collections.Collection =>
  fixed ?? (request.params.collection as Collections.Collection)

/** A handler of a route below an object, run once the object resolved. */
export const onObject = (
  run: (context: Context, request: Incoming, object: Resolved) => Reply | Promise<Reply>,
  collection?: Collections.Collection
): Handler =>
(context, request) => {
  const object = resolveObject(context, collectionOf(request, collection), decodeSegment(request.params.id), request.at)
  return isReply(object) ? object : run(context, request, object)
}

/** The id the log names for a request below an object (decided before authentication, so refusals name it too). */
export const objectId = (collection?: Collections.Collection) => (request: Incoming): string | undefined =>
  objectLogId(collectionOf(request, collection), decodeSegment(request.params.id))
