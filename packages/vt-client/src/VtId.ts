/**
 * Validation and normalisation of the ids users list: file hashes, domains, IP addresses, URLs and analysis ids.
 *
 * Each validator returns `Either.right(normalised)` or `Either.left(reason)`, where the reason is a short
 * sentence fit for "line 12: <reason>". Normalising before anything else is what makes duplicates and
 * already-saved reports recognisable whatever case or spelling the input used.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { isIP } from "node:net"
import { domainToASCII } from "node:url"

const hexHash = /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/i

/**
 * An MD5, SHA-1 or SHA-256 hash: trimmed and lower-cased.
 *
 * @since 0.1.0
 * @category utils
 */
export const fileHash = (input: string): Either.Either<string, string> => {
  const trimmed = input.trim()
  return hexHash.test(trimmed)
    ? Either.right(trimmed.toLowerCase())
    : Either.left("not an MD5, SHA-1 or SHA-256 hash (expected 32, 40 or 64 hex characters)")
}

// Characters the WHATWG host parser behind domainToASCII would interpret (percent-decoding, cutting at
// "/" or "?") instead of rejecting; refusing them first keeps "a/b.com" from becoming "a". Anything else
// outside the label alphabet is caught after the conversion.
const notInDomain = /[\s/\\?#@:%[\]]/
const label = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/
const topLabel = /^(?!-)(?=[a-z0-9-]*[a-z])[a-z0-9-]{1,63}(?<!-)$/

/**
 * A domain name: lower-cased, internationalised names converted to their ASCII (punycode) form, one
 * trailing dot dropped. At least two labels; labels of letters, digits, hyphens (not at either end) and
 * underscores (as in `_dmarc.example.com`); the top-level label has a letter, so IPv4 addresses are not
 * taken for domains.
 *
 * @since 0.1.0
 * @category utils
 */
export const domain = (input: string): Either.Either<string, string> => {
  const reason = "not a domain name"
  let name = input.trim()
  if (name.endsWith(".")) name = name.slice(0, -1)
  if (name === "" || notInDomain.test(name)) return Either.left(reason)
  const ascii = domainToASCII(name)
  if (ascii === "" || ascii.length > 253) return Either.left(reason)
  const labels = ascii.split(".")
  if (labels.length < 2) return Either.left(`${reason} (expected at least two labels, as in example.com)`)
  const last = labels.length - 1
  return labels.every((part, i) => (i === last ? topLabel : label).test(part))
    ? Either.right(ascii)
    : Either.left(reason)
}

const hextets = (address: string): Array<number> => {
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes the two groups it stands for.
  const colon = address.lastIndexOf(":")
  const tail = address.slice(colon + 1)
  if (tail.includes(".")) {
    const [a, b, c, d] = tail.split(".").map(Number)
    address = `${address.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [left, right] = address.split("::")
  const parse = (part: string | undefined) => part === undefined || part === "" ? [] : part.split(":")
  const head = parse(left)
  const rest = parse(right)
  const gap = Array.from({ length: 8 - head.length - rest.length }, () => "0")
  const groups = right === undefined ? head : [...head, ...gap, ...rest]
  return groups.map((group) => parseInt(group, 16))
}

// RFC 5952: lower-case hex, no leading zeros, the longest run (first on a tie) of two or more zero
// groups as "::", IPv4-mapped addresses with their dotted tail.
const canonicalIpv6 = (address: string): string => {
  const groups = hextets(address)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`
  }
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(":")
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`
}

/**
 * An IPv4 or IPv6 address (as `node:net` `isIP` accepts it, without a zone id); IPv6 in its canonical
 * RFC 5952 form, so `2001:DB8:0:0::1` and `2001:db8::1` are the same id.
 *
 * @since 0.1.0
 * @category utils
 */
export const ipAddress = (input: string): Either.Either<string, string> => {
  const trimmed = input.trim()
  switch (isIP(trimmed)) {
    case 4:
      return Either.right(trimmed)
    case 6:
      return trimmed.includes("%")
        ? Either.left("not an IP address (IPv6 zone ids are not accepted)")
        : Either.right(canonicalIpv6(trimmed))
    default:
      return Either.left("not an IPv4 or IPv6 address")
  }
}

/**
 * An http or https URL: trimmed and otherwise kept as written, because VirusTotal canonicalises URLs
 * itself and report keys are derived from the URL as listed.
 *
 * @since 0.1.0
 * @category utils
 */
export const url = (input: string): Either.Either<string, string> => {
  const trimmed = input.trim()
  if (trimmed === "" || /\s/.test(trimmed)) return Either.left("not a URL (it contains whitespace)")
  let parsed: URL
  try {
    parsed = new URL(trimmed)
  } catch {
    return Either.left("not a URL")
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return Either.left("not an http or https URL")
  }
  return parsed.hostname === "" ? Either.left("not a URL (no host)") : Either.right(trimmed)
}

/**
 * The id VirusTotal gives a URL: its UTF-8 bytes in unpadded URL-safe base64.
 *
 * @example
 * import { VtId } from "@vt-harvest/vt-client"
 *
 * console.log(VtId.urlId("http://www.virustotal.com")) // "aHR0cDovL3d3dy52aXJ1c3RvdGFsLmNvbQ"
 *
 * @since 0.1.0
 * @category utils
 */
export const urlId = (url: string): string => Buffer.from(url, "utf8").toString("base64url")

const sha256Hex = /^[0-9a-f]{64}$/i

/**
 * The `{id}` of `/urls/{id}` for what a user gives: a URL object id (64 hex digits, the SHA-256 of VirusTotal's
 * canonical URL) is kept, lower-cased; a URL is validated ({@link url}) and turned into its {@link urlId}.
 *
 * @since 0.1.0
 * @category utils
 */
export const urlIdentifier = (input: string): Either.Either<string, string> => {
  const trimmed = input.trim()
  if (sha256Hex.test(trimmed)) return Either.right(trimmed.toLowerCase())
  return Either.map(url(trimmed), urlId)
}

const urlSafeId = /^[A-Za-z0-9_-]+$/
const paddedBase64 = /^[A-Za-z0-9+/]+={0,2}$/

/**
 * The longest analysis id accepted (VirusTotal's are about 60 characters for files and 80 for URLs).
 *
 * @since 0.2.0
 * @category models
 */
export const maxAnalysisIdLength = 150

/**
 * An analysis id as VirusTotal hands them out, trimmed: either made of `A-Z a-z 0-9 _ -` (URL analyses are
 * `u-<sha256>-<unix seconds>`), or standard base64 padded to a multiple of 4 characters (file analyses are the
 * base64 of `<md5>:<unix seconds>`, ending in `==`); 8 to {@link maxAnalysisIdLength} characters. Anything else
 * (spaces, `.`, `%`, path separators other than base64's `/`, a mix of both alphabets) is refused, so an untrusted
 * string is never sent as one.
 *
 * @since 0.2.0
 * @category utils
 */
export const analysisId = (input: string): Either.Either<string, string> => {
  const id = input.trim()
  if (id.length < 8 || id.length > maxAnalysisIdLength) {
    return Either.left(`not an analysis id (expected 8 to ${maxAnalysisIdLength} characters)`)
  }
  if (urlSafeId.test(id)) return Either.right(id)
  if (paddedBase64.test(id)) {
    return id.length % 4 === 0
      ? Either.right(id)
      : Either.left("not an analysis id (base64 ids are padded to a multiple of 4 characters)")
  }
  return Either.left("not an analysis id (expected base64 or A-Z a-z 0-9 _ - only)")
}
