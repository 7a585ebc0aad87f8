/**
 * One-time upload URLs (`POST /_ah/upload/{token}`, handed out by `GET /files/upload_url`): files up to
 * `maxLargeUploadBytes`, admitted and counted like any `/files` request.
 */
import { DEFAULT_MAX_LARGE_UPLOAD_BYTES, receiveFile } from "../body.js"
import type { Handler } from "../context.js"
import * as R from "../reply.js"

export const upload: Handler = async (context, request) => {
  if (!context.state.consumeUploadToken(request.params.token, request.at)) {
    return R.badRequest("This upload URL is unknown, expired or already used")
  }
  const limit = context.options.maxLargeUploadBytes ?? DEFAULT_MAX_LARGE_UPLOAD_BYTES
  const file = await receiveFile(context, request.req, limit, request.at)
  return "status" in file ? file : R.analysisDescriptor(context.state.fileAnalysis(file, request.at))
}
