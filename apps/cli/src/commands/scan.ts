/**
 * `vt-harvest scan <path>...`: each file's SHA-256 is looked up; VirusTotal's report is saved when it knows the
 * file, otherwise the file is uploaded, its analysis waited for and kept under `<out>/_analyses/`, and then the
 * file report saved as `<out>/<sha256>.json`.
 */
import { Args, Command, Options } from "@effect/cli"
import { ReportSink } from "@vt-harvest/report-sink"
import { Effect, Layer, Stream } from "effect"
import * as Flags from "../engine/Flags.js"
import * as Run from "../engine/Run.js"
import * as Analyses from "../internal/analyses.js"
import { scanFiles } from "../internal/scans.js"
import { checkPaths, show, walk } from "../internal/walk.js"

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
    Options.withDescription(
      "Upload without waiting: save the upload's analysis descriptor only (no polls, no report); a file uploaded " +
        "earlier whose analysis is not completed is skipped after one look at that analysis"
    )
  ),
  ...Flags.wait
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const waiting = yield* Analyses.waitSettings(options)
    const stores = Effect.map(
      Effect.all([
        Run.checkOut({
          out: options.out,
          overwrite: options.overwrite || options.force,
          gzip: options.gzip,
          proxy: options.proxy
        }),
        Run.checkAnalysesOut(options),
        Run.checkUploadsOut(options)
      ]),
      ([reports, analyses, uploads]) => Layer.mergeAll(reports, analyses, uploads)
    )
    const prepared = yield* Run.prepare(options, stores)
    const roots = yield* checkPaths(options.paths)
    return yield* Run.run({
      common: options,
      prepared,
      command: "scan",
      source: options.paths.map((file) => (/^[\w./@+-]+$/.test(file) ? file : show(file))).join(" "),
      writable: Effect.all([ReportSink.ReportSink, Run.AnalysisStore, Run.UploadStore]),
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
      body: (tally) => scanFiles(roots, { ...options, waiting, concurrency: prepared.policy.concurrency }, tally)
    })
  }))).pipe(
    Command.withDescription(
      "Scan files: each file's SHA-256 is looked up first; when VirusTotal knows it, its report is saved as\n" +
        "<out>/<sha256>.json and nothing is uploaded. Otherwise the file is uploaded (through an upload URL above\n" +
        "32 MiB, at most 650 MB), its analysis is polled until completed and saved under <out>/_analyses/, then the\n" +
        "file report is saved. Each upload is recorded under <out>/_uploads/ (and marked once its analysis is seen\n" +
        "completed): a file whose earlier upload is still being analysed (a scan stopped or timed out while waiting)\n" +
        "is not uploaded again: that analysis is waited for (looked at once with --no-wait). Directories are\n" +
        "walked recursively (regular files only; symbolic links inside them are not followed). A file whose report\n" +
        "is already saved is skipped without a request.\n" +
        "Example: vt-harvest scan samples/ suspicious.exe -o vt_reports"
    )
  )
