/**
 * A store in memory, built like any other: primitives over a few Maps, the rules from `ReportSink.make`. It runs the
 * contract suite here (so the suite and the rules are checked without a disk or a server), and shows that a third
 * store gets the whole contract for free.
 *
 * Records are held as written, compressed or not, with their gzip flag, as S3 holds them with `Content-Encoding`.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Gzip from "../src/Gzip.js"
import type { ReportKey } from "../src/ReportKey.js"
import * as ReportSink from "../src/ReportSink.js"
import type * as StorePrimitives from "../src/StorePrimitives.js"
import type { Store } from "./contract.js"

type Records = Record<StorePrimitives.Kind, Map<ReportKey, StorePrimitives.Stored>>

/** The records of one memory store. */
export interface Memory {
  readonly records: Records
}

export const makeMemory = (): Memory => ({ records: { saved: new Map(), "not-found": new Map() } })

export const primitives = (memory: Memory): StorePrimitives.StorePrimitives => {
  const { records } = memory
  return {
    location: "memory",
    exists: (kind, key) => Effect.sync(() => records[kind].has(key)),
    read: (kind, key) =>
      Effect.sync(() =>
        Option.map(
          Option.fromNullable(records[kind].get(key)),
          (stored) => ({ ...stored, bytes: stored.bytes.slice() })
        )
      ),
    write: (kind, key, bytes, options) =>
      Effect.sync(() => {
        // What a store that can write conditionally does with `ifAbsent`.
        if (!options.ifAbsent || !records[kind].has(key)) {
          records[kind].set(key, { bytes: bytes.slice(), gzip: options.gzip })
        }
      }),
    remove: (kind, key) => Effect.sync(() => void records[kind].delete(key)),
    keys: (kind) => Stream.suspend(() => Stream.fromIterable([...records[kind].keys()])),
    // Nothing in memory can refuse a record.
    probe: Effect.void
  }
}

export const makeStore = (): Store => {
  const memory = makeMemory()
  return {
    open: (options) => Effect.succeed(ReportSink.make(primitives(memory), options)),
    read: (kind, key) =>
      Option.match(Option.fromNullable(memory.records[kind].get(key)), {
        onNone: () => Effect.succeed(undefined),
        onSome: (stored) => stored.gzip ? Gzip.decompress(stored.bytes) : Effect.succeed(stored.bytes)
      })
  }
}
