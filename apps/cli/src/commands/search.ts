/**
 * `vt-harvest search <query>`: the ids an Intelligence query finds (a premium privilege), on stdout, for
 * `| vt-harvest files -` or `| vt-harvest download -`.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Layer, Option } from "effect"
import * as Flags from "../engine/Flags.js"
import * as Run from "../engine/Run.js"
import * as Search from "../internal/search.js"
import * as Settings from "../internal/settings.js"
import * as Text from "../internal/text.js"

const { gzip: _gzip, out: _out, ...requestFlags } = Flags.common

export const search = Command.make("search", {
  query: Args.text({ name: "query" }).pipe(
    Args.withDescription("A VirusTotal Intelligence query, quoted as one argument")
  ),
  limit: Options.integer("limit").pipe(
    Options.withDescription("At most this many ids (default: every match; each page of up to 300 is one request)"),
    Options.optional
  ),
  format: Options.choice("format", ["ids", "ndjson"]).pipe(
    Options.withDescription("ids: one id a line (default); ndjson: each object as VirusTotal returned it, one a line"),
    Options.withDefault("ids" as const)
  ),
  ...requestFlags
}, (options) =>
  Run.exitWith(Effect.gen(function*() {
    const limit = Option.getOrUndefined(options.limit)
    if (limit !== undefined && limit < 1) {
      return yield* new Settings.UsageError({ message: `--limit must be at least 1, got ${limit}` })
    }
    if (options.query.trim() === "") return yield* new Settings.UsageError({ message: "the query is empty" })
    const common = { ...options, out: "-", gzip: false }
    const prepared = yield* Run.prepare(common, Effect.succeed(Layer.empty))
    return yield* Run.run({
      common,
      prepared,
      command: "search",
      source: Text.quote(options.query, 200),
      target: "standard output",
      targetIsStream: true,
      forbidden: "a 403 here means the key lacks the VirusTotal Intelligence privilege (premium)",
      writable: Effect.succeed([]),
      summary: ["found", "failed"],
      progress: { counters: ["found"], whenAny: ["failed"] },
      total: undefined,
      body: (tally) => Search.search(options.query, { limit, format: options.format }, tally)
    })
  }))).pipe(
    Command.withDescription(
      "Print the ids a VirusTotal Intelligence query finds (a premium privilege), one a line on stdout, page after\n" +
        "page through the same quota gate as every request. A key without the privilege is refused (403): exit 3\n" +
        "after that one request.\n" +
        "Example: vt-harvest search \"type:peexe positives:20+ fs:2024-01-01+\" --limit 500 | vt-harvest files -\n" +
        "Example: vt-harvest search \"engines:emotet\" --limit 100 --format ndjson > matches.ndjson\n" +
        "Example: vt-harvest search \"tag:signed p:0\" --limit 20 | vt-harvest download - --tier premium"
    )
  )
