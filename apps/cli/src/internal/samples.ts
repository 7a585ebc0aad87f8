/**
 * Where `download` keeps samples, and the plan of one sample. A sample is `<download-dir>/<sha256>` (no extension,
 * mode 0600: never executable), written under a temporary name in the same directory as it arrives, hashed on the
 * way, and renamed to its name only when its SHA-256 is the one asked for; VirusTotal's 404 is recorded as
 * `<download-dir>/_not_found/<sha256>.json`. Resume and not-found records follow report-sink's rules, over
 * primitives of this directory.
 */
import { ReportKey, ReportSink, type StorePrimitives } from "@vt-harvest/report-sink"
import { Files, VtError, VtId } from "@vt-harvest/vt-client"
import type { Ref } from "effect"
import { Effect, Either, Option, Stream } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Failure from "../engine/Failure.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Steps from "../engine/Steps.js"
import * as Input from "./input.js"

const notFoundDirectory = "_not_found"
/** Temporary names: dot-prefixed (never a record's name), removed by the next run when a kill left them. */
const temporary = /^\.[0-9a-f]{64}\.[0-9a-f]{16}\.part$/
const sampleName = /^[0-9a-f]{64}$/

const describeCause = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

const sinkError = (operation: string, key: string | undefined) => (cause: unknown) =>
  new ReportSink.SinkError({
    operation,
    ...(key === undefined ? {} : { key }),
    message: describeCause(cause),
    cause
  })

const attempt = <A>(operation: string, key: string | undefined, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: sinkError(operation, key) })

const isFile = (file: string) => fs.lstatSync(file, { throwIfNoEntry: false })?.isFile() === true

const tempName = (directory: string, key: string) =>
  path.join(directory, `.${key}.${crypto.randomBytes(8).toString("hex")}.part`)

/** The primitives of a download directory. */
export const primitives = (directory: string): StorePrimitives.StorePrimitives => {
  const notFoundDir = path.join(directory, notFoundDirectory)
  const file = (kind: StorePrimitives.Kind, key: string) =>
    kind === "saved" ? path.join(directory, key) : path.join(notFoundDir, `${key}.json`)
  // `_not_found` is never read or written through a symbolic link, which would lead records out of the directory
  // (the directory itself may be a link the user made). Checked before every step that touches it.
  const refuseLink = (kind: StorePrimitives.Kind) => {
    if (kind === "not-found" && fs.lstatSync(notFoundDir, { throwIfNoEntry: false })?.isSymbolicLink() === true) {
      throw new Error(`refusing ${notFoundDir}: a symbolic link (records are never read or written through one)`)
    }
  }
  const checked = <A>(operation: string, key: string | undefined, f: () => A) =>
    Effect.try({ try: f, catch: sinkError(operation, key) })
  const writeAtomic = async (kind: StorePrimitives.Kind, key: string, bytes: Uint8Array) => {
    const target = file(kind, key)
    refuseLink(kind)
    await fsp.mkdir(path.dirname(target), { recursive: true })
    refuseLink(kind)
    const temp = tempName(path.dirname(target), key)
    try {
      await fsp.writeFile(temp, bytes, { flag: "wx", mode: 0o600 })
      await fsp.rename(temp, target)
    } finally {
      await fsp.rm(temp, { force: true })
    }
  }
  return {
    location: directory,
    exists: (kind, key) =>
      checked("exists", key, () => {
        refuseLink(kind)
        return isFile(file(kind, key))
      }),
    read: (kind, key) =>
      attempt("read", key, async () => {
        refuseLink(kind)
        return isFile(file(kind, key))
          ? Option.some({ bytes: new Uint8Array(await fsp.readFile(file(kind, key))), gzip: false })
          : Option.none()
      }),
    write: (kind, key, bytes) => attempt("write", key, () => writeAtomic(kind, key, bytes)),
    remove: (kind, key) =>
      attempt("remove", key, async () => {
        refuseLink(kind)
        await fsp.rm(file(kind, key), { force: true })
      }),
    keys: (kind) =>
      Stream.fromIterableEffect(attempt("list", undefined, async () => {
        refuseLink(kind)
        const dir = kind === "saved" ? directory : notFoundDir
        const names = await fsp.readdir(dir).catch(() => [] as Array<string>)
        return names.map((name) => (kind === "saved" ? name : name.replace(/\.json$/, ""))).filter((name) =>
          sampleName.test(name) && isFile(file(kind, name))
        ).map((name) => Either.getOrThrow(ReportKey.fromFileHash(name)))
      })),
    probe: attempt("probe", undefined, async () => {
      refuseLink("not-found")
      await fsp.mkdir(notFoundDir, { recursive: true })
      refuseLink("not-found")
      for (const dir of [directory, notFoundDir]) {
        const probe = path.join(dir, `.probe-${crypto.randomBytes(8).toString("hex")}`)
        await fsp.writeFile(probe, "", { flag: "wx", mode: 0o600 })
        await fsp.rm(probe, { force: true })
      }
      // What a killed run left behind: never a sample (only a renamed file is one).
      for (const name of await fsp.readdir(directory)) {
        if (temporary.test(name)) await fsp.rm(path.join(directory, name), { force: true })
      }
    }),
    presence: (key) =>
      checked("has", key, () => {
        if (isFile(file("saved", key))) return "saved"
        refuseLink("not-found")
        return isFile(file("not-found", key)) ? "not-found" : "absent"
      })
  }
}

/** The store of a download directory. */
export const store = (directory: string): ReportSink.Service => ReportSink.make(primitives(directory))

/** What became of the bytes of one sample. */
export type Saved =
  | { readonly _tag: "Kept"; readonly size: number }
  | { readonly _tag: "Mismatch"; readonly actual: string; readonly size: number }

/**
 * Writes the bytes of `body` under a temporary name (created exclusively, mode 0600) while hashing them; renames the
 * file to `<directory>/<sha256>` only when they hash to `sha256`. Whatever else happens (a mismatch, a failed
 * stream, an interruption) the temporary file is removed; a kill leaves it for the next run to remove.
 */
export const save = <E, R>(
  directory: string,
  sha256: string,
  body: Stream.Stream<Uint8Array, E, R>
): Effect.Effect<Saved, E | ReportSink.SinkError, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => tempName(directory, sha256)).pipe(
      Effect.flatMap((temp) =>
        Effect.map(attempt("write", sha256, () => fsp.open(temp, "wx", 0o600)), (handle) => ({ temp, handle }))
      )
    ),
    ({ handle, temp }) =>
      Effect.gen(function*() {
        const hash = crypto.createHash("sha256")
        let size = 0
        yield* Stream.runForEach(body, (chunk) => {
          hash.update(chunk)
          size += chunk.length
          return attempt("write", sha256, () => handle.writeFile(chunk))
        })
        yield* attempt("write", sha256, () => handle.close())
        const actual = hash.digest("hex")
        if (actual !== sha256) return { _tag: "Mismatch", actual, size } as const
        yield* attempt("write", sha256, () => fsp.rename(temp, path.join(directory, sha256)))
        return { _tag: "Kept", size } as const
      }),
    ({ handle, temp }) =>
      Effect.promise(async () => {
        await handle.close().catch(() => undefined)
        await fsp.rm(temp, { force: true })
      })
  )

/** A line of input as an item: a SHA-256 (the bytes are checked against it), or what became of the line. */
export const item = (line: Input.Line): Pipeline.Item<string> => {
  const parsed = Input.classify(line, (text) =>
    Either.flatMap(VtId.fileHash(text), (hash) =>
      hash.length === 64
        ? Either.right(hash)
        : Either.left("not a SHA-256 (the bytes are verified against it; `vt-harvest files` gives a file's SHA-256)")))
  switch (parsed._tag) {
    case "Ignored":
      return Outcome.ignored
    case "Invalid":
      return Outcome.invalid(`line ${line.number}: invalid SHA-256 ${Input.quote(line.text)}: ${parsed.reason}`)
    case "Id":
      return Pipeline.work(parsed.id, `line ${line.number}, sample ${parsed.id}`)
  }
}

const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`

/** Every sample of `input` downloaded into `directory`, verified, resumable. */
export const download = (
  options: {
    readonly input: string
    readonly directory: string
    readonly concurrency: number
    readonly overwrite: boolean
    readonly retryNotFound: boolean
    readonly maxBytes?: number | undefined
  },
  tally: Ref.Ref<Outcome.Tally>
) =>
  Effect.gen(function*() {
    const samples = yield* ReportSink.ReportSink
    yield* Pipeline.run({
      items: Stream.map(Input.lines(options.input), item),
      concurrency: options.concurrency,
      store: samples,
      overwrite: options.overwrite,
      retryNotFound: options.retryNotFound,
      logSkips: false,
      key: (work: Pipeline.Work<string>) =>
        Effect.succeed(Pipeline.claim(Either.getOrThrow(ReportKey.fromFileHash(work.value)), work.value)),
      fetch: (work, key) =>
        Effect.gen(function*() {
          const saved = yield* Steps.requesting(work.value)(
            save(options.directory, work.value, Files.download(work.value, { maxBytes: options.maxBytes }))
          ).pipe(
            Effect.catchTag("SinkError", (error) => Effect.fail(new Failure.StoreFailed({ error }))),
            Effect.catchIf(VtError.isNotFound, Effect.succeed)
          )
          if (VtError.isNotFound(saved)) {
            return yield* Steps.keepNotFound(samples, key, saved, Outcome.notFound(`not found ${work.value}`))
          }
          if (saved._tag === "Mismatch") {
            return Outcome.failed(
              `${work.where}: the ${saved.size} bytes received hash to ${saved.actual}, not to the SHA-256 asked for; nothing kept`
            )
          }
          // A sample now saved is no longer "not found" (the store's rule for reports, applied here by hand).
          yield* Failure.storeOrStop(primitives(options.directory).remove("not-found", key))
          return Outcome.saved(`saved ${key} (${mib(saved.size)}, SHA-256 verified)`)
        })
    }, tally).pipe(Effect.provide(Steps.layerFirstAlone))
  })
