/**
 * The bundle's entry (build.mjs): `--help`, `-h` and `--version` are answered from the model of the commands that the
 * build wrote into this file, with the renderer of internal/helpText.ts and nothing else; every other command line
 * loads the program (bin.ts) and runs it. What needs the program (an unknown command, a refused option, `vt-harvest`
 * alone, completion scripts) is left to it, so the answers are those of bin.ts, byte for byte (test/help.test.ts).
 *
 * @since 0.3.0
 */
import { fileURLToPath } from "node:url"
import * as HelpText from "./internal/helpText.js"
import * as Program from "./loadProgram.js"

// The model of the commands, put in by the bundler (build.mjs) from Cli.helpModel; the unbundled build has none and
// always loads the program.
declare const VT_HARVEST_HELP: HelpText.Model | undefined
const model = typeof VT_HARVEST_HELP === "object" ? VT_HARVEST_HELP : undefined
// The program's file beside this one, also put in by the bundler: the program bundled as one CommonJS file, which
// loadProgram.ts loads with the code V8 compiled of it at build time.
declare const VT_HARVEST_PROGRAM: string | undefined

const text = model === undefined
  ? undefined
  : HelpText.answer(process.argv.slice(2), model, HelpText.width(process.stdout))
if (text === undefined) {
  if (typeof VT_HARVEST_PROGRAM === "string") Program.run(fileURLToPath(new URL(VT_HARVEST_PROGRAM, import.meta.url)))
  else void import("./bin.js")
} else {
  // A reader that went away (`vt-harvest --help | head -1`) ends a command that only prints, quietly; any other
  // failure to write (a full disk) is said and exits 1, as in bin.ts.
  const failed = (error: NodeJS.ErrnoException) => {
    if (["EPIPE", "EIO", "ERR_STREAM_DESTROYED"].includes(error.code ?? "")) process.exit(0)
    process.stderr.write(`vt-harvest: cannot write standard output: ${error.message}\n`)
    process.exit(1)
  }
  process.stdout.on("error", failed)
  process.stdout.write(`${text}\n`)
  // A write that failed at once is known to the stream before its error event, which the process's end would precede.
  if (process.stdout.errored !== null) failed(process.stdout.errored)
}
