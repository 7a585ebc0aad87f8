/**
 * `vt-harvest summary [store]`: one CSV row per saved report to stdout, an aligned table on a terminal; with
 * `--format` JSON or JSON lines, with `--fields` the fields asked. Read-only: it creates nothing in the store.
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Effect, Either, Layer, Option, Ref, Stream } from "effect"
import * as Run from "../engine/Run.js"
import * as Formats from "../internal/formats.js"
import * as Settings from "../internal/settings.js"
import * as Summary from "../internal/summary.js"
import * as Text from "../internal/text.js"

export const summary = Command.make("summary", {
  store: Args.text({ name: "store" }).pipe(
    Args.withDescription("A directory of reports, s3://bucket/prefix or postgres://…"),
    Args.withDefault("vt_reports")
  ),
  format: Options.choice("format", Formats.formats).pipe(
    Options.withDescription(
      "csv (RFC 4180, formula-like cells defused), json (one array), ndjson (one object per line) or table " +
        "(aligned, for a terminal); default: table on a terminal, csv otherwise"
    ),
    Options.optional
  ),
  fields: Options.text("fields").pipe(
    Options.withDescription(
      "The columns, comma-separated: key, id, type, malicious, suspicious, undetected, harmless, reputation, " +
        "last_analysis_date, names, permalink (the object's page on VirusTotal), or a dotted path into the stored " +
        "document, read from data (attributes.popular_threat_classification.suggested_threat_label; data. and meta. " +
        "start from the document itself; a number indexes a list). A missing field is an empty cell (null in " +
        "JSON); a list of texts is joined with \"; \", any other list or object is its JSON text.\nExample: " +
        "vt-harvest summary vt_reports --fields key,attributes.meaningful_name,malicious,permalink"
    ),
    Options.optional
  )
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const named = Option.map(options.fields, Summary.parseFields)
    if (Option.isSome(named) && Either.isLeft(named.value)) {
      return yield* new Settings.UsageError({
        message: `--fields ${Text.quote(Option.getOrElse(options.fields, () => ""))}: ${named.value.left}`
      })
    }
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
    // A store that cannot be opened (no such bucket, no database, no tables) is a store that does not exist: exit 2.
    const store = Layer.mapError(
      yield* Run.checkOut({ out: options.store, overwrite: false, gzip: false, readOnly: true }),
      (error) => (error._tag === "UsageError" ? error : new Settings.UsageError({ message: error.message }))
    )
    const problems = yield* Ref.make(0)
    const onProblem = (key: string, reason: string) =>
      Effect.zipRight(
        Ref.update(problems, (n) => n + 1),
        Effect.sync(() => process.stderr.write(`warning: ${Text.oneLine(key)}: ${reason}, skipped\n`))
      )
    const write = (line: string) => Effect.sync(() => void process.stdout.write(`${line}\n`))
    const tty = process.stdout.isTTY === true
    const format = Formats.choose(options.format, tty)
    const fields = Option.isSome(named) && Either.isRight(named.value)
      ? named.value.right
      : Summary.defaultFields(format)
    const writer = yield* Formats.writer(format, Summary.fieldColumns(fields), write, {
      width: process.stdout.columns ?? 120,
      tty
    })
    const run = writer.begin.pipe(
      Effect.zipRight(Stream.runForEach(Summary.rows(onProblem), writer.record)),
      Effect.zipRight(writer.end)
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
        "spreadsheet would take for a formula (=, +, -, @) get a leading apostrophe. --format json or ndjson\n" +
        "writes JSON (counts as numbers, names as a list, fields as stored); --fields picks the columns.\n" +
        "Example: vt-harvest summary vt_reports > verdicts.csv\n" +
        "Example: vt-harvest summary vt_reports --format ndjson --fields key,attributes.type_tag,permalink\n" +
        "Example: vt-harvest summary vt_reports --fields 'key,malicious,attributes.popular_threat_classification.suggested_threat_label'"
    )
  )
