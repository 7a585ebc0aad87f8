/**
 * `/analyses/{id}` and `/analyses/{id}/item`: the analyses of submitted files and URLs and of rescans, whose status
 * follows the emulator's clock (queued, in-progress, completed), and the object once it is completed.
 */
import { type Context, decodeSegment, type Handler, type Incoming } from "../context.js"
import * as R from "../reply.js"
import { isReply, resolveFile, resolveObject } from "../resolve.js"
import { analysisBody, type AnalysisRecord, type AnalysisStatus, statusAt } from "../state.js"

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
export const analysis: Handler = withAnalysis((_, __, analysis, status) =>
  R.ok({ head: analysisBody(analysis, status), tail: undefined })
)

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
