import * as NodeStream from "@effect/platform-node/NodeStream"
import { QuotaGate } from "@vt-harvest/rate-schedule"
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { Files, VtClient, VtError, VtId } from "@vt-harvest/vt-client"
import type { Option } from "effect"
import { Data, Duration, Effect, Either, Layer, Stream } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitCompleted, fetchAnalysis, statusText, waitSettings } from "./analysis.js"
import { counted, describeError, KeyRefused, storeOrStop } from "./harvest.js"
import * as Input from "./input.js"
import * as Progress from "./progress.js"
import * as Runner from "./runner.js"
import * as Settings from "./settings.js"

/** The largest file VirusTotal accepts, through an upload URL (650 MB). */
export const maxUploadBytes = 650 * 1024 * 1024

/** The options of `vt-harvest scan`. */
export interface Options extends Runner.CommonOptions {
  readonly paths: ReadonlyArray<string>
  readonly force: boolean
  readonly overwrite: boolean
  readonly noWait: boolean
  readonly pollInterval: Option.Option<number>
  readonly waitTimeout: Option.Option<number>
}

/** Counters of the summary line and the progress display; one file is one item. */
export interface ScanCounts {
  /** Files uploaded this run. */
  uploaded: number
  /** Files VirusTotal already knew: their report was saved without an upload. */
  known: number
  /** Analyses that completed and were saved. */
  analysed: number
  /** File reports saved (`<sha256>.json`). */
  saved: number
  /** Files not scanned: already saved, the same content as another file, not a regular file. */
  skipped: number
  /** Files that failed for good, each named in the log. */
  failed: number
  /** Files handled, whatever the outcome. */
  done: number
  /** Analyses being waited for right now. */
  waiting: number
}

export const emptyCounts = (): ScanCounts => ({
  uploaded: 0,
  known: 0,
  analysed: 0,
  saved: 0,
  skipped: 0,
  failed: 0,
  done: 0,
  waiting: 0
})

export const summaryLine = (counts: ScanCounts): string =>
  `summary: uploaded ${counts.uploaded}, known ${counts.known}, analysed ${counts.analysed}, saved ${counts.saved}, skipped ${counts.skipped}, failed ${counts.failed}`

/** A file could not be read (it vanished, or is not readable): that file fails, the run goes on. */
class ReadFailed extends Data.TaggedError("ReadFailed")<{ readonly message: string }> {}

const cause = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : String(error)

/** A path for a log line: quoted, so that no file name can break a line or pass for something else. */
const show = (file: string) => JSON.stringify(file)

// -- finding the files ---------------------------------------------------------------------------------------------

/** What a walk meets. */
export type Found =
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "Skipped"; readonly path: string; readonly reason: string }

/** A path argument, checked before anything is sent. */
interface Root {
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

// -- the command ---------------------------------------------------------------------------------------------------

/** The progress text: files done of the total, what happened to them, and the analyses being waited for. */
const progressText = (counts: ScanCounts, total: number | undefined, tty: boolean) => {
  const parts = [
    Progress.position(counts.done, total, tty),
    `uploaded ${counts.uploaded}`,
    `known ${counts.known}`,
    `analysed ${counts.analysed}`,
    `saved ${counts.saved}`,
    `failed ${counts.failed}`
  ]
  if (counts.skipped > 0) parts.push(`skipped ${counts.skipped}`)
  if (counts.waiting > 0) {
    parts.push(`waiting for ${counts.waiting} analys${counts.waiting === 1 ? "is" : "es"}`)
  }
  return parts
}

/**
 * `vt-harvest scan <path>...`: for each file, its SHA-256 is looked up; VirusTotal's report is saved when it knows
 * the file, otherwise the file is uploaded (through an upload URL above 32 MiB), its analysis waited for and saved
 * under `<out>/_analyses/`, and then the file report saved as `<out>/<sha256>.json`.
 */
export const command = (options: Options) =>
  Effect.gen(function*() {
    const waiting = yield* waitSettings(options)
    const stores = Effect.zipWith(
      Runner.checkOut({ out: options.out, overwrite: options.overwrite || options.force, gzip: options.gzip }),
      Runner.checkAnalysesOut(options),
      (reports, analyses) => Layer.merge(reports, analyses)
    )
    const prepared = yield* Runner.prepare(options, stores)
    const roots = yield* checkPaths(options.paths)
    const { policy, screen } = prepared
    const counts = emptyCounts()
    const total = screen.tty && !options.noProgress
      ? yield* Stream.runCount(Stream.filter(walk(roots), (found) => found._tag === "File"))
      : undefined

    const body = Effect.gen(function*() {
      const reports = yield* ReportSink.ReportSink
      const analyses = yield* Runner.AnalysisStore
      const client = yield* VtClient.VtClient
      const inFlight = new Set<string>()
      // Contents handled this run that the store does not answer for: failed, uploaded without waiting, or fetched
      // again (--force, --overwrite). Files saved normally need no memory: the store says they are saved.
      const settled = new Set<string>()

      const skip = counted(() => counts.skipped++, Effect.logInfo)
      const fail = counted(() => counts.failed++, Effect.logError)
      /** A refused key stops the run (exit status 3); any other error fails this file only. */
      const failed = (file: string) => (error: VtError.VtError): Effect.Effect<void, KeyRefused> =>
        VtError.isAuthFailure(error)
          ? Effect.logError(describeError(error)).pipe(Effect.zipRight(Effect.fail(new KeyRefused({ error }))))
          : fail(`${describeError(error)} (file ${show(file)})`)

      const saveReport = (key: ReportKey.ReportKey, document: VtClient.Document) =>
        storeOrStop(reports.put(key, document.raw)).pipe(
          Effect.zipRight(Effect.sync(() => {
            counts.saved++
          })),
          Effect.zipRight(Effect.logInfo(`saved ${key}.json`))
        )

      const saveAnalysis = (id: string, raw: Uint8Array) => {
        const key = Either.getOrUndefined(ReportKey.fromAnalysisId(id))
        return key === undefined
          ? Effect.logWarning(`analysis id ${Input.quote(id)} cannot be stored under a safe name; not saved`)
          : storeOrStop(analyses.put(key, raw)).pipe(
            Effect.zipRight(Effect.logInfo(`saved ${Runner.analysesDirectoryName}/${key}.json`))
          )
      }

      const lookup = (sha256: string) =>
        QuotaGate.request(Effect.logInfo(`requesting ${sha256}`).pipe(Effect.zipRight(client.getFile(sha256))))

      // A large file goes to a one-time upload URL: the URL and the upload are retried together, so that a retry
      // after a failed upload asks for a fresh URL instead of posting to a spent one. Each request is gated.
      const upload = (file: string, size: number) => {
        const source: Files.Source = {
          stream: NodeStream.fromReadable(
            () => fs.createReadStream(file, { highWaterMark: 64 * 1024 }),
            (error) => error
          ),
          size,
          filename: path.basename(file)
        }
        const send = (uploadUrl: string | undefined) =>
          QuotaGate.attempt(
            Effect.logInfo(`uploading ${show(file)} (${size} bytes${uploadUrl === undefined ? "" : ", upload URL"})`)
              .pipe(Effect.zipRight(Files.uploadStream(source, { uploadUrl })))
          )
        return QuotaGate.retry(
          size > Files.maxDirectUploadBytes
            ? QuotaGate.attempt(
              Effect.logInfo(`requesting an upload URL for ${show(file)}`).pipe(Effect.zipRight(Files.uploadUrl()))
            ).pipe(Effect.flatMap(send))
            : send(undefined)
        )
      }

      /** Upload, wait, save the analysis, then the file report; answers the key it was saved under, if it was. */
      const scanFile = (file: string, sha256: string, size: number) =>
        Effect.gen(function*() {
          if (size > maxUploadBytes) {
            return yield* fail(`${show(file)} is ${size} bytes, more than VirusTotal accepts (650 MB); not uploaded`)
          }
          const uploaded = yield* Effect.either(upload(file, size))
          if (Either.isLeft(uploaded)) return yield* failed(file)(uploaded.left)
          counts.uploaded++
          // The id comes from the server: it names files and goes into the log, so it is checked like any input.
          const checkedId = VtId.analysisId(uploaded.right.id)
          if (Either.isLeft(checkedId)) {
            return yield* fail(
              `uploaded ${show(file)}, but VirusTotal answered an unusable analysis id ${
                Input.quote(uploaded.right.id)
              }: ${checkedId.left}`
            )
          }
          const descriptor = { ...uploaded.right, id: checkedId.right }
          yield* Effect.logInfo(`uploaded ${show(file)} as analysis ${descriptor.id}`)
          if (options.noWait) return yield* saveAnalysis(descriptor.id, descriptor.raw)

          counts.waiting++
          const waited = yield* awaitCompleted(fetchAnalysis(descriptor.id), {
            ...waiting,
            delayFirst: true,
            onState: (analysis) => Effect.logInfo(`analysis ${descriptor.id} ${statusText(analysis)}`)
          }).pipe(
            Effect.either,
            Effect.ensuring(Effect.sync(() => {
              counts.waiting--
            }))
          )
          if (Either.isLeft(waited)) {
            const error = waited.left
            if (error._tag !== "WaitTimedOut") return yield* failed(file)(error)
            yield* saveAnalysis(descriptor.id, error.last.raw)
            return yield* fail(
              `analysis ${descriptor.id} of ${show(file)} still ${statusText(error.last)} after ${
                Duration.format(waiting.timeout)
              } (--wait-timeout); its last state is saved: vt-harvest analysis --wait ${descriptor.id}, or scan the file again later`
            )
          }
          const analysis = waited.right
          yield* saveAnalysis(descriptor.id, analysis.raw)
          counts.analysed++

          // The report is the one of the content VirusTotal analysed, should the file have changed since it was hashed.
          const analysed = analysis.fileInfo._tag === "Some" ? analysis.fileInfo.value.sha256.toLowerCase() : sha256
          if (analysed !== sha256) {
            yield* Effect.logWarning(
              `${show(file)} changed while it was scanned: hashed as ${sha256}, analysed as ${analysed}`
            )
          }
          const key = Either.getOrUndefined(ReportKey.fromFileHash(analysed))
          if (key === undefined) return yield* fail(`analysis ${descriptor.id} names no usable SHA-256 (${show(file)})`)
          const report = yield* Effect.either(lookup(analysed))
          if (Either.isRight(report)) {
            yield* saveReport(key, report.right)
            return key
          }
          if (VtError.isNotFound(report.left)) {
            return yield* fail(
              `VirusTotal has no report for ${analysed} yet although its analysis completed (${
                show(file)
              }); scan it again later`
            )
          }
          return yield* failed(file)(report.left)
        })

      /** Look up, and upload only what VirusTotal does not know (everything with --force). */
      const lookUpOrScan = (file: string, sha256: string, size: number, key: ReportKey.ReportKey) =>
        Effect.gen(function*() {
          if (!options.force && !options.overwrite) {
            const presence = yield* storeOrStop(reports.has(key))
            if (presence === "saved") return yield* skip(`skipped ${show(file)}: ${key}.json already saved`)
          }
          if (!options.force) {
            const known = yield* Effect.either(lookup(sha256))
            if (Either.isRight(known)) {
              counts.known++
              return yield* saveReport(key, known.right)
            }
            if (!VtError.isNotFound(known.left)) {
              settled.add(key)
              return yield* failed(file)(known.left)
            }
            yield* Effect.logInfo(`not found ${sha256}: uploading ${show(file)}`)
          }
          const saved = yield* scanFile(file, sha256, size)
          if (saved !== key) settled.add(key)
        })

      const handle = (found: Found) =>
        Effect.gen(function*() {
          if (found._tag === "Skipped") {
            counts.skipped++
            return yield* Effect.logWarning(`skipped ${show(found.path)}: ${found.reason}`)
          }
          const file = found.path
          const hashed = yield* Effect.either(sha256Of(file))
          if (Either.isLeft(hashed)) {
            counts.done++
            return yield* fail(hashed.left.message)
          }
          const { sha256, size } = hashed.right
          const key = Either.getOrThrow(ReportKey.fromFileHash(sha256))
          // Checked and claimed in one step (no yield in between), so two files with one content cannot both pass.
          if (inFlight.has(key) || settled.has(key)) {
            counts.done++
            return yield* skip(`skipped ${show(file)}: the same content as another file of this run (${sha256})`)
          }
          inFlight.add(key)
          if (options.force || options.overwrite) settled.add(key)
          yield* lookUpOrScan(file, sha256, size, key).pipe(
            Effect.ensuring(Effect.sync(() => {
              counts.done++
              inFlight.delete(key)
            }))
          )
        })

      yield* Progress.report({
        screen,
        enabled: !options.noProgress,
        total,
        policy,
        plainEvery: "30 seconds",
        text: (status, startedAt, now) =>
          [...progressText(counts, total, screen.tty), ...Progress.pace(status, policy, startedAt, now)].join(" · ")
      })
      yield* walk(roots).pipe(
        Stream.mapEffect(handle, { concurrency: Math.max(1, policy.concurrency), unordered: true }),
        Stream.runDrain
      )
    })

    return yield* Runner.run({
      common: options,
      prepared,
      command: "scan",
      source: options.paths.map((file) => (/^[\w./@+-]+$/.test(file) ? file : show(file))).join(" "),
      summary: () => summaryLine(counts),
      closing: (log) =>
        counts.saved + counts.uploaded > 0
          ? [
            `reports in ${options.out}/${
              counts.uploaded > 0 ? ` (analyses under ${Runner.analysesLocation(options.out)}/)` : ""
            }, log in ${log}`
          ]
          : [],
      failed: () => counts.failed > 0,
      body
    })
  })
