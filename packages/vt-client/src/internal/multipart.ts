/**
 * A multipart/form-data body built as a stream with a known length: the framing is a few hundred bytes, the file
 * part is the caller's stream passed through as it is read. Nothing is buffered, so uploading 600 MB costs the
 * client a few chunks, and the `content-length` lets any server (VirusTotal's upload URLs included) accept it.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"

/** A text field. */
export interface Field {
  readonly name: string
  readonly value: string
}

/** The file part: its bytes as a stream, and their exact number. */
export interface FilePart {
  readonly name: string
  readonly filename: string
  readonly size: number
  readonly stream: Stream.Stream<Uint8Array, unknown>
  readonly contentType?: string | undefined
}

const encoder = new TextEncoder()

// As browsers do (WHATWG multipart/form-data encoding): quotes and line breaks in names are percent-encoded.
const escapeName = (name: string): string => name.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A")

/** A boundary no file content can be confused with in practice (and that the part headers cannot contain). */
export const makeBoundary = (): string => `----vt-harvest-${randomBytes(16).toString("hex")}`

/** The body: fields first, then the file; the stream's length is the declared `content-length`. */
export const body = (fields: ReadonlyArray<Field>, file: FilePart, boundary = makeBoundary()): HttpBody.HttpBody => {
  const head = encoder.encode(
    fields.map((field) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(field.name)}"\r\n\r\n${field.value}\r\n`
    ).join("") +
      `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(file.name)}"; filename="${
        escapeName(file.filename)
      }"\r\nContent-Type: ${file.contentType ?? "application/octet-stream"}\r\n\r\n`
  )
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`)
  const stream = Stream.make(head).pipe(
    Stream.concat(file.stream),
    Stream.concat(Stream.make(tail))
  )
  return HttpBody.stream(
    stream,
    `multipart/form-data; boundary=${boundary}`,
    head.length + file.size + tail.length
  )
}
