import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Gzip from "../Gzip.js"
import { isReportKey } from "../ReportKey.js"
import type { ReportKey } from "../ReportKey.js"
import * as StoreLayout from "../StoreLayout.js"
import type * as StorePrimitives from "../StorePrimitives.js"
import * as Model from "./model.js"

// A primitive names what failed (the path, the object); the error says which operation of the service was running.
const during = (operation: string) => (error: Model.SinkError): Model.SinkError =>
  error.operation === operation ? error : new Model.SinkError({
    operation,
    key: error.key,
    message: error.message,
    cause: error.cause
  })

const duringHas = during("has")
const duringPut = during("put")
const duringPutNotFound = during("putNotFound")
const duringGet = during("get")
const duringList = during("list")
const duringCheckWritable = during("checkWritable")

/** @internal */
export const make = (
  primitives: StorePrimitives.StorePrimitives,
  options: Model.Options = {}
): Model.Service => {
  const { location } = primitives
  const overwrite = options.overwrite ?? false
  const gzip = options.gzip ?? false
  const readOnly = options.readOnly ?? false
  const exclusive = primitives.exclusive ?? (<A, E>(_: ReportKey, effect: Effect.Effect<A, E>) => effect)

  // The key is checked before any primitive is even called: a cast could smuggle `../x` in, and a store turns keys
  // into paths and object names.
  const checked = <A>(
    operation: string,
    key: ReportKey,
    run: () => Effect.Effect<A, Model.SinkError>
  ): Effect.Effect<A, Model.SinkError> =>
    isReportKey(key) ? run() : Effect.flatMap(Model.checkKey(operation, key, location), run)

  // A report outranks a not-found record: after a retry that found the id, both may be there for a moment.
  const presence = primitives.presence ?? ((key: ReportKey) =>
    Effect.flatMap(
      primitives.exists("saved", key),
      (saved): Effect.Effect<Model.Presence, Model.SinkError> =>
        saved
          ? Effect.succeed("saved")
          : Effect.map(primitives.exists("not-found", key), (notFound) => notFound ? "not-found" : "absent")
    ))

  const has = (key: ReportKey): Effect.Effect<Model.Presence, Model.SinkError> =>
    checked("has", key, () => Effect.mapError(presence(key), duringHas))

  // Written in this sink's form; read back in either (see `get`), so a store resumes whatever the setting.
  const write = (kind: StorePrimitives.Kind, key: ReportKey, body: Uint8Array, how: StorePrimitives.WriteOptions) =>
    gzip
      ? Effect.flatMap(Gzip.compress(body), (data) => primitives.write(kind, key, data, how))
      : primitives.write(kind, key, body, how)

  const newReport: StorePrimitives.WriteOptions = { gzip, ifAbsent: !overwrite, fresh: true }
  const report: StorePrimitives.WriteOptions = { gzip, ifAbsent: !overwrite, fresh: false }
  const record: StorePrimitives.WriteOptions = { gzip, ifAbsent: false, fresh: false }

  const clearNotFound = (key: ReportKey) => primitives.remove("not-found", key)

  // What `has` answered just before (no other writer since) spares the checks it already made: a run asks `has`
  // of every id, then `put`s what it fetched.
  const save = (key: ReportKey, body: Uint8Array, seen: Model.Presence | undefined) => {
    switch (seen) {
      case "absent":
        // No report to keep, no record in the other form, no not-found record to clear.
        return write("saved", key, body, newReport)
      case "not-found":
        // No report to keep; the record it had is no longer true.
        return Effect.zipRight(write("saved", key, body, newReport), clearNotFound(key))
      case "saved":
        return overwrite ? Effect.zipRight(write("saved", key, body, report), clearNotFound(key)) : clearNotFound(key)
      case undefined:
        return Effect.zipRight(
          overwrite
            ? write("saved", key, body, report)
            // Without overwrite an existing report is final. A writer of the same key between this check and the
            // write could still win, unless the store makes the write conditional (`ifAbsent`); callers de-duplicate
            // the ids they have in flight.
            : Effect.flatMap(
              primitives.exists("saved", key),
              (kept) => kept ? Effect.void : write("saved", key, body, report)
            ),
          clearNotFound(key)
        )
    }
  }

  const refused = (operation: string, key?: ReportKey) =>
    Effect.fail(
      new Model.SinkError({
        operation,
        key,
        message: `${location} is open read-only${key === undefined ? "" : `: cannot store ${key}`}`
      })
    )

  const put = (
    key: ReportKey,
    body: Uint8Array,
    putOptions?: Model.PutOptions
  ): Effect.Effect<void, Model.SinkError> =>
    checked(
      "put",
      key,
      () =>
        readOnly ? refused("put", key) : Effect.mapError(exclusive(key, save(key, body, putOptions?.seen)), duringPut)
    )

  const putNotFound = (key: ReportKey, body: Uint8Array): Effect.Effect<void, Model.SinkError> =>
    checked(
      "putNotFound",
      key,
      () =>
        readOnly
          ? refused("putNotFound", key)
          : Effect.mapError(exclusive(key, write("not-found", key, body, record)), duringPutNotFound)
    )

  const get = (key: ReportKey): Effect.Effect<Option.Option<Uint8Array>, Model.SinkError> =>
    checked("get", key, () =>
      primitives.read("saved", key).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (stored) =>
            stored.bytes.length > StoreLayout.maxRecordBytes
              ? Effect.fail(
                new Model.SinkError({
                  operation: "get",
                  key,
                  message:
                    `the report ${key} in ${location} is larger than a record can be (${StoreLayout.maxRecordBytes} bytes)`
                })
              )
              : stored.gzip
              ? Effect.mapBoth(Gzip.decompress(stored.bytes, { maxBytes: StoreLayout.maxRecordBytes }), {
                onFailure: (error) =>
                  new Model.SinkError({
                    operation: "get",
                    key,
                    message: `cannot decompress the report ${key} in ${location}: ${error.message}`,
                    cause: error
                  }),
                onSuccess: Option.some
              })
              : Effect.succeedSome(stored.bytes)
        })),
        Effect.mapError(duringGet)
      ))

  const list: Stream.Stream<Model.Entry, Model.SinkError> = Stream.concat(
    Stream.map(primitives.keys("saved"), (key): Model.Entry => ({ key, presence: "saved" })),
    primitives.keys("not-found").pipe(
      // A not-found record next to a saved report is stale (the put that cleared it was interrupted).
      Stream.mapEffect(
        (key) =>
          Effect.map(
            primitives.exists("saved", key),
            (saved) => saved ? Option.none() : Option.some<Model.Entry>({ key, presence: "not-found" })
          ),
        { concurrency: 8 }
      ),
      Stream.filterMap((entry) => entry)
    )
  ).pipe(Stream.mapError(duringList))

  const checkWritable = readOnly ? refused("checkWritable") : Effect.mapError(primitives.probe, duringCheckWritable)

  return { location, has, put, get, putNotFound, list, checkWritable }
}
