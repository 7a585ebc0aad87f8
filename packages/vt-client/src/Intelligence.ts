/**
 * VirusTotal Intelligence search (a premium privilege): the objects matching a query, as a lazy Stream of pages
 * followed by cursor.
 *
 * @since 0.2.0
 */
import type * as Stream from "effect/Stream"
import * as Collection from "./Collection.js"
import type * as VtClient from "./VtClient.js"
import type * as VtError from "./VtError.js"
import type * as VtObject from "./VtObject.js"

/**
 * The largest page `/intelligence/search` serves.
 *
 * @since 0.2.0
 * @category models
 */
export const maxPageSize = 300

/**
 * How a search is read: at most `limit` objects (all by default), from `cursor` (an earlier page's) if given.
 *
 * @since 0.2.0
 * @category models
 */
export interface SearchOptions {
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
  /** Objects per page (default: the limit, at most {@link maxPageSize}; 300 without a limit). */
  readonly pageSize?: number | undefined
  /** Further query parameters (`order`, `descriptors_only`…). */
  readonly urlParams?: Readonly<Record<string, string | number | boolean>> | undefined
  /**
   * Told why the pages stopped before the last one ({@link Collection.Stop}: a server going round…).
   *
   * @since 0.3.0
   */
  readonly onStop?: Collection.Options["onStop"]
}

const collectionOptions = (query: string, options: SearchOptions | undefined): Collection.Options => ({
  limit: options?.limit,
  cursor: options?.cursor,
  pageSize: options?.pageSize ?? Math.max(1, Math.min(options?.limit ?? maxPageSize, maxPageSize)),
  urlParams: { ...options?.urlParams, query },
  onStop: options?.onStop
})

/**
 * `GET /intelligence/search?query=`: the pages of matches, each one request, requested as the stream is pulled. A
 * key without the privilege gets 403 `ForbiddenError` on the first page.
 *
 * @since 0.2.0
 * @category requests
 */
export const pages = (
  query: string,
  options?: SearchOptions
): Stream.Stream<Collection.Page, VtError.VtError, VtClient.VtClient> =>
  Collection.pages("/intelligence/search", collectionOptions(query, options))

/**
 * `GET /intelligence/search?query=`: the matching objects (files, URLs, domains, IP addresses), each checked to be
 * an object, at most `limit` of them.
 *
 * @since 0.2.0
 * @category requests
 */
export const search = (
  query: string,
  options?: SearchOptions
): Stream.Stream<VtObject.VtObject, VtError.VtError, VtClient.VtClient> =>
  Collection.objects("/intelligence/search", collectionOptions(query, options))
