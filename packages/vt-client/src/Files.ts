/**
 * Files: reports, uploads (small ones to `POST /files`, larger ones through a one-time upload URL, streamed from
 * disk either way) and rescans.
 *
 * @since 0.1.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { basename } from "node:path"
import type * as Analysis from "./Analysis.js"
import { analysisDescriptor, decode, refPath, withClient } from "./internal/api.js"
import * as Multipart from "./internal/multipart.js"
import type * as VtClient from "./VtClient.js"
import * as VtError from "./VtError.js"
import * as VtObject from "./VtObject.js"

/**
 * The largest file `POST /files` accepts (32 MiB); larger files go through {@link uploadUrl}, up to 650 MB.
 *
 * @since 0.1.0
 * @category models
 */
export const maxDirectUploadBytes = 32 * 1024 * 1024

/**
 * Options of {@link upload} and {@link uploadStream}.
 *
 * @since 0.1.0
 * @category models
 */
export interface UploadOptions {
  /** The password of an encrypted archive (the `password` form field). */
  readonly password?: string | undefined
  /** Overrides the client's upload timeout for this upload. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Use an upload URL whatever the size. */
  readonly viaUploadUrl?: boolean | undefined
  /**
   * POST to this one-time URL (from {@link uploadUrl}) instead of asking for one. Without it, a large upload asks
   * for the URL and posts to it as one `VtClient.unit`, which a retrying middleware retries whole (a spent URL is
   * never posted to twice).
   *
   * @since 0.2.0
   */
  readonly uploadUrl?: string | undefined
}

/**
 * What {@link uploadStream} sends: the bytes as a stream, their exact number (sent as `content-length`, and what
 * decides the route), and the file name VirusTotal records.
 *
 * @since 0.1.0
 * @category models
 */
export interface Source {
  readonly stream: Stream.Stream<Uint8Array, unknown>
  readonly size: number
  readonly filename: string
}

/**
 * `GET /files/{md5|sha1|sha256}` (the service's `getFile`; `options.relationships` includes the first page of each).
 *
 * @since 0.1.0
 * @category requests
 */
export const get = (
  hash: string,
  options?: VtClient.ObjectOptions
): Effect.Effect<VtObject.Document, VtError.VtError, VtClient.VtClient> => withClient((vt) => vt.getFile(hash, options))

const UploadUrlDocument = Schema.Struct({ data: Schema.String })

/**
 * `GET /files/upload_url`: a one-time URL to POST one file of up to 650 MB to.
 *
 * @since 0.1.0
 * @category requests
 */
export const uploadUrl = (): Effect.Effect<string, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.flatMap(
      vt.getJson("/files/upload_url"),
      (response) => Effect.map(decode(vt, UploadUrlDocument, response, "GET", "/files/upload_url"), (doc) => doc.data)
    )
  )

/**
 * Uploads bytes from a stream, as multipart field `file`, streamed with a known length (never buffered): to
 * `POST /files` up to {@link maxDirectUploadBytes}, through a fresh {@link uploadUrl} above. Answers the
 * analysis descriptor; {@link Analysis.wait} follows it. An upload through a URL is two requests (one when the
 * caller passes `uploadUrl`).
 *
 * @since 0.1.0
 * @category requests
 */
export const uploadStream = (
  source: Source,
  options?: UploadOptions
): Effect.Effect<Analysis.Descriptor, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) => {
    const large = options?.viaUploadUrl === true || source.size > maxDirectUploadBytes
    const post = (target: string) =>
      Effect.gen(function*() {
        const fields = options?.password === undefined ? [] : [{ name: "password", value: options.password }]
        const body = Multipart.body(fields, {
          name: "file",
          filename: source.filename,
          size: source.size,
          stream: source.stream
        })
        const response = yield* vt.execute(
          HttpClientRequest.post(target).pipe(HttpClientRequest.setBody(body)),
          { timeout: options?.timeout ?? vt.uploadTimeout }
        )
        return yield* analysisDescriptor(vt, response, "POST", target)
      })
    if (options?.uploadUrl !== undefined) return post(options.uploadUrl)
    // A one-time upload URL and the upload to it are one unit: a retry asks for a fresh URL rather than posting to
    // a spent one.
    return large ? vt.unit(Effect.flatMap(uploadUrl(), post)) : post("/files")
  })

/**
 * Uploads a file from disk, streamed (memory stays flat whatever its size): see {@link uploadStream}.
 *
 * @since 0.1.0
 * @category requests
 */
export const upload = (
  path: string,
  options?: UploadOptions
): Effect.Effect<
  Analysis.Descriptor,
  VtError.VtError | PlatformError.PlatformError,
  VtClient.VtClient | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(path)
    return yield* uploadStream(
      { stream: fs.stream(path, { chunkSize: FileSystem.KiB(64) }), size: Number(info.size), filename: basename(path) },
      options
    )
  })

/**
 * Options of {@link download}.
 *
 * @since 0.2.0
 * @category models
 */
export interface DownloadOptions {
  /** The most bytes accepted; defaults to `VtClient.defaultMaxStreamBytes` (650 MiB). */
  readonly maxBytes?: number | undefined
  /**
   * How long each answer's head may take, and the longest pause in a body (which must also bring 64 KiB in every such
   * span); defaults to the client's timeout.
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * `GET /files/{id}/download`: the file's bytes as they arrive, bounded (a premium privilege; other keys get 403
 * `ForbiddenError`). VirusTotal answers with a redirect to a signed storage URL: that is followed once, as a second
 * request through the same client (its middlewares see both), sent without the key, to whatever http(s) host it
 * names (plain http refused under an https API); a further redirect is an error. A 404 from that URL is an
 * `UnknownApiError`, not `NotFoundError`: VirusTotal has the file, the link did not serve it. The bytes are not
 * checked here: compare their SHA-256 before trusting them (the CLI's `download` does, before keeping them).
 *
 * @since 0.2.0
 * @category requests
 */
export const download = (
  hash: string,
  options?: DownloadOptions
): Stream.Stream<Uint8Array, VtError.VtError, VtClient.VtClient> =>
  Stream.unwrapScoped(withClient((vt) =>
    Effect.gen(function*() {
      const path = `${yield* refPath(vt, VtObject.file(hash))}/download`
      const streamOptions = { maxBytes: options?.maxBytes, timeout: options?.timeout }
      const first = yield* vt.executeStream(HttpClientRequest.get(path), { ...streamOptions, redirects: "answer" })
      if (first.location === undefined) return first.body
      // The file is known (the API redirected to it): a 404 now is the signed link's (expired, say), never "not
      // found", which a caller would record for good.
      const stored = yield* vt.executeStream(HttpClientRequest.get(new URL(first.location)), {
        ...streamOptions,
        anonymous: true
      }).pipe(Effect.catchTag("NotFoundError", (error) =>
        Effect.fail(
          new VtError.UnknownApiError({
            status: error.status,
            code: error.code,
            message: `the download link of ${hash} answered 404 (expired?): ${error.message}`,
            body: error.body
          })
        )))
      return stored.body
    })
  ))

/**
 * `GET /files/{id}/download_url`: a signed URL the file can be fetched from without the key for a while (an hour, at
 * VirusTotal), for another program to fetch. A premium privilege, as {@link download}.
 *
 * @since 0.2.0
 * @category requests
 */
export const downloadUrl = (hash: string): Effect.Effect<string, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const path = `${yield* refPath(vt, VtObject.file(hash))}/download_url`
      const response = yield* vt.getJson(path)
      return (yield* decode(vt, UploadUrlDocument, response, "GET", path)).data
    })
  )

/**
 * `POST /files/{id}/analyse`: analyse a known file again.
 *
 * @since 0.1.0
 * @category requests
 */
export const rescan = (hash: string): Effect.Effect<Analysis.Descriptor, VtError.VtError, VtClient.VtClient> =>
  withClient((vt) =>
    Effect.gen(function*() {
      const path = `${yield* refPath(vt, VtObject.file(hash))}/analyse`
      const response = yield* vt.execute(HttpClientRequest.post(path))
      return yield* analysisDescriptor(vt, response, "POST", path)
    })
  )
