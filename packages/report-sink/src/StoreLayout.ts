/**
 * The names records have in a store, the same for every sink: `<key>.json` for a report and
 * `_not_found/<key>.json` for a not-found record, under the store's root (a directory, an S3 prefix).
 *
 * A sink that marks compression in the name (a directory: `<key>.json.gz`) uses {@link fileName} with `gzip`; a
 * sink that carries it beside the bytes (S3's `Content-Encoding`) always uses the plain name.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as ReportKey from "./ReportKey.js"

/**
 * The sub-directory (or key prefix) holding not-found records.
 *
 * @since 0.1.0
 * @category models
 */
export const notFoundDirectory = "_not_found"

/**
 * The most bytes a record holds, decompressed: 64 MiB, the most a VirusTotal answer may be (the client's bound).
 * Reading a record stops there, whatever its size on disk or its gzip ratio: a larger one is no record a harvest
 * wrote, and reading it whole would cost its size in memory.
 *
 * @since 0.3.0
 * @category models
 */
export const maxRecordBytes = 64 * 1024 * 1024

/**
 * The sub-directory (or key prefix) of a store that holds analyses, itself a store with the same layout: the
 * analyses `vt-harvest scan` waits for and `vt-harvest analysis` fetches, keyed by
 * {@link ReportKey.fromAnalysisId}. Listing the store it sits in does not descend into it.
 *
 * @since 0.2.0
 * @category models
 */
export const analysesDirectory = "_analyses"

/**
 * The sub-directory (or key prefix) of a store that holds the uploads `vt-harvest scan` made, itself a store with the
 * same layout keyed by the uploaded file's SHA-256: which analysis the last upload of that content started, and
 * whether it was seen completed. A scan that finds an upload whose analysis is not completed waits for it again
 * instead of uploading the file once more. Listing the store it sits in does not descend into it.
 *
 * @since 0.2.0
 * @category models
 */
export const uploadsDirectory = "_uploads"

/**
 * The sub-directory (or key prefix) of a store that holds the URLs `vt-harvest urls --submit-unknown` submitted,
 * itself a store with the same layout keyed like the URL reports: which analysis the last submission of that URL
 * started, and whether it was seen completed. A run that finds a submission whose analysis is not completed waits for
 * it again instead of submitting the URL once more. Listing the store it sits in does not descend into it.
 *
 * @since 0.2.0
 * @category models
 */
export const submissionsDirectory = "_submissions"

/**
 * The sub-directory (or key prefix) holding relationship pages beyond the first: `_relationships/<name>/` is itself
 * a store with the same layout, one record per object key holding the further pages of that relationship (the first
 * page stays in the report, under `data.relationships`). Listing the store it sits in does not descend into it.
 *
 * @since 0.2.0
 * @category models
 */
export const relationshipsDirectory = "_relationships"

/**
 * The sub-directory (or key prefix) holding files' sandbox behaviours: `_behaviours/summary/` and
 * `_behaviours/mitre/` are stores with the same layout, keyed like the file reports. Listing the store it sits in
 * does not descend into it.
 *
 * @since 0.2.0
 * @category models
 */
export const behavioursDirectory = "_behaviours"

/**
 * The suffix of a record.
 *
 * @since 0.1.0
 * @category models
 */
export const extension = ".json"

/**
 * The suffix of a gzip-compressed record, in stores that mark compression in the name.
 *
 * @since 0.1.0
 * @category models
 */
export const gzipExtension = ".json.gz"

/**
 * What a record's name says: its key, and whether the name marks it as gzip-compressed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ParsedName {
  readonly key: ReportKey.ReportKey
  readonly gzip: boolean
}

/**
 * The name of a report or not-found record: `<key>.json`, or `<key>.json.gz` with `gzip`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fileName = (key: ReportKey.ReportKey, options?: { readonly gzip?: boolean | undefined }): string =>
  key + (options?.gzip === true ? gzipExtension : extension)

/**
 * Reads a name back: `Some` for `<key>.json` and `<key>.json.gz` where `<key>` is a valid key, `None` for anything
 * else (temporaries, other files, names with a `/`), so unrelated files in a store are never taken for records.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseFileName = (name: string): Option.Option<ParsedName> => {
  const gzip = name.endsWith(gzipExtension)
  if (!gzip && !name.endsWith(extension)) return Option.none()
  const key = name.slice(0, -(gzip ? gzipExtension : extension).length)
  return ReportKey.isReportKey(key) ? Option.some({ key, gzip }) : Option.none()
}
