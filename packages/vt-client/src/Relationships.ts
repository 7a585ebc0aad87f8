/**
 * Relationships of files, URLs, domains and IP addresses (`contacted_domains`, `resolutions`, `dropped_files`…):
 * the related objects themselves, or only their descriptors (type and id), as lazy Streams. A to-one relationship
 * (`last_serving_ip_address`, `parent`…) is a stream of at most one element.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as Collection from "./Collection.js"
import { refPath, validId, withClient } from "./internal/api.js"
import type * as VtClient from "./VtClient.js"
import type * as VtError from "./VtError.js"
import type * as VtObject from "./VtObject.js"

const relationshipName = (name: string): Either.Either<string, string> =>
  /^[a-z0-9_]+$/.test(name)
    ? Either.right(name)
    : Either.left("not a relationship name (lower-case letters, digits, _)")

const path = (ref: VtObject.Ref, name: string, descriptors: boolean) =>
  withClient((vt) =>
    Effect.gen(function*() {
      const base = yield* refPath(vt, ref)
      const rel = yield* validId(vt, "relationship", "relationship", relationshipName, name)
      return descriptors ? `${base}/relationships/${rel}` : `${base}/${rel}`
    })
  )

/**
 * `GET /{collection}/{id}/{relationship}`: the related objects.
 *
 * @since 0.1.0
 * @category requests
 */
export const objects = (
  ref: VtObject.Ref,
  name: string,
  options?: Collection.Options
): Stream.Stream<VtObject.VtObject, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrap(Effect.map(path(ref, name, false), (p) => Collection.objects(p, options)))

/**
 * `GET /{collection}/{id}/relationships/{relationship}`: only the related objects' descriptors (cheaper to
 * transfer; still one request per page).
 *
 * @since 0.1.0
 * @category requests
 */
export const descriptors = (
  ref: VtObject.Ref,
  name: string,
  options?: Collection.Options
): Stream.Stream<Collection.Descriptor, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrap(Effect.map(path(ref, name, true), (p) => Collection.items(p, Collection.decodeDescriptor, options)))

/**
 * The pages themselves (exact bytes, counts, cursors), for callers that store pages as received.
 *
 * @since 0.1.0
 * @category requests
 */
export const pages = (
  ref: VtObject.Ref,
  name: string,
  options?: Collection.Options & { readonly descriptorsOnly?: boolean | undefined }
): Stream.Stream<Collection.Page, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrap(Effect.map(path(ref, name, options?.descriptorsOnly === true), (p) => Collection.pages(p, options)))
