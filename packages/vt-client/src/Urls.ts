/**
 * URLs: reports, submissions and rescans. A URL's id is its unpadded URL-safe base64; a URL object id (the
 * SHA-256 of VirusTotal's canonical URL, 64 hex digits) is accepted wherever a URL is.
 *
 * @since 0.1.0
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import type * as Analysis from "./Analysis.js"
import { analysisDescriptor, refPath, validId, withClient } from "./internal/api.js"
import type * as VtClient from "./VtClient.js"
import type * as VtError from "./VtError.js"
import * as VtId from "./VtId.js"
import * as VtObject from "./VtObject.js"

/**
 * VirusTotal's id of a URL: its UTF-8 bytes in unpadded URL-safe base64 (`VtId.urlId`).
 *
 * @since 0.1.0
 * @category utils
 */
export const id: (url: string) => string = VtId.urlId

/**
 * `GET /urls/{id}` (the service's `getUrl`; `options.relationships` includes the first page of each).
 *
 * @since 0.1.0
 * @category requests
 */
export const get = (
  urlOrId: string,
  options?: VtClient.ObjectOptions
): Effect.Effect<VtObject.Document, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) => vt.getUrl(urlOrId, options))

/**
 * `POST /urls` with the form field `url`: submit a URL for analysis.
 *
 * @since 0.1.0
 * @category requests
 */
export const scan = (url: string): Effect.Effect<Analysis.Descriptor, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const valid = yield* validId(vt, "url", "URL", VtId.url, url)
      const response = yield* vt.execute(
        HttpClientRequest.post("/urls").pipe(HttpClientRequest.bodyUrlParams({ url: valid }))
      )
      return yield* analysisDescriptor(vt, response, "POST", "/urls")
    })
  )

/**
 * `POST /urls/{id}/analyse`: analyse a known URL again.
 *
 * @since 0.1.0
 * @category requests
 */
export const rescan = (urlOrId: string): Effect.Effect<Analysis.Descriptor, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const path = `${yield* refPath(vt, VtObject.url(urlOrId))}/analyse`
      const response = yield* vt.execute(HttpClientRequest.post(path))
      return yield* analysisDescriptor(vt, response, "POST", path)
    })
  )
