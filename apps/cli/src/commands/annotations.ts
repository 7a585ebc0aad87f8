/**
 * `vt-harvest comments|votes files|urls|domains|ips <input> [--limit N]`: the comments or votes of every id in a
 * list, kept under `<out>/_comments/` or `<out>/_votes/`; `vt-harvest comment add <kind> <id> <text>` and `vote add
 * <kind> <id> harmless|malicious`: one of each posted. Both pairs are declared once from the table in
 * internal/annotations.ts.
 */
import { Args, Command, Options } from "@effect/cli"
import { QuotaGate } from "@vt-harvest/rate-schedule"
import { ReportSink } from "@vt-harvest/report-sink"
import type { VtObject } from "@vt-harvest/vt-client"
import { Comments, Votes, VtClient, VtError } from "@vt-harvest/vt-client"
import { Console, Duration, Effect, Either, Layer, Logger, Option } from "effect"
import * as Failure from "../engine/Failure.js"
import * as Flags from "../engine/Flags.js"
import * as Run from "../engine/Run.js"
import * as Annotations from "../internal/annotations.js"
import * as Input from "../internal/input.js"
import type * as Kinds from "../internal/kinds.js"
import * as Progress from "../internal/progress.js"
import * as Proxy from "../internal/proxy.js"
import * as Settings from "../internal/settings.js"
import * as Text from "../internal/text.js"

const examples: Record<Kinds.Kind["command"], string> = {
  files: "hashes.txt",
  urls: "urls.txt",
  domains: "domains.txt",
  ips: "ips.txt"
}

/** The options of `comments <kind>` or `votes <kind>`, with examples of that pair. */
const harvestFlags = (annotation: Annotations.Annotation, kind: Kinds.Kind) => ({
  input: Flags.input,
  ...Flags.common,
  limit: Options.integer("limit").pipe(
    Options.withDescription(
      "At most N items per id (the first N, newest first); default all of them\nExample: vt-harvest " +
        `${annotation.command} ${kind.command} ${examples[kind.command]} --limit 5`
    ),
    Options.optional
  ),
  retryNotFound: Flags.retryNotFound("Ask again for ids recorded as not found by an earlier run"),
  overwrite: Flags.overwrite("Fetch again ids whose items are already saved")
})

const checkLimit = (limit: Option.Option<number>): Effect.Effect<number | undefined, Settings.UsageError> =>
  Option.match(limit, {
    onNone: () => Effect.succeed(undefined),
    onSome: (n) =>
      Number.isInteger(n) && n >= 1
        ? Effect.succeed(n)
        : Effect.fail(new Settings.UsageError({ message: `--limit must be a whole number from 1, got ${n}` }))
  })

const harvestCommand = (
  annotation: Annotations.Annotation,
  kind: Kinds.Kind,
  options: Command.Command.ParseConfig<ReturnType<typeof harvestFlags>>
) =>
  Run.exitWith(Effect.gen(function*() {
    const limit = yield* checkLimit(options.limit)
    const prepared = yield* Run.prepare(options, Run.checkSubStore(options, [annotation.directory]))
    yield* Input.checkReadable(options.input).pipe(
      Effect.mapError((error) => new Settings.UsageError({ message: error.message }))
    )
    const location = Run.subLocation(options.out, annotation.directory)
    return yield* Run.run({
      common: options,
      prepared,
      command: `${annotation.command} ${kind.command}`,
      source: Input.isStdin(options.input) ? "standard input" : options.input,
      target: location,
      writable: Effect.map(ReportSink.ReportSink, (store) => [store]),
      summary: ["saved", "notFound", "skipped", "invalid", "failed"],
      progress: { counters: ["saved", "notFound", "failed"], whenAny: ["skipped", "invalid"] },
      total: prepared.screen.tty && !options.noProgress ? yield* Input.countLinesOfFile(options.input) : undefined,
      closing: (tally, log) =>
        tally.saved + tally.notFound > 0
          ? [`${annotation.command} in ${location}/ (not found under ${location}/_not_found/), log in ${log}`]
          : [],
      body: (tally) =>
        Annotations.harvest(annotation, kind, {
          ...options,
          concurrency: prepared.policy.concurrency,
          limit
        }, tally)
    })
  }))

/** `comments files`, `comments urls`…: one subcommand per kind of id. */
const harvestSubcommands = (annotation: Annotations.Annotation) =>
  Annotations.kinds.map((kind) =>
    [
      kind.command,
      Command.make(kind.command, harvestFlags(annotation, kind), (options) => harvestCommand(annotation, kind, options))
        .pipe(
          Command.withDescription(
            `Fetch the ${annotation.command} of every ${kind.noun} in <input> (one per line; - reads stdin), all pages ` +
              `or at most --limit, saved as <out>/${annotation.directory}/<key>.json ({"data":[…],"meta":{"count":n}}).\n` +
              `Example: vt-harvest ${annotation.command} ${kind.command} ${
                examples[kind.command]
              } --limit 20 -o vt_reports`
          )
        )
    ] as const
  )

const harvestParent = (annotation: Annotations.Annotation) => {
  const subcommands = harvestSubcommands(annotation)
  const [files, urls, domains, ips] = subcommands.map(([, command]) => command)
  return {
    name: annotation.command,
    parent: Command.make(annotation.command).pipe(
      Command.withDescription(
        `Fetch the ${annotation.command} of every id in a list, per kind: files, urls, domains or ips.\n` +
          `Example: vt-harvest ${annotation.command} files hashes.txt -o vt_reports`
      ),
      Command.withSubcommands([files!, urls!, domains!, ips!])
    ),
    subcommands
  }
}

export const comments = harvestParent(Annotations.comments)
export const votes = harvestParent(Annotations.votes)

// -- posting -------------------------------------------------------------------------------------------------------

const postFlags = {
  baseUrl: Flags.baseUrl,
  apiKeyFile: Flags.apiKeyFile,
  proxy: Flags.proxy,
  tier: Flags.common.tier,
  perMinute: Flags.common.perMinute,
  perDay: Flags.common.perDay,
  perMonth: Flags.common.perMonth,
  timeout: Flags.common.timeout
}

const kindArg = Args.choice(
  Annotations.kinds.map((kind) => [kind.command, kind] as const),
  { name: "kind" }
).pipe(Args.withDescription("What the id is: files (a hash), urls, domains or ips"))

const idArg = Args.text({ name: "id" }).pipe(Args.withDescription("The hash, URL, domain or IP address"))

/**
 * One POST through the gated client: the created object's id on stdout (exit 0); a second vote (409) reported, not
 * retried (exit 1); a refused key exit 3; anything else exit 1.
 */
const post = (
  noun: "comment" | "vote",
  options: Command.Command.ParseConfig<typeof postFlags>,
  kind: Kinds.Kind,
  input: string,
  send: (ref: VtObject.Ref) => Effect.Effect<{ readonly id: string }, VtError.VtError, VtClient.VtClient>,
  problem?: string
) =>
  Run.exitWith(Effect.gen(function*() {
    // What is wrong before anything is sent (an empty comment), said without spending a request.
    if (problem !== undefined) return yield* new Settings.UsageError({ message: problem })
    const id = yield* Either.mapLeft(
      kind.parse(input),
      (reason) => new Settings.UsageError({ message: `invalid ${kind.noun} ${Text.quote(input)}: ${reason}` })
    )
    const policy = yield* Settings.policy({ ...options, concurrency: Option.none(), retries: Option.none() })
    const baseUrl = yield* Settings.baseUrl(options.baseUrl)
    const timeout = yield* Settings.seconds("timeout", options.timeout, 60)
    const proxy = yield* Proxy.resolve(options.proxy)
    const apiKey = yield* Settings.apiKey(options.apiKeyFile)
    const client = VtClient.layerUndici({
      apiKey,
      baseUrl,
      timeout: Duration.seconds(timeout),
      proxy: Run.clientProxy(proxy)
    })
    return yield* send(kind.ref(id)).pipe(
      Effect.provide(QuotaGate.layerGated(policy).pipe(Layer.provide(client))),
      // What the gate says (a quota wait) as every command says it: one plain line, not Effect's default format.
      Effect.provide(Logger.replace(Logger.defaultLogger, Progress.consoleLogger(Progress.makeScreen(false), false))),
      // The id is the server's text: control characters escaped, on a terminal or not.
      Effect.flatMap((created) => Effect.as(Console.log(Text.escapeControls(created.id)), 0)),
      Effect.catchAll((error) =>
        error._tag === "AlreadyExistsError"
          ? Effect.as(Console.error(`vt-harvest: already voted on ${kind.noun} ${Text.quote(id)} with this key`), 1)
          : VtError.isAuthFailure(error)
          ? Effect.as(Console.error(`vt-harvest: the API key was refused (${error._tag}); nothing more was sent`), 3)
          : VtError.isNotFound(error)
          ? Effect.as(Console.error(`vt-harvest: ${kind.noun} ${Text.quote(id)} not found; no ${noun} posted`), 1)
          : Effect.as(Console.error(`vt-harvest: ${Failure.describeError(error)}`), 1)
      )
    )
  }))

export const commentAdd = Command.make("add", {
  ...postFlags,
  kind: kindArg,
  id: idArg,
  text: Args.text({ name: "text" }).pipe(Args.withDescription("The comment; #words become its tags"))
}, (options) =>
  post(
    "comment",
    options,
    options.kind,
    options.id,
    (ref) => Comments.add(ref, options.text),
    options.text.trim() === "" ? "the comment is empty; nothing was sent" : undefined
  )).pipe(
    Command.withDescription(
      "Post a comment on a file, URL, domain or IP address (one request); prints the new comment's id.\n" +
        "Example: vt-harvest comment add files 44d88612fea8a8f36de82e1278abb02f \"EICAR test file #eicar\""
    )
  )

export const comment = Command.make("comment").pipe(
  Command.withDescription(
    "Post a comment: vt-harvest comment add <kind> <id> <text>.\n" +
      "Example: vt-harvest comment add domains example.com \"parked #benign\""
  ),
  Command.withSubcommands([commentAdd])
)

export const voteAdd = Command.make("add", {
  ...postFlags,
  kind: kindArg,
  id: idArg,
  verdict: Args.choice([["harmless", "harmless"], ["malicious", "malicious"]] as const, { name: "verdict" }).pipe(
    Args.withDescription("harmless or malicious")
  )
}, (options) => post("vote", options, options.kind, options.id, (ref) => Votes.add(ref, options.verdict))).pipe(
  Command.withDescription(
    "Vote on a file, URL, domain or IP address (one request); prints the new vote's id. A key votes once per\n" +
      "object: a second vote is reported (exit 1), not retried.\n" +
      "Example: vt-harvest vote add files 44d88612fea8a8f36de82e1278abb02f malicious"
  )
)

export const vote = Command.make("vote").pipe(
  Command.withDescription(
    "Vote on an object: vt-harvest vote add <kind> <id> harmless|malicious.\n" +
      "Example: vt-harvest vote add urls https://example.com/ harmless"
  ),
  Command.withSubcommands([voteAdd])
)
