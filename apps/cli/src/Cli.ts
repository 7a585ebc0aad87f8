/**
 * The vt-harvest command line: the root command and its subcommands, each declared in `commands/`.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import type { FileSystem } from "@effect/platform"
import { Console, Effect, Ref } from "effect"
import { analysis } from "./commands/analysis.js"
import { comment, commentAdd, comments, vote, voteAdd, votes } from "./commands/annotations.js"
import { config, configPath, configShow } from "./commands/config.js"
import { download } from "./commands/download.js"
import { domains, files, ips, urls } from "./commands/files.js"
import { quota } from "./commands/quota.js"
import { scan } from "./commands/scan.js"
import { search } from "./commands/search.js"
import { summary } from "./commands/summary.js"
import * as Run from "./engine/Run.js"
import * as Completions from "./internal/completions.js"
import * as Help from "./internal/help.js"
import * as HelpText from "./internal/helpText.js"
import * as Input from "./internal/input.js"
import * as Settings from "./internal/settings.js"
import * as Text from "./internal/text.js"

const description = "Collect VirusTotal reports in bulk, paced to your quota, resumable."

/**
 * The root command with its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("vt-harvest").pipe(
  Command.withDescription(description),
  Command.withSubcommands([
    files,
    urls,
    domains,
    ips,
    scan,
    analysis,
    search,
    download,
    comments.parent,
    votes.parent,
    comment,
    vote,
    quota,
    summary,
    config
  ])
)

/**
 * The commands that send requests: a closed standard output stops them as a signal would (bin.ts), where a command
 * that only reads just ends.
 *
 * @since 0.2.0
 * @category commands
 */
export const sendsRequests = (argv: ReadonlyArray<string>): boolean => {
  const first = argv.slice(2).find((arg) => !arg.startsWith("-")) ?? ""
  return commandNames.includes(first) && !readOnlyCommands.has(first)
}

/** Whether this process's run may still send a request (see `Run.maySend`). */
export const maySend: () => boolean = Run.maySend

/** The commands that only read (the key's quota, a store, the settings). */
const readOnlyCommands: ReadonlySet<string> = new Set(["quota", "summary", "config"])

/**
 * The names of the commands, as declared: what a command line may start with. Reading them from the help model
 * costs about 10 ms of every start, for a list of words (test/help.test.ts checks that the two agree).
 *
 * @since 0.3.0
 * @category commands
 */
export const commandNames: ReadonlyArray<string> = [
  "files",
  "urls",
  "domains",
  "ips",
  "scan",
  "analysis",
  "search",
  "download",
  "comments",
  "votes",
  "comment",
  "vote",
  "quota",
  "summary",
  "config"
]

/** The commands as the help and the completion scripts see them, read once from their declarations. */
const specs = (): ReadonlyArray<HelpText.CommandSpec> => [
  Help.spec(files, ["files"]),
  Help.spec(urls, ["urls"]),
  Help.spec(domains, ["domains"]),
  Help.spec(ips, ["ips"]),
  Help.spec(scan, ["scan"]),
  Help.spec(analysis, ["analysis"]),
  Help.spec(search, ["search"]),
  Help.spec(download, ["download"]),
  ...[comments, votes].map(({ name, parent, subcommands }) =>
    Help.spec(parent, [name], subcommands.map(([kind, sub]) => Help.spec(sub, [name, kind])))
  ),
  Help.spec(comment, ["comment"], [Help.spec(commentAdd, ["comment", "add"])]),
  Help.spec(vote, ["vote"], [Help.spec(voteAdd, ["vote", "add"])]),
  Help.spec(quota, ["quota"]),
  Help.spec(summary, ["summary"]),
  Help.spec(config, ["config"], [Help.spec(configPath, ["config", "path"]), Help.spec(configShow, ["config", "show"])])
]

/**
 * The model the help texts are made from, read from the commands' declarations: what bin.ts renders `--help` from,
 * and what the build writes into the bundle's entry, which renders it the same way without loading the program
 * (main.ts).
 *
 * @since 0.3.0
 * @category commands
 */
export const helpModel = (programVersion: string = version): HelpText.Model => ({
  program: "vt-harvest",
  version: programVersion,
  description,
  commands: specs()
})

/**
 * Every option name a command line starting with `first` may use (the command's and its subcommands', or all), and
 * whether it takes a value.
 */
const knownOptions = (first: string | undefined): ReadonlyMap<string, boolean> => {
  const options = (spec: HelpText.CommandSpec): Array<readonly [string, boolean]> => [
    ...spec.options.flatMap((option) => option.names.map((name) => [name, option.value !== undefined] as const)),
    ...spec.subcommands.flatMap(options)
  ]
  const chosen = specs().filter((spec) =>
    first === undefined || !commandNames.includes(first) || spec.path[0] === first
  )
  return new Map([["--help", false], ["--version", false], ["--completions", true], ...chosen.flatMap(options)])
}

/**
 * What the arguments ask before @effect/cli parses them: help (ours, see internal/helpText.ts), a completion script
 * other than bash's, or an error for an unknown command or a refused built-in, whatever follows it: `vt-harvest
 * fetch --help` must not look like a working command to a script.
 */
const preflight = (args: ReadonlyArray<string>): Effect.Effect<string | undefined, Settings.UsageError> => {
  const head = HelpText.head(args)
  const bad = head.find(HelpText.refused)
  if (bad !== undefined) {
    return Effect.fail(
      new Settings.UsageError({ message: `unknown option ${bad.split("=")[0]}; see vt-harvest --help` })
    )
  }
  const first = head[0]
  if (first !== undefined && !first.startsWith("-") && !commandNames.includes(first)) {
    return Effect.fail(
      new Settings.UsageError({ message: `unknown command ${Text.quote(first)}; see vt-harvest --help` })
    )
  }
  // An unknown option given with its value (`--api-key=…`) is named without the value, which may be a secret
  // typed in the wrong place; @effect/cli would echo the whole argument.
  // (The options are read from the help model only for a command line that has such an argument.)
  let known: ReadonlyMap<string, boolean> | undefined
  // The value of an option that takes one (`--fields --x=y`…) is not an option.
  const unknown = head.find((arg, i) =>
    /^--[^=]+=/.test(arg) && !(known ??= knownOptions(first)).has(arg.slice(0, arg.indexOf("="))) &&
    !(i > 0 && known.get(head[i - 1]!) === true)
  )
  if (unknown !== undefined) {
    const name = unknown.slice(0, unknown.indexOf("="))
    const where = first !== undefined && commandNames.includes(first)
      ? `vt-harvest ${first} --help`
      : "vt-harvest --help"
    return Effect.fail(
      new Settings.UsageError({ message: `unknown option ${Text.quote(name)} (its value is not shown); see ${where}` })
    )
  }
  if (!HelpText.asksHelp(head) && head.length > 0) return Effect.succeed(undefined)
  return Effect.succeed(HelpText.helpOf(head, helpModel(), HelpText.width(process.stdout)))
}

/**
 * Runs the command line on `process.argv`-style arguments; answers the exit status.
 *
 * @since 0.1.0
 * @category commands
 */
export const run = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    if (argv.length === 4 && argv[2] === "--completions" && argv[3] === "bash") {
      const lines = yield* Command.getBashCompletions(command, "vt-harvest")
      yield* Console.log(bashCompletions(lines).join("\n"))
      return 0
    }
    if (argv.length === 4 && argv[2] === "--completions" && (argv[3] === "zsh" || argv[3] === "fish")) {
      yield* Console.log(
        argv[3] === "zsh" ? Completions.zsh("vt-harvest", specs()) : Completions.fish("vt-harvest", specs())
      )
      return 0
    }
    const help = yield* preflight(argv.slice(2))
    if (help !== undefined) {
      yield* Console.log(help)
      return 0
    }
    const status = yield* Ref.make(0)
    // @effect/cli's errors quote the arguments as given (`Received unknown argument: '…'`): shown escaped.
    const console = yield* Effect.console
    const errorsEscaped: Console.Console = {
      ...console,
      error: (...args) =>
        console.error(...args.map((arg) => (typeof arg === "string" ? Text.escapeControlsButColours(arg) : arg)))
    }
    yield* Command.run(command, { name: "vt-harvest", version })(
      argv.map((arg, i) => (i >= 2 && arg === "-" ? Input.stdinArgument : arg))
    ).pipe(Effect.provideService(Run.ExitStatus, status), Effect.withConsole(errorsEscaped))
    return yield* Ref.get(status)
  })

/**
 * @effect/cli's bash script names the top command `vt-harvest` where it starts and `vt__harvest` where it matches
 * subcommands, so nothing after the command name ever completed: one spelling throughout (the function and
 * `complete` keep the real name). It also joins the choices of an option with commas (`compgen -W "public,premium"`),
 * which bash offers as one word: they are separated by spaces. It offers every built-in option, also the two the CLI
 * refuses (`--wizard`, `--log-level`): not offered.
 */
const bashCompletions = (lines: ReadonlyArray<string>): ReadonlyArray<string> =>
  lines.map((line) =>
    line.replace(/^(\s*)cmd="vt-harvest"$/, "$1cmd=\"vt__harvest\"").replace(/^(\s*)vt-harvest\)$/, "$1vt__harvest)")
      .replace(/^(\s*opts=".*)"$/, (_, opts: string) => `${opts.replace(/ --(?:wizard|log-level)(?= |$)/g, "")}"`)
      .replace(
        /compgen -W "([\w.-]+(?:,[\w.-]+)+)"/,
        (_, words: string) => `compgen -W "${words.replaceAll(",", " ")}"`
      )
  )

// The package's version, put in by the bundler (build.mjs); the unbundled build says "development".
declare const VT_HARVEST_VERSION: string | undefined
const version = typeof VT_HARVEST_VERSION === "string" ? VT_HARVEST_VERSION : "development"

/**
 * Keeps FileSystem in the requirements visible to bin.ts.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = FileSystem.FileSystem
