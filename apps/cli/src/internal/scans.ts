/**
 * What `scan` does with each file it finds.
 */
import { ReportKey, ReportSink, StoreLayout } from "@vt-harvest/report-sink"
import { Analysis, VtClient, VtError } from "@vt-harvest/vt-client"
import { Duration, Effect, Either, Option, Stream } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Steps from "../engine/Steps.js"
import * as Analyses from "./analyses.js"
import { type File, upload } from "./upload.js"
import * as Uploads from "./uploads.js"
import { sha256Of, show, walk } from "./walk.js"

import type { Ref } from "effect"
import type { Root } from "./walk.js"

/**
 * The plan of `scan`: each file found is hashed and claimed by its SHA-256; a file VirusTotal knows gets its
 * report saved, any other (every one with `force`) is uploaded, its analysis waited for and kept, and then the
 * report of what was analysed saved. Each upload is recorded under its SHA-256 (`_uploads/`), and marked once its
 * analysis is seen completed: a file whose earlier upload is still being analysed (a scan stopped or timed out while
 * waiting) has that analysis waited for (looked at once with `noWait`), and is not uploaded again.
 */
export const scanFiles = (
  roots: ReadonlyArray<Root>,
  options: {
    readonly force: boolean
    readonly overwrite: boolean
    readonly noWait: boolean
    readonly concurrency: number
    readonly waiting: { readonly interval: Duration.Duration; readonly timeout: Duration.Duration }
  },
  tally: Ref.Ref<Outcome.Tally>
) =>
  Effect.gen(function*() {
    const reports = yield* ReportSink.ReportSink
    const analyses = yield* Run.AnalysisStore
    const uploads = yield* Run.UploadStore
    const client = yield* VtClient.VtClient
    const lookup = (sha256: string) => Steps.requesting(sha256)(client.getFile(sha256))

    const remember = (key: ReportKey.ReportKey, analysisId: string, status: Uploads.Status) =>
      Failure.storeOrStop(uploads.put(key, Uploads.encode({ analysisId, status })))
    const uploadedAgain = (file: File, key: ReportKey.ReportKey) => (why: string) =>
      Effect.logWarning(
        `the record of ${key} in ${StoreLayout.uploadsDirectory}/ ${why}: ${show(file.path)} is uploaded again`
      )
    // The analysis of an earlier upload of this content that was not seen completed, if any.
    const pending = (file: File, key: ReportKey.ReportKey) =>
      Uploads.pending(uploads, key, "uploaded", uploadedAgain(file, key))

    // Whether an analysis is of the content stored under `key` (an analysis of a URL is of no file).
    const isOf = (analysis: Analysis.Analysis, key: ReportKey.ReportKey) =>
      analysis.fileInfo._tag === "Some" && analysis.fileInfo.value.sha256.toLowerCase() === key
    const otherContent = (file: File, key: ReportKey.ReportKey, id: string, analysis: Analysis.Analysis) =>
      Effect.zipRight(
        Effect.logWarning(
          `analysis ${id}, recorded for ${show(file.path)}, is of ${
            analysis.fileInfo._tag === "Some"
              ? `another content (${
                Either.getOrElse(ReportKey.fromFileHash(analysis.fileInfo.value.sha256.toLowerCase()), () => "?")
              })`
              : "no file"
          }: the file is uploaded again`
        ),
        send(file, key)
      )

    // A completed analysis: the report of the content VirusTotal analysed is saved (should the file have changed
    // since it was hashed, that is the report of what was uploaded, not kept as this file's). An earlier upload's
    // analysis that is of other content (a record edited, a server's mistake) is no upload of this file: it is sent.
    const completed = (
      file: File,
      key: ReportKey.ReportKey,
      id: string,
      analysis: Analysis.Analysis,
      justSubmitted: boolean
    ): Effect.Effect<Outcome.Outcome, VtError.VtError | Failure.Stop, VtClient.VtClient> =>
      Effect.gen(function*() {
        if (!justSubmitted && !isOf(analysis, key)) return yield* otherContent(file, key, id, analysis)
        const analysed = analysis.fileInfo._tag === "Some" ? analysis.fileInfo.value.sha256 : file.sha256
        const reportKey = Either.getOrUndefined(ReportKey.fromFileHash(analysed.toLowerCase()))
        yield* remember(key, id, "completed")
        if (reportKey === undefined) return Outcome.failed(`analysis ${id} names no usable SHA-256`, ["analysed"])
        if (reportKey !== key) yield* Effect.logWarning(`${show(file.path)} changed while it was scanned`)
        const saved = Outcome.saved(`saved ${reportKey}.json`, { also: ["analysed"], kept: reportKey === key })
        return yield* Effect.flatMap(lookup(reportKey), (report) => Steps.keep(reports, reportKey, report.raw, saved))
          .pipe(
            Effect.catchIf(VtError.isNotFound, () =>
              Effect.succeed(
                Outcome.failed(`no report for ${reportKey} yet although its analysis completed`, ["analysed"])
              ))
          )
      })

    const timedOut = (file: File, id: string) => (timeout: Analysis.AnalysisTimeoutError) =>
      Effect.succeed(Outcome.failed(
        `analysis ${id} of ${show(file.path)} still ${Analyses.statusText(timeout)} after ${
          Duration.format(options.waiting.timeout)
        } (--wait-timeout); its last state is saved: vt-harvest analysis --wait ${id}, or scan the file again ` +
          `later (it is not uploaded again while its analysis runs; --force uploads it again)`
      ))

    // The analysis of an upload just made: waited for, then as above.
    const analyse = (file: File, key: ReportKey.ReportKey, id: string) =>
      Steps.awaitAnalysis(tally, analyses, id, options.waiting, { justSubmitted: true }).pipe(
        Effect.flatMap((analysis) => completed(file, key, id, analysis, true)),
        Effect.catchTag("AnalysisTimeoutError", timedOut(file, id))
      )

    function send(
      file: File,
      key: ReportKey.ReportKey
    ): Effect.Effect<Outcome.Outcome, VtError.VtError | Failure.Stop, VtClient.VtClient> {
      return Effect.flatMap(upload(file, Pipeline.step(tally, "uploaded")), (uploaded) =>
        Either.isLeft(uploaded)
          ? Effect.succeed(Outcome.failed(uploaded.left))
          : Effect.zipRight(
            remember(key, uploaded.right.id, "uploaded"),
            options.noWait
              ? Steps.keepAnalysis(analyses, uploaded.right.id, uploaded.right.raw).pipe(
                Effect.as(Outcome.submitted(`analysis ${uploaded.right.id} not waited for (--no-wait)`))
              )
              : analyse(file, key, uploaded.right.id)
          ))
    }

    // An earlier upload's analysis, looked at once (kept as it is with --no-wait). None when VirusTotal refuses its id
    // (only that request's answer: not one of what follows).
    const earlier = (id: string) =>
      Steps.lookAtRecorded(id).pipe(
        Effect.tap((analysis) =>
          options.noWait && analysis !== undefined ? Steps.keepAnalysis(analyses, id, analysis.raw) : Effect.void
        ),
        Effect.map(Option.fromNullable)
      )

    // A file VirusTotal does not know yet: uploaded, unless an earlier upload of it is still being analysed. That
    // analysis is looked at first: one VirusTotal does not know, or of other content (a record edited, another
    // file's, a URL's), is no upload of this file; a completed one gives the report; else it is waited for (the next
    // poll one interval later), or with --no-wait the file is skipped.
    const resumeOrSend = (file: File, key: ReportKey.ReportKey) =>
      Effect.flatMap(pending(file, key), (id) =>
        id === undefined ? send(file, key) : Effect.zipRight(
          Effect.logInfo(
            `${show(file.path)} was uploaded by an earlier run: looking at its analysis ${id}`
          ),
          earlier(id).pipe(
            Effect.flatMap(Option.match({
              onNone: () =>
                Effect.zipRight(
                  Effect.logWarning(`analysis ${id} of ${show(file.path)} is unknown to VirusTotal: uploading again`),
                  send(file, key)
                ),
              onSome: (analysis) =>
                !isOf(analysis, key)
                  ? otherContent(file, key, id, analysis)
                  : Analysis.isCompleted(analysis)
                  ? completed(file, key, id, analysis, false)
                  : options.noWait
                  // Not the store's answer: a copy of the file later in the run is not looked at again.
                  ? Effect.succeed(Outcome.skipped(
                    `skipped ${show(file.path)}: uploaded by an earlier run, analysis ${id} still ${
                      Analyses.statusText(analysis)
                    } (--no-wait)`,
                    { kept: false }
                  ))
                  : Steps.awaitAnalysis(tally, analyses, id, options.waiting, { justSubmitted: true }).pipe(
                    Effect.flatMap((analysis) => completed(file, key, id, analysis, false))
                  )
            })),
            Effect.catchTag("AnalysisTimeoutError", timedOut(file, id))
          )
        ))

    yield* Pipeline.run({
      items: walk(roots).pipe(Stream.map((found): Pipeline.Item<string> =>
        found._tag === "File"
          ? Pipeline.work(found.path, `file ${show(found.path)}`)
          : Outcome.skipped(`skipped ${show(found.path)}: ${found.reason}`, { warn: true })
      )),
      concurrency: options.concurrency,
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
        options.force ? send(work.value, key) : lookup(work.value.sha256).pipe(
          Effect.flatMap((report) =>
            Steps.keep(reports, key, report.raw, Outcome.saved(`saved ${key}.json`, { also: ["known"] }))
          ),
          Effect.catchIf(VtError.isNotFound, () => resumeOrSend(work.value, key))
        )
    }, tally)
  })
