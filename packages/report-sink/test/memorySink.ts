/**
 * A ReportSink in memory, to check the contract suite itself and the pure helpers. It keeps documents as given
 * whatever the gzip setting: compression is a matter of how a store holds bytes, not of what it holds.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ReportKey } from "../src/ReportKey.js"
import * as ReportSink from "../src/ReportSink.js"
import type { Store } from "./contract.js"

export const makeStore = (): Store => {
  const saved = new Map<ReportKey, Uint8Array>()
  const notFound = new Map<ReportKey, Uint8Array>()
  const location = "memory"
  const open = (options: { readonly overwrite: boolean }): Effect.Effect<ReportSink.Service> =>
    Effect.succeed({
      location,
      has: (key) =>
        ReportSink.checkKey("has", key, location).pipe(
          Effect.zipRight(
            Effect.sync((): ReportSink.Presence =>
              saved.has(key) ? "saved" : notFound.has(key) ? "not-found" : "absent"
            )
          )
        ),
      put: (key, body) =>
        ReportSink.checkKey("put", key, location).pipe(
          Effect.zipRight(Effect.sync(() => {
            if (options.overwrite || !saved.has(key)) saved.set(key, body.slice())
            notFound.delete(key)
          }))
        ),
      get: (key) =>
        ReportSink.checkKey("get", key, location).pipe(
          Effect.zipRight(Effect.sync(() => Option.fromNullable(saved.get(key)).pipe(Option.map((b) => b.slice()))))
        ),
      putNotFound: (key, body) =>
        ReportSink.checkKey("putNotFound", key, location).pipe(
          Effect.zipRight(Effect.sync(() => void notFound.set(key, body.slice())))
        ),
      list: Stream.suspend(() =>
        Stream.fromIterable([
          ...[...saved.keys()].map((key) => ({ key, presence: "saved" as const })),
          ...[...notFound.keys()].filter((key) => !saved.has(key)).map((key) => ({
            key,
            presence: "not-found" as const
          }))
        ])
      )
    })
  return {
    open,
    read: (kind, key) => Effect.sync(() => (kind === "saved" ? saved : notFound).get(key))
  }
}
