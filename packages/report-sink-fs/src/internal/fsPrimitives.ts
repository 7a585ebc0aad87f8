import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import type { ReportKey, StorePrimitives } from "@vt-harvest/report-sink"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { randomFillSync } from "node:crypto"
import * as nodeFs from "node:fs"

/** @internal */
export interface Config {
  readonly directory: string
  /** The form this store writes, looked for first. */
  readonly gzip: boolean
  readonly removeStaleTemps: boolean
  /** Create nothing, remove nothing: no directory, no clean-up; a missing `_not_found` is an empty one. */
  readonly readOnly: boolean
}

type Kind = StorePrimitives.Kind

// `.vt-harvest-tmp-<pid>-<16 hex>`: a leading dot can never be a key, so a temporary is never listed or taken for a
// report; the pid says whose it is, so that the start-up clean-up removes only those of processes that are gone; and
// the random part (64 bits, drawn for each file) cannot be guessed, so nobody can lay a file or link in its way.
const tempName = /^\.vt-harvest-tmp-([1-9][0-9]{0,9})-[0-9a-f]{16}$/
// `.<key>.<12 hex>.tmp`, the temporaries of earlier versions: no owner to ask, so only removed once they are old.
const legacyTempName = /^\.(?!\.)[A-Za-z0-9._-]{1,200}\.[0-9a-f]{12}\.tmp$/
const legacyTempAge = 60 * 60 * 1000

// Random bytes are drawn 4 KiB at a time: one `randomBytes` call per file would cost more than the rest of naming it.
const pool = Buffer.alloc(4096)
let poolOffset = pool.length
const randomHex = (): string => {
  if (poolOffset + 8 > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  poolOffset += 8
  return pool.toString("hex", poolOffset - 8, poolOffset)
}

/** @internal */
export const tempFileName = (): string => `.vt-harvest-tmp-${process.pid}-${randomHex()}`

// Alive unless the system says there is no such process (`EPERM`: it exists, under another user).
const isAlive = (pid: number): boolean => {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

// A temporary another run abandoned: its process is gone, or it has no owner and is an hour old. The temporary of a
// live process is never one: it is about to be renamed into place.
const isAbandoned = (file: string, name: string, now: number): boolean => {
  const owned = tempName.exec(name)
  if (owned !== null) return !isAlive(Number(owned[1]))
  if (!legacyTempName.test(name)) return false
  const info = nodeFs.lstatSync(file, { throwIfNoEntry: false })
  return info !== undefined && now - info.mtimeMs > legacyTempAge
}

const describe = (error: PlatformError.PlatformError): string =>
  error._tag === "SystemError" ? error.description ?? error.reason : error.message

const isNotFound = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "NotFound"

const nodeError = (operation: string, what: string, key: string | undefined, cause: unknown) =>
  new ReportSink.SinkError({
    operation,
    ...(key === undefined ? {} : { key }),
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
): Effect.Effect<StorePrimitives.StorePrimitives, ReportSink.SinkError> =>
  Effect.gen(function*() {
    // Resolved once: a later change of working directory must not move the store.
    const root = path.resolve(config.directory)
    const notFoundRoot = path.join(root, StoreLayout.notFoundDirectory)
    const directoryOf = (kind: Kind) => kind === "saved" ? root : notFoundRoot
    const fileOf = (kind: Kind, key: ReportKey.ReportKey, gzip: boolean) =>
      path.join(directoryOf(kind), StoreLayout.fileName(key, { gzip }))

    if (config.readOnly) {
      const info = yield* Effect.try({
        try: () => nodeFs.statSync(root, { throwIfNoEntry: false }),
        catch: (cause) => nodeError("open", `cannot open ${root}`, undefined, cause)
      })
      if (info === undefined || !info.isDirectory()) {
        return yield* new ReportSink.SinkError({
          operation: "open",
          message: `cannot open ${root}: ${info === undefined ? "no such directory" : "not a directory"}`
        })
      }
    } else {
      yield* Effect.forEach([root, notFoundRoot], (dir) =>
        fs.makeDirectory(dir, { recursive: true }).pipe(
          Effect.mapError(sinkError("open", `cannot create directory ${dir}`))
        ), { discard: true })
    }

    // The directory is walked entry by entry (node:fs opendir) rather than listed whole: a store of a million
    // reports would otherwise hold a million names in memory just to find a few leftover temporaries. Only regular
    // files are considered (this sink's temporaries are nothing else), and unlinking never follows a link.
    const staleTemps = (dir: string): Stream.Stream<string, ReportSink.SinkError> =>
      Stream.suspend(() =>
        Stream.fromAsyncIterable(
          (async function*() {
            const handle = await nodeFs.promises.opendir(dir, { bufferSize: 256 })
            const now = Date.now()
            for await (const entry of handle) {
              if (entry.isFile() && isAbandoned(path.join(dir, entry.name), entry.name, now)) yield entry.name
            }
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
        return Effect.tryPromise({
          // Gone already: removed by another run starting at the same time.
          try: () =>
            nodeFs.promises.unlink(file).catch((error: NodeJS.ErrnoException) => {
              if (error.code !== "ENOENT") throw error
            }),
          catch: (cause) => nodeError("open", `cannot remove stale temporary file ${file}`, undefined, cause)
        })
      })
    if (config.removeStaleTemps && !config.readOnly) {
      yield* removeStaleTemps(root)
      yield* removeStaleTemps(notFoundRoot)
    }

    // Existence checks are synchronous: a stat of a cached directory entry costs a few microseconds, a round trip
    // through libuv's thread pool several times that, and a run checks every id of its input. `throwIfNoEntry`
    // answers "absent" without building an exception; anything else (permissions, I/O) is still an error.
    const existsFile = (file: string, key: string): Effect.Effect<boolean, ReportSink.SinkError> =>
      Effect.try({
        try: () => nodeFs.statSync(file, { throwIfNoEntry: false }) !== undefined,
        catch: (cause) => nodeError("exists", `cannot check ${file}`, key, cause)
      })

    // A record counts in either form: resume must see what any earlier run stored, whatever its setting.
    const exists = (kind: Kind, key: ReportKey.ReportKey) =>
      existsFile(fileOf(kind, key, config.gzip), key).pipe(
        Effect.flatMap((found) => found ? Effect.succeed(true) : existsFile(fileOf(kind, key, !config.gzip), key))
      )

    // One step, as every line of a resumed run asks it: up to four stats, no Effect in between.
    const presence = (key: ReportKey.ReportKey): Effect.Effect<ReportSink.Presence, ReportSink.SinkError> =>
      Effect.try({
        try: (): ReportSink.Presence => {
          const found = (kind: Kind) =>
            nodeFs.statSync(fileOf(kind, key, config.gzip), { throwIfNoEntry: false }) !== undefined ||
            nodeFs.statSync(fileOf(kind, key, !config.gzip), { throwIfNoEntry: false }) !== undefined
          return found("saved") ? "saved" : found("not-found") ? "not-found" : "absent"
        },
        catch: (cause) => nodeError("has", `cannot check the records of ${key} in ${root}`, key, cause)
      })

    const removeIfPresent = (file: string, key: string) =>
      existsFile(file, key).pipe(
        Effect.flatMap((found) =>
          found
            ? fs.remove(file).pipe(
              Effect.catchIf(isNotFound, () => Effect.void),
              Effect.mapError(sinkError("remove", `cannot remove stale record ${file}`, key))
            )
            : Effect.void
        )
      )

    // The temporary file is written and renamed into place by libuv's threads (the bytes are the costly part),
    // as one step that is not interrupted half-way: an interruption waits for it, and a failure removes the
    // temporary file.
    const writeAtomically = (dir: string, key: string, target: string, body: Uint8Array) =>
      Effect.async<void, ReportSink.SinkError>((resume) => {
        const temp = path.join(dir, tempFileName())
        const fail = (what: string) => (cause: NodeJS.ErrnoException) => {
          nodeFs.unlink(temp, () => resume(Effect.fail(nodeError("write", what, key, cause))))
        }
        nodeFs.writeFile(temp, body, { flag: "wx" }, (error) => {
          if (error !== null) return fail(`cannot write ${temp}`)(error)
          nodeFs.rename(temp, target, (error) => {
            if (error !== null) return fail(`cannot rename ${temp} to ${target}`)(error)
            resume(Effect.void)
          })
        })
      }).pipe(Effect.uninterruptible)

    // Renaming over the target replaces a record in the same form. Without a record a moment ago (`fresh`) there is
    // no other form either; otherwise it is removed after the write: an interruption in between leaves two complete
    // copies of the record (both count as one), never none. `ifAbsent` is left to the rules' check before: a
    // conditional rename would cost a link and an unlink for each new report.
    const write = (kind: Kind, key: ReportKey.ReportKey, bytes: Uint8Array, options: StorePrimitives.WriteOptions) => {
      const written = writeAtomically(directoryOf(kind), key, fileOf(kind, key, options.gzip), bytes)
      return options.fresh ? written : Effect.zipRight(written, removeIfPresent(fileOf(kind, key, !options.gzip), key))
    }

    const remove = (kind: Kind, key: ReportKey.ReportKey) =>
      Effect.zipRight(removeIfPresent(fileOf(kind, key, false), key), removeIfPresent(fileOf(kind, key, true), key))

    const readIfPresent = (file: string, key: string) =>
      fs.readFile(file).pipe(
        Effect.map(Option.some),
        Effect.catchIf(isNotFound, () => Effect.succeed(Option.none<Uint8Array>())),
        Effect.mapError(sinkError("read", `cannot read ${file}`, key))
      )

    // Either form; the plain one first, as a write removes the other form after it.
    const read = (kind: Kind, key: ReportKey.ReportKey) =>
      readIfPresent(fileOf(kind, key, false), key).pipe(
        Effect.flatMap((plain) =>
          Option.isSome(plain)
            ? Effect.succeed(Option.some<StorePrimitives.Stored>({ bytes: plain.value, gzip: false }))
            : Effect.map(
              readIfPresent(fileOf(kind, key, true), key),
              Option.map((bytes): StorePrimitives.Stored => ({ bytes, gzip: true }))
            )
        )
      )

    // Each key once, in whichever forms it is present. Opened read-only, a store need not have a `_not_found` yet.
    const keysIn = (dir: string) =>
      fs.readDirectory(dir).pipe(
        Effect.catchIf(
          (error) => config.readOnly && dir === notFoundRoot && isNotFound(error),
          () => Effect.succeed([])
        ),
        Effect.mapError(sinkError("list", `cannot read directory ${dir}`)),
        Effect.map((names) =>
          new Set(names.flatMap((name) => Option.toArray(StoreLayout.parseFileName(name)).map((parsed) => parsed.key)))
        )
      )

    const keys = (kind: Kind) => Stream.fromIterableEffect(keysIn(directoryOf(kind)))

    // A file no record can have (a temporary's name: the start-up clean-up of a later run removes it if this process
    // dies in between) created and removed where each kind of record is written.
    const probe = Effect.forEach([root, notFoundRoot], (dir) =>
      Effect.async<void, ReportSink.SinkError>((resume) => {
        const file = path.join(dir, tempFileName())
        nodeFs.writeFile(file, "", { flag: "wx" }, (error) => {
          if (error !== null) return resume(Effect.fail(nodeError("probe", `cannot write in ${dir}`, undefined, error)))
          nodeFs.unlink(file, (error) =>
            resume(
              error === null ? Effect.void : Effect.fail(nodeError("probe", `cannot remove ${file}`, undefined, error))
            ))
        })
      }).pipe(Effect.uninterruptible), { discard: true })

    return { location: config.directory, exists, presence, read, write, remove, keys, probe }
  })
