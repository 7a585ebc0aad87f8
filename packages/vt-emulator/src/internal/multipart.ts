/**
 * A streaming multipart/form-data reader: file parts are hashed (SHA-256, SHA-1, MD5) and counted as they arrive,
 * never held in memory, so a 650 MB upload costs the emulator a few chunks. Text fields are kept, up to a small
 * limit.
 */
import { createHash, type Hash } from "node:crypto"
import type * as Http from "node:http"

export interface UploadedFile {
  readonly field: string
  readonly filename: string
  readonly size: number
  readonly sha256: string
  readonly sha1: string
  readonly md5: string
}

export interface Form {
  readonly fields: ReadonlyMap<string, string>
  readonly files: ReadonlyArray<UploadedFile>
  /** Bytes of the whole body. */
  readonly bodyBytes: number
}

export class FormError extends Error {}

const MAX_HEADER_BYTES = 16 * 1024
const MAX_FIELD_BYTES = 64 * 1024

/** The boundary of a `multipart/form-data` content type, or undefined. */
export const boundaryOf = (contentType: string | undefined): string | undefined => {
  if (contentType === undefined || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined
  const match = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType)
  const boundary = match?.[1] ?? match?.[2]
  return boundary !== undefined && boundary.length <= 70 ? boundary : undefined
}

interface Part {
  write(chunk: Buffer): void
  end(): void
}

const parseDisposition = (headers: string): { name: string; filename: string | undefined } | undefined => {
  for (const line of headers.split("\r\n")) {
    const colon = line.indexOf(":")
    if (colon === -1 || line.slice(0, colon).trim().toLowerCase() !== "content-disposition") continue
    const value = line.slice(colon + 1)
    const name = /;\s*name="([^"]*)"/i.exec(value)?.[1] ?? /;\s*name=([^\s;]+)/i.exec(value)?.[1]
    const filename = /;\s*filename="([^"]*)"/i.exec(value)?.[1] ?? /;\s*filename=([^\s;]+)/i.exec(value)?.[1]
    return name === undefined ? undefined : { name, filename }
  }
  return undefined
}

/**
 * Reads a multipart body from `req` as it streams. Rejects with a `FormError` on a malformed body or a text field
 * over the limit; `maxBytes` bounds the whole body (the rest is still read, so the connection stays usable, and the
 * promise rejects with `tooLarge` set).
 */
export const readMultipart = (req: Http.IncomingMessage, boundary: string, maxBytes: number): Promise<Form> =>
  new Promise<Form>((resolve, reject) => {
    const delimiter = Buffer.from(`\r\n--${boundary}`, "latin1")
    const fields = new Map<string, string>()
    const files: Array<UploadedFile> = []
    // The first boundary has no CRLF before it: start as if one had been read, in a part that is thrown away.
    let pending: Buffer = Buffer.from("\r\n", "latin1")
    let state: "body" | "afterBoundary" | "headers" | "done" = "body"
    let part: Part = { write: () => {}, end: () => {} }
    let total = 0
    let failed: Error | undefined

    const fail = (error: Error) => {
      failed ??= error
    }

    const openPart = (headers: string): Part => {
      const disposition = parseDisposition(headers)
      if (disposition === undefined) {
        fail(new FormError("a part has no Content-Disposition name"))
        return { write: () => {}, end: () => {} }
      }
      if (disposition.filename !== undefined) {
        const hashes: Array<Hash> = [createHash("sha256"), createHash("sha1"), createHash("md5")]
        let size = 0
        return {
          write(chunk) {
            size += chunk.length
            for (const h of hashes) h.update(chunk)
          },
          end() {
            const [sha256, sha1, md5] = hashes.map((h) => h.digest("hex"))
            files.push({ field: disposition.name, filename: disposition.filename ?? "", size, sha256, sha1, md5 })
          }
        }
      }
      const chunks: Array<Buffer> = []
      let length = 0
      return {
        write(chunk) {
          length += chunk.length
          if (length > MAX_FIELD_BYTES) return fail(new FormError(`field "${disposition.name}" is too long`))
          chunks.push(chunk)
        },
        end() {
          fields.set(disposition.name, Buffer.concat(chunks).toString("utf8"))
        }
      }
    }

    const step = (): boolean => {
      switch (state) {
        case "body": {
          const at = pending.indexOf(delimiter)
          if (at === -1) {
            // Keep what could be the start of a delimiter split across chunks.
            const keep = Math.min(pending.length, delimiter.length - 1)
            if (pending.length > keep) part.write(pending.subarray(0, pending.length - keep))
            pending = pending.subarray(pending.length - keep)
            return false
          }
          if (at > 0) part.write(pending.subarray(0, at))
          part.end()
          pending = pending.subarray(at + delimiter.length)
          state = "afterBoundary"
          return true
        }
        case "afterBoundary": {
          if (pending.length < 2) return false
          if (pending[0] === 0x2d && pending[1] === 0x2d) {
            state = "done"
            pending = Buffer.alloc(0)
            return false
          }
          // Transport padding (spaces, tabs) may precede the CRLF.
          const crlf = pending.indexOf("\r\n")
          if (crlf === -1) {
            if (pending.length > 256) fail(new FormError("a boundary line is malformed"))
            return false
          }
          pending = pending.subarray(crlf + 2)
          state = "headers"
          return true
        }
        case "headers": {
          const end = pending.indexOf("\r\n\r\n")
          if (end === -1) {
            if (pending.length > MAX_HEADER_BYTES) fail(new FormError("part headers are too long"))
            return false
          }
          part = openPart(pending.subarray(0, end).toString("latin1"))
          pending = pending.subarray(end + 4)
          state = "body"
          return true
        }
        case "done":
          pending = Buffer.alloc(0)
          return false
      }
    }

    req.on("data", (chunk: Buffer) => {
      total += chunk.length
      if (failed !== undefined || total > maxBytes) return
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      while (failed === undefined && step());
    })
    req.once("error", (error) => reject(error))
    req.once("end", () => {
      if (total > maxBytes) return reject(new TooLargeError(total))
      if (failed !== undefined) return reject(failed)
      if (state !== "done") return reject(new FormError("the multipart body ends before its closing boundary"))
      resolve({ fields, files, bodyBytes: total })
    })
  })

export class TooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(`the body is ${bytes} bytes`)
  }
}

/** Reads a small body whole (JSON or urlencoded), up to `maxBytes`; beyond, rejects with `TooLargeError`. */
export const readSmall = (req: Http.IncomingMessage, maxBytes = 1024 * 1024): Promise<Buffer> =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let total = 0
    req.on("data", (chunk: Buffer) => {
      total += chunk.length
      if (total <= maxBytes) chunks.push(chunk)
    })
    req.once("error", reject)
    req.once("end", () => (total > maxBytes ? reject(new TooLargeError(total)) : resolve(Buffer.concat(chunks))))
  })
