import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { Gzip, ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import type { ReportKey } from "@vt-harvest/report-sink"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import * as nodeFs from "node:fs"

/** @internal */
export interface Config {
  readonly directory: string
  readonly overwrite: boolean
  readonly gzip: boolean
  readonly removeStaleTemps: boolean
}

// `.<key>.<12 hex>.tmp`: a leading dot can never be a key, so a temporary is never listed or taken for a report,
// and the fixed shape means cleanup only ever removes files this sink created.
const tempPattern = /^\.(?!\.)[A-Za-z0-9._-]{1,200}\.[0-9a-f]{12}\.tmp$/

type Kind = "saved" | "not-found"

// 12 hex digits unique to each temporary file of this process: 8 random ones drawn once, then a counter (drawing
// random bytes for every write costs more than the rest of naming the file).
const tempPrefix = randomBytes(4).toString("hex")
let tempCounter = 0
const tempSuffix = (): string => `${tempPrefix}${(tempCounter++ & 0xffff).toString(16).padStart(4, "0")}`

const describe = (error: PlatformError.PlatformError): string =>
  error._tag === "SystemError" ? error.description ?? error.reason : error.message

const isNotFound = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "NotFound"

const nodeError = (operation: string, what: string, key: string, cause: unknown) =>
  new ReportSink.SinkError({
    operation,
    key,
    message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

const sinkError = (operation: string, what: string, key?: string) => (error: PlatformError.PlatformError) =>
  new ReportSink.SinkError({
    operation,
    ...(key === undefined ? {} : { key }),
    message: `${what}: ${describe(error)}`,
    cause: error
  })

/** @internal */
export const make = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  config: Config
): Effect.Effect<ReportSink.Service, ReportSink.SinkError> =>
  Effect.gen(function*() {
    // Resolved once: a later change of working directory must not move the store.
    const root = path.resolve(config.directory)
    const notFoundRoot = path.join(root, StoreLayout.notFoundDirectory)
    const directoryOf = (kind: Kind) => kind === "saved" ? root : notFoundRoot
    const fileOf = (kind: Kind, key: ReportKey.ReportKey, gzip: boolean) =>
      path.join(directoryOf(kind), StoreLayout.fileName(key, { gzip }))

    yield* Effect.forEach([root, notFoundRoot], (dir) =>
      fs.makeDirectory(dir, { recursive: true }).pipe(
        Effect.mapError(sinkError("open", `cannot create directory ${dir}`))
      ), { discard: true })

    // The directory is walked entry by entry (node:fs opendir) rather than listed whole: a store of a million
    // reports would otherwise hold a million names in memory just to find a few leftover temporaries.
    const staleTemps = (dir: string): Stream.Stream<string, ReportSink.SinkError> =>
      Stream.suspend(() =>
        Stream.fromAsyncIterable(
          (async function*() {
            const handle = await nodeFs.promises.opendir(dir, { bufferSize: 256 })
            for await (const entry of handle) if (tempPattern.test(entry.name)) yield entry.name
          })(),
          (cause) =>
            new ReportSink.SinkError({
              operation: "open",
              message: `cannot read directory ${dir}: ${String(cause)}`,
              cause
            })
        )
      )

    const removeStaleTemps = (dir: string) =>
      Stream.runForEach(staleTemps(dir), (name) => {
        const file = path.join(dir, name)
        return fs.remove(file).pipe(
          Effect.catchIf(isNotFound, () => Effect.void),
          Effect.mapError(sinkError("open", `cannot remove stale temporary file ${file}`))
        )
      })
    if (config.removeStaleTemps) {
      yield* removeStaleTemps(root)
      yield* removeStaleTemps(notFoundRoot)
    }

    const checkKey = (operation: string, key: string) => ReportSink.checkKey(operation, key, root)

    // Existence checks are synchronous: a stat of a cached directory entry costs a few microseconds, a round trip
    // through libuv's thread pool several times that, and a run checks every id of its input. `throwIfNoEntry`
    // answers "absent" without building an exception; anything else (permissions, I/O) is still an error.
    const exists = (operation: string, file: string, key: string): Effect.Effect<boolean, ReportSink.SinkError> =>
      Effect.try({
        try: () => nodeFs.statSync(file, { throwIfNoEntry: false }) !== undefined,
        catch: (cause) => nodeError(operation, `cannot check ${file}`, key, cause)
      })

    // A record counts in either form, whatever this sink writes: resume must see what any earlier run stored.
    const present = (operation: string, kind: Kind, key: ReportKey.ReportKey) =>
      exists(operation, fileOf(kind, key, config.gzip), key).pipe(
        Effect.flatMap((found) =>
          found ? Effect.succeed(true) : exists(operation, fileOf(kind, key, !config.gzip), key)
        )
      )

    const removeIfPresent = (operation: string, file: string, key: string) =>
      exists(operation, file, key).pipe(
        Effect.flatMap((found) =>
          found
            ? fs.remove(file).pipe(
              Effect.catchIf(isNotFound, () => Effect.void),
              Effect.mapError(sinkError(operation, `cannot remove stale record ${file}`, key))
            )
            : Effect.void
        )
      )

    // The temporary file is written and renamed into place by libuv's threads (the bytes are the costly part),
    // as one step that is not interrupted half-way: an interruption waits for it, and a failure removes the
    // temporary file.
    const writeAtomically = (operation: string, dir: string, key: string, target: string, body: Uint8Array) =>
      Effect.async<void, ReportSink.SinkError>((resume) => {
        const temp = path.join(dir, `.${key}.${tempSuffix()}.tmp`)
        const fail = (what: string) => (cause: NodeJS.ErrnoException) => {
          nodeFs.unlink(temp, () => resume(Effect.fail(nodeError(operation, what, key, cause))))
        }
        nodeFs.writeFile(temp, body, { flag: "wx" }, (error) => {
          if (error !== null) return fail(`cannot write ${temp}`)(error)
          nodeFs.rename(temp, target, (error) => {
            if (error !== null) return fail(`cannot rename ${temp} to ${target}`)(error)
            resume(Effect.void)
          })
        })
      }).pipe(Effect.uninterruptible)

    // Written in this sink's form first, then the other form is removed: an interruption in between leaves two
    // complete copies of the record (both count as one), never none.
    const writeRecord = (operation: string, kind: Kind, key: ReportKey.ReportKey, body: Uint8Array) =>
      Effect.gen(function*() {
        const data = config.gzip ? yield* Gzip.compress(body) : body
        yield* writeAtomically(operation, directoryOf(kind), key, fileOf(kind, key, config.gzip), data)
        yield* removeIfPresent(operation, fileOf(kind, key, !config.gzip), key)
      })

    const writeNew = (key: ReportKey.ReportKey, body: Uint8Array) =>
      config.gzip
        ? Effect.flatMap(
          Gzip.compress(body),
          (data) => writeAtomically("put", root, key, fileOf("saved", key, true), data)
        )
        : writeAtomically("put", root, key, fileOf("saved", key, false), body)

    const removeRecord = (operation: string, kind: Kind, key: ReportKey.ReportKey) =>
      removeIfPresent(operation, fileOf(kind, key, false), key).pipe(
        Effect.zipRight(removeIfPresent(operation, fileOf(kind, key, true), key))
      )

    // One step, as every line of a resumed run asks it: up to four stats, no Effect in between.
    const has = (key: ReportKey.ReportKey): Effect.Effect<ReportSink.Presence, ReportSink.SinkError> =>
      checkKey("has", key).pipe(Effect.zipRight(Effect.try({
        try: (): ReportSink.Presence => {
          const found = (kind: Kind) =>
            nodeFs.statSync(fileOf(kind, key, config.gzip), { throwIfNoEntry: false }) !== undefined ||
            nodeFs.statSync(fileOf(kind, key, !config.gzip), { throwIfNoEntry: false }) !== undefined
          return found("saved") ? "saved" : found("not-found") ? "not-found" : "absent"
        },
        catch: (cause) => nodeError("has", `cannot check the records of ${key} in ${root}`, key, cause)
      })))

    const put = (
      key: ReportKey.ReportKey,
      body: Uint8Array,
      options?: ReportSink.PutOptions
    ): Effect.Effect<void, ReportSink.SinkError> =>
      // Absent a moment ago: no report to keep, no other form nor not-found record to remove.
      options?.seen === "absent"
        ? checkKey("put", key).pipe(Effect.zipRight(writeNew(key, body)))
        : checkKey("put", key).pipe(
          // Without overwrite an existing report is final; a concurrent writer of the same key between this check
          // and the rename would still win, which the caller's de-duplication of in-flight ids prevents.
          Effect.zipRight(config.overwrite ? Effect.succeed(false) : present("put", "saved", key)),
          Effect.flatMap((keep) => keep ? Effect.void : writeRecord("put", "saved", key, body)),
          Effect.zipRight(removeRecord("put", "not-found", key))
        )

    const readIfPresent = (file: string, key: string) =>
      fs.readFile(file).pipe(
        Effect.map(Option.some),
        Effect.catchIf(isNotFound, () => Effect.succeed(Option.none<Uint8Array>())),
        Effect.mapError(sinkError("get", `cannot read ${file}`, key))
      )

    // Either form, whatever this sink writes; the plain one first, as put removes the other form after writing.
    const get = (key: ReportKey.ReportKey): Effect.Effect<Option.Option<Uint8Array>, ReportSink.SinkError> =>
      checkKey("get", key).pipe(
        Effect.zipRight(readIfPresent(fileOf("saved", key, false), key)),
        Effect.flatMap((plain) =>
          Option.isSome(plain) ? Effect.succeed(plain) : readIfPresent(fileOf("saved", key, true), key).pipe(
            Effect.flatMap(Option.match({
              onNone: () => Effect.succeed(Option.none<Uint8Array>()),
              onSome: (data) =>
                Gzip.decompress(data).pipe(
                  Effect.map(Option.some),
                  Effect.mapError((error) =>
                    new ReportSink.SinkError({
                      operation: "get",
                      key,
                      message: `cannot decompress ${fileOf("saved", key, true)}: ${error.message}`
                    })
                  )
                )
            }))
          )
        )
      )

    const putNotFound = (key: ReportKey.ReportKey, body: Uint8Array): Effect.Effect<void, ReportSink.SinkError> =>
      checkKey("putNotFound", key).pipe(Effect.zipRight(writeRecord("putNotFound", "not-found", key, body)))

    // Each key once, in whichever forms it is present.
    const keysIn = (dir: string) =>
      fs.readDirectory(dir).pipe(
        Effect.mapError(sinkError("list", `cannot read directory ${dir}`)),
        Effect.map((names) =>
          new Set(names.flatMap((name) => Option.toArray(StoreLayout.parseFileName(name)).map((parsed) => parsed.key)))
        )
      )

    const list: Stream.Stream<ReportSink.Entry, ReportSink.SinkError> = Stream.concat(
      Stream.fromIterableEffect(keysIn(root)).pipe(
        Stream.map((key): ReportSink.Entry => ({ key, presence: "saved" }))
      ),
      Stream.fromIterableEffect(keysIn(notFoundRoot)).pipe(
        // A not-found record next to a saved report is stale (the put that cleared it was interrupted).
        Stream.filterEffect((key) => Effect.map(present("list", "saved", key), (saved) => !saved)),
        Stream.map((key): ReportSink.Entry => ({ key, presence: "not-found" }))
      )
    )

    return ReportSink.ReportSink.of({ location: config.directory, has, get, put, putNotFound, list })
  })
