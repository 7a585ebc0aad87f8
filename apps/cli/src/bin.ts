#!/usr/bin/env node
import { ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit } from "effect"
import * as Cli from "./Cli.js"

// @effect/cli colours its help and errors whatever the output is: keep control characters off pipes and
// files, and honour NO_COLOR (https://no-color.org).
const noColor = (process.env.NO_COLOR ?? "") !== ""
for (const stream of [process.stdout, process.stderr]) {
  if (stream.isTTY !== true || noColor) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: Array<unknown>) => boolean
    stream.write = ((chunk: unknown, ...rest: Array<unknown>) =>
      write(
        typeof chunk === "string" ? chunk.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "") : chunk,
        ...rest
      )) as typeof stream.write
  }
}

/** The process edges: signals, a closed standard output, and the exit status the program answers. */
const main = () => {
  let signal: NodeJS.Signals | undefined
  for (const name of ["SIGINT", "SIGTERM"] as const) process.once(name, () => (signal ??= name))

  // When the reader of standard output goes away (`vt-harvest summary store | head`), a command that only reads
  // stops quietly, as other Unix tools do. A run that sends requests (`analysis … | head`) is stopped as SIGTERM
  // would stop it, so that its summary and run log say it did not finish, and exits 141 (128 + SIGPIPE), not 0.
  const sending = Cli.sendsRequests(process.argv)
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error
    if (!sending) process.exit(0)
    if (signal === undefined) {
      signal = "SIGPIPE"
      process.kill(process.pid, "SIGTERM")
    }
  })

  // Configuration comes from the environment only: a `.env` in the working directory supplies the API key and
  // nothing else (internal/dotenv.ts), read only when the environment has no key.
  const MainLive = NodeContext.layer

  const fail = (code: number, message?: string) =>
    Effect.sync(() => {
      if (message !== undefined) process.stderr.write(`vt-harvest: ${message}\n`)
      return code
    })

  const program = Cli.run(process.argv).pipe(
    Effect.catchAll((error) => {
      if (ValidationError.isValidationError(error)) return fail(2)
      switch (error._tag) {
        case "UsageError":
          return fail(2, error.message)
        case "RequestFailed":
          return fail(1, error.message)
      }
    }),
    Effect.provide(MainLive)
  )

  let status = 0
  NodeRuntime.runMain(Effect.map(program, (code) => void (status = code)), {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      if (signal !== undefined) return onExit(signal === "SIGINT" ? 130 : signal === "SIGPIPE" ? 141 : 143)
      if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
        process.stderr.write(`vt-harvest: unexpected failure\n${Cause.pretty(exit.cause)}\n`)
        return onExit(1)
      }
      onExit(status)
    }
  })
}

main()
