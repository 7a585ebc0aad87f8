/**
 * The models of the store contract (presence, entries, options, the error, the service) and the key check: what
 * both `ReportSink` and the rules behind `ReportSink.make` are written in terms of. `ReportSink` re-exports them.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import { isReportKey } from "../ReportKey.js"
import type { ReportKey } from "../ReportKey.js"

/**
 * What a store holds for a key. `saved` wins over `not-found` when, after a retry, both records exist.
 *
 * @since 0.1.0
 * @category models
 */
export type Presence = "saved" | "not-found" | "absent"

/**
 * Any failure of the underlying store. `message` names the location (path, bucket/key) so it can be logged as is.
 *
 * @since 0.1.0
 * @category errors
 */
export class SinkError extends Schema.TaggedError<SinkError>()("SinkError", {
  operation: Schema.String,
  key: Schema.optional(Schema.String),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * The options every sink takes, besides where the store is.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Replace reports that already exist (default `false`: an existing report is kept and `put` is a no-op). */
  readonly overwrite?: boolean | undefined
  /**
   * Store records gzip-compressed (default `false`). Reading is not affected: a sink sees records written with and
   * without compression alike, so a store can be resumed whatever the setting.
   */
  readonly gzip?: boolean | undefined
  /**
   * Open the store for reading only (default `false`): opening creates nothing and removes nothing, `put` and
   * `putNotFound` fail, and so does {@link Service.checkWritable}. For readers that may run beside a harvest writing
   * to the same store (a summary), and for stores the user may not write to.
   */
  readonly readOnly?: boolean | undefined
}

/**
 * Fails unless `key` passes the key rules. The type already guarantees a valid key; sinks call this anyway before
 * turning a key into a path or an object name, since a cast could smuggle `../x` in.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkKey = (operation: string, key: string, location: string): Effect.Effect<void, SinkError> =>
  isReportKey(key) ? Effect.void : Effect.fail(
    new SinkError({
      operation,
      key,
      message: `refusing invalid report key ${JSON.stringify(key.slice(0, 80))} for ${location}`
    })
  )

/**
 * One record found by {@link Service.list}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly key: ReportKey
  readonly presence: Exclude<Presence, "absent">
}

/**
 * Options of {@link Service.put}.
 *
 * @since 0.2.0
 * @category models
 */
export interface PutOptions {
  /** What a `has` of the key answered just before, with no other writer of the key since. */
  readonly seen?: Presence | undefined
}

/**
 * A store of reports and not-found records, keyed by {@link ReportKey}: what every sink implements and every
 * pipeline writes to. Implement it to add a store of your own (see the `ndjson-sink` example).
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Where the reports go, as the user wrote it (`vt_reports`, `s3://bucket/prefix`): for messages only. */
  readonly location: string
  /** `saved` if a report is stored, else `not-found` if a not-found record is, else `absent`. */
  readonly has: (key: ReportKey) => Effect.Effect<Presence, SinkError>
  /**
   * Stores the exact bytes of a report. Readers see either no report or the whole one, never a part. When the sink
   * was made without `overwrite` and a report already exists, this is a successful no-op. Either way a not-found
   * record for the key is removed afterwards, since it is no longer true.
   *
   * `options.seen` is what a {@link Service.has} of this key answered just before, with no other writer of the key
   * since (a harvest checks, requests, then stores): a sink may skip the checks that answer already covers, such as
   * looking for an existing report or not-found record when it was `absent`.
   */
  readonly put: (key: ReportKey, body: Uint8Array, options?: PutOptions) => Effect.Effect<void, SinkError>
  /**
   * The saved report's bytes exactly as they were put (decompressed when stored gzipped, whatever this sink's own
   * setting), or `None` when no report is saved. Not-found records are not reports.
   */
  readonly get: (key: ReportKey) => Effect.Effect<Option.Option<Uint8Array>, SinkError>
  /** Records that VirusTotal does not know the id (`body` is its error document). Replaces an earlier record. */
  readonly putNotFound: (key: ReportKey, body: Uint8Array) => Effect.Effect<void, SinkError>
  /**
   * Every record in the store, in no particular order: each saved report, and each not-found record that has no
   * saved report. Names that are not keys of this store are skipped.
   */
  readonly list: Stream.Stream<Entry, SinkError>
  /**
   * Proves that records can be written now, before anything is spent on reports that could not be kept: the store
   * writes and removes a probe where it writes reports and not-found records (a name no record can have, so a probe
   * is never listed, and nothing is left behind). Fails on a sink opened read-only.
   */
  readonly checkWritable: Effect.Effect<void, SinkError>
}
