/**
 * Where a store lives in S3: a bucket and a key prefix, written `s3://bucket/prefix`.
 *
 * The rules are checked before anything is sent, so a typo fails at once with a message instead of writing objects
 * somewhere unexpected: the bucket follows S3's naming rules for general purpose buckets, and the prefix is a list
 * of `/`-separated segments, none empty, `.` or `..`, without control characters or backslashes.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/**
 * A bucket and a prefix without leading or trailing `/` (`""` is the bucket's root).
 *
 * @since 0.1.0
 * @category models
 */
export interface S3Location {
  readonly bucket: string
  readonly prefix: string
}

/**
 * An `s3://` URL, bucket name or prefix that cannot be used.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidLocationError extends Schema.TaggedError<InvalidLocationError>()("InvalidLocationError", {
  input: Schema.String,
  message: Schema.String
}) {}

/**
 * The longest prefix, in UTF-8 bytes: with `/_not_found/`, a 200-character key and `.json`, an object key stays
 * within S3's 1,024 bytes.
 *
 * @since 0.1.0
 * @category models
 */
export const maxPrefixBytes = 800

const reservedBucketPrefixes = ["xn--", "sthree-", "amzn-s3-demo-"]
const reservedBucketSuffixes = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]

/**
 * Why `name` is not a valid bucket name, or `undefined` when it is.
 *
 * @since 0.1.0
 * @category validation
 */
export const bucketNameProblem = (name: string): string | undefined => {
  if (name.length < 3 || name.length > 63) return "a bucket name is 3 to 63 characters long"
  if (!/^[a-z0-9.-]+$/.test(name)) return "a bucket name has only lower-case letters, digits, '.' and '-'"
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) {
    return "a bucket name starts and ends with a letter or a digit"
  }
  if (name.includes("..")) return "a bucket name has no two adjacent '.'"
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return "a bucket name is not an IP address"
  const prefix = reservedBucketPrefixes.find((reserved) => name.startsWith(reserved))
  if (prefix !== undefined) return `a bucket name does not start with '${prefix}'`
  const suffix = reservedBucketSuffixes.find((reserved) => name.endsWith(reserved))
  if (suffix !== undefined) return `a bucket name does not end with '${suffix}'`
  return undefined
}

/**
 * Why `prefix` cannot be used, or `undefined` when it can.
 *
 * @since 0.1.0
 * @category validation
 */
export const prefixProblem = (prefix: string): string | undefined => {
  if (prefix === "") return undefined
  if (prefix.startsWith("/") || prefix.endsWith("/")) return "the prefix neither starts nor ends with '/'"
  for (const segment of prefix.split("/")) {
    if (segment === "") return "the prefix has no empty segment ('//')"
    if (segment === "." || segment === "..") return "the prefix has no '.' or '..' segment"
  }
  if (/[\u0000-\u001f\u007f\\]/.test(prefix)) return "the prefix has no control characters or backslashes"
  if (Buffer.byteLength(prefix, "utf8") > maxPrefixBytes) return `the prefix is at most ${maxPrefixBytes} bytes long`
  return undefined
}

const shown = (input: string) => JSON.stringify(input.length > 200 ? `${input.slice(0, 200)}…` : input)

const invalid = (input: string, problem: string): Either.Either<never, InvalidLocationError> =>
  Either.left(new InvalidLocationError({ input, message: `invalid S3 location ${shown(input)}: ${problem}` }))

const check = (location: S3Location, input: string): Either.Either<S3Location, InvalidLocationError> => {
  const problem = bucketNameProblem(location.bucket) ?? prefixProblem(location.prefix)
  return problem === undefined
    ? Either.right({ bucket: location.bucket, prefix: location.prefix })
    : invalid(input, problem)
}

/**
 * Checks a bucket and a prefix as given (no normalisation).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (location: S3Location): Either.Either<S3Location, InvalidLocationError> =>
  check(location, format(location))

/**
 * Reads `s3://bucket`, `s3://bucket/prefix` or `s3://bucket/prefix/` (one trailing `/` is dropped, as a shell
 * user would expect). The rest is taken literally: no percent-decoding, no normalisation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (url: string): Either.Either<S3Location, InvalidLocationError> => {
  if (!/^s3:\/\//i.test(url)) return invalid(url, "expected s3://bucket/prefix")
  const rest = url.slice("s3://".length)
  const slash = rest.indexOf("/")
  const bucket = slash === -1 ? rest : rest.slice(0, slash)
  const path = slash === -1 ? "" : rest.slice(slash + 1)
  const prefix = path.endsWith("/") ? path.slice(0, -1) : path
  return check({ bucket, prefix }, url)
}

/**
 * `s3://bucket/prefix`, or `s3://bucket` for the root.
 *
 * @since 0.1.0
 * @category utils
 */
export const format = (location: S3Location): string =>
  location.prefix === "" ? `s3://${location.bucket}` : `s3://${location.bucket}/${location.prefix}`

/**
 * The object key of `name` under the location's prefix.
 *
 * @since 0.1.0
 * @category utils
 */
export const objectKey = (location: S3Location, name: string): string =>
  location.prefix === "" ? name : `${location.prefix}/${name}`
