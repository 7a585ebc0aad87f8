/**
 * Request bodies, read only once a request was admitted: small JSON and form bodies whole, uploads streamed and
 * hashed (multipart.ts), and the 400/413 answers for bodies that cannot be used.
 */
import type * as Http from "node:http"
import type { Context, LegacyForm } from "./context.js"
import { boundaryOf, type Form, FormError, readMultipart, readSmall, TooLargeError } from "./multipart.js"
import * as R from "./reply.js"

export const DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
export const DEFAULT_MAX_LARGE_UPLOAD_BYTES = 650 * 1024 * 1024
/** Room for the multipart framing and small fields around the file. */
const FRAMING_ALLOWANCE = 256 * 1024
/** Largest JSON or form body. */
export const SMALL_BODY_BYTES = 1024 * 1024

export const readJson = async (req: Http.IncomingMessage): Promise<unknown> => {
  const body = await readSmall(req)
  try {
    return JSON.parse(body.toString("utf8")) as unknown
  } catch {
    return undefined
  }
}

/** A urlencoded or multipart form with small fields only. */
export const readForm = async (req: Http.IncomingMessage, maxBytes: number): Promise<Form> => {
  const boundary = boundaryOf(req.headers["content-type"])
  if (boundary !== undefined) return readMultipart(req, boundary, maxBytes)
  const body = await readSmall(req)
  return { fields: new Map(new URLSearchParams(body.toString("utf8"))), files: [], bodyBytes: body.length }
}

/** The answer to a body that could not be read; anything but a refused body is a defect and rethrown. */
export const formFailure = (error: unknown, limit: number): R.Reply => {
  if (error instanceof TooLargeError) {
    return R.error(413, "BadRequestError", `Request too large: a file may have at most ${limit} bytes`)
  }
  if (error instanceof FormError) return R.badRequest(`Malformed multipart body: ${error.message}`)
  throw error
}

export interface ReceivedFile {
  readonly sha256: string
  readonly sha1: string
  readonly md5: string
  readonly size: number
}

/** A file upload (`POST /files`, an upload URL): streamed, hashed, never buffered; submitted once received. */
export const receiveFile = async (
  context: Context,
  req: Http.IncomingMessage,
  limit: number,
  at: number
): Promise<R.Reply | ReceivedFile> => {
  const boundary = boundaryOf(req.headers["content-type"])
  if (boundary === undefined) return R.badRequest("Expected a multipart/form-data body with a \"file\" field")
  const declared = Number(req.headers["content-length"] ?? "0")
  if (declared > limit + FRAMING_ALLOWANCE) return formFailure(new TooLargeError(declared), limit)
  let form: Form
  try {
    form = await readMultipart(req, boundary, limit + FRAMING_ALLOWANCE)
  } catch (error) {
    return formFailure(error, limit)
  }
  const file = form.files.find((f) => f.field === "file")
  if (file === undefined) return R.badRequest("No file was uploaded in the \"file\" field")
  if (file.size > limit) return formFailure(new TooLargeError(file.size), limit)
  context.state.submitFile(
    { sha256: file.sha256, sha1: file.sha1, md5: file.md5, size: file.size, name: file.filename },
    at
  )
  return file
}

/** v2 `file/scan`: read before authentication (the key may be a form field); v2 errors have empty bodies. */
export const receiveLegacyFile = async (context: Context, req: Http.IncomingMessage): Promise<LegacyForm> => {
  const boundary = boundaryOf(req.headers["content-type"])
  if (boundary === undefined) return { fields: new Map(), failure: R.empty(400) }
  const limit = context.options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES
  let form: Form
  try {
    form = await readMultipart(req, boundary, limit + FRAMING_ALLOWANCE)
  } catch (error) {
    return { fields: new Map(), failure: R.empty(formFailure(error, limit).status) }
  }
  const file = form.files.find((f) => f.field === "file")
  if (file === undefined) return { fields: form.fields, failure: R.empty(400) }
  if (file.size > limit) return { fields: form.fields, failure: R.empty(413) }
  return { fields: form.fields, file }
}
