/**
 * `vt-harvest summary [store]`: one CSV row per saved report to stdout, an aligned table on a terminal. Read-only:
 * it creates nothing in the store.
 */
import { Args, Command } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Effect, Ref, Stream } from "effect"
import * as Run from "../engine/Run.js"
import * as Settings from "../internal/settings.js"
import * as Summary from "../internal/summary.js"
import * as Text from "../internal/text.js"

export const summary = Command.make("summary", {
  store: Args.text({ name: "store" }).pipe(
    Args.withDescription("A directory of reports, s3://bucket/prefix or postgres://…"),
    Args.withDefault("vt_reports")
  )
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    if (!/^s3:\/\//i.test(options.store) && !Run.isPostgres(options.store)) {
      const fs = yield* FileSystem.FileSystem
      const isDirectory = yield* fs.stat(options.store).pipe(
        Effect.map((info) => info.type === "Directory"),
        Effect.orElseSucceed(() => false)
      )
      if (!isDirectory) {
        return yield* new Settings.UsageError({ message: `no store at ${Text.quote(options.store)}: not a directory` })
      }
    }
    const store = yield* Run.checkOut({ out: options.store, overwrite: false, gzip: false, readOnly: true })
    const problems = yield* Ref.make(0)
    const onProblem = (key: string, reason: string) =>
      Effect.zipRight(
        Ref.update(problems, (n) => n + 1),
        Effect.sync(() => process.stderr.write(`warning: ${Text.oneLine(key)}: ${reason}, skipped\n`))
      )
    const write = (line: string) => Effect.sync(() => void process.stdout.write(`${line}\n`))
    const run = process.stdout.isTTY === true
      ? Effect.flatMap(
        Stream.runCollect(Summary.rows(onProblem)),
        (rows) => write(Summary.table([...rows], process.stdout.columns ?? 120))
      )
      : write(Summary.csvLine(Summary.columns)).pipe(
        Effect.zipRight(
          Stream.runForEach(
            Summary.rows(onProblem),
            (row) => write(Summary.csvLine(Summary.columns.map((c) => row[c])))
          )
        )
      )
    yield* run.pipe(
      Effect.provide(store),
      Effect.mapError((error) =>
        error._tag === "UsageError" ? error : new Settings.RequestFailed({ message: error.message })
      )
    )
    return (yield* Ref.get(problems)) > 0 ? 1 : 0
  }))).pipe(
    Command.withDescription(
      "One CSV row per saved report (key, id, type, malicious, suspicious, undetected, harmless, reputation,\n" +
        "last_analysis_date, names) to stdout; an aligned table on a terminal. Reads directories, s3:// and postgres://\n" +
        "stores, gzipped or not, and the analyses scan and analysis keep in <store>/_analyses. Cells a\n" +
        "spreadsheet would take for a formula (=, +, -, @) get a leading apostrophe.\n" +
        "Example: vt-harvest summary vt_reports > verdicts.csv"
    )
  )
