/**
 * The files `scan` reads: the paths it is given, checked, and directories walked; each file's SHA-256.
 */
import { Data, Effect, Stream } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Input from "./input.js"
import * as Settings from "./settings.js"

/** The largest file VirusTotal accepts, through an upload URL (650 MB). */
export const maxUploadBytes = 650 * 1024 * 1024

/** A file could not be read (it vanished, or is not readable): that file fails, the run goes on. */
export class ReadFailed extends Data.TaggedError("ReadFailed")<{ readonly message: string }> {}

const cause = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : String(error)

/** A path for a log line: quoted, so that no file name can break a line or pass for something else. */
export const show = (file: string) => Input.quote(file, 1000)

// -- finding the files ---------------------------------------------------------------------------------------------

/** What a walk meets. */
export type Found =
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "Skipped"; readonly path: string; readonly reason: string }

/** A path argument, checked before anything is sent. */
export interface Root {
  readonly path: string
  readonly directory: boolean
}

/**
 * Every argument must exist and be a readable file or directory (a symbolic link given as an argument is followed):
 * otherwise the run is unusable (exit status 2) and nothing is sent.
 */
export const checkPaths = (paths: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Root>, Settings.UsageError> =>
  Effect.gen(function*() {
    if (paths.some(Input.isStdin)) {
      return yield* new Settings.UsageError({
        message: "scan takes files and directories; - (standard input) is not one"
      })
    }
    const problems: Array<string> = []
    const roots: Array<Root> = []
    for (const file of paths) {
      const checked = yield* Effect.promise(async () => {
        try {
          const stat = await fs.promises.stat(file)
          if (stat.isDirectory()) {
            await fs.promises.access(file, fs.constants.R_OK | fs.constants.X_OK)
            return { path: file, directory: true }
          }
          if (!stat.isFile()) return `${show(file)} is not a regular file or a directory`
          await fs.promises.access(file, fs.constants.R_OK)
          return { path: file, directory: false }
        } catch (error) {
          return `cannot read ${show(file)}: ${cause(error)}`
        }
      })
      if (typeof checked === "string") problems.push(checked)
      else roots.push(checked)
    }
    return problems.length > 0
      ? yield* new Settings.UsageError({ message: `${problems.join("\nvt-harvest: ")}\nnothing was sent` })
      : roots
  })

const byName = (a: fs.Dirent, b: fs.Dirent) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/**
 * The regular files under a directory, depth first, in name order (so runs and logs are reproducible). Symbolic
 * links are not followed (a link can lead out of the tree or into a loop) and, like sockets, FIFOs and devices,
 * are reported as skipped. A directory that cannot be read is reported as skipped too.
 */
async function* walkDirectory(dir: string): AsyncGenerator<Found> {
  let entries: Array<fs.Dirent>
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true })
  } catch (error) {
    yield { _tag: "Skipped", path: dir, reason: `directory cannot be read (${cause(error)})` }
    return
  }
  entries.sort(byName)
  for (const entry of entries) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) yield* walkDirectory(file)
    else if (entry.isFile()) yield { _tag: "File", path: file }
    else if (entry.isSymbolicLink()) yield { _tag: "Skipped", path: file, reason: "symbolic link, not followed" }
    else yield { _tag: "Skipped", path: file, reason: "not a regular file" }
  }
}

/** Every file the arguments name, directories walked as they are reached (never listed whole in advance). */
export const walk = (roots: ReadonlyArray<Root>): Stream.Stream<Found> =>
  Stream.fromIterable(roots).pipe(
    Stream.flatMap((root): Stream.Stream<Found> =>
      root.directory
        ? Stream.orDie(Stream.fromAsyncIterable(walkDirectory(root.path), (error) => error))
        : Stream.succeed({ _tag: "File", path: root.path })
    )
  )

/** SHA-256 and size of a file, read as a stream (never whole in memory). */
export const sha256Of = (file: string): Effect.Effect<{ readonly sha256: string; readonly size: number }, ReadFailed> =>
  Effect.async((resume) => {
    const hash = createHash("sha256")
    let size = 0
    const stream = fs.createReadStream(file, { highWaterMark: 1024 * 1024 })
    stream.on("data", (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk
      hash.update(bytes)
      size += bytes.length
    })
    stream.on(
      "error",
      (error) => resume(Effect.fail(new ReadFailed({ message: `cannot read ${show(file)}: ${cause(error)}` })))
    )
    stream.on("end", () => resume(Effect.succeed({ sha256: hash.digest("hex"), size })))
    return Effect.sync(() => stream.destroy())
  })
