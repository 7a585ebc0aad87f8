// A store in memory for tests of the engine: the primitives over two Maps, the rules from ReportSink.make.
import type { ReportKey, StorePrimitives } from "@vt-harvest/report-sink"
import { ReportSink } from "@vt-harvest/report-sink"
import { Effect, Option, Stream } from "effect"

export const memoryStore = (
  options?: {
    readonly failWrites?: boolean | undefined
    /** Runs once a record is written, before the write answers (a write that lands, then is interrupted). */
    readonly afterWrite?: Effect.Effect<void> | undefined
    /** Runs before every read (a store that does not answer: `Effect.never`). */
    readonly beforeRead?: Effect.Effect<void> | undefined
  }
) => {
  const records = {
    saved: new Map<ReportKey.ReportKey, Uint8Array>(),
    "not-found": new Map<ReportKey.ReportKey, Uint8Array>()
  }
  const fail = new ReportSink.SinkError({ operation: "put", key: undefined, message: "disk full" } as never)
  const primitives: StorePrimitives.StorePrimitives = {
    location: "memory",
    exists: (kind, key) => Effect.sync(() => records[kind].has(key)),
    read: (kind, key) =>
      Effect.zipRight(
        options?.beforeRead ?? Effect.void,
        Effect.sync(() => Option.map(Option.fromNullable(records[kind].get(key)), (bytes) => ({ bytes, gzip: false })))
      ),
    write: (kind, key, bytes) =>
      options?.failWrites === true
        ? Effect.fail(fail)
        : Effect.zipRight(Effect.sync(() => void records[kind].set(key, bytes)), options?.afterWrite ?? Effect.void),
    remove: (kind, key) => Effect.sync(() => void records[kind].delete(key)),
    keys: (kind) => Stream.suspend(() => Stream.fromIterable([...records[kind].keys()])),
    probe: Effect.void
  }
  return { records, store: ReportSink.make(primitives) }
}
