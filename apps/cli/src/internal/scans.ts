/**
 * What `scan` does with each file it finds.
 */
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import { Duration, Effect, Either, Stream } from "effect"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Steps from "../engine/Steps.js"
import * as Analyses from "./analyses.js"
import { type File, upload } from "./upload.js"
import { sha256Of, show, walk } from "./walk.js"

import type { Ref } from "effect"
import type { Root } from "./walk.js"

/**
 * The plan of `scan`: each file found is hashed and claimed by its SHA-256; a file VirusTotal knows gets its
 * report saved, any other (every one with `force`) is uploaded, its analysis waited for and kept, and then the
 * report of what was analysed saved.
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
    const client = yield* VtClient.VtClient
    const lookup = (sha256: string) => Steps.requesting(sha256)(client.getFile(sha256))

    // Wait for the analysis, then save the report of the content VirusTotal analysed (should the file have
    // changed since it was hashed, that is the report of what was uploaded, not kept as this file's).
    const analyse = (file: File, id: string) =>
      Effect.gen(function*() {
        const analysis = yield* Steps.awaitAnalysis(tally, analyses, id, options.waiting, { justSubmitted: true })
        const analysed = analysis.fileInfo._tag === "Some" ? analysis.fileInfo.value.sha256 : file.sha256
        const key = Either.getOrUndefined(ReportKey.fromFileHash(analysed.toLowerCase()))
        if (key === undefined) return Outcome.failed(`analysis ${id} names no usable SHA-256`, ["analysed"])
        if (key !== file.sha256) yield* Effect.logWarning(`${show(file.path)} changed while it was scanned`)
        const saved = Outcome.saved(`saved ${key}.json`, { also: ["analysed"], kept: key === file.sha256 })
        return yield* Effect.flatMap(lookup(key), (report) => Steps.keep(reports, key, report.raw, saved)).pipe(
          Effect.catchIf(VtError.isNotFound, () =>
            Effect.succeed(
              Outcome.failed(`no report for ${key} yet although its analysis completed`, ["analysed"])
            ))
        )
      }).pipe(Effect.catchTag("AnalysisTimeoutError", (timeout) =>
        Effect.succeed(Outcome.failed(
          `analysis ${id} of ${show(file.path)} still ${Analyses.statusText(timeout)} after ${
            Duration.format(options.waiting.timeout)
          } (--wait-timeout); its last state is saved: vt-harvest analysis --wait ${id}, or scan the file again later`
        ))))

    const send = (file: File) =>
      Effect.flatMap(upload(file, Pipeline.step(tally, "uploaded")), (uploaded) =>
        Either.isLeft(uploaded)
          ? Effect.succeed(Outcome.failed(uploaded.left))
          : options.noWait
          ? Steps.keepAnalysis(analyses, uploaded.right.id, uploaded.right.raw).pipe(
            Effect.as(Outcome.submitted(`analysis ${uploaded.right.id} not waited for (--no-wait)`))
          )
          : analyse(file, uploaded.right.id)).pipe(Effect.provideService(VtClient.VtClient, client))

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
        options.force ? send(work.value) : lookup(work.value.sha256).pipe(
          Effect.flatMap((report) =>
            Steps.keep(reports, key, report.raw, Outcome.saved(`saved ${key}.json`, { also: ["known"] }))
          ),
          Effect.catchIf(VtError.isNotFound, () => send(work.value))
        )
    }, tally)
  })
