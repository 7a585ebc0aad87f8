/**
 * `/analyses/{id}` and `/analyses/{id}/item`: the analyses of submitted files and URLs and of rescans, whose status
 * follows the emulator's clock (queued, in-progress, completed), and the object once it is completed.
 */
import { type Context, decodeSegment, type Handler, type Incoming } from "../context.js"
import { variantResults as fileVariantResults } from "../document.js"
import { objectVariant, variantResults } from "../objects.js"
import * as R from "../reply.js"
import { isReply, resolveFile, resolveObject } from "../resolve.js"
import { type AnalysisRecord, type AnalysisStatus, statusAt } from "../state.js"
import * as T from "../template.js"

const BASE = "https://www.virustotal.com/api/v3"

const FILE_STATS_KEYS = [
  "harmless",
  "type-unsupported",
  "suspicious",
  "confirmed-timeout",
  "timeout",
  "failure",
  "malicious",
  "undetected"
] as const
const URL_STATS_KEYS = ["harmless", "malicious", "suspicious", "undetected", "timeout"] as const

const zeros = (keys: ReadonlyArray<string>) => Object.fromEntries(keys.map((k) => [k, 0]))

/** An analysis document with the record's values as slots, for one kind, status and (once completed) variant. */
const build = (kind: "file" | "url", status: AnalysisStatus, variant: number): T.Template => {
  const scan = status !== "completed"
    ? { stats: zeros(kind === "file" ? FILE_STATS_KEYS : URL_STATS_KEYS), results: {} }
    : kind === "file"
    ? fileVariantResults(variant)
    : variantResults("url", variant)
  return T.compile({
    data: {
      type: "analysis",
      id: T.text("ID"),
      links: { self: `${BASE}/analyses/${T.text("ID")}`, item: `${BASE}/${kind}s/${T.text("ITEM")}` },
      attributes: { date: T.value("DATE"), status, stats: scan.stats, results: scan.results }
    },
    meta: kind === "file"
      ? { file_info: { sha256: T.text("ITEM"), sha1: T.text("SHA1"), md5: T.text("MD5"), size: T.value("SIZE") } }
      : { url_info: { id: T.text("ITEM"), url: T.text("URL") } }
  })
}

const templates = T.cache<T.Template>()

const template = (kind: "file" | "url", status: AnalysisStatus, variant: number): T.Template =>
  templates(`${kind}/${status}/${variant}`, () => build(kind, status, variant))

const analysisDocument = (record: AnalysisRecord, status: AnalysisStatus): T.Body => {
  const common = { ID: T.escape(record.id), DATE: String(Math.floor(record.created / 1000)) }
  // Until completed, an analysis shows no verdicts: one template for every variant.
  if (record.file !== undefined) {
    return T.render(template("file", status, status === "completed" ? record.file.variant : -1), {
      ...common,
      ITEM: record.file.sha256,
      SHA1: record.file.sha1,
      MD5: record.file.md5,
      SIZE: String(record.file.size)
    })
  }
  const url = record.url ?? { id: "", url: "" }
  return T.render(template("url", status, status === "completed" ? objectVariant("url", url.id) : -1), {
    ...common,
    ITEM: T.escape(url.id),
    URL: T.escape(url.url)
  })
}

const withAnalysis = (
  run: (context: Context, request: Incoming, analysis: AnalysisRecord, status: AnalysisStatus) => R.Reply
): Handler =>
(context, request) => {
  const id = decodeSegment(request.params.id)
  const analysis = context.state.analysis(id)
  if (analysis === undefined) return R.error(404, "NotFoundError", `Analysis "${id}" not found`)
  return run(
    context,
    request,
    analysis,
    statusAt(analysis.created, request.at, context.queuedMs(), context.completedMs())
  )
}

/** The id the log names: the analysis id, decoded. */
export const analysisId = (request: Incoming): string => decodeSegment(request.params.id)

/** `GET /analyses/{id}`. */
export const analysis: Handler = withAnalysis((_, __, analysis, status) => R.ok(analysisDocument(analysis, status)))

/** `GET /analyses/{id}/item`: the file or URL report, once the analysis completed. */
export const item: Handler = withAnalysis((context, request, analysis, status) => {
  if (status !== "completed") {
    return R.error(400, "NotAvailableYet", `The analysis "${analysis.id}" is not completed yet`)
  }
  const object = analysis.file !== undefined
    ? resolveFile(context, analysis.file.sha256, request.at)
    : resolveObject(context, "urls", analysis.url?.id ?? "", request.at)
  return isReply(object) ? object : object.document()
})
