/**
 * `vt-harvest download <input>`: the sample of every SHA-256 in a list (a premium privilege), each verified before
 * it is kept as `<download-dir>/<sha256>`.
 */
import { Command, Options } from "@effect/cli"
import { ReportSink } from "@vt-harvest/report-sink"
import { Config, Effect, Layer } from "effect"
import * as Flags from "../engine/Flags.js"
import * as Run from "../engine/Run.js"
import * as Input from "../internal/input.js"
import * as Samples from "../internal/samples.js"
import * as Settings from "../internal/settings.js"

const { gzip: _gzip, out: _out, ...requestFlags } = Flags.common

export const download = Command.make("download", {
  input: Flags.input,
  downloadDir: Options.directory("download-dir").pipe(
    Options.withDescription(
      "Where samples go, each as <dir>/<sha256>, mode 0600 (default vt_samples) [VT_DOWNLOAD_DIR]"
    ),
    Options.withFallbackConfig(Config.string("VT_DOWNLOAD_DIR").pipe(Config.withDefault("vt_samples")))
  ),
  ...requestFlags,
  retryNotFound: Flags.retryNotFound("Ask again for samples recorded as not found by an earlier run"),
  overwrite: Flags.overwrite("Download again samples that are already saved")
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const directory = options.downloadDir
    if (directory.trim() === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(directory)) {
      return yield* new Settings.UsageError({ message: "--download-dir must name a local directory" })
    }
    const common = { ...options, out: directory, gzip: false }
    const prepared = yield* Run.prepare(
      common,
      Effect.succeed(Layer.sync(ReportSink.ReportSink, () => Samples.store(directory)))
    )
    yield* Input.checkReadable(options.input).pipe(
      Effect.mapError((error) => new Settings.UsageError({ message: error.message }))
    )
    return yield* Run.run({
      common,
      prepared,
      command: "download",
      source: Input.isStdin(options.input) ? "standard input" : options.input,
      forbidden: "a 403 here means the key lacks the privilege to download files (premium)",
      writable: Effect.map(ReportSink.ReportSink, (store) => [store]),
      summary: ["saved", "notFound", "skipped", "invalid", "failed"],
      progress: { counters: ["saved", "notFound", "failed"], whenAny: ["skipped", "invalid"] },
      total: prepared.screen.tty && !options.noProgress ? yield* Input.countLinesOfFile(options.input) : undefined,
      closing: (tally, log) =>
        tally.saved + tally.notFound > 0
          ? [
            `samples in ${directory.replace(/\/$/, "")}/ (not found under ${
              directory.replace(/\/$/, "")
            }/_not_found/), log in ${log}`
          ]
          : [],
      body: (tally) =>
        Samples.download({
          input: options.input,
          directory,
          concurrency: prepared.policy.concurrency,
          overwrite: options.overwrite,
          retryNotFound: options.retryNotFound
        }, tally)
    })
  }))).pipe(
    Command.withDescription(
      "Download the sample of every SHA-256 in <input> (one per line; - reads stdin), a premium privilege:\n" +
        "GET /files/{sha256}/download, whose redirect to a signed storage URL is followed without the API key.\n" +
        "The bytes are streamed to a temporary file, hashed on the way, and renamed to <download-dir>/<sha256>\n" +
        "(mode 0600, never executable) only when their SHA-256 matches; a sample that does not match fails and\n" +
        "nothing is kept. A rerun sends no request for samples already saved. A key without the privilege is\n" +
        "refused (403): exit 3 after that one request.\n" +
        "Example: vt-harvest download hashes.txt --download-dir samples --tier premium\n" +
        "Example: vt-harvest search \"tag:signed p:0\" --limit 20 | vt-harvest download - --tier premium"
    )
  )
