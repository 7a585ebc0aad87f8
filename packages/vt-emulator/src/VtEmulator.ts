/**
 * A local VirusTotal API v3 server for tests, demos and benchmarks: real HTTP, VirusTotal's status codes and error
 * bodies, per-key quotas, fault injection and a request log.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Collections from "./internal/collections.js"
import * as Document from "./internal/document.js"
import type * as Model from "./internal/model.js"
import * as Objects from "./internal/objects.js"
import * as Premium from "./internal/routes/premium.js"
import * as Samples from "./internal/samples.js"
import * as Internal from "./internal/server.js"
import * as Template from "./internal/template.js"

/**
 * Fault rates, each between 0 and 1, drawn from the seeded generator for every API request that passed
 * authentication and the quota check (the quota endpoint is exempt). At most one fault hits a request; they are
 * tried in this order: reset, truncated, transient, tooManyRequests, deadlineExceeded, slow, error.
 *
 * @since 0.1.0
 * @category models
 */
export type FaultOptions = Model.FaultOptions

/**
 * Server options. Every field may be changed at run time with `Server.update`, except `host` and `port`; an
 * explicit `undefined` in an update removes a limit.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Model.Options

/**
 * One answered (or deliberately unanswered) request. The path never contains the API key: the `{id}` of
 * `/users/{id}/…` and any occurrence of the request's key are replaced by `<redacted>`; the query string is dropped.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestLogEntry = Model.RequestLogEntry

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export type Server = Model.Server

/**
 * Starts an emulator; resolves once it listens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start: (options?: Options) => Promise<Server> = Internal.start

/**
 * Starts an emulator that is closed when the scope ends. A failure to listen (port taken) is a defect: the
 * emulator is test infrastructure, not something to recover from.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (server) => Effect.promise(() => server.close())
  )

/**
 * The known/unknown rule, so tests know what to expect: an id is unknown iff the first hex digit of
 * SHA-256(lower-cased id) is 0, 1 or 2 (about 19 % of ids). Case-insensitive.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isKnown: (id: string) => boolean = Document.isKnown

/**
 * The exact body bytes served for `GET /files/{id}` when no fault hits: the report for a known id (its `data.id`
 * is the SHA-256; the requested hash appears in its own field, the others are derived from it), the 404
 * NotFoundError body for an unknown one, the 400 InvalidArgumentError body for a malformed one.
 *
 * @since 0.1.0
 * @category utils
 */
export const fileDocument = (id: string): Uint8Array => Document.answerBody(Document.answerFile(id))

/**
 * The id VirusTotal gives the URL object (and the emulator uses): the SHA-256, in hex, of the canonical URL; the
 * emulator canonicalises as the WHATWG URL parser serialises (lower-cased scheme and host, "/" for an empty path).
 * Undefined for anything but an http(s) URL.
 *
 * @since 0.1.0
 * @category utils
 */
export const urlObjectId: (url: string) => string | undefined = Objects.urlObjectId

/**
 * The known/unknown rule for a URL: the rule of {@link isKnown} applied to its object id ({@link urlObjectId}).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isKnownUrl = (url: string): boolean => {
  const id = Objects.urlObjectId(url)
  return id !== undefined && Objects.isKnownId(id)
}

/**
 * The exact body bytes served for `GET /urls/{id}` of a URL the rule knows (whatever the form of the id).
 *
 * @since 0.1.0
 * @category utils
 */
export const urlDocument = (url: string): Uint8Array => {
  const id = Objects.urlObjectId(url) ?? ""
  return Template.copy(Objects.objectAnswer("url", id, url))
}

/**
 * The exact body bytes served for `GET /domains/{name}` of a domain the rule knows (lower-cased).
 *
 * @since 0.1.0
 * @category utils
 */
export const domainDocument = (name: string): Uint8Array => {
  return Template.copy(Objects.objectAnswer("domain", name.toLowerCase()))
}

/**
 * The exact body bytes served for `GET /ip_addresses/{ip}` of an address the rule knows.
 *
 * @since 0.1.0
 * @category utils
 */
export const ipAddressDocument = (ip: string): Uint8Array => {
  return Template.copy(Objects.objectAnswer("ip_address", ip.toLowerCase()))
}

/**
 * How many objects a list relationship holds: 10 to 40, a pure function of the collection ("files", "urls",
 * "domains", "ip_addresses"), the object's canonical id (a file's SHA-256, a URL's object id, a lower-cased domain,
 * an address) and the relationship name. Comments and votes are counted differently (seeded plus posted ones).
 *
 * @since 0.1.0
 * @category utils
 */
export const relationshipCount: (collection: string, id: string, relationship: string) => number = (
  collection,
  id,
  relationship
) => Collections.relationshipCount(collection as Collections.Collection, id, relationship)

/**
 * The relationships the emulator serves, by collection, with the type of the objects they lead to.
 *
 * @since 0.1.0
 * @category utils
 */
export const relationships: Readonly<Record<string, Readonly<Record<string, { readonly target: string }>>>> =
  Collections.relationships

/**
 * How many samples the emulator has the content of (see {@link sample}).
 *
 * @since 0.2.0
 * @category utils
 */
export const sampleCount: number = Samples.SAMPLE_COUNT

/**
 * A sample the emulator has the content of: what `GET /files/{sha256}/download` (premium keys) serves, through a
 * redirect to a signed URL that takes no key. Its bytes are synthetic (not a program) and deterministic, from 4 KiB
 * to 1 MiB (sample 0 is the largest); other ids have no content (404 NotFoundError).
 *
 * @since 0.2.0
 * @category utils
 */
export const sample = (
  index: number
): { readonly bytes: Uint8Array; readonly sha256: string; readonly sha1: string; readonly md5: string } => {
  if (!Number.isInteger(index) || index < 0 || index >= Samples.SAMPLE_COUNT) {
    throw new RangeError(`no sample ${index}: 0 to ${Samples.SAMPLE_COUNT - 1}`)
  }
  const found = Samples.sample(index)
  return { bytes: new Uint8Array(found.bytes), sha256: found.sha256, sha1: found.sha1, md5: found.md5 }
}

/**
 * The SHA-256s `GET /intelligence/search?query=` finds for a query, in order: 5 to 32 samples (see {@link sample}),
 * a pure function of the query.
 *
 * @since 0.2.0
 * @category utils
 */
export const searchResults: (query: string) => ReadonlyArray<string> = Premium.searchResults
