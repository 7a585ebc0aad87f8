/**
 * Votes on files, URLs, domains and IP addresses: listed as a lazy Stream, and cast. A key votes once per object:
 * a second vote fails with `AlreadyExistsError` (409).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Collection from "./Collection.js"
import { decodeFailure, postJson, refPath, toDocument, withClient } from "./internal/api.js"
import type * as VtClient from "./VtClient.js"
import type * as VtError from "./VtError.js"
import * as VtObject from "./VtObject.js"

/**
 * A vote: VirusTotal accepts only these two verdicts.
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict = "harmless" | "malicious"

/**
 * The attributes of a vote.
 *
 * @since 0.1.0
 * @category schemas
 */
export const VoteAttributes = Schema.Struct({
  verdict: Schema.String,
  date: Schema.optional(Schema.Number),
  value: Schema.optional(Schema.Number)
})

/**
 * A vote: `data` is the whole object as received.
 *
 * @since 0.1.0
 * @category models
 */
export interface Vote {
  readonly data: VtObject.VtObject
  readonly id: string
  readonly verdict: Verdict | (string & {})
  readonly date: Option.Option<Date>
}

/**
 * A vote object, typed.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (item: unknown): Either.Either<Vote, string> =>
  Either.flatMap(
    Collection.decodeObject(item),
    (data) =>
      Either.map(VtObject.decodeAttributes(VoteAttributes)(data), (attributes) => ({
        data,
        id: data.id,
        verdict: attributes.verdict,
        date: Option.map(Option.fromNullable(attributes.date), (s) => new Date(s * 1000))
      }))
  )

/**
 * `GET /{collection}/{id}/votes`, page after page as the stream is pulled.
 *
 * @since 0.1.0
 * @category requests
 */
export const list = (
  ref: VtObject.Ref,
  options?: Collection.Options
): Stream.Stream<Vote, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrap(
    withClient((vt) => Effect.map(refPath(vt, ref), (path) => Collection.items(`${path}/votes`, decode, options)))
  )

/**
 * `POST /{collection}/{id}/votes`. A second vote by the same key on the same object fails with
 * `AlreadyExistsError`.
 *
 * @since 0.1.0
 * @category requests
 */
export const add = (
  ref: VtObject.Ref,
  verdict: Verdict
): Effect.Effect<Vote, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const path = `${yield* refPath(vt, ref)}/votes`
      const response = yield* postJson(vt, path, { data: { type: "vote", attributes: { verdict } } })
      const document = yield* toDocument(vt, response, "POST", path)
      return yield* Either.match(decode(document.data), {
        onLeft: (reason) => Effect.fail(decodeFailure(vt, response.status, "POST", path, reason)),
        onRight: Effect.succeed
      })
    })
  )
