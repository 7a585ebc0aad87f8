/**
 * The vt-harvest command line: the root command and its subcommands, each declared in `commands/`.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import type { FileSystem } from "@effect/platform"
import { Console, Effect, Ref } from "effect"
import { analysis } from "./commands/analysis.js"
import { config } from "./commands/config.js"
import { domains, files, ips, urls } from "./commands/files.js"
import { quota } from "./commands/quota.js"
import { scan } from "./commands/scan.js"
import { summary } from "./commands/summary.js"
import { ExitStatus } from "./engine/Run.js"
import * as Input from "./internal/input.js"

/**
 * The root command with its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("vt-harvest").pipe(
  Command.withDescription("Collect VirusTotal reports in bulk, paced to your quota, resumable."),
  Command.withSubcommands([files, urls, domains, ips, scan, analysis, quota, summary, config])
)

/**
 * The commands that send requests: a closed standard output stops them as a signal would (bin.ts), where a command
 * that only reads just ends.
 *
 * @since 0.2.0
 * @category commands
 */
export const sendsRequests = (argv: ReadonlyArray<string>): boolean =>
  ["files", "urls", "domains", "ips", "scan", "analysis"].includes(
    argv.slice(2).find((arg) => !arg.startsWith("-")) ?? ""
  )

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
    const status = yield* Ref.make(0)
    yield* Command.run(command, { name: "vt-harvest", version })(
      argv.map((arg, i) => (i >= 2 && arg === "-" ? Input.stdinArgument : arg))
    ).pipe(Effect.provideService(ExitStatus, status))
    return yield* Ref.get(status)
  })

/**
 * @effect/cli's bash script names the top command `vt-harvest` where it starts and `vt__harvest` where it matches
 * subcommands, so nothing after the command name ever completed: one spelling throughout (the function and
 * `complete` keep the real name).
 */
const bashCompletions = (lines: ReadonlyArray<string>): ReadonlyArray<string> =>
  lines.map((line) =>
    line.replace(/^(\s*)cmd="vt-harvest"$/, "$1cmd=\"vt__harvest\"").replace(/^(\s*)vt-harvest\)$/, "$1vt__harvest)")
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
