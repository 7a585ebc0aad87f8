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
  /** The store directory itself must not be a symbolic link either (a sub-store such as `<out>/_analyses`). */
  readonly refuseSymlink: boolean
  /** The directory this store lies below: none of the directories in between may be a symbolic link either. */
  readonly within: string | undefined
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

// `O_NOFOLLOW`: a link in place of the file is refused (`ELOOP`) rather than followed; `O_NONBLOCK`: opening a FIFO
// that took a record's name returns at once instead of waiting for a writer. Both are 0 where the system lacks them.
const { O_CREAT, O_EXCL, O_NOFOLLOW = 0, O_NONBLOCK = 0, O_RDONLY, O_WRONLY } = nodeFs.constants
const createFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW
const readFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK

/** Thrown (and caught in this module) when a directory that must be a real one is a symbolic link. */
class LinkRefused {
  constructor(readonly directory: string) {}
}

/**
 * Thrown (and caught in this module) when a directory stands where a record is written: a rename cannot replace it,
 * so the record could never be kept there.
 */
class Occupied {
  constructor(readonly file: string) {}
}

const linkRefused = (operation: string, directory: string, key: string | undefined) =>
  new ReportSink.SinkError({
    operation,
    ...(key === undefined ? {} : { key }),
    message: `refusing ${directory}: a symbolic link (records are never read or written through one)`
  })

// The failure of a step that may have met a link where a directory must be.
const failure = (operation: string, what: string, key: string | undefined) => (cause: unknown) =>
  cause instanceof LinkRefused
    ? linkRefused(operation, cause.directory, key)
    : cause instanceof Occupied
    ? new ReportSink.SinkError({
      operation,
      ...(key === undefined ? {} : { key }),
      message:
        `${cause.file} is a directory where a record is written: nothing can be kept there until it is moved away`
    })
    : nodeError(operation, what, key, cause)

const errorCode = (cause: unknown): string | undefined => (cause as NodeJS.ErrnoException | null)?.code

// Only a regular file is a record: not a link (whatever it points to), a FIFO, a socket, a device or a directory.
const isRecordFile = (file: string): boolean => nodeFs.lstatSync(file, { throwIfNoEntry: false })?.isFile() === true

const isLink = (file: string): boolean => nodeFs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink() === true

// The directories strictly between `within` and `root`, from the top down; none when `root` is not below it.
const betweenDirectories = (path: Path.Path, within: string | undefined, root: string): ReadonlyArray<string> => {
  if (within === undefined) return []
  const top = path.resolve(within)
  const relative = path.relative(top, root)
  if (relative === "" || relative.startsWith("..") || path.isAbsolute(relative)) return []
  const segments = relative.split(path.sep)
  return segments.slice(0, -1).map((_, i) => path.join(top, ...segments.slice(0, i + 1)))
}

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

    // The directories a record of each kind is reached through that must not be links: `_not_found` always (a link
    // there would lead writes and deletes out of the store), the store directory with `refuseSymlink` (otherwise it
    // is what the user named, and may be a link they made). Checked with lstat before every step that touches them;
    // a link put there between the check and the step is the one window left (Node has no openat).
    // With `within`, so are the directories between it and the store (`<out>/_behaviours` of
    // `<out>/_behaviours/summary`), from the top down: an lstat of the store's own path resolves a link above it.
    const between = betweenDirectories(path, config.within, root)
    const guarded: Record<Kind, ReadonlyArray<string>> = {
      saved: config.refuseSymlink ? [...between, root] : between,
      "not-found": config.refuseSymlink ? [...between, root, notFoundRoot] : [...between, notFoundRoot]
    }
    const refuseLinks = (kind: Kind): void => {
      for (const dir of guarded[kind]) if (isLink(dir)) throw new LinkRefused(dir)
    }
    const guard = (operation: string, kind: Kind, key?: string): Effect.Effect<void, ReportSink.SinkError> =>
      Effect.try({
        try: () => refuseLinks(kind),
        catch: failure(operation, `cannot check ${directoryOf(kind)}`, key)
      })

    // Opening: the directories are checked (and, unless read-only, created) before anything else is done in them.
    const directoryProblem = (dir: string): string | undefined => {
      const info = nodeFs.statSync(dir, { throwIfNoEntry: false })
      return info === undefined ? "no such directory" : info.isDirectory() ? undefined : "not a directory"
    }
    const opened = (dir: string, mayBeMissing: boolean) =>
      Effect.try({
        try: () => {
          if ((dir === root ? config.refuseSymlink : true) && isLink(dir)) throw new LinkRefused(dir)
          const problem = directoryProblem(dir)
          if (problem !== undefined && !(mayBeMissing && problem === "no such directory")) {
            throw new Error(problem)
          }
        },
        catch: failure("open", `cannot open ${dir}`, undefined)
      })
    const created = (dir: string) =>
      fs.makeDirectory(dir, { recursive: true }).pipe(
        Effect.mapError(sinkError("open", `cannot create directory ${dir}`))
      )
    // Each directory in between, as far as it exists, before anything is created through it.
    yield* Effect.try({
      try: () => {
        for (const dir of between) if (isLink(dir)) throw new LinkRefused(dir)
      },
      catch: failure("open", `cannot check the directories above ${root}`, undefined)
    })
    if (config.readOnly) {
      yield* opened(root, false)
      yield* opened(notFoundRoot, true)
    } else {
      // A link in place of either directory is refused before anything is created through it.
      if (config.refuseSymlink) yield* opened(root, true)
      yield* created(root)
      yield* opened(root, false)
      yield* opened(notFoundRoot, true)
      yield* created(notFoundRoot)
      yield* opened(notFoundRoot, false)
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
          (cause) => nodeError("open", `cannot read directory ${dir}`, undefined, cause)
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

    // Existence checks are synchronous: an lstat of a cached directory entry costs a few microseconds, a round trip
    // through libuv's thread pool several times that, and a run checks every id of its input. `throwIfNoEntry`
    // answers "absent" without building an exception; anything else (permissions, I/O) is still an error.
    // A record counts in either form: resume must see what any earlier run stored, whatever its setting. A
    // directory where this store writes (the form of its setting) is no record, and would make a write fail after the
    // request that brought the record: it is an error here, before any request (a read-only store writes nothing).
    const found = (kind: Kind, key: ReportKey.ReportKey): boolean => {
      refuseLinks(kind)
      const written = fileOf(kind, key, config.gzip)
      const info = nodeFs.lstatSync(written, { throwIfNoEntry: false })
      if (info?.isFile() === true) return true
      // A record in the other form is one: a resume skips it, and writes nothing.
      if (isRecordFile(fileOf(kind, key, !config.gzip))) return true
      if (info?.isDirectory() === true && !config.readOnly) throw new Occupied(written)
      return false
    }

    const exists = (kind: Kind, key: ReportKey.ReportKey): Effect.Effect<boolean, ReportSink.SinkError> =>
      Effect.try({
        try: () => found(kind, key),
        catch: failure("exists", `cannot check the ${kind} record of ${key} in ${root}`, key)
      })

    // One step, as every line of a resumed run asks it: up to four lstats, no Effect in between.
    const presence = (key: ReportKey.ReportKey): Effect.Effect<ReportSink.Presence, ReportSink.SinkError> =>
      Effect.try({
        try: (): ReportSink.Presence =>
          found("saved", key) ? "saved" : found("not-found", key) ? "not-found" : "absent",
        catch: failure("has", `cannot check the records of ${key} in ${root}`, key)
      })

    const removeIfPresent = (file: string, key: string) =>
      Effect.try({
        try: () => isRecordFile(file),
        catch: failure("remove", `cannot check ${file}`, key)
      }).pipe(
        Effect.flatMap((found) =>
          found
            ? fs.remove(file).pipe(
              Effect.catchIf(isNotFound, () => Effect.void),
              Effect.mapError(sinkError("remove", `cannot remove stale record ${file}`, key))
            )
            : Effect.void
        )
      )

    // The temporary file is created (never through a link: O_EXCL and O_NOFOLLOW), written and renamed into place by
    // libuv's threads (the bytes are the costly part), as one step that is not interrupted half-way: an interruption
    // waits for it, and a failure removes the temporary file. A rename replaces a link at the target, never follows it.
    const writeAtomically = (kind: Kind, key: string, target: string, body: Uint8Array) =>
      Effect.async<void, ReportSink.SinkError>((resume) => {
        try {
          refuseLinks(kind)
        } catch (cause) {
          return resume(Effect.fail(failure("write", `cannot check ${directoryOf(kind)}`, key)(cause)))
        }
        const temp = path.join(directoryOf(kind), tempFileName())
        const fail = (what: string) => (cause: NodeJS.ErrnoException) => {
          nodeFs.unlink(temp, () => resume(Effect.fail(nodeError("write", what, key, cause))))
        }
        nodeFs.open(temp, createFlags, 0o666, (error, fd) => {
          // Nothing was created: nothing to remove.
          if (error !== null) return resume(Effect.fail(nodeError("write", `cannot write ${temp}`, key, error)))
          nodeFs.writeFile(fd, body, (error) => {
            nodeFs.close(fd, (closeError) => {
              if (error !== null || closeError !== null) return fail(`cannot write ${temp}`)((error ?? closeError)!)
              nodeFs.rename(temp, target, (error) => {
                if (error !== null) return fail(`cannot rename ${temp} to ${target}`)(error)
                resume(Effect.void)
              })
            })
          })
        })
      }).pipe(Effect.uninterruptible)

    // Renaming over the target replaces a record in the same form. Without a record a moment ago (`fresh`) there is
    // no other form either; otherwise it is removed after the write: an interruption in between leaves two complete
    // copies of the record (both count as one), never none. `ifAbsent` is left to the rules' check before: a
    // conditional rename would cost a link and an unlink for each new report.
    const write = (kind: Kind, key: ReportKey.ReportKey, bytes: Uint8Array, options: StorePrimitives.WriteOptions) => {
      const written = writeAtomically(kind, key, fileOf(kind, key, options.gzip), bytes)
      return options.fresh ? written : Effect.zipRight(written, removeIfPresent(fileOf(kind, key, !options.gzip), key))
    }

    const remove = (kind: Kind, key: ReportKey.ReportKey) =>
      guard("remove", kind, key).pipe(
        Effect.zipRight(removeIfPresent(fileOf(kind, key, false), key)),
        Effect.zipRight(removeIfPresent(fileOf(kind, key, true), key))
      )

    // Only a regular file is read, opened without following a link and without waiting on a FIFO; what took its
    // place between the lstat and the open is checked again on the open file.
    const readIfPresent = (file: string, key: string) =>
      Effect.tryPromise({
        try: async (): Promise<Option.Option<Uint8Array>> => {
          if (!isRecordFile(file)) return Option.none()
          const handle = await nodeFs.promises.open(file, readFlags).catch((error: unknown) => {
            if (["ENOENT", "ELOOP", "ENXIO"].includes(errorCode(error) ?? "")) return undefined
            throw error
          })
          if (handle === undefined) return Option.none()
          try {
            const info = await handle.stat()
            if (!info.isFile()) return Option.none()
            // Never read whole what no record can be (a sparse file of gigabytes costs its size in memory).
            if (info.size > StoreLayout.maxRecordBytes) {
              throw new Error(`${info.size} bytes, more than a record holds (${StoreLayout.maxRecordBytes})`)
            }
            const data = await handle.readFile()
            return Option.some(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
          } finally {
            await handle.close()
          }
        },
        catch: failure("read", `cannot read ${file}`, key)
      })

    // Either form; the plain one first, as a write removes the other form after it.
    const read = (kind: Kind, key: ReportKey.ReportKey) =>
      guard("read", kind, key).pipe(
        Effect.zipRight(readIfPresent(fileOf(kind, key, false), key)),
        Effect.flatMap((plain) =>
          Option.isSome(plain)
            ? Effect.succeed(Option.some<StorePrimitives.Stored>({ bytes: plain.value, gzip: false }))
            : Effect.map(
              readIfPresent(fileOf(kind, key, true), key),
              Option.map((bytes): StorePrimitives.Stored => ({ bytes, gzip: true }))
            )
        )
      )

    // Each key once, in whichever forms it is present, streamed from the directory as it is read (memory does not
    // grow with the store): a compressed record is skipped when the plain one is there too. Only regular files are
    // records; FIFOs, sockets, devices, links and directories are skipped by the type the directory entry gives,
    // never opened. Opened read-only, a store need not have a `_not_found` yet.
    const keys = (kind: Kind): Stream.Stream<ReportKey.ReportKey, ReportSink.SinkError> => {
      const dir = directoryOf(kind)
      return Stream.unwrap(Effect.as(
        guard("list", kind),
        Stream.suspend(() =>
          Stream.fromAsyncIterable(
            (async function*() {
              const handle = await nodeFs.promises.opendir(dir, { bufferSize: 256 }).catch((error: unknown) => {
                if (config.readOnly && kind === "not-found" && errorCode(error) === "ENOENT") return undefined
                throw error
              })
              if (handle === undefined) return
              for await (const entry of handle) {
                if (!entry.isFile()) continue
                const parsed = StoreLayout.parseFileName(entry.name)
                if (Option.isNone(parsed)) continue
                const { gzip, key } = parsed.value
                if (gzip && isRecordFile(fileOf(kind, key, false))) continue
                yield key
              }
            })(),
            (cause) => nodeError("list", `cannot read directory ${dir}`, undefined, cause)
          )
        )
      ))
    }

    // A file no record can have (a temporary's name: the start-up clean-up of a later run removes it if this process
    // dies in between) created and removed where each kind of record is written.
    const probeIn = (kind: Kind) =>
      Effect.async<void, ReportSink.SinkError>((resume) => {
        const dir = directoryOf(kind)
        try {
          refuseLinks(kind)
        } catch (cause) {
          return resume(Effect.fail(failure("probe", `cannot check ${dir}`, undefined)(cause)))
        }
        const file = path.join(dir, tempFileName())
        nodeFs.open(file, createFlags, 0o666, (error, fd) => {
          if (error !== null) return resume(Effect.fail(nodeError("probe", `cannot write in ${dir}`, undefined, error)))
          nodeFs.close(fd, () =>
            nodeFs.unlink(file, (error) =>
              resume(
                error === null
                  ? Effect.void
                  : Effect.fail(nodeError("probe", `cannot remove ${file}`, undefined, error))
              )))
        })
      }).pipe(Effect.uninterruptible)
    const probe = Effect.zipRight(probeIn("saved"), probeIn("not-found"))

    return { location: config.directory, exists, presence, read, write, remove, keys, probe }
  })
