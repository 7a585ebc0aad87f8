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
import type * as Model from "./internal/model.js"
import * as rules from "./internal/rules.js"
import type { ReportKey } from "./ReportKey.js"
import type * as StorePrimitives from "./StorePrimitives.js"

/**
 * What a store holds for a key. `saved` wins over `not-found` when, after a retry, both records exist.
 *
 * @since 0.1.0
 * @category models
 */
export type Presence = Model.Presence

export {
  /**
   * Any failure of the underlying store. `message` names the location (path, bucket/key) so it can be logged as is.
   *
   * @since 0.1.0
   * @category errors
   */
  SinkError
} from "./internal/model.js"

/**
 * The options every sink takes, besides where the store is.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Model.Options

export {
  /**
   * Fails unless `key` passes the key rules. The type already guarantees a valid key; sinks call this anyway before
   * turning a key into a path or an object name, since a cast could smuggle `../x` in.
   *
   * @since 0.1.0
   * @category validation
   */
  checkKey
} from "./internal/model.js"

/**
 * One record found by {@link Service.list}.
 *
 * @since 0.1.0
 * @category models
 */
export type Entry = Model.Entry

/**
 * Options of {@link Service.put}.
 *
 * @since 0.2.0
 * @category models
 */
export type PutOptions = Model.PutOptions

/**
 * A store of reports and not-found records, keyed by {@link ReportKey}: what every sink implements and every
 * pipeline writes to. Implement it to add a store of your own (see the `ndjson-sink` example).
 *
 * @since 0.1.0
 * @category models
 */
export type Service = Model.Service

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
): Effect.Effect<boolean, Model.SinkError, ReportSink> =>
  ReportSink.pipe(
    Effect.flatMap((sink) => sink.has(key)),
    Effect.map((presence) => isPendingPresence(presence, options))
  )
