/**
 * VirusTotal objects: references to the four kinds of object that have reports (files, URLs, domains, IP
 * addresses), the schemas of the attributes people use, and typed accessors for them.
 *
 * Decoding never drops data. A {@link Document} keeps the bytes exactly as received (`raw`, the thing
 * to store) and the parsed object with every attribute, named or not; the schemas here preserve attributes
 * they do not name (`onExcessProperty: "preserve"`), and the accessors only read.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { describeParseError } from "./internal/parseError.js"

// ---------------------------------------------------------------------------------------------------------------
// Objects and documents
// ---------------------------------------------------------------------------------------------------------------

/**
 * A VirusTotal object: `attributes` holds everything VirusTotal sent, including attributes this type
 * does not name.
 *
 * @since 0.2.0
 * @category models
 */
export interface VtObject {
  readonly type: string
  readonly id: string
  readonly attributes: Record<string, unknown>
  readonly links?: Record<string, unknown> | undefined
  readonly relationships?: Record<string, unknown> | undefined
  readonly context_attributes?: Record<string, unknown> | undefined
}

/**
 * An object answer: `raw` is the body exactly as received (after gzip decoding), the thing to store;
 * `data` is the parsed object, for decisions and summaries.
 *
 * @since 0.2.0
 * @category models
 */
export interface Document {
  readonly raw: Uint8Array
  readonly data: VtObject
}

// ---------------------------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------------------------

/**
 * The collections of objects that have reports, comments, votes and relationships.
 *
 * @since 0.1.0
 * @category models
 */
export type Collection = "files" | "urls" | "domains" | "ip_addresses"

/**
 * An object as the user named it: validated and normalised only when a request is made (a malformed one fails
 * that request with `InvalidIdError`, and nothing is sent).
 *
 * @since 0.1.0
 * @category models
 */
export interface Ref {
  readonly collection: Collection
  readonly input: string
}

/**
 * A file by MD5, SHA-1 or SHA-256.
 *
 * @since 0.1.0
 * @category constructors
 */
export const file = (hash: string): Ref => ({ collection: "files", input: hash })

/**
 * A URL, or a URL object id (64 hex digits).
 *
 * @since 0.1.0
 * @category constructors
 */
export const url = (urlOrId: string): Ref => ({ collection: "urls", input: urlOrId })

/**
 * A domain name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const domain = (name: string): Ref => ({ collection: "domains", input: name })

/**
 * An IPv4 or IPv6 address.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ipAddress = (ip: string): Ref => ({ collection: "ip_addresses", input: ip })

// ---------------------------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------------------------

/**
 * How to decode with the schemas of this module: attributes a schema does not name are kept.
 *
 * @since 0.1.0
 * @category models
 */
export const parseOptions: { readonly onExcessProperty: "preserve"; readonly errors: "all" } = {
  onExcessProperty: "preserve",
  errors: "all"
}

const count = Schema.optionalWith(Schema.Number, { default: () => 0 })

/**
 * `last_analysis_stats` (and an analysis' `stats`): how many engines said what. Counts a report does not carry
 * (URL reports have no `type-unsupported`) decode as 0; counts this type does not name are kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnalysisStats = Schema.Struct({
  harmless: count,
  malicious: count,
  suspicious: count,
  undetected: count,
  timeout: count,
  "confirmed-timeout": count,
  failure: count,
  "type-unsupported": count
})

/**
 * The decoded {@link AnalysisStats} schema: engine counts by category.
 *
 * @since 0.1.0
 * @category models
 */
export type AnalysisStats = typeof AnalysisStats.Type

/**
 * One engine's verdict in `last_analysis_results` (and an analysis' `results`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const EngineResult = Schema.Struct({
  category: Schema.String,
  engine_name: Schema.String,
  engine_version: Schema.optional(Schema.NullOr(Schema.String)),
  engine_update: Schema.optional(Schema.NullOr(Schema.String)),
  method: Schema.optional(Schema.String),
  result: Schema.NullOr(Schema.String)
})

/**
 * The decoded {@link EngineResult} schema: one engine's verdict.
 *
 * @since 0.1.0
 * @category models
 */
export type EngineResult = typeof EngineResult.Type

/**
 * `last_analysis_results` (and an analysis' `results`): each engine's verdict by engine name.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EngineResults = Schema.Record({ key: Schema.String, value: EngineResult })

/**
 * `total_votes`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TotalVotes = Schema.Struct({ harmless: count, malicious: count })

/**
 * The decoded {@link TotalVotes} schema: community votes.
 *
 * @since 0.1.0
 * @category models
 */
export type TotalVotes = typeof TotalVotes.Type

const common = {
  reputation: Schema.optional(Schema.Number),
  tags: Schema.optional(Schema.Array(Schema.String)),
  total_votes: Schema.optional(TotalVotes),
  last_analysis_date: Schema.optional(Schema.Number),
  last_modification_date: Schema.optional(Schema.Number),
  last_analysis_stats: Schema.optional(AnalysisStats),
  last_analysis_results: Schema.optional(EngineResults)
}

/**
 * The attributes of a file report that people use; every other attribute is kept as received.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FileAttributes = Schema.Struct({
  ...common,
  md5: Schema.optional(Schema.String),
  sha1: Schema.optional(Schema.String),
  sha256: Schema.optional(Schema.String),
  size: Schema.optional(Schema.Number),
  names: Schema.optional(Schema.Array(Schema.String)),
  meaningful_name: Schema.optional(Schema.String),
  type_description: Schema.optional(Schema.String),
  type_tag: Schema.optional(Schema.String),
  times_submitted: Schema.optional(Schema.Number),
  first_submission_date: Schema.optional(Schema.Number),
  last_submission_date: Schema.optional(Schema.Number)
})

/**
 * The decoded {@link FileAttributes} schema; unnamed attributes are kept.
 *
 * @since 0.1.0
 * @category models
 */
export type FileAttributes = typeof FileAttributes.Type

/**
 * The attributes of a URL report that people use.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UrlAttributes = Schema.Struct({
  ...common,
  url: Schema.optional(Schema.String),
  last_final_url: Schema.optional(Schema.String),
  title: Schema.optional(Schema.String),
  times_submitted: Schema.optional(Schema.Number),
  first_submission_date: Schema.optional(Schema.Number),
  last_submission_date: Schema.optional(Schema.Number),
  last_http_response_code: Schema.optional(Schema.Number),
  categories: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})

/**
 * The decoded {@link UrlAttributes} schema; unnamed attributes are kept.
 *
 * @since 0.1.0
 * @category models
 */
export type UrlAttributes = typeof UrlAttributes.Type

/**
 * The attributes of a domain report that people use.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DomainAttributes = Schema.Struct({
  ...common,
  tld: Schema.optional(Schema.String),
  registrar: Schema.optional(Schema.String),
  creation_date: Schema.optional(Schema.Number),
  whois: Schema.optional(Schema.String),
  categories: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  last_dns_records: Schema.optional(Schema.Array(Schema.Struct({
    type: Schema.String,
    value: Schema.String,
    ttl: Schema.optional(Schema.Number)
  })))
})

/**
 * The decoded {@link DomainAttributes} schema; unnamed attributes are kept.
 *
 * @since 0.1.0
 * @category models
 */
export type DomainAttributes = typeof DomainAttributes.Type

/**
 * The attributes of an IP address report that people use.
 *
 * @since 0.1.0
 * @category schemas
 */
export const IpAddressAttributes = Schema.Struct({
  ...common,
  network: Schema.optional(Schema.String),
  asn: Schema.optional(Schema.Number),
  as_owner: Schema.optional(Schema.String),
  country: Schema.optional(Schema.String),
  whois: Schema.optional(Schema.String)
})

/**
 * The decoded {@link IpAddressAttributes} schema; unnamed attributes are kept.
 *
 * @since 0.1.0
 * @category models
 */
export type IpAddressAttributes = typeof IpAddressAttributes.Type

/**
 * The envelope of every object (`type`, `id`, `attributes`, optional `links`, `relationships`,
 * `context_attributes`), members it does not name kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Envelope = Schema.Struct({
  type: Schema.String,
  id: Schema.String,
  attributes: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  links: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  relationships: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  context_attributes: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})

/**
 * Decodes an object's attributes with one of the schemas above (or any schema): the attributes it names are
 * checked and typed, every other one is kept. `Left` carries the reason when a named attribute has another shape.
 *
 * @example
 * import { VtObject } from "@vt-harvest/vt-client"
 * import * as Either from "effect/Either"
 *
 * // `data` of a Document, e.g. from `Files.get(hash)`
 * const data = { type: "file", id: "275a021b…", attributes: { md5: "44d88612fea8a8f36de82e1278abb02f", size: 68 } }
 * const attributes = Either.getOrThrow(VtObject.decodeAttributes(VtObject.FileAttributes)(data))
 * console.log(attributes.md5, attributes.size) // typed; attributes it does not name are kept
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeAttributes = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema, parseOptions)
  return (object: VtObject): Either.Either<A, string> => Either.mapLeft(decode(object.attributes), describeParseError)
}

// ---------------------------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------------------------

/**
 * One attribute decoded with a schema; `None` when it is absent or has another shape.
 *
 * @since 0.1.0
 * @category accessors
 */
export const attribute = <A, I>(
  object: VtObject,
  name: string,
  schema: Schema.Schema<A, I>
): Option.Option<A> =>
  Object.hasOwn(object.attributes, name)
    ? Schema.decodeUnknownOption(schema, parseOptions)(object.attributes[name])
    : Option.none()

/**
 * `last_analysis_stats`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const lastAnalysisStats = (object: VtObject): Option.Option<AnalysisStats> =>
  attribute(object, "last_analysis_stats", AnalysisStats)

/**
 * `last_analysis_results`: the verdict of every engine, by engine name.
 *
 * @since 0.1.0
 * @category accessors
 */
export const lastAnalysisResults = (
  object: VtObject
): Option.Option<{ readonly [engine: string]: EngineResult }> =>
  attribute(object, "last_analysis_results", EngineResults)

/**
 * A file's `names` (empty when absent).
 *
 * @since 0.1.0
 * @category accessors
 */
export const names = (object: VtObject): ReadonlyArray<string> =>
  Option.getOrElse(attribute(object, "names", Schema.Array(Schema.String)), () => [])

/**
 * `meaningful_name`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const meaningfulName = (object: VtObject): Option.Option<string> =>
  attribute(object, "meaningful_name", Schema.String)

/**
 * A file's hashes, each when present.
 *
 * @since 0.1.0
 * @category accessors
 */
export const hashes = (object: VtObject): {
  readonly md5: Option.Option<string>
  readonly sha1: Option.Option<string>
  readonly sha256: Option.Option<string>
} => ({
  md5: attribute(object, "md5", Schema.String),
  sha1: attribute(object, "sha1", Schema.String),
  sha256: attribute(object, "sha256", Schema.String)
})

/**
 * Any `*_date` attribute (Unix seconds, UTC) as a `Date`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const date = (object: VtObject, name: string): Option.Option<Date> =>
  Option.map(attribute(object, name, Schema.Number), (seconds) => new Date(seconds * 1000))

/**
 * `last_analysis_date` as a `Date`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const lastAnalysisDate = (object: VtObject): Option.Option<Date> => date(object, "last_analysis_date")

/**
 * `first_submission_date` as a `Date`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const firstSubmissionDate = (object: VtObject): Option.Option<Date> => date(object, "first_submission_date")

/**
 * `last_submission_date` as a `Date`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const lastSubmissionDate = (object: VtObject): Option.Option<Date> => date(object, "last_submission_date")

/**
 * `last_modification_date` as a `Date`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const lastModificationDate = (object: VtObject): Option.Option<Date> => date(object, "last_modification_date")

/**
 * `reputation`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const reputation = (object: VtObject): Option.Option<number> => attribute(object, "reputation", Schema.Number)

/**
 * `tags` (empty when absent).
 *
 * @since 0.1.0
 * @category accessors
 */
export const tags = (object: VtObject): ReadonlyArray<string> =>
  Option.getOrElse(attribute(object, "tags", Schema.Array(Schema.String)), () => [])

/**
 * `total_votes`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const totalVotes = (object: VtObject): Option.Option<TotalVotes> => attribute(object, "total_votes", TotalVotes)

/**
 * A file's `size` in bytes.
 *
 * @since 0.1.0
 * @category accessors
 */
export const size = (object: VtObject): Option.Option<number> => attribute(object, "size", Schema.Number)
