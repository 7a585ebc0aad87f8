/**
 * What `scan` remembers of its uploads, in `<out>/_uploads/<sha256>.json`: the analysis the last upload of that
 * content started, and whether it was seen completed. A scan stopped (or timed out) while waiting leaves the upload
 * `uploaded`; the next scan of the same content waits for that analysis again instead of uploading the file again.
 *
 * `{"analysis_id":"<id>","status":"uploaded"}`, then `"completed"` once its analysis is.
 */
import { Either, Predicate } from "effect"
import * as Analyses from "./analyses.js"

export type Status = "uploaded" | "completed"

export interface Upload {
  readonly analysisId: string
  readonly status: Status
}

/** The record of an upload. */
export const encode = (upload: Upload): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ analysis_id: upload.analysisId, status: upload.status }) + "\n")

/**
 * The upload a record describes, or `undefined` when it is not one (a store is files anyone may have edited: the id
 * is checked as the upload's answer was).
 */
export const decode = (bytes: Uint8Array): Upload | undefined => {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch {
    return undefined
  }
  if (!Predicate.isRecord(json) || typeof json.analysis_id !== "string") return undefined
  if (json.status !== "uploaded" && json.status !== "completed") return undefined
  const id = Analyses.checkedId(json.analysis_id)
  return Either.isRight(id) ? { analysisId: id.right, status: json.status } : undefined
}
