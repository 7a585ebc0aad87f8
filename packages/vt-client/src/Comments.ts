/**
 * Comments on files, URLs, domains and IP addresses: listed as a lazy Stream (newest first), and posted.
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

const count = Schema.optionalWith(Schema.Number, { default: () => 0 })

/**
 * The attributes of a comment people use; any other is kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommentAttributes = Schema.Struct({
  text: Schema.String,
  date: Schema.optional(Schema.Number),
  html: Schema.optional(Schema.String),
  tags: Schema.optional(Schema.Array(Schema.String)),
  votes: Schema.optional(Schema.Struct({ positive: count, negative: count, abuse: count }))
})

/**
 * A comment: `data` is the whole object as received; the rest is typed from it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Comment {
  readonly data: VtObject.VtObject
  readonly id: string
  readonly text: string
  readonly date: Option.Option<Date>
  /** The `#tags` VirusTotal extracted, lower-cased. */
  readonly tags: ReadonlyArray<string>
}

/**
 * A comment object, typed.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (item: unknown): Either.Either<Comment, string> =>
  Either.flatMap(
    Collection.decodeObject(item),
    (data) =>
      Either.map(VtObject.decodeAttributes(CommentAttributes)(data), (attributes) => ({
        data,
        id: data.id,
        text: attributes.text,
        date: Option.map(Option.fromNullable(attributes.date), (s) => new Date(s * 1000)),
        tags: attributes.tags ?? []
      }))
  )

/**
 * `GET /{collection}/{id}/comments`, page after page as the stream is pulled.
 *
 * @since 0.1.0
 * @category requests
 */
export const list = (
  ref: VtObject.Ref,
  options?: Collection.Options
): Stream.Stream<Comment, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrap(
    withClient((vt) => Effect.map(refPath(vt, ref), (path) => Collection.items(`${path}/comments`, decode, options)))
  )

/**
 * `POST /{collection}/{id}/comments`: `#words` in the text become the comment's tags.
 *
 * @since 0.1.0
 * @category requests
 */
export const add = (
  ref: VtObject.Ref,
  text: string
): Effect.Effect<Comment, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const path = `${yield* refPath(vt, ref)}/comments`
      const response = yield* postJson(vt, path, { data: { type: "comment", attributes: { text } } })
      const document = yield* toDocument(vt, response, "POST", path)
      return yield* Either.match(decode(document.data), {
        onLeft: (reason) => Effect.fail(decodeFailure(vt, response.status, "POST", path, reason)),
        onRight: Effect.succeed
      })
    })
  )
