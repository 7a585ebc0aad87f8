/**
 * Collections (relationships, comments, votes, sandbox behaviours…) as lazy Streams: one page is requested when
 * the consumer needs more items, following `meta.cursor`, or `links.next` when only that is given, until the
 * last page (which has neither). Each page costs one request against the quota: take what you need.
 *
 * @since 0.1.0
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { decodeFailure, withClient } from "./internal/api.js"
import type * as VtClient from "./VtClient.js"
import * as VtError from "./VtError.js"
import type * as VtObject from "./VtObject.js"

/**
 * How a collection is read: how many items, page size, where to start, extra query parameters, and a bound on the
 * pages.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * At most this many items in all, as in vt-py and vt-cli: no page is requested once that many are in hand, and
   * the pages are no larger than needed (`limit` up to 40 items per page, unless `pageSize` says otherwise).
   * {@link items} and {@link objects} end after `limit` items; {@link pages} ends with the page that reaches it.
   */
  readonly limit?: number | undefined
  /**
   * Items per page (VirusTotal's `limit` query parameter; its default is 10, about 40 is the practical maximum).
   *
   * @since 0.2.0
   */
  readonly pageSize?: number | undefined
  /** Start from this cursor (from an earlier page's `cursor`) instead of the first page. */
  readonly cursor?: string | undefined
  /** Further query parameters (filters, `relationships=`…), sent with every page. */
  readonly urlParams?: Readonly<Record<string, string | number | boolean>> | undefined
  /** Stop after this many pages even if there are more. */
  readonly maxPages?: number | undefined
  /**
   * Stop once the pages received hold this many bytes (their bodies as received), even if there are more: a server
   * that hands out pages of one small item each cannot make a bounded harvest endless.
   *
   * @since 0.3.0
   */
  readonly maxBytes?: number | undefined
  /**
   * Told why the stream ended although its last page named a next one (see {@link Stop}); not told when the
   * collection ends, nor when `limit` items are in hand. What it returns runs before the stream ends.
   *
   * @since 0.3.0
   */
  readonly onStop?: ((stop: Stop) => Effect.Effect<void>) | undefined
}

/**
 * Why a stream of pages ended with a next page named: `maxPages` or `maxBytes` reached; `cycle`, the next page named
 * is one this stream already requested, or a page's body repeats an earlier one's (a new cursor leading back); no
 * items on a page that names a next one (`noProgress`); a `links.next` out of the API without a cursor to follow
 * (`unfollowable`).
 *
 * @since 0.3.0
 * @category models
 */
export type Stop = "maxPages" | "maxBytes" | "cycle" | "noProgress" | "unfollowable"

/**
 * One page as received: `raw` is the exact body, `data` its items (one or none for a to-one relationship, whose
 * `data` is an object or null).
 *
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly raw: Uint8Array
  readonly data: ReadonlyArray<unknown>
  /** `meta.count`: how many items the whole collection holds, when VirusTotal says. */
  readonly count: Option.Option<number>
  /** `meta.cursor`: the cursor of the next page. */
  readonly cursor: Option.Option<string>
  /** `links.next`: the URL of the next page. */
  readonly next: Option.Option<string>
  readonly meta: Readonly<Record<string, unknown>>
  readonly links: Readonly<Record<string, unknown>>
}

/**
 * An item that only names an object (what `…/relationships/{name}` answers).
 *
 * @since 0.1.0
 * @category models
 */
export interface Descriptor {
  readonly type: string
  readonly id: string
  readonly context_attributes?: Readonly<Record<string, unknown>> | undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

interface Progress {
  readonly pages: number
  readonly items: number
  readonly bytes: number
}

type State =
  | { readonly _tag: "First" } & Progress
  | { readonly _tag: "Cursor"; readonly cursor: string } & Progress
  | { readonly _tag: "Url"; readonly url: string } & Progress

/** The largest page VirusTotal serves in practice. */
const maxPageSize = 40

const parsePage = (raw: Uint8Array, json: unknown): Either.Either<Page, string> => {
  if (!isRecord(json)) return Either.left("the body is not a JSON object")
  const data = json.data
  const items = Array.isArray(data) ? data : data === null ? [] : isRecord(data) ? [data] : undefined
  if (items === undefined) return Either.left("\"data\" is neither a list nor an object")
  const meta = isRecord(json.meta) ? json.meta : {}
  const links = isRecord(json.links) ? json.links : {}
  const text = (u: unknown) => (typeof u === "string" && u !== "" ? Option.some(u) : Option.none())
  return Either.right({
    raw,
    data: items,
    count: typeof meta.count === "number" ? Option.some(meta.count) : Option.none(),
    cursor: Array.isArray(data) ? text(meta.cursor) : Option.none(),
    next: Array.isArray(data) ? text(links.next) : Option.none(),
    meta,
    links
  })
}

/**
 * The pages of a collection, requested one by one as the stream is pulled. `path` is relative to the base URL
 * (`/files/{id}/comments`), encoded by the caller.
 *
 * The next page is the one `meta.cursor` names; without it, `links.next` is followed when it points into the
 * client's base URL, and otherwise only its `cursor` parameter is used (the key is never sent elsewhere). The
 * stream ends after a page with neither; and, whatever a server answers, after a page that names a page this stream
 * has already requested (a cursor or a link repeated, at once or after others: a cycle) or that has no items (a
 * server handing out cursors without progress), so that no answer makes it endless by going round; and before a page
 * whose body is one received already (a new cursor leading back), whose items are not given twice. `onStop` is told
 * why, whenever a next page was named.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pages = (path: string, options: Options = {}): Stream.Stream<Page, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrap(withClient((vt) =>
    Effect.sync(() => {
      const params: Record<string, string | number | boolean> = { ...options.urlParams }
      const pageSize = options.pageSize ??
        (options.limit !== undefined ? Math.max(1, Math.min(options.limit, maxPageSize)) : undefined)
      if (pageSize !== undefined) params.limit = pageSize
      const fetch = (state: State) => {
        // A URL object keeps the query (the cursor) out of the request's URL, so errors do not repeat it.
        const request = state._tag === "Url"
          ? HttpClientRequest.get(new URL(state.url))
          : HttpClientRequest.get(path, {
            urlParams: state._tag === "Cursor" ? { ...params, cursor: state.cursor } : params
          })
        return Effect.flatMap(vt.execute(request), (response) =>
          Either.match(parsePage(response.raw, response.json), {
            onLeft: (reason) =>
              Effect.fail(
                new VtError.ResponseDecodeError({
                  status: response.status,
                  message: vt.redact(`GET ${vt.baseUrl}${path}: not a collection page: ${reason}`)
                })
              ),
            onRight: (page): Effect.Effect<Page> => Effect.succeed(page)
          }))
      }
      // The pages this stream has requested, by cursor or URL, and the bodies it received: a cursor or link named again
      // ends the stream, and so does a body received again (a new cursor that leads back), before its items come twice.
      // Held as digests: a server's cursors may be kilobytes each, and an endless stream of them must not grow memory
      // by that.
      const digest = (text: string | Uint8Array) => createHash("sha256").update(text).digest("base64")
      const requested = new Set<string>()
      const received = new Set<string>()
      const pageKey = (state: State) =>
        digest(state._tag === "Cursor" ? `cursor ${state.cursor}` : state._tag === "Url" ? `url ${state.url}` : "first")
      /** The page `page` names after it, if any: a state to request, or why it cannot be followed. */
      const named = (page: Page, progress: Progress): State | Stop | undefined => {
        if (Option.isSome(page.cursor)) return { _tag: "Cursor", cursor: page.cursor.value, ...progress }
        if (Option.isNone(page.next)) return undefined
        const next = page.next.value
        if (next.startsWith(`${vt.baseUrl}/`)) return { _tag: "Url", url: next, ...progress }
        let cursor: string | null = null
        try {
          cursor = new URL(next).searchParams.get("cursor")
        } catch {
          cursor = null
        }
        return cursor === null || cursor === "" ? "unfollowable" : { _tag: "Cursor", cursor, ...progress }
      }
      /** The state after `page`, or why there is none when a next page is named (none at all: the collection ended). */
      const nextState = (page: Page, state: State): State | Stop | undefined => {
        const progress: Progress = {
          pages: state.pages + 1,
          items: state.items + page.data.length,
          bytes: state.bytes + page.raw.length
        }
        const next = named(page, progress)
        if (next === undefined) return undefined
        if (options.limit !== undefined && progress.items >= options.limit) return undefined
        if (typeof next === "string") return next
        if (options.maxPages !== undefined && progress.pages >= options.maxPages) return "maxPages"
        if (options.maxBytes !== undefined && progress.bytes >= options.maxBytes) return "maxBytes"
        // A page without items that names a next one makes no progress: a server can hand out cursors forever.
        if (page.data.length === 0) return "noProgress"
        const key = pageKey(next)
        if (requested.has(key)) return "cycle"
        requested.add(key)
        return next
      }
      const stop = (why: Stop): Effect.Effect<void> => options.onStop === undefined ? Effect.void : options.onStop(why)
      const first: State = options.cursor === undefined
        ? { _tag: "First", pages: 0, items: 0, bytes: 0 }
        : { _tag: "Cursor", cursor: options.cursor, pages: 0, items: 0, bytes: 0 }
      requested.add(pageKey(first))
      return Stream.paginateChunkEffect<State, Page, VtError.VtError, never>(
        first,
        (state) =>
          Effect.flatMap(fetch(state), (page) => {
            const body = digest(page.raw)
            if (received.has(body)) {
              return Effect.as(stop("cycle"), [Chunk.empty<Page>(), Option.none<State>()] as const)
            }
            received.add(body)
            const next = nextState(page, state)
            return typeof next === "string"
              ? Effect.as(stop(next), [Chunk.of(page), Option.none<State>()] as const)
              : Effect.succeed([Chunk.of(page), Option.fromNullable(next)] as const)
          })
      )
    })
  ))

/**
 * The items of a collection, each checked by `decode` (a `Left` reason fails the stream with
 * `ResponseDecodeError`), pages requested as the stream is pulled.
 *
 * @since 0.1.0
 * @category constructors
 */
export const items = <A>(
  path: string,
  decode: (item: unknown) => Either.Either<A, string>,
  options?: Options
): Stream.Stream<A, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrap(withClient((vt) =>
    Effect.succeed(
      pages(path, options).pipe(
        Stream.mapConcatEffect((page) =>
          Effect.forEach(page.data, (item, i) =>
            Either.match(decode(item), {
              onLeft: (reason) => Effect.fail(decodeFailure(vt, 200, "GET", path, `item ${i}: ${reason}`)),
              onRight: (a): Effect.Effect<A> => Effect.succeed(a)
            }))
        ),
        (stream) => (options?.limit === undefined ? stream : Stream.take(stream, options.limit))
      )
    )
  ))

/**
 * Checks an item is an object (`type`, `id`, `attributes`); everything else in it is kept.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeObject = (item: unknown): Either.Either<VtObject.VtObject, string> => {
  if (!isRecord(item)) return Either.left("not a JSON object")
  if (typeof item.type !== "string") return Either.left("\"type\" is not a string")
  if (typeof item.id !== "string") return Either.left("\"id\" is not a string")
  if (!isRecord(item.attributes)) return Either.left("\"attributes\" is not an object")
  return Either.right(item as unknown as VtObject.VtObject)
}

/**
 * Checks an item names an object (`type`, `id`); everything else in it is kept.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeDescriptor = (item: unknown): Either.Either<Descriptor, string> => {
  if (!isRecord(item)) return Either.left("not a JSON object")
  if (typeof item.type !== "string") return Either.left("\"type\" is not a string")
  if (typeof item.id !== "string") return Either.left("\"id\" is not a string")
  return Either.right(item as unknown as Descriptor)
}

/**
 * The objects of a collection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const objects = (
  path: string,
  options?: Options
): Stream.Stream<VtObject.VtObject, VtError.VtError, VtClient.VtClient> => items(path, decodeObject, options)
