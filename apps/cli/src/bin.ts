#!/usr/bin/env node
import { ValidationError } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Cause, ConfigProvider, Effect, Exit, Layer } from "effect"
import * as NodeModule from "node:module"
import * as Cli from "./Cli.js"
import { escapeControls } from "./internal/text.js"
import * as UserConfig from "./internal/userConfig.js"

// @effect/cli colours its help and errors whatever the output is: keep control sequences off pipes and files, and
// honour NO_COLOR (https://no-color.org) on a terminal by dropping colours alone (the progress line still erases
// itself: `ESC [ K` is no colour).
const noColor = (process.env.NO_COLOR ?? "") !== ""
for (const stream of [process.stdout, process.stderr]) {
  if (stream.isTTY !== true || noColor) {
    const sequences = stream.isTTY === true ? /\u001b\[[0-9;]*m/g : /\u001b\[[0-9;]*[A-Za-z]/g
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: Array<unknown>) => boolean
    stream.write = ((chunk: unknown, ...rest: Array<unknown>) =>
      write(
        typeof chunk === "string" ? chunk.replace(sequences, "") : chunk,
        ...rest
      )) as typeof stream.write
  }
}

/** Node's compile cache, as far as this Node has it (`enableCompileCache` from 22.1, `flushCompileCache` from 22.10). */
const compileCache = NodeModule as { readonly enableCompileCache?: unknown; readonly flushCompileCache?: unknown }

/** 128 + the signal's number, the shell's convention for a process a signal ended. */
const signalStatus: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGPIPE: 141, SIGTERM: 143 }

/** The process edges: signals, a closed standard output, and the exit status the program answers. */
const main = () => {
  let signal: NodeJS.Signals | undefined
  for (const name of ["SIGINT", "SIGTERM"] as const) process.once(name, () => (signal ??= name))
  // The terminal went away (SIGHUP): stopped as by SIGTERM, whose handler (NodeRuntime's) interrupts the program so
  // that the summary is logged and the log ended; exit 129 (128 + SIGHUP), not a silent death.
  process.on("SIGHUP", () => {
    if (signal !== undefined) return
    signal = "SIGHUP"
    process.kill(process.pid, "SIGTERM")
  })

  // When the reader of standard output or standard error goes away (`vt-harvest summary store | head`,
  // `vt-harvest files list 2>&1 | head`), a command that only reads stops quietly, as other Unix tools do. A run
  // that sends requests is stopped as SIGTERM would stop it, so that its run log ends with its summary and `end`,
  // and exits 141 (128 + SIGPIPE), not 0; a reader that goes away once the last request is over changes nothing.
  // Any other failure to write (a full disk: `summary store > out.csv`) loses output: it is said on standard error
  // if that still works, and the process exits 1 (a run that sends requests is stopped first, as above). Later
  // writes to a failed stream (the summary line) are dropped: a stream that failed once fails every write after,
  // and none of those may crash the process.
  const sending = Cli.sendsRequests(process.argv)
  const outputs = [[process.stdout, "standard output"], [process.stderr, "standard error"]] as const
  let outputFailed = false
  // Set once the program is over: a failure then has nothing left to stop.
  let finished = false
  const onOutputError = (stream: NodeJS.WriteStream, name: string) => (error: NodeJS.ErrnoException) => {
    // EPIPE for a closed pipe, EIO for a terminal that is gone, ERR_STREAM_DESTROYED for a write after either.
    const readerGone = ["EPIPE", "EIO", "ERR_STREAM_DESTROYED"].includes(error.code ?? "")
    if (!readerGone && !outputFailed) {
      outputFailed = true
      if (stream === process.stdout) {
        process.stderr.write(`vt-harvest: cannot write ${name}: ${escapeControls(error.message)}\n`)
      }
    }
    if (!sending) process.exit(outputFailed ? 1 : 0)
    // A run whose requests are over (only its summary left to write) ends as it was going to: a reader that went
    // away after the last request stopped nothing.
    if (signal === undefined && !finished && Cli.maySend()) {
      signal = "SIGPIPE"
      process.kill(process.pid, "SIGTERM")
    }
  }
  for (const [stream, name] of outputs) stream.on("error", onOutputError(stream, name))
  // A write that failed as the program ended is known to the stream before its error event, which the exit would
  // come first of.
  const checkOutputs = () => {
    for (const [stream, name] of outputs) if (stream.errored !== null) onOutputError(stream, name)(stream.errored)
  }

  // A `.env` in the working directory supplies the API key and nothing else (internal/dotenv.ts), read only when the
  // environment has no key: no config provider reads it.
  // What the commands use of the platform: files, paths and the terminal (@effect/cli's). Not NodeContext.layer,
  // whose process runner and worker pool load node:child_process and node:worker_threads into every run.
  const MainLive = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

  const fail = (code: number, message?: string) =>
    Effect.sync(() => {
      // Messages name paths and echo server text: control characters escaped, never sent to the terminal raw (a
      // message of several problems keeps its own line breaks).
      if (message !== undefined) {
        process.stderr.write(`vt-harvest: ${message.split("\n").map(escapeControls).join("\n")}\n`)
      }
      return code
    })

  // Settings fall back to the environment, then to the user config file, whose values are offered under the
  // environment's names behind it. A broken config file, or a setting's environment variable holding a value of the
  // wrong kind, stops every command but `config` (which shows what is wrong), help and completions, naming each
  // problem.
  const program = Effect.promise(() => UserConfig.load()).pipe(
    Effect.flatMap((loaded) => {
      const args = process.argv.slice(2)
      const exempt = args[0] === "config" ||
        args.some((arg) => ["--help", "-h", "--version", "--completions"].includes(arg))
      const problems = UserConfig.problemsOf(loaded)
      if (problems.length > 0 && !exempt) return fail(2, problems.join("\n"))
      // One map, the environment over the file: a variable set to the empty string is unset, as `config show` says.
      const environment = Object.entries(process.env).filter((entry): entry is [string, string] =>
        entry[1] !== undefined && entry[1] !== ""
      )
      const provider = ConfigProvider.fromMap(new Map([...UserConfig.asEnvironment(loaded), ...environment]), {
        pathDelim: "_"
      })
      return Cli.run(process.argv).pipe(
        Effect.withConfigProvider(provider),
        Effect.provideService(UserConfig.Current, loaded),
        Effect.catchAll((error) => {
          if (ValidationError.isValidationError(error)) return fail(2)
          switch (error._tag) {
            case "UsageError":
              return fail(2, error.message)
            case "RequestFailed":
              return fail(1, error.message)
          }
        })
      )
    }),
    Effect.provide(MainLive)
  )

  // The run is over and every file it wrote is closed: the process ends as soon as what it printed has been handed to
  // the system, whatever a library may still hold open (a keep-alive socket, a timer). Node still waits at exit for
  // a compile V8 runs in the background: loadProgram.ts keeps short runs from starting the one that took 70 ms.
  const exitWhenWritten = (code: number) => {
    // From Node 22.1 the bin turns on Node's compile cache, which Node writes when the process ends by itself or when
    // asked to (`module.flushCompileCache`, Node 22.10), not on process.exit: asked first; where it cannot be asked,
    // the process ends by itself, as before.
    if (typeof compileCache.enableCompileCache === "function") {
      if (typeof compileCache.flushCompileCache !== "function") return
      compileCache.flushCompileCache()
    }
    const pending = [process.stdout, process.stderr].filter((stream) => stream.writableLength > 0 && !stream.destroyed)
    let left = pending.length
    if (left === 0) process.exit(outputFailed ? 1 : code)
    for (const stream of pending) {
      let written = false
      const done = () => {
        if (written) return
        written = true
        if (--left === 0) process.exit(outputFailed ? 1 : code)
      }
      stream.once("drain", done)
      stream.once("close", done)
    }
  }

  let status = 0
  NodeRuntime.runMain(Effect.map(program, (code) => void (status = code)), {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      finished = true
      checkOutputs()
      if (signal !== undefined) return onExit(outputFailed ? 1 : signalStatus[signal] ?? 143)
      if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
        process.stderr.write(`vt-harvest: unexpected failure\n${Cause.pretty(exit.cause)}\n`)
        return onExit(1)
      }
      // A write that fails from now on (the summary line on a full disk) makes the status 1 too (exitWhenWritten).
      const code = outputFailed ? 1 : status
      onExit(code)
      exitWhenWritten(code)
    }
  })
}

main()
