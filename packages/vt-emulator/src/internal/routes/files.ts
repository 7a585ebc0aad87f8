/**
 * `/files`: reports by any hash (the hot path of every benchmark), uploads, upload URLs and rescans.
 */
import { DEFAULT_MAX_UPLOAD_BYTES, receiveFile } from "../body.js"
import { decodeSegment, type Handler } from "../context.js"
import { answerFile } from "../document.js"
import * as R from "../reply.js"
import { isReply, resolveFile } from "../resolve.js"
import { reportOf } from "./collections.js"
import { onObject } from "./objects.js"

/** Where one-time upload URLs point (routes/uploads.ts answers them). */
export const UPLOAD_BASE = "/_ah/upload"

/**
 * `GET /files/{id}`. Until a file is uploaded, the answer is the cached one for the id as requested (a head and the
 * variant's shared tail), with no per-request work beyond a lookup.
 */
export const report: Handler = (context, request) => {
  const raw = decodeSegment(request.params.id)
  if (context.state.files.size === 0 && context.state.rescans.size === 0 && !request.hasQuery) return answerFile(raw)
  const object = resolveFile(context, raw, request.at)
  return isReply(object) ? object : reportOf(context, request, object)
}

/** `POST /files`: a file of at most `maxUploadBytes`, hashed as it arrives. */
export const upload: Handler = async (context, request) => {
  const limit = context.options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES
  const file = await receiveFile(context, request.req, limit, request.at)
  return "status" in file ? file : R.analysisDescriptor(context.state.fileAnalysis(file, request.at))
}

/** `GET /files/upload_url`: a one-time URL on this server. */
export const uploadUrl: Handler = (context, request) => {
  const url = `http://${request.req.headers.host ?? "127.0.0.1"}${UPLOAD_BASE}/${
    context.state.newUploadToken(request.at)
  }`
  return R.json({ data: url })
}

/**
 * `POST /files/{id}/analyse`: a new analysis of a file the emulator knows; once it completes, the file's report says
 * so in its `last_analysis_date`.
 */
export const analyse: Handler = onObject(
  (context, request, object) => {
    context.state.rescan("files", object.key, request.at + context.completedMs())
    return R.analysisDescriptor(context.state.fileAnalysis(object.file!, request.at, object.variant))
  },
  "files"
)
