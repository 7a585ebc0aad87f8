/**
 * `vt-harvest scan <path>...`: each file's SHA-256 is looked up; VirusTotal's report is saved when it knows the
 * file, otherwise the file is uploaded, its analysis waited for and saved under `<out>/_analyses/`, and then the
 * file report saved as `<out>/<sha256>.json`.
 */
import { Args, Command, Options } from "@effect/cli"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { Files, VtClient, VtError, VtId } from "@vt-harvest/vt-client"
import { Duration, Effect, Either, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Failure from "../engine/Failure.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Analyses from "../internal/analyses.js"
import * as Input from "../internal/input.js"
import { checkPaths, maxUploadBytes, sha256Of, show, walk } from "../internal/walk.js"
import * as Flags from "./options.js"

const isVtError = (error: unknown): error is VtError.VtError => !(error instanceof Failure.StoreFailed)

interface File {
  readonly path: string
  readonly sha256: string
  readonly size: number
}

export const scan = Command.make("scan", {
  paths: Args.text({ name: "path" }).pipe(
    Args.withDescription("A file, or a directory to scan every regular file under"),
    Args.atLeast(1)
  ),
  ...Flags.common,
  concurrency: Flags.concurrency(
    "Files scanned at once (default from the tier); their requests still keep the tier's spacing"
  ),
  force: Options.boolean("force").pipe(
    Options.withDescription("Upload every file, even those VirusTotal already knows or the store already holds")
  ),
  overwrite: Flags.overwrite("Look up again files whose report is already saved, and save the fresh report"),
  noWait: Options.boolean("no-wait").pipe(
    Options.withDescription(
      "Upload without waiting: save the upload's analysis descriptor only (no polls, no file report)"
    )
  ),
  ...Flags.wait
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const waiting = yield* Analyses.waitSettings(options)
    const stores = Effect.zipWith(
      Run.checkOut({
        out: options.out,
        overwrite: options.overwrite || options.force,
        gzip: options.gzip,
        proxy: options.proxy
      }),
      Run.checkAnalysesOut(options),
      (reports, analyses) => Layer.merge(reports, analyses)
    )
    const prepared = yield* Run.prepare(options, stores)
    const roots = yield* checkPaths(options.paths)
    const items = walk(roots).pipe(Stream.map((found): Pipeline.Item<string> =>
      found._tag === "File"
        ? Pipeline.work(found.path, `file ${show(found.path)}`)
        : Outcome.skipped(`skipped ${show(found.path)}: ${found.reason}`, { warn: true })
    ))
    return yield* Run.run({
      common: options,
      prepared,
      command: "scan",
      source: options.paths.map((file) => (/^[\w./@+-]+$/.test(file) ? file : show(file))).join(" "),
      writable: Effect.zipWith(ReportSink.ReportSink, Run.AnalysisStore, (a, b) => [a, b]),
      summary: ["uploaded", "known", "analysed", "saved", "skipped", "failed"],
      progress: { counters: ["uploaded", "known", "analysed", "saved", "failed"], whenAny: ["skipped"] },
      total: prepared.screen.tty && !options.noProgress ? yield* Stream.runCount(walk(roots)) : undefined,
      closing: (tally, log) =>
        tally.saved + tally.uploaded > 0
          ? [
            `reports in ${options.out}/${
              tally.uploaded > 0 ? ` (analyses under ${Run.analysesLocation(options.out)}/)` : ""
            }, log in ${log}`
          ]
          : [],
      body: (tally) =>
        Effect.gen(function*() {
          const reports = yield* ReportSink.ReportSink
          const analyses = yield* Run.AnalysisStore
          const client = yield* VtClient.VtClient
          const save = (key: ReportKey.ReportKey, raw: Uint8Array, outcome: Outcome.Outcome) =>
            Effect.as(Failure.storeOrStop(reports.put(key, raw)), outcome)
          const saveAnalysis = (id: string, raw: Uint8Array) => {
            const key = Either.getOrThrow(ReportKey.fromAnalysisId(id))
            return Failure.storeOrStop(analyses.put(key, raw)).pipe(
              Effect.zipRight(Effect.logInfo(`saved _analyses/${key}.json`))
            )
          }
          const lookup = (sha256: string) =>
            Effect.zipRight(Effect.logInfo(`requesting ${sha256}`), client.getFile(sha256))

          /** Upload, wait, save the analysis, then the file report. */
          const upload = (file: File) =>
            Effect.gen(function*() {
              if (file.size > maxUploadBytes) {
                return Outcome.failed(`${show(file.path)} is ${file.size} bytes, more than VirusTotal accepts (650 MB)`)
              }
              yield* Effect.logInfo(
                `uploading ${show(file.path)} (${file.size} bytes${
                  file.size > Files.maxDirectUploadBytes ? ", upload URL" : ""
                })`
              )
              const source: Files.Source = {
                stream: NodeStream.fromReadable(
                  () => fs.createReadStream(file.path, { highWaterMark: 65536 }),
                  (e) => e
                ),
                size: file.size,
                filename: path.basename(file.path)
              }
              const uploaded = yield* Files.uploadStream(source).pipe(Effect.provideService(VtClient.VtClient, client))
              yield* Pipeline.step(tally, "uploaded")
              // The id comes from the server: it names a file and goes into the log, so it is checked like any input.
              const id = VtId.analysisId(uploaded.id)
              if (Either.isLeft(id) || Either.isLeft(ReportKey.fromAnalysisId(id.right))) {
                return Outcome.failed(
                  `uploaded ${show(file.path)}, but the analysis id ${Input.quote(uploaded.id)} is unusable`
                )
              }
              yield* Effect.logInfo(`uploaded ${show(file.path)} as analysis ${id.right}`)
              if (options.noWait) {
                yield* saveAnalysis(id.right, uploaded.raw)
                return Outcome.submitted(`analysis ${id.right} of ${show(file.path)} not waited for (--no-wait)`)
              }
              return yield* analyse(file, id.right)
            })

          const analyse = (file: File, id: string) =>
            Pipeline.waitingFor(tally, Analyses.wait(id, waiting, { justSubmitted: true })).pipe(
              Effect.provideService(VtClient.VtClient, client),
              Effect.flatMap((analysis) =>
                Effect.gen(function*() {
                  yield* saveAnalysis(id, analysis.raw)
                  // The report of the content VirusTotal analysed, should the file have changed since it was hashed.
                  const analysed = analysis.fileInfo._tag === "Some"
                    ? analysis.fileInfo.value.sha256.toLowerCase()
                    : file.sha256
                  const key = Either.getOrUndefined(ReportKey.fromFileHash(analysed))
                  if (key === undefined) {
                    return Outcome.failed(`analysis ${id} names no usable SHA-256 (${show(file.path)})`, ["analysed"])
                  }
                  if (analysed !== file.sha256) {
                    yield* Effect.logWarning(
                      `${
                        show(file.path)
                      } changed while it was scanned: hashed as ${file.sha256}, analysed as ${analysed}`
                    )
                  }
                  const report = yield* lookup(analysed)
                  return yield* save(
                    key,
                    report.raw,
                    Outcome.saved(`saved ${key}.json`, { also: ["analysed"], kept: key === file.sha256 })
                  )
                }).pipe(Effect.catchIf(VtError.isNotFound, () =>
                  Effect.succeed(
                    Outcome.failed(
                      `VirusTotal has no report for ${file.sha256} yet although its analysis completed (${
                        show(file.path)
                      }); scan it again later`,
                      ["analysed"]
                    )
                  )))
              ),
              Effect.catchTag("AnalysisTimeoutError", (timeout) =>
                Effect.gen(function*() {
                  if (timeout.last !== undefined) yield* saveAnalysis(id, timeout.last.raw)
                  return Outcome.failed(
                    `analysis ${id} of ${show(file.path)} still ${Analyses.statusText(timeout)} after ${
                      Duration.format(waiting.timeout)
                    } (--wait-timeout); its last state is saved: vt-harvest analysis --wait ${id}, or scan the file again later`
                  )
                })),
              Effect.catchIf(isVtError, Failure.classify(`file ${show(file.path)}`))
            )

          yield* Pipeline.run({
            items,
            concurrency: prepared.policy.concurrency,
            store: reports,
            overwrite: options.overwrite || options.force,
            retryNotFound: true,
            logSkips: true,
            key: (work) =>
              sha256Of(work.value).pipe(
                Effect.map((hashed) =>
                  Pipeline.claim(Either.getOrThrow(ReportKey.fromFileHash(hashed.sha256)), {
                    path: work.value,
                    ...hashed
                  })
                ),
                Effect.catchAll((error) => Effect.succeed(Outcome.failed(error.message)))
              ),
            fetch: (work, key) =>
              options.force
                ? upload(work.value)
                : lookup(work.value.sha256).pipe(
                  Effect.flatMap((report) =>
                    save(key, report.raw, Outcome.saved(`saved ${key}.json`, { also: ["known"] }))
                  ),
                  Effect.catchIf(
                    VtError.isNotFound,
                    () =>
                      Effect.zipRight(
                        Effect.logInfo(`not found ${work.value.sha256}: uploading ${show(work.value.path)}`),
                        upload(work.value)
                      )
                  )
                )
          }, tally)
        })
    })
  }))).pipe(
    Command.withDescription(
      "Scan files: each file's SHA-256 is looked up first; when VirusTotal knows it, its report is saved as\n" +
        "<out>/<sha256>.json and nothing is uploaded. Otherwise the file is uploaded (through an upload URL above\n" +
        "32 MiB, at most 650 MB), its analysis is polled until completed and saved under <out>/_analyses/, then the\n" +
        "file report is saved. Directories are walked recursively (regular files only; symbolic links inside them\n" +
        "are not followed). A file whose report is already saved is skipped without a request.\n" +
        "Example: vt-harvest scan samples/ suspicious.exe -o vt_reports"
    )
  )
