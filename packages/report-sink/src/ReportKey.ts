/**
 * The name under which a report is stored, the same in every sink.
 *
 * A key is also a file name (fs) and part of an object key (S3), so the rules are strict enough that no key can
 * reach outside the store: only `A-Z a-z 0-9 . _ -`, 1 to 200 characters, never a leading dot (which also rules
 * out `.` and `..`). Sinks may rely on this: a value of type {@link ReportKey} has passed the check.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"

/**
 * The rule every key matches. Exported so other sinks and tools can check names they read back (for example when
 * listing a store that also holds unrelated files).
 *
 * @since 0.1.0
 * @category models
 */
export const pattern: RegExp = /^(?!\.)[A-Za-z0-9._-]{1,200}$/

/**
 * A store key. Build one with {@link make} or one of the `from*` constructors; the brand keeps unchecked strings
 * away from the sinks.
 *
 * @since 0.1.0
 * @category models
 */
export const ReportKey = Schema.String.pipe(
  Schema.pattern(pattern, {
    message: () => "a report key is 1 to 200 characters of A-Z a-z 0-9 . _ - and does not start with '.'"
  }),
  Schema.brand("ReportKey"),
  Schema.annotations({ identifier: "ReportKey" })
)

/**
 * A string that passed the key rules (branded): the only thing a sink accepts as a name.
 *
 * @since 0.1.0
 * @category models
 */
export type ReportKey = typeof ReportKey.Type

/**
 * A string that cannot be a key, or an id that cannot be turned into one.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKeyError extends Schema.TaggedError<InvalidKeyError>()("InvalidKeyError", {
  input: Schema.String,
  message: Schema.String
}) {}

const maxShown = 80

// The input may be hostile or huge; show a bounded, escaped rendering in the message.
const show = (input: string): string => JSON.stringify(input.length > maxShown ? `${input.slice(0, maxShown)}…` : input)

const invalid = (input: string, reason: string): Either.Either<never, InvalidKeyError> =>
  Either.left(new InvalidKeyError({ input, message: `invalid report key ${show(input)}: ${reason}` }))

/**
 * A cheap check without the error value, for filtering names read back from a store.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isReportKey = (s: string): s is ReportKey => pattern.test(s)

/**
 * Checks a string against the key rules, unchanged (no normalisation).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (s: string): Either.Either<ReportKey, InvalidKeyError> => {
  if (isReportKey(s)) {
    return Either.right(s)
  }
  if (s.length === 0) {
    return invalid(s, "it is empty")
  }
  if (s.length > 200) {
    return invalid(s, `it is ${s.length} characters long (at most 200)`)
  }
  if (s.startsWith(".")) {
    return invalid(s, "it starts with '.'")
  }
  return invalid(s, "only A-Z a-z 0-9 . _ - are allowed")
}

const fileHashPattern = /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/

/**
 * The key of a file report: the MD5, SHA-1 or SHA-256 as listed, lower-cased. Anything that is not one of those
 * three hex lengths is refused, so a file key can never be mistaken for another kind.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFileHash = (hash: string): Either.Either<ReportKey, InvalidKeyError> => {
  const lower = hash.toLowerCase()
  return fileHashPattern.test(lower)
    ? make(lower)
    : invalid(hash, "not an MD5, SHA-1 or SHA-256 hex digest")
}

/**
 * The key of a domain report: the name lower-cased (DNS names are case-insensitive, VirusTotal's ids are lower
 * case). Names VirusTotal would not accept are left to the caller's validation; this only enforces the key rules.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDomain = (domain: string): Either.Either<ReportKey, InvalidKeyError> => make(domain.toLowerCase())

/**
 * The key of an IP address report: the address with `:` replaced by `_` (`:` is not portable in file names),
 * lower-cased so the hex digits of an IPv6 address have one spelling.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromIpAddress = (address: string): Either.Either<ReportKey, InvalidKeyError> =>
  make(address.toLowerCase().replaceAll(":", "_"))

/**
 * The key of a URL report: the SHA-256 hex digest of the URL exactly as listed (UTF-8). URLs are too long and too
 * free-form to be file names; a digest always makes a valid key, so this cannot fail.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUrl = (url: string): ReportKey => createHash("sha256").update(url, "utf8").digest("hex") as ReportKey

const urlSafeAnalysisId = /^[A-Za-z0-9_-]+$/
const paddedBase64 = /^[A-Za-z0-9+/]+={0,2}$/

/**
 * The key of an analysis: the id itself when it is made only of `A-Z a-z 0-9 _ -` (URL analyses,
 * `u-<sha256>-<seconds>`); otherwise, for the standard base64 ids of file analyses (with `+`, `/` and `=`, which
 * no key may hold), the same id in URL-safe base64 without its padding (`+` → `-`, `/` → `_`, `=` dropped)
 * followed by `.b64`. The mapping is one to one: keys of the first form never contain a `.`, and base64 ids are
 * padded to a multiple of 4 characters, so the padding dropped is known from the length. The id is recovered from
 * a key of the second form by undoing each step (or read from the saved document's `data.id`).
 *
 * @example
 * import { ReportKey } from "@vt-harvest/report-sink"
 *
 * console.log(ReportKey.fromAnalysisId("NjY0MjRlOTFjMDIyYTkyNWM0NjU2NWQzYWNlMzFmZmI6MTQ3NTA0ODI3Nw=="))
 * // Right: "NjY0MjRlOTFjMDIyYTkyNWM0NjU2NWQzYWNlMzFmZmI6MTQ3NTA0ODI3Nw.b64"
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromAnalysisId = (id: string): Either.Either<ReportKey, InvalidKeyError> => {
  if (urlSafeAnalysisId.test(id)) return make(id)
  if (paddedBase64.test(id) && id.length % 4 === 0 && id.length <= 196) {
    return make(`${id.replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_")}.b64`)
  }
  return invalid(id, "not an analysis id (base64 padded to a multiple of 4, or A-Z a-z 0-9 _ - only)")
}

/**
 * The analysis id a key of {@link fromAnalysisId} stands for.
 *
 * @since 0.2.0
 * @category utils
 */
export const toAnalysisId = (key: ReportKey): string => {
  if (!key.endsWith(".b64")) return key
  const body = key.slice(0, -".b64".length).replaceAll("-", "+").replaceAll("_", "/")
  return body + "=".repeat((4 - (body.length % 4)) % 4)
}
