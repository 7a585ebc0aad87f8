/**
 * An object a request names (`/files/{id}`, `/urls/{id}`, `/domains/{name}`, `/ip_addresses/{ip}`), resolved to the
 * canonical key its comments, votes and relationships are filed under and to its report, or to the error that
 * VirusTotal answers for a malformed or unknown id. Submitted files and URLs are known once their analysis completed.
 */
import type * as Collections from "./collections.js"
import type { Context } from "./context.js"
import { answerFile, answerUploaded, fileIdentity, normaliseFileId } from "./document.js"
import { isKnownId, objectAnswer, parseDomain, parseIp, parseUrlId } from "./objects.js"
import * as R from "./reply.js"
import * as T from "./template.js"

export interface Resolved {
  readonly collection: Collections.Collection
  /** Canonical id: a file's SHA-256, a URL's object id, a lower-cased domain, an address. */
  readonly key: string
  /** The report (before faults). */
  readonly document: () => R.Reply
  /** For files: the identity (analyses) and report variant (behaviour). */
  readonly file?: { readonly sha256: string; readonly sha1: string; readonly md5: string; readonly size: number }
  readonly variant?: number
  readonly url?: string
}

export const isReply = (r: Resolved | R.Reply): r is R.Reply => "status" in r

export const nowSeconds = (at: number): number => Math.floor(at / 1000)

const LAST_ANALYSIS = /"last_analysis_date":\d+/

/**
 * The report of an object rescanned (`POST …/analyse`) once that analysis completed: its `last_analysis_date` is
 * then. Copied per answer, since rescans are rare; every other report keeps its cached bytes.
 */
const analysedAgain = (
  context: Context,
  collection: "files" | "urls",
  key: string,
  at: number,
  document: () => R.Reply
): () => R.Reply => {
  const seconds = context.state.rescannedAt(collection, key, at)
  if (seconds === undefined) return document
  return () => {
    const reply = document()
    if (reply.status !== 200) return reply
    const text = T.copy(reply).toString("utf8").replace(LAST_ANALYSIS, `"last_analysis_date":${seconds}`)
    return { ...reply, head: Buffer.from(text, "utf8"), tail: undefined }
  }
}

/** A file by any hash: a submitted file once its analysis completed, else the known/unknown rule. */
export const resolveFile = (context: Context, raw: string, at: number): Resolved | R.Reply => {
  const id = normaliseFileId(raw)
  const submitted = id === undefined ? undefined : context.state.submitted(id)
  if (submitted !== undefined && at >= context.availableAt(submitted)) {
    return {
      collection: "files",
      key: submitted.sha256,
      file: submitted,
      variant: fileIdentity(submitted.sha256)?.variant ?? 0,
      document: analysedAgain(
        context,
        "files",
        submitted.sha256,
        at,
        () => R.ok(answerUploaded(submitted, nowSeconds(context.availableAt(submitted))))
      )
    }
  }
  const answer = answerFile(raw)
  if (answer.status !== 200) return answer
  const identity = fileIdentity(raw)!
  return {
    collection: "files",
    key: identity.sha256,
    file: identity,
    variant: identity.variant,
    document: analysedAgain(context, "files", identity.sha256, at, () => answer)
  }
}

const resolveUrl = (context: Context, raw: string, at: number): Resolved | R.Reply => {
  const parsed = parseUrlId(raw)
  if (parsed === undefined) return R.invalidArgument(`"${raw}" is not a valid URL identifier`)
  if (parsed.url !== undefined) context.state.rememberUrl(parsed.id, parsed.url)
  const submitted = context.state.urls.get(parsed.id)
  const known = isKnownId(parsed.id) || (submitted !== undefined && at >= context.availableAt(submitted))
  if (!known) return R.error(404, "NotFoundError", `URL "${raw}" not found`)
  const url = parsed.url ?? context.state.seenUrls.get(parsed.id) ?? submitted?.url
  return {
    collection: "urls",
    key: parsed.id,
    ...(url === undefined ? {} : { url }),
    document: analysedAgain(context, "urls", parsed.id, at, () => R.ok(objectAnswer("url", parsed.id, url)))
  }
}

const resolveDomain = (raw: string): Resolved | R.Reply => {
  const name = parseDomain(raw)
  if (name === undefined) return R.invalidArgument(`"${raw}" is not a valid domain`)
  if (!isKnownId(name)) return R.error(404, "NotFoundError", `Domain "${raw}" not found`)
  return { collection: "domains", key: name, document: () => R.ok(objectAnswer("domain", name)) }
}

const resolveIp = (raw: string): Resolved | R.Reply => {
  const ip = parseIp(raw)
  if (ip === undefined) return R.invalidArgument(`"${raw}" is not a valid IP address`)
  if (!isKnownId(ip)) return R.error(404, "NotFoundError", `IP address "${raw}" not found`)
  return { collection: "ip_addresses", key: ip, document: () => R.ok(objectAnswer("ip_address", ip)) }
}

export const resolveObject = (
  context: Context,
  collection: Collections.Collection,
  raw: string,
  at: number
): Resolved | R.Reply => {
  switch (collection) {
    case "files":
      return resolveFile(context, raw, at)
    case "urls":
      return resolveUrl(context, raw, at)
    case "domains":
      return resolveDomain(raw)
    case "ip_addresses":
      return resolveIp(raw)
  }
}

/** The lower-cased id the log names for an object request (files: none for a malformed hash). */
export const objectLogId = (collection: Collections.Collection, raw: string): string | undefined =>
  collection === "files" ? normaliseFileId(raw) : raw.toLowerCase()
