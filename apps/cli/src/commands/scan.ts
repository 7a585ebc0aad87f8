/**
 * `vt-harvest scan <path>...`: each file's SHA-256 is looked up; VirusTotal's report is saved when it knows the
 * file, otherwise the file is uploaded, its analysis waited for and kept under `<out>/_analyses/`, and then the
 * file report saved as `<out>/<sha256>.json`.
 */
import { Args, Command, Options } from "@effect/cli"
import { ReportKey, ReportSink } from "@vt-harvest/report-sink"
import { VtClient, VtError } from "@vt-harvest/vt-client"
import { Duration, Effect, Either, Layer, Stream } from "effect"
import * as Flags from "../engine/Flags.js"
import * as Outcome from "../engine/Outcome.js"
import * as Pipeline from "../engine/Pipeline.js"
import * as Run from "../engine/Run.js"
import * as Steps from "../engine/Steps.js"
import * as Analyses from "../internal/analyses.js"
import { type File, upload } from "../internal/upload.js"
import { checkPaths, sha256Of, show, walk } from "../internal/walk.js"

export const scan = Command.make("scan", {
  paths: Args.text({ name: "path" }).pipe(
    Args.withDescription("A file, or a directory to scan every regular file under"),
    Args.atLeast(1)
  ),
  ...Flags.common,
  concurrency: Flags.concurrency(
    "Files scanned at once (default from the tier); their requests keep the tier's spacing"
  ),
  force: Options.boolean("force").pipe(
    Options.withDescription("Upload every file, even those VirusTotal already knows or the store already holds")
  ),
  overwrite: Flags.overwrite("Look up again files whose report is already saved, and save the fresh report"),
  noWait: Options.boolean("no-wait").pipe(
    Options.withDescription("Upload without waiting: save the upload's analysis descriptor only (no polls, no report)")
  ),
  ...Flags.wait
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const waiting = yield* Analyses.waitSettings(options)
    const stores = Effect.zipWith(
      Run.checkOut({ out: options.out, overwrite: options.overwrite || options.force, gzip: options.gzip }),
      Run.checkAnalysesOut(options),
      (reports, analyses) => Layer.merge(reports, analyses)
    )
    const prepared = yield* Run.prepare(options, stores)
    const roots = yield* checkPaths(options.paths)
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
            `reports in ${Run.reportsLocation(options.out)}, analyses in ${
              Run.analysesLocation(options.out)
            }, log in ${log}`
          ]
          : [],
      body: (tally) =>
        Effect.gen(function*() {
          const reports = yield* ReportSink.ReportSink
          const analyses = yield* Run.AnalysisStore
          const client = yield* VtClient.VtClient
          const lookup = (sha256: string) => Steps.requesting(sha256)(client.getFile(sha256))

          // Wait for the analysis, then save the report of the content VirusTotal analysed (should the file have
          // changed since it was hashed, that is the report of what was uploaded, not kept as this file's).
          const analyse = (file: File, id: string) =>
            Effect.gen(function*() {
              const analysis = yield* Steps.awaitAnalysis(tally, analyses, id, waiting, { justSubmitted: true })
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
                  Duration.format(waiting.timeout)
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
              options.force ? send(work.value) : lookup(work.value.sha256).pipe(
                Effect.flatMap((report) =>
                  Steps.keep(reports, key, report.raw, Outcome.saved(`saved ${key}.json`, { also: ["known"] }))
                ),
                Effect.catchIf(VtError.isNotFound, () => send(work.value))
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
