/**
 * What a store supplies so that {@link ReportSink.make} can give it the whole contract: a few operations on records,
 * each addressed by a kind (a report or a not-found record) and a key.
 *
 * The rules (keep a report unless `overwrite`, a save clears the not-found record, gzip on write and either form on
 * read, stale not-found records, key checks, `put`'s `seen` hint, refusing writes when opened `readOnly`) live in
 * {@link ReportSink.make} and nowhere else. A store only says how a record is found, read, written, removed and listed
 * where it keeps them, and how it proves it takes records (`probe`): a directory, an S3 prefix, a map in memory. Keys reach the primitives checked; bytes reach them compressed or not, as the rules
 * decided.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { Presence, SinkError } from "./internal/model.js"
import type { ReportKey } from "./ReportKey.js"

/**
 * The two kinds of record a store holds under one key: a report, and a not-found record.
 *
 * @since 0.2.0
 * @category models
 */
export type Kind = "saved" | "not-found"

/**
 * A record as the store holds it: its bytes, and whether they are gzip-compressed (however the store marks that: in
 * the name, in a header).
 *
 * @since 0.2.0
 * @category models
 */
export interface Stored {
  readonly bytes: Uint8Array
  readonly gzip: boolean
}

/**
 * How a record is written.
 *
 * @since 0.2.0
 * @category models
 */
export interface WriteOptions {
  /** The bytes are gzip-compressed: the store marks them so, and `read` answers `gzip: true` for them. */
  readonly gzip: boolean
  /**
   * The caller keeps a whole record that is already there. The rules have looked before writing; a store that can
   * also make the write itself conditional at no extra cost (S3's `If-None-Match: *`) does, which closes the race
   * with another writer. Others may replace.
   */
  readonly ifAbsent: boolean
  /**
   * No record of this kind and key existed a moment ago, in any form: a store that keeps the two forms under two
   * names need not look for the other one to remove.
   */
  readonly fresh: boolean
}

/**
 * The operations of one store (or sub-store). Every one fails with a {@link ReportSink.SinkError} whose message
 * names the path or object; the rules set its `operation` to the service operation that was running.
 *
 * @since 0.2.0
 * @category models
 */
export interface StorePrimitives {
  /** Where the records are, as the user wrote it (`vt_reports`, `s3://bucket/prefix`): for messages. */
  readonly location: string
  /** Whether a whole record of this kind is stored for the key, in either form. */
  readonly exists: (kind: Kind, key: ReportKey) => Effect.Effect<boolean, SinkError>
  /** The record's bytes as stored, or `None` when there is no whole record. */
  readonly read: (kind: Kind, key: ReportKey) => Effect.Effect<Option.Option<Stored>, SinkError>
  /**
   * Stores the bytes so that a reader sees the earlier record or this one, never a part; the record of this kind
   * and key then exists in this form only.
   */
  readonly write: (
    kind: Kind,
    key: ReportKey,
    bytes: Uint8Array,
    options: WriteOptions
  ) => Effect.Effect<void, SinkError>
  /** Removes the record of this kind and key, in every form; nothing to remove is no failure. */
  readonly remove: (kind: Kind, key: ReportKey) => Effect.Effect<void, SinkError>
  /** The key of each record of this kind, once per key whatever its forms; names that are not records skipped. */
  readonly keys: (kind: Kind) => Stream.Stream<ReportKey, SinkError>
  /**
   * Writes and removes a probe wherever records of either kind are written, under a name no record can have, and
   * fails when the store cannot take a record now. Never run on a store opened read-only.
   */
  readonly probe: Effect.Effect<void, SinkError>
  /**
   * Optional: {@link ReportSink.Service.has} in one step, when the store can answer it faster than with two
   * `exists` (the directory store: up to four synchronous `lstat`s, no Effect in between).
   */
  readonly presence?: ((key: ReportKey) => Effect.Effect<Presence, SinkError>) | undefined
  /**
   * Optional: runs the writes of one key one at a time (the S3 store: some S3-compatible servers interleave
   * concurrent PUTs of one object). The rules wrap each `put` and `putNotFound` in it.
   */
  readonly exclusive?: (<A, E>(key: ReportKey, effect: Effect.Effect<A, E>) => Effect.Effect<A, E>) | undefined
}
