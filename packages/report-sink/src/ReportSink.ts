/**
 * The store contract every vt-harvest sink implements (a directory, an S3 prefix, …).
 *
 * The semantics that resume depends on live here, so that a run behaves the same whatever the store:
 * a saved report is never half written, a not-found record is only an existence marker, and a later successful
 * `put` makes the id "saved" even if it was once recorded as not found.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as rules from "./internal/rules.js"
import { isReportKey } from "./ReportKey.js"
import type { ReportKey } from "./ReportKey.js"
import type * as StorePrimitives from "./StorePrimitives.js"

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

/**
 * The service tag: pipelines ask for `ReportSink` and the program provides one store (`ReportSinkFs.layer`,
 * `ReportSinkS3.layer`, or a layer of your own built with `Layer.succeed(ReportSink, service)`).
 *
 * @since 0.1.0
 * @category models
 */
export class ReportSink extends Context.Tag("@vt-harvest/report-sink/ReportSink")<ReportSink, Service>() {}

/**
 * A store with the whole contract, built from the primitives a store supplies: every rule of the contract is here,
 * once, for every store.
 *
 * - Keys are checked before any primitive runs.
 * - `put` keeps an existing report unless `overwrite`, and afterwards removes the key's not-found record; with
 *   `seen` it skips the checks that answer covers (after `"absent"`: one `write`, nothing else).
 * - Records are written gzip-compressed with `gzip`, and read back decompressed whichever way they were written.
 * - `has` answers `saved` over `not-found`; `list` skips not-found records next to a saved report (stale).
 * - With `readOnly`, `put`, `putNotFound` and `checkWritable` fail without calling a primitive.
 *
 * @example
 * import { ReportSink } from "@vt-harvest/report-sink"
 * import type { ReportKey, StorePrimitives } from "@vt-harvest/report-sink"
 * import * as Effect from "effect/Effect"
 * import * as Option from "effect/Option"
 * import * as Stream from "effect/Stream"
 *
 * // A store in two Maps: the primitives say where records are; the rules come from `make`.
 * const records = {
 *   saved: new Map<ReportKey.ReportKey, StorePrimitives.Stored>(),
 *   "not-found": new Map<ReportKey.ReportKey, StorePrimitives.Stored>()
 * }
 * const primitives: StorePrimitives.StorePrimitives = {
 *   location: "memory",
 *   exists: (kind, key) => Effect.sync(() => records[kind].has(key)),
 *   read: (kind, key) => Effect.sync(() => Option.fromNullable(records[kind].get(key))),
 *   write: (kind, key, bytes, { gzip }) => Effect.sync(() => void records[kind].set(key, { bytes, gzip })),
 *   remove: (kind, key) => Effect.sync(() => void records[kind].delete(key)),
 *   keys: (kind) => Stream.suspend(() => Stream.fromIterable([...records[kind].keys()])),
 *   probe: Effect.void
 * }
 * const sink = ReportSink.make(primitives, { gzip: true })
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (primitives: StorePrimitives.StorePrimitives, options?: Options): Service =>
  rules.make(primitives, options)

/**
 * When an id has to be requested again, given what the store holds.
 *
 * - `overwrite`: everything is requested again (a fresh copy of the whole list).
 * - `retryNotFound`: ids recorded as not found are asked again; saved ones are not.
 * - neither: only absent ids.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isPendingPresence = (
  presence: Presence,
  options: { readonly retryNotFound: boolean; readonly overwrite: boolean }
): boolean => {
  switch (presence) {
    case "absent":
      return true
    case "saved":
      return options.overwrite
    case "not-found":
      return options.overwrite || options.retryNotFound
  }
}

/**
 * Whether the id behind `key` still has to be requested: the check that makes reruns resume and that drops
 * duplicates the store already holds.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isPending = (
  key: ReportKey,
  options: { readonly retryNotFound: boolean; readonly overwrite: boolean }
): Effect.Effect<boolean, SinkError, ReportSink> =>
  ReportSink.pipe(
    Effect.flatMap((sink) => sink.has(key)),
    Effect.map((presence) => isPendingPresence(presence, options))
  )
