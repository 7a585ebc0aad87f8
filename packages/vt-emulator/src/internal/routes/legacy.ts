/**
 * The legacy v2 API (`/vtapi/v2/…`): the key and the parameters come in the query or in a form body, so a POST's
 * body is read before admission (`read`); refusals and errors are bare statuses with empty bodies; answers carry
 * `response_code` 1 found, 0 unknown, -2 queued, -1 invalid.
 */
import { readForm, receiveLegacyFile, SMALL_BODY_BYTES } from "../body.js"
import { type Context, type Handler, type Incoming, type LegacyForm } from "../context.js"
import { fileIdentity, isKnown as isKnownFile, normaliseFileId } from "../document.js"
import * as Legacy from "../legacy.js"
import { isKnownId, parseDomain, parseIp, urlObjectId } from "../objects.js"
import * as R from "../reply.js"
import { isReply, nowSeconds, resolveFile } from "../resolve.js"

/** A parameter from the query, else from the form. */
const param = (request: Incoming, name: string): string | undefined =>
  request.query.get(name) ?? request.form?.fields.get(name)

const malformed = R.empty(400)

/** The request with its body, if one was read, and the key it carries (query first, then form). */
const withBody = (request: Incoming, form: LegacyForm | undefined): Incoming =>
  request.withForm(form, request.query.get("apikey") ?? form?.fields.get("apikey"))

/** A POST's body (a urlencoded or multipart form), then the key; a body that cannot be read is a 400. */
export const read = async (_: Context, request: Incoming): Promise<Incoming | R.Reply> => {
  if (request.method !== "POST") return withBody(request, undefined)
  let fields: ReadonlyMap<string, string>
  try {
    fields = (await readForm(request.req, SMALL_BODY_BYTES)).fields
  } catch {
    return malformed
  }
  return withBody(request, { fields })
}

/** `file/scan`'s body: the file (streamed and hashed) or why there is none, the other fields, then the key. */
export const readUpload = async (context: Context, request: Incoming): Promise<Incoming> =>
  withBody(request, request.method === "POST" ? await receiveLegacyFile(context, request.req) : undefined)

const resource = (request: Incoming): string | undefined =>
  param(request, "resource") ?? param(request, "url") ?? param(request, "domain") ?? param(request, "ip")

/** The id the log names for `file/…`: the hash, lower-cased when it is one. */
export const fileId = (request: Incoming): string | undefined => {
  const r = resource(request)
  return r === undefined ? undefined : normaliseFileId(r) ?? r
}

/** The id the log names for the other endpoints: the resource, lower-cased. */
export const objectId = (request: Incoming): string | undefined => resource(request)?.toLowerCase()

/** `file/scan`: the upload is submitted, as `POST /api/v3/files` would. */
export const fileScan: Handler = (context, request) => {
  const upload = request.form
  const file = upload?.file
  if (file === undefined) return upload?.failure ?? malformed
  context.state.submitFile({ ...file, name: file.filename }, request.at)
  context.state.fileAnalysis(file, request.at)
  return R.ok(Legacy.fileScanQueued(file, nowSeconds(request.at)))
}

/** `file/report?resource=<hash or scan id>`. */
export const fileReport: Handler = (context, request) => {
  const { at } = request
  const resource = param(request, "resource")
  if (resource === undefined) return R.ok(Legacy.invalid("", "resource"))
  const scanId = /^([0-9a-fA-F]{64})-\d+$/.exec(resource)?.[1]
  const id = normaliseFileId(scanId ?? resource)
  if (id === undefined) return R.ok(Legacy.invalid(resource, "resource"))
  const submitted = context.state.submitted(id)
  if (submitted !== undefined && at < context.availableAt(submitted) && !isKnownFile(id)) {
    return R.ok(Legacy.queued(resource, `${submitted.sha256}-${nowSeconds(at)}`))
  }
  const resolved = resolveFile(context, id, at)
  if (isReply(resolved) || resolved.file === undefined) return R.ok(Legacy.unknownResource(resource))
  const identity = submitted !== undefined && at >= context.availableAt(submitted)
    ? { ...submitted, variant: resolved.variant ?? 0, lastAnalysisDate: nowSeconds(context.availableAt(submitted)) }
    : fileIdentity(id)!
  return R.ok(Legacy.fileReport(resource, identity, identity.lastAnalysisDate))
}

/** `url/scan` with a `url` parameter. */
export const urlScan: Handler = (context, request) => {
  const url = param(request, "url")
  const id = url === undefined ? undefined : urlObjectId(url)
  if (url === undefined || id === undefined) return R.ok(Legacy.invalid(url ?? "", "url"))
  context.state.submitUrl(id, url, request.at)
  context.state.urlAnalysis(id, url, request.at)
  return R.ok(Legacy.urlScanQueued(url, id, nowSeconds(request.at)))
}

/** `url/report?resource=<URL, URL id or scan id>[&scan=1]`: with `scan=1`, an unknown URL is submitted. */
export const urlReport: Handler = (context, request) => {
  const { state } = context
  const { at } = request
  const seconds = nowSeconds(at)
  const resource = param(request, "resource")
  if (resource === undefined) return R.ok(Legacy.invalid("", "resource"))
  const scanId = /^([0-9a-fA-F]{64})-\d+$/.exec(resource)?.[1]
  const id = scanId ?? (/^[0-9a-fA-F]{64}$/.test(resource) ? resource.toLowerCase() : urlObjectId(resource))
  if (id === undefined) return R.ok(Legacy.invalid(resource, "url"))
  const url = /^https?:\/\//i.test(resource) ? resource : state.seenUrls.get(id) ?? state.urls.get(id)?.url
  if (url !== undefined) state.rememberUrl(id, url)
  const submitted = state.urls.get(id)
  if (isKnownId(id) || (submitted !== undefined && at >= context.availableAt(submitted))) {
    return R.ok(Legacy.urlReport(resource, url ?? `http://h${id.slice(0, 12)}.example/`, id, seconds - 3600))
  }
  if (submitted !== undefined) return R.ok(Legacy.queued(resource, `${id}-${seconds}`))
  if (param(request, "scan") === "1" && url !== undefined) {
    state.submitUrl(id, url, at)
    state.urlAnalysis(id, url, at)
    return R.ok(Legacy.queued(resource, `${id}-${seconds}`))
  }
  return R.ok(Legacy.unknownResource(resource))
}

/** `domain/report?domain=…`. */
export const domainReport: Handler = (_, request) => {
  const raw = param(request, "domain") ?? ""
  const domain = parseDomain(raw)
  if (domain === undefined) return R.ok(Legacy.invalid(raw, "domain"))
  return R.ok(isKnownId(domain) ? Legacy.domainReport(domain) : Legacy.domainUnknown(domain))
}

/** `ip-address/report?ip=…`. */
export const ipReport: Handler = (_, request) => {
  const raw = param(request, "ip") ?? ""
  const ip = parseIp(raw)
  if (ip === undefined) return R.ok(Legacy.invalid(raw, "IP address"))
  return R.ok(isKnownId(ip) ? Legacy.ipReport(ip) : Legacy.ipUnknown(ip))
}

/** What a path under `/vtapi/v2/` that no route has answers, unadmitted. */
export const unmatched = (otherMethod: boolean): R.Reply => R.empty(otherMethod ? 405 : 404)
