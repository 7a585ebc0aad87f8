/**
 * gzip for stored records, shared by every sink so that a store written by one reads the same in another.
 *
 * Compression runs on libuv's thread pool, not on the event loop. Node writes no timestamp or file name in the gzip
 * header, so one document always compresses to the same bytes with the same zlib.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as zlib from "node:zlib"

/**
 * Bytes that do not decompress (not gzip, or truncated).
 *
 * @since 0.1.0
 * @category errors
 */
export class GzipError extends Schema.TaggedError<GzipError>()("GzipError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * The `Content-Encoding` value of gzip-compressed bytes.
 *
 * @since 0.1.0
 * @category models
 */
export const contentEncoding = "gzip"

const toBytes = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)

/**
 * Compresses a document. Compressing bytes held in memory cannot fail short of running out of memory, which is a
 * defect.
 *
 * @since 0.1.0
 * @category compression
 */
export const compress = (body: Uint8Array): Effect.Effect<Uint8Array> =>
  Effect.async<Uint8Array>((resume) => {
    zlib.gzip(body, (error, result) => resume(error === null ? Effect.succeed(toBytes(result)) : Effect.die(error)))
  })

/**
 * Decompresses what {@link compress} (or any gzip writer) produced. With `maxBytes`, data that decompresses to more
 * fails once that much is out (a gzip bomb costs at most `maxBytes` of memory).
 *
 * @since 0.1.0
 * @category compression
 */
export const decompress = (
  body: Uint8Array,
  options?: { readonly maxBytes?: number | undefined }
): Effect.Effect<Uint8Array, GzipError> =>
  Effect.async<Uint8Array, GzipError>((resume) => {
    const maxBytes = options?.maxBytes
    zlib.gunzip(body, maxBytes === undefined ? {} : { maxOutputLength: maxBytes }, (error, result) =>
      resume(
        error === null
          ? Effect.succeed(toBytes(result))
          : Effect.fail(
            new GzipError({
              message: (error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"
                ? `cannot decompress gzip data: it holds more than ${maxBytes} bytes`
                : `cannot decompress gzip data: ${error.message}`,
              cause: error
            })
          )
      ))
  })

/**
 * Whether bytes start with the gzip magic number (`1f 8b`): a cheap check, not a proof that they decompress.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b
