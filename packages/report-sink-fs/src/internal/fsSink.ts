import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"

/** @internal */
export interface Config {
  readonly directory: string
  readonly overwrite: boolean
  readonly notFoundDirectory: string
}

const suffix = ".json"

// `.<key>.<12 hex>.tmp`: a leading dot can never be a key, so a temporary is never listed or taken for a report,
// and the fixed shape means cleanup only ever removes files this sink created.
const tempPattern = /^\.(?!\.)[A-Za-z0-9._-]{1,200}\.[0-9a-f]{12}\.tmp$/

const randomSuffix = Effect.sync(() => randomBytes(6).toString("hex"))

const describe = (error: PlatformError.PlatformError): string =>
  error._tag === "SystemError" ? error.description ?? error.reason : error.message

const isNotFound = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "NotFound"

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
    const notFoundRoot = path.join(root, config.notFoundDirectory)
    const savedPath = (key: string) => path.join(root, key + suffix)
    const notFoundPath = (key: string) => path.join(notFoundRoot, key + suffix)

    yield* Effect.forEach([root, notFoundRoot], (dir) =>
      fs.makeDirectory(dir, { recursive: true }).pipe(
        Effect.mapError(sinkError("open", `cannot create directory ${dir}`))
      ), { discard: true })

    const removeStaleTemps = (dir: string) =>
      fs.readDirectory(dir).pipe(
        Effect.mapError(sinkError("open", `cannot read directory ${dir}`)),
        Effect.flatMap((names) =>
          Effect.forEach(
            names.filter((name) => tempPattern.test(name)),
            (name) => {
              const file = path.join(dir, name)
              return fs.remove(file).pipe(
                Effect.catchIf(isNotFound, () => Effect.void),
                Effect.mapError(sinkError("open", `cannot remove stale temporary file ${file}`))
              )
            },
            { discard: true, concurrency: 16 }
          )
        )
      )
    yield* removeStaleTemps(root)
    yield* removeStaleTemps(notFoundRoot)

    // The type already guarantees a valid key; this guards against casts, since the key becomes a path.
    const checkKey = (operation: string, key: string) =>
      ReportKey.isReportKey(key) ? Effect.void : Effect.fail(
        new ReportSink.SinkError({
          operation,
          key,
          message: `refusing invalid report key ${JSON.stringify(key.slice(0, 80))} for ${root}`
        })
      )

    const exists = (operation: string, file: string, key: string) =>
      fs.exists(file).pipe(Effect.mapError(sinkError(operation, `cannot check ${file}`, key)))

    const writeAtomically = (operation: string, dir: string, key: string, target: string, body: Uint8Array) =>
      Effect.flatMap(randomSuffix, (random) => {
        const temp = path.join(dir, `.${key}.${random}.tmp`)
        const removeTemp = fs.remove(temp).pipe(Effect.ignore)
        return fs.writeFile(temp, body, { flag: "wx" }).pipe(
          Effect.mapError(sinkError(operation, `cannot write ${temp}`, key)),
          Effect.zipRight(
            fs.rename(temp, target).pipe(
              Effect.mapError(sinkError(operation, `cannot rename ${temp} to ${target}`, key))
            )
          ),
          Effect.onError(() => removeTemp),
          Effect.uninterruptible
        )
      })

    const removeNotFound = (operation: string, key: string) => {
      const file = notFoundPath(key)
      return fs.remove(file).pipe(
        Effect.catchIf(isNotFound, () => Effect.void),
        Effect.mapError(sinkError(operation, `cannot remove stale not-found record ${file}`, key))
      )
    }

    const has = (key: ReportKey.ReportKey): Effect.Effect<ReportSink.Presence, ReportSink.SinkError> =>
      checkKey("has", key).pipe(
        Effect.zipRight(exists("has", savedPath(key), key)),
        Effect.flatMap((saved) =>
          saved
            ? Effect.succeed("saved" as const)
            : Effect.map(exists("has", notFoundPath(key), key), (nf) => nf ? "not-found" as const : "absent" as const)
        )
      )

    const put = (key: ReportKey.ReportKey, body: Uint8Array): Effect.Effect<void, ReportSink.SinkError> =>
      Effect.gen(function*() {
        yield* checkKey("put", key)
        const target = savedPath(key)
        // Without overwrite an existing report is final; a concurrent writer of the same key between this check
        // and the rename would still win, which the caller's de-duplication of in-flight ids prevents.
        const keep = !config.overwrite && (yield* exists("put", target, key))
        if (!keep) {
          yield* writeAtomically("put", root, key, target, body)
        }
        yield* removeNotFound("put", key)
      })

    const putNotFound = (key: ReportKey.ReportKey, body: Uint8Array): Effect.Effect<void, ReportSink.SinkError> =>
      checkKey("putNotFound", key).pipe(
        Effect.zipRight(writeAtomically("putNotFound", notFoundRoot, key, notFoundPath(key), body))
      )

    const keysIn = (dir: string) =>
      fs.readDirectory(dir).pipe(
        Effect.mapError(sinkError("list", `cannot read directory ${dir}`)),
        Effect.map((names) =>
          names.flatMap((name) => {
            if (!name.endsWith(suffix)) return []
            const key = name.slice(0, -suffix.length)
            return ReportKey.isReportKey(key) ? [key] : []
          })
        )
      )

    const list: Stream.Stream<ReportSink.Entry, ReportSink.SinkError> = Stream.concat(
      Stream.fromIterableEffect(keysIn(root)).pipe(
        Stream.map((key): ReportSink.Entry => ({ key, presence: "saved" }))
      ),
      Stream.fromIterableEffect(keysIn(notFoundRoot)).pipe(
        // A not-found record next to a saved report is stale (the put that cleared it was interrupted).
        Stream.filterEffect((key) => Effect.map(exists("list", savedPath(key), key), (saved) => !saved)),
        Stream.map((key): ReportSink.Entry => ({ key, presence: "not-found" }))
      )
    )

    return ReportSink.ReportSink.of({ location: config.directory, has, put, putNotFound, list })
  })
